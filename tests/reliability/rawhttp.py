"""HTTP at the byte level, for requests no well-behaved client library would send."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

READ_LIMIT_BYTES = 1 << 20


def exchange(port: int, request: bytes, timeout_s: float = 5.0) -> tuple[int | None, bytes]:
    """Send `request` as-is; returns (status, whole answer), status None when the server just hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        # Refused before we finished sending: what it answered is still to be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while len(answer) < READ_LIMIT_BYTES and (chunk := sock.recv(65536)):
                answer += chunk
    if not answer.startswith(b"HTTP/1."):
        return None, answer
    return int(answer.split(b" ", 2)[1]), answer


def get_request(target: bytes, headers: bytes = b"", method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n"


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under `folder` (symlinks not followed) with its size, mtime and mode."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st = path.lstat()
            found[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return found
