"""5. Hostile HTTP against a real sidecar process over a data folder the real pipeline filled.

The stage services and the orchestrator are stopped once the documents are done, so the data folder is quiet:
a snapshot of every path, size and mtime taken before the first request must equal the one after the last.
Traps are planted first: a job folder that is a symlink to a secret, a state.json that is a symlink to a file
outside, so a leak would show as the secret in a body.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import threading
import time
import urllib.request
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import Stack
from tests.reliability.invariants import wait_all_terminal

from .conftest import FAST_ENV, tiny_document
from .profile import PROFILE
from .rawhttp import exchange, get_request, snapshot

SECRET = b"TOP-SECRET-7f3a: outside the jobs folder"
SYMLINKED_JOB = "a" * 32
SYMLINKED_STATE_JOB = "b" * 32
# The bound for a normal client while slow clients hold connections.
SERVED_WITHIN_S = 1.0
METHODS = (b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"PROPFIND", b"CONNECT", b"FOO")


@pytest.fixture(scope="module")
def quiet_stack(tmp_path_factory):
    """A data folder filled by the real pipeline, then left to the sidecar alone, with traps planted."""
    root = tmp_path_factory.mktemp("http")
    stack = Stack(root, dict(FAST_ENV))
    for name in ("prep", "ocr", "orchestrator", "sidecar"):
        stack.start(name)
    (root / "src").mkdir()
    for number in range(4):
        stack.drop(tiny_document(root / "src", number, pages=1 + number % 2, kind=("png", "pdf")[number % 2]))
    (root / "src" / "bad.pdf").write_text("not a pdf")
    stack.drop(root / "src" / "bad.pdf")
    wait_all_terminal(stack.paths.jobs_dir, 5, timeout_s=90)
    for name in ("orchestrator", "prep", "ocr"):
        stack.kill(name, signal.SIGTERM)
    outside = root / "outside"
    outside.mkdir()
    (outside / "state.json").write_bytes(SECRET)
    (outside / "secret.txt").write_bytes(SECRET)
    (stack.paths.jobs_dir / SYMLINKED_JOB).symlink_to(outside)
    (stack.paths.jobs_dir / SYMLINKED_STATE_JOB).mkdir()
    (stack.paths.jobs_dir / SYMLINKED_STATE_JOB / "state.json").symlink_to(outside / "secret.txt")
    (stack.paths.data_dir / "secret.txt").write_bytes(SECRET)
    time.sleep(1.0)  # let the watcher see the traps before the snapshot
    stack.pid = stack.procs["sidecar"].pid
    stack.before = snapshot(stack.paths.data_dir)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def port(quiet_stack):
    return quiet_stack.ports["sidecar"]


FUZZ_SETTINGS = settings(
    max_examples=PROFILE.fuzz_examples,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def fuzz_operation(operation, mode: GenerationMode, base_url: str, counts: Counter[str]) -> None:
    """Hypothesis drives schemathesis' cases for one operation; every default check runs on each answer.

    (The schemathesis pytest plugin fails on pytest 9, so its strategies are run with `given` directly.)
    """
    label = f"{mode.value} {operation.method.upper()} {operation.path}"

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        counts[label] += 1
        # A cursor is opaque and issued by the server: any other string is rightly refused with a 400.
        excluded = [positive_data_acceptance] if (case.query or {}).get("cursor") else None
        response = case.call_and_validate(base_url=base_url, excluded_checks=excluded)
        assert SECRET not in response.content

    run()


def test_fuzzing_from_the_openapi_document_finds_no_server_error_and_no_schema_mismatch(port, record):
    row = record(
        "5. Hostile HTTP",
        "schemathesis cases generated from /openapi.json (valid and invalid parameters and headers)",
        "no 5xx; status, content type and body conform to the OpenAPI document; no secret in any body",
    )
    base_url = f"http://127.0.0.1:{port}"
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    counts: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            try:
                fuzz_operation(operation, mode, base_url, counts)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break in a route without parameters
    row.counts |= {"fuzz_cases": sum(counts.values()), "operations": len(operations)}
    assert len(operations) >= 5 and len(counts) >= len(operations)


def traversal_targets(quiet_stack) -> list[bytes]:
    real = next(p.parent.name for p in quiet_stack.paths.jobs_dir.glob("*/state.json")).encode()
    return [
        b"/jobs/../../../../etc/passwd",
        b"/jobs/..%2f..%2f..%2fsecret.txt",
        b"/jobs/%2e%2e/%2e%2e/secret.txt",
        b"/jobs/%252e%252e%252fsecret.txt",
        b"/jobs/..%5c..%5csecret.txt",
        b"/jobs/%c0%ae%c0%ae/secret.txt",
        b"/jobs/%e2%80%a5/secret.txt",
        b"/jobs/%00",
        b"/jobs/state.json%00.png",
        b"/jobs/%ff%fe%fd",
        b"/jobs/" + b"A" * 10_000,
        b"/jobs/" + SYMLINKED_JOB.encode(),
        b"/jobs/" + SYMLINKED_STATE_JOB.encode(),
        b"/jobs/" + real + b"/source.png",
        b"/jobs/" + real + b"/../../secret.txt",
        b"/jobs/" + real + b"%2f..%2f..%2fsecret.txt",
        b"//etc/passwd",
        b"/./jobs/./../secret.txt",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/openapi.json/../../secret.txt",
        b"/metrics?format=../../secret.txt",
        b"/jobs?state=../../secret.txt&stage=%00",
        b"/jobs?cursor=Li4vLi4vc2VjcmV0LnR4dA",
        b"/jobs?limit=99999999999999999999999",
        b"/jobs?since=0000-00-00T99:99:99Z",
        b"http://127.0.0.1/../secret.txt",
        b"*",
    ]


def test_path_traversal_and_encoding_tricks_never_reach_a_file(quiet_stack, port, record):
    row = record(
        "5. Hostile HTTP",
        "path traversal (../, %2f, double and overlong UTF-8 encoding, NUL, backslash), symlinked job folder "
        "and state.json, source files by path, hostile query strings",
        "never 5xx; no secret, /etc/passwd or source bytes in any answer",
    )
    source = next(quiet_stack.paths.jobs_dir.glob("*/source.png")).read_bytes()
    for target in traversal_targets(quiet_stack):
        status, answer = exchange(port, get_request(target))
        row.count("requests")
        assert status is None or status < 500, (target[:80], answer[:300])
        assert SECRET not in answer and b"root:x:0:0" not in answer and source[:200] not in answer, target[:80]


def test_methods_other_than_get_are_refused(port, record):
    row = record(
        "5. Hostile HTTP",
        f"{len(METHODS)} methods other than GET/HEAD on every route, with a body",
        "405 with Allow: GET, HEAD (or a 4xx for CONNECT/TRACE forms); never 2xx or 5xx",
    )
    for method in METHODS:
        for route in (b"/metrics", b"/jobs", b"/jobs/" + b"c" * 32, b"/healthz", b"/readyz", b"/openapi.json"):
            body = b'{"state": "DONE"}'
            headers = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            status, answer = exchange(port, get_request(route, headers, method) + body)
            row.count("requests")
            assert status is not None and 400 <= status < 500, (method, route, answer[:200])


def header_floods() -> dict[str, bytes]:
    return {
        "500 headers": b"".join(b"X-Flood-%d: %d\r\n" % (i, i) for i in range(500)),
        "one 100 kB header": b"X-Big: " + b"x" * 100_000 + b"\r\n",
        "10 kB cookie x 10": b"".join(b"Cookie: " + b"c=" + b"y" * 10_000 + b"\r\n" for _ in range(10)),
        "binary header value": b"X-Bin: \x00\x01\x02\xff\r\n",
        "header without colon": b"NoColonHere\r\n",
        "folded header": b"X-Fold: a\r\n b\r\n",
        "two Content-Length": b"Content-Length: 0\r\nContent-Length: 5\r\n",
        "huge Authorization": b"Authorization: Bearer " + b"t" * 60_000 + b"\r\n",
    }


def test_header_floods_get_a_client_error_and_the_sidecar_stays_up(port, record):
    row = record(
        "5. Hostile HTTP",
        f"{len(header_floods())} header floods and malformed headers, plus a 64 kB request line",
        "a 4xx or a hang-up, never 5xx; /healthz answers after each",
    )
    cases = {**header_floods(), "64 kB request line": b""}
    for label, headers in cases.items():
        target = b"/jobs/" + b"k" * 65_536 if label == "64 kB request line" else b"/metrics"
        status, answer = exchange(port, get_request(target, headers))
        row.count("requests")
        assert status is None or status < 500, (label, answer[:200])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            assert response.status == 200, label


def test_a_normal_client_is_served_within_a_second_while_hundreds_of_slow_clients_hang_on(port, record):
    row = record(
        "5. Hostile HTTP",
        f"{PROFILE.slow_clients} connections held open: half idle, half trickling a request a byte every 0.2 s",
        f"20 normal GET /metrics, each served within {SERVED_WITHIN_S:.0f} s",
    )
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(PROFILE.slow_clients)]
    trickling, stop = slow[: len(slow) // 2], threading.Event()
    request = get_request(b"/metrics")

    def trickle():
        for position in range(len(request) - 2):  # never the final CRLF: the request never completes
            for sock in trickling:
                with contextlib.suppress(OSError):  # the server may drop a slow client: that is its right
                    sock.send(request[position : position + 1])
            if stop.wait(0.2):
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        latencies = []
        for _ in range(20):
            started = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                assert response.status == 200
                response.read()
            latencies.append(time.monotonic() - started)
            time.sleep(random.uniform(0.0, 0.1))
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in slow:
            sock.close()
    row.counts |= {"slow_clients": len(slow), "requests": len(latencies)}
    row.counts["max_latency_ms"] = round(max(latencies) * 1000)
    assert max(latencies) < SERVED_WITHIN_S, latencies


def test_the_data_folder_is_unchanged_by_the_whole_http_suite(quiet_stack, record):
    row = record(
        "5. Hostile HTTP",
        "everything above",
        "every path, size, mtime and mode under DATA_DIR identical before and after; the sidecar never restarted",
    )
    after = snapshot(quiet_stack.paths.data_dir)
    row.counts["paths_compared"] = len(after)
    assert quiet_stack.procs["sidecar"].poll() is None and quiet_stack.procs["sidecar"].pid == quiet_stack.pid
    assert after == quiet_stack.before
