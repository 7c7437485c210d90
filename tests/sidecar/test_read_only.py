import os
from pathlib import Path

import orjson

from sidecar.keys import STATUS

from .conftest import eventually


def _snapshot(root):
    """Every path under `root` with its type, size, mtime and ctime (ctime moves even on chmod or a touch)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            st = path.lstat()
            found[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return found


async def test_nothing_is_ever_written_under_the_data_folder(start_sidecar, write_job, data_dir, jobs_dir):
    write_job("done", state="DONE", stage="OCR")
    write_job("broken", raw=b"\xff not json")
    (jobs_dir / "done" / "pages").mkdir()
    (jobs_dir / "done" / "document.txt").write_text("text")
    (jobs_dir / "link").symlink_to(jobs_dir / "done")
    (data_dir / "inbox").mkdir()
    (data_dir / "metrics.json").write_bytes(orjson.dumps({"schemaVersion": 1, "disk_error": 0}))
    before = _snapshot(data_dir)

    sidecar = await start_sidecar(rescan_s=0.2)
    for path in (
        "/metrics",
        "/metrics?format=prometheus",
        "/jobs",
        "/jobs?state=DONE",
        "/jobs/done",
        "/jobs/broken",
        "/jobs/..",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ):
        await sidecar.get(path)
    await sidecar.session.post(sidecar.url + "/jobs/done", data=b"{}")
    await sidecar.session.delete(sidecar.url + "/jobs/done")
    await start_sidecar()  # a second instance beside the first, as in a rolling update
    await eventually(lambda: _rescanned(sidecar))

    assert _snapshot(data_dir) == before


async def _rescanned(sidecar):
    return sidecar.app[STATUS].rescans_total >= 3
