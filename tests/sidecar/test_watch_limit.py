"""The inotify watch limit reached: the jobs that cannot be watched are polled, and the sidecar says so.

The limit is lowered in a user namespace of the sidecar's own (`unshare -U -r`, then /proc/sys/user/
max_inotify_watches, which counts only that namespace's watches): the host's fs.inotify.max_user_watches, shared by
everything else on the machine, is never touched.
"""

import shutil
import subprocess
import time

import pytest

from tests.conftest import wait_for

from .conftest import write_production_files

JOBS = 30
# The jobs folder and metrics.json's folder take two: ten job folders get a watch, twenty do not.
LIMIT = 12
VISIBLE_WITHIN_S = 2.0


def limited(watches: int) -> tuple[str, ...]:
    return ("unshare", "-U", "-r", "sh", "-c", f'echo {watches} > /proc/sys/user/max_inotify_watches && exec "$@"', "-")


@pytest.fixture
def user_namespace():
    try:
        probe = subprocess.run([*limited(LIMIT), "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"no user namespaces here: {e}")
    if probe.returncode != 0:
        pytest.skip(f"cannot limit inotify watches in a user namespace: {probe.stderr.decode().strip()}")


def all_equal_to_disk(sidecar, jobs_dir, keys):
    return all(sidecar.get(f"/jobs/{key}")[1] == (jobs_dir / key / "state.json").read_bytes() for key in keys)


def test_jobs_past_the_watch_limit_are_polled_and_the_degradation_reported(
    sidecar_process, user_namespace, write_job, jobs_dir
):
    keys = [f"job-{n:02d}" for n in range(JOBS)]
    for key in keys:
        write_job(key)
        write_production_files(jobs_dir / key)
    sidecar = sidecar_process(wrap=limited(LIMIT))
    _, ready = sidecar.json("/readyz")
    assert ready["watchMode"] == "partial"
    assert ready["unwatchedJobs"] == JOBS - (LIMIT - 2)
    assert "the inotify watch limit is reached" in ready["degraded"]
    text = sidecar.get("/metrics?format=prometheus")[1].decode()
    assert f"ocr_sidecar_unwatched_jobs {JOBS - (LIMIT - 2)}.0" in text
    assert 'ocr_sidecar_watch_mode{mode="partial"} 1.0' in text

    started = time.monotonic()
    for key in keys:
        write_job(key, state="RUNNING", stage="OCR")
    wait_for(lambda: all_equal_to_disk(sidecar, jobs_dir, keys), timeout_s=10, what="every rewrite to show")
    assert time.monotonic() - started < VISIBLE_WITHIN_S
    said = [line for line in sidecar.log_lines() if "cannot be watched" in line["message"]]
    assert len(said) == 1 and said[0]["level"] == "WARNING" and said[0]["unwatchedJobs"] == JOBS - (LIMIT - 2)


def test_watches_freed_by_deleted_jobs_go_to_the_jobs_still_polled(
    sidecar_process, user_namespace, write_job, jobs_dir
):
    keys = [f"job-{n:02d}" for n in range(JOBS)]
    for key in keys:
        write_job(key)
    sidecar = sidecar_process(wrap=limited(LIMIT))
    unwatched = sidecar.json("/readyz")[1]["unwatchedJobs"]
    for key in keys[:5]:  # the first ten got the watches
        shutil.rmtree(jobs_dir / key)
    wait_for(
        lambda: sidecar.json("/readyz")[1]["unwatchedJobs"] == unwatched - 5,
        timeout_s=10,
        what="five polled jobs to get the freed watches",
    )
