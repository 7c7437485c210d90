"""Stage answers become outcomes in one place: from the error type, else the `retryable` flag and the status."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time

import orjson
import pytest

from services.orchestrator.app.stages import Outcome, call_stage, outcome_for
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("error_type", "status", "retryable", "outcome"),
    [
        ("BadDocument", 422, False, Outcome.BAD_DOCUMENT),
        ("BadRequest", 400, False, Outcome.REJECTED),  # bug: a replica with another JOBS_DIR ended jobs as bad
        ("ConfigError", 500, False, Outcome.REJECTED),
        ("StageFailed", 500, True, Outcome.FAILED),
        ("StageTimeout", 500, True, Outcome.FAILED),
        ("CallAbandoned", 504, True, Outcome.FAILED),
        ("ServiceUnavailable", 503, True, Outcome.UNAVAILABLE),
        ("DiskError", 507, True, Outcome.DISK_ERROR),
        ("KeyError", 500, True, Outcome.FAILED),  # an unexpected exception in the service
        ("PasswordProtected", 422, False, Outcome.BAD_DOCUMENT),  # a newer service's type: its flag decides
        ("Teapot", 418, False, Outcome.REJECTED),
        ("HTTP404", 404, None, Outcome.REJECTED),  # no error body: a wrong URL, not a bad document
        ("HTTP502", 502, None, Outcome.FAILED),
        ("HTTP503", 503, None, Outcome.UNAVAILABLE),
    ],
)
def test_an_error_answer_maps_to_its_outcome(error_type, status, retryable, outcome):
    assert outcome_for(error_type, status, retryable) is outcome


def test_only_ok_and_a_bad_document_are_not_retried():
    assert [o for o in Outcome if not o.retryable] == [Outcome.OK, Outcome.BAD_DOCUMENT]


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers POST /<status> with that status and the error body of the query's type (a real HTTP server)."""

    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers["Content-Length"]))
        path, _, kind = self.path.lstrip("/").partition("?")
        if path == "slow":
            time.sleep(2)
            path = "200"
        status = int(path)
        body = {"pages": 2} if status == 200 else {"error": {"type": kind, "message": f"{kind}!", "retryable": False}}
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client of the slow answer gave up first, as it should
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def stage_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(url, timeout_s=5.0):
    return call_stage("prep", url, {"jobKey": "k"}, "k", "PREP", 1, timeout_s)


def test_a_200_is_ok_with_its_body(stage_url):
    result = call(f"{stage_url}/200")
    assert (result.outcome, result.body, result.error) == (Outcome.OK, {"pages": 2}, {})


def test_a_bad_request_is_rejected_and_recorded_as_retryable(stage_url):
    result = call(f"{stage_url}/400?BadRequest")
    assert result.outcome is Outcome.REJECTED
    assert result.error == {"type": "BadRequest", "message": "BadRequest!", "retryable": True}


def test_a_bad_document_is_final(stage_url):
    result = call(f"{stage_url}/422?BadDocument")
    assert result.outcome is Outcome.BAD_DOCUMENT
    assert result.error == {"type": "BadDocument", "message": "BadDocument!", "retryable": False}


def test_a_closed_port_is_unavailable():
    result = call(f"http://127.0.0.1:{free_port()}/v1/prep")
    assert result.outcome is Outcome.UNAVAILABLE and result.error["type"] == "ServiceUnavailable"


def test_no_answer_within_the_timeout_is_a_failed_attempt(stage_url):
    result = call(f"{stage_url}/slow", timeout_s=0.2)
    assert result.outcome is Outcome.FAILED
    assert result.error["type"] == "StageTimeout" and result.error["retryable"] is True


def test_a_service_that_ran_out_of_our_timeout_first_is_a_timeout_for_the_job(stage_url):
    result = call(f"{stage_url}/504?CallAbandoned")
    assert result.outcome is Outcome.FAILED
    assert result.error == {"type": "StageTimeout", "message": "CallAbandoned!", "retryable": True}


class _Headers(http.server.BaseHTTPRequestHandler):
    seen: dict = {}

    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers["Content-Length"]))
        _Headers.seen = dict(self.headers)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_a_call_carries_its_attempt_and_its_timeout_so_the_service_can_fence_late_outputs():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Headers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        call_stage("ocr", f"http://127.0.0.1:{server.server_address[1]}/v1/ocr", {}, "k", "OCR", 3, 42.0)
    finally:
        server.shutdown()
        server.server_close()
    assert (_Headers.seen["X-Job-Attempt"], _Headers.seen["X-Job-Timeout-S"]) == ("3", "42")
