"""4. Hostile documents: each ends as a clear ERROR (or DONE where the bytes are a real document under an odd
name), never takes a service down and never hangs past its timeout; a symlink in the inbox is ignored."""

from __future__ import annotations

from pathlib import Path

from services.common.clock import parse_time

from .corpus import corpus
from .invariants import Dropped, check_lossless, sha256, wait_all_terminal
from .profile import PROFILE

# The bound the stack is given for one PREP call; no document may keep a job longer than a few of them.
PREP_TIMEOUT_S = 60


def test_hostile_documents_end_as_clear_errors_without_harming_any_service(tmp_path, stack_at, record, state_schema):
    row = record(
        "4. Hostile documents",
        "0-byte, truncated, broken-xref, encrypted, 0-page PDFs; text and HTML named .pdf; 30000x30000 PNG; "
        f"{PROFILE.tiff_frames}-frame TIFF; names with spaces, unicode, newline, leading dashes; an inbox symlink",
        "each ERROR with type+message and not retryable (or DONE, name kept); prep/ocr/orchestrator alive with the "
        "same pids; within the timeout; symlink left alone with a log line; originals intact",
    )
    stack = stack_at(tmp_path, PREP_TIMEOUT_S=PREP_TIMEOUT_S, OCR_TIMEOUT_S=PREP_TIMEOUT_S)
    pids = {name: proc.pid for name, proc in stack.procs.items()}
    folder = tmp_path / "hostile"
    folder.mkdir()
    dropped, expected = Dropped(), {}
    for hostile in corpus(PROFILE.tiff_frames):
        source = folder / f"doc-{len(expected)}{Path(hostile.name).suffix}"
        hostile.write(source)
        stack.drop(source, name=hostile.name)
        dropped.add(hostile.name, source)
        expected[sha256(source)] = (hostile.name, hostile.expected)
    outside = folder / "target-of-the-link.pdf"
    outside.write_bytes(b"%PDF-1.4 not to be touched\n")
    before = outside.stat()
    (stack.paths.inbox_dir / "link.pdf").symlink_to(outside)

    wait_all_terminal(stack.paths.jobs_dir, len(dropped.distinct), timeout_s=4 * PREP_TIMEOUT_S)
    states = check_lossless(stack.paths.data_dir, dropped, state_schema)
    outcomes = {}
    for state in states.values():
        name, allowed = expected[state["input"]["sha256"]]
        outcomes[name] = state["state"]
        assert state["state"] in allowed, (name, state["state"], state.get("error"))
        assert state["input"]["name"] == name, "the original name is kept as it was"
        if state["state"] == "ERROR":
            error = state["error"]
            assert error["type"] and len(error["message"]) > 10 and error["retryable"] is False, (name, error)
        took_s = (parse_time(state["updatedAt"]) - parse_time(state["createdAt"])).total_seconds()
        assert took_s < PREP_TIMEOUT_S, (name, took_s)
        row.counts["slowest_job_s"] = max(row.counts.get("slowest_job_s", 0.0), round(took_s, 2))
    for name in ("prep", "ocr"):
        assert stack.healthy(name)
    assert {name: proc.pid for name, proc in stack.procs.items() if proc.poll() is None} == pids, "no service died"

    assert (stack.paths.inbox_dir / "link.pdf").is_symlink()
    assert outside.read_bytes() == b"%PDF-1.4 not to be touched\n" and outside.stat().st_mtime_ns == before.st_mtime_ns
    ignored = [line for line in stack.log_lines("orchestrator") if "link.pdf" in line["message"]]
    assert len(ignored) == 1 and "symlink" in ignored[0]["message"]
    row.counts |= {
        "documents": len(dropped.files) + 1,
        "errors": sum(s == "ERROR" for s in outcomes.values()),
        "done": sum(s == "DONE" for s in outcomes.values()),
        "symlinks_ignored": 1,
    }
    print(outcomes)
