"""Helpers of the sidecar benchmark: generated jobs, the sidecar and nginx as child processes, wrk runs."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
HISTORY = [("QUEUED", "PREP", 1, "created"), ("RUNNING", "PREP", 1, None), ("QUEUED", "OCR", 1, "prep done"),
           ("RUNNING", "OCR", 1, None), ("DONE", "OCR", 1, "ocr done")]  # fmt: skip


def state_bytes(key: str, i: int, attempt: int = 1) -> bytes:
    """A realistic DONE job as the orchestrator writes it (pretty-printed, ~1.7 kB)."""
    at = f"2026-11-{1 + i % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
    doc = {
        "schemaVersion": 1,
        "jobKey": key,
        "state": "DONE",
        "stage": "OCR",
        "attempt": attempt,
        "createdAt": at,
        "updatedAt": at,
        "input": {
            "name": f"scan-{i}.pdf",
            "sha256": f"{i:064x}",
            "bytes": 182_331 + i,
            "path": "source.pdf",
            "pages": 3,
            "receivedAt": at,
        },
        "history": [
            {"at": at, "state": s, "stage": g, "attempt": a, **({"note": n} if n else {})} for s, g, a, n in HISTORY
        ],
        "result": {
            "pages": 3,
            "meanConfidence": 91.4,
            "outputs": {"text": "document.txt", "pdf": "document.pdf"},
            "durationsS": {"prep": 0.412, "ocr": 3.981},
            "warnings": [],
            "failedPages": [],
        },
        "stages": {
            "prep": {"startedAt": at, "durationS": 0.412, "pages": 3},
            "ocr": {"startedAt": at, "durationS": 3.981},
        },
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


PAGE_MANIFEST = b'{"schemaVersion": 1, "pages": [{"number": 1, "path": "pages/page-0001.png", "dpi": 300}]}\n'
PAGE_OCR = b'{"page": 1, "meanConfidence": 91.4, "words": 312, "text": "ocr/page-0001.txt"}\n'


def write_job_folder(jobs: Path, key: str, state: bytes, production: bool = True) -> None:
    """One job folder as the pipeline leaves it: state.json, source.pdf, document.txt, pages/ and ocr/ with a page."""
    folder = jobs / key
    folder.mkdir()
    with open(folder / "state.json", "wb") as f:
        f.write(state)
    if not production:
        return
    (folder / "source.pdf").write_bytes(b"%PDF-1.4\n% a scan\n")
    (folder / "document.txt").write_bytes(b"the recognised text of the document\n")
    (folder / "pages").mkdir()
    (folder / "pages" / "manifest.json").write_bytes(PAGE_MANIFEST)
    (folder / "pages" / "page-0001.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "ocr").mkdir()
    (folder / "ocr" / "page-0001.txt").write_bytes(b"the recognised text of page 1\n")
    (folder / "ocr" / "page-0001.json").write_bytes(PAGE_OCR)


def generate(data_dir: Path, count: int, production: bool = True) -> tuple[list[str], int]:
    """`count` job folders in the production layout, plus metrics.json; returns the keys and the state bytes."""
    jobs = data_dir / "jobs"
    jobs.mkdir(parents=True)
    data_dir.parent.chmod(0o755)  # nginx's worker runs as nobody
    keys, total = [], 0
    for i in range(count):
        key = f"{i:032x}"
        data = state_bytes(key, i)
        write_job_folder(jobs, key, data, production)
        keys.append(key)
        total += len(data)
    metrics = {"schemaVersion": 1, "updatedAt": "2026-11-29T07:40:12.123Z", "jobs_done": count, "jobs_error": 0,
               "jobs_running": 0, "jobs_queued": 0, "prep_running": 0, "ocr_running": 0, "disk_error": 0,
               "retries": 0, "pages_done": 3 * count, "jobs_created": count, "duplicates": 0,
               "stage_unavailable": 0, "intake_paused": False, "startedAt": "2026-11-29T07:00:00.000Z"}  # fmt: skip
    (data_dir / "metrics.json").write_bytes(orjson.dumps(metrics, option=orjson.OPT_INDENT_2))
    return keys, total


def replace_state(jobs: Path, key: str, data: bytes) -> None:
    """The orchestrator's atomic replace, without the fsyncs (the watcher sees the same events)."""
    tmp = jobs / key / f".tmp-state.json.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    tmp.replace(jobs / key / "state.json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def start_sidecar(
    data_dir: Path, port: int, log_path: Path, wrap: tuple[str, ...] = (), **env: str
) -> subprocess.Popen[bytes]:
    """`python -m sidecar` in its default configuration (JSON logs to a file), under `wrap` (an argv prefix)."""
    environ = {**os.environ, "DATA_DIR": str(data_dir), "ORCHESTRATOR_PORT": str(port), "SIDECAR_HOST": "127.0.0.1",
               "LOG_JSON": "true", **env}  # fmt: skip
    with open(log_path, "ab") as log:
        return subprocess.Popen([*wrap, sys.executable, "-m", "sidecar"], env=environ, cwd=ROOT, stdout=log, stderr=log)


def watch_limited(watches: int) -> tuple[str, ...]:
    """An argv prefix: run in a user namespace of its own whose inotify watch limit is `watches`.

    /proc/sys/user/max_inotify_watches counts only that namespace's watches, so the host's
    fs.inotify.max_user_watches (shared by every other process on the machine) is never changed.
    """
    line = f'echo {watches} > /proc/sys/user/max_inotify_watches && exec "$@"'
    return ("unshare", "-U", "-r", "sh", "-c", line, "-")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError("sidecar exited before it was ready")
        try:
            if get(port, "/readyz", 1.0)[0] == 200:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("sidecar not ready in time")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


NGINX_CONF = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log combined buffer=64k flush=1s;
    default_type application/json;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""


def start_nginx(root: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-nginx-"))
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
    proc = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, tmp
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("nginx did not start")


@dataclass(frozen=True)
class Nginx:
    port: int
    access_log: Path


@contextlib.contextmanager
def nginx_twin(data_dir: Path, sidecar_port: int, twins: Mapping[str, str]) -> Iterator[Nginx]:
    """nginx (access log on) serving `data_dir`, with static twins of sidecar answers that have no file of their own.

    `twins` maps a file name in `data_dir` to the sidecar path whose answer it holds (`/metrics` ->
    metrics-page.json); the sidecar's answer is taken once, when nginx starts, and removed afterwards. Job details
    need no twin: nginx serves `jobs/<key>/state.json` itself.
    """
    for name, path in twins.items():
        (data_dir / name).write_bytes(get(sidecar_port, path)[1])
    port = free_port()
    proc, tmp = start_nginx(data_dir, port)
    try:
        yield Nginx(port, tmp / "access.log")
    finally:
        stop_nginx(proc, tmp)
        for name in twins:
            (data_dir / name).unlink()


def stop_nginx(proc: subprocess.Popen[bytes], tmp: Path) -> None:
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)


WRK_SCRIPT = """local paths = {{{paths}}}
math.randomseed(42)
request = function() return wrk.format(nil, paths[math.random(#paths)]) end
"""


def wrk(port: int, paths: list[str], duration_s: int, connections: int = 64, threads: int = 2) -> dict[str, float]:
    """Requests/s and latency percentiles of `wrk` spreading requests over `paths`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(paths=", ".join(f'"{p}"' for p in paths)))
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", "-s", script.name,
             f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(script.name).unlink()
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result
