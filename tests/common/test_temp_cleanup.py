"""Which temp files a stage replica may remove: only those whose writer is provably dead (services.common.atomic)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from services.common.atomic import (
    STALE_TEMP_S,
    TEMP_PREFIX,
    remove_dead_temp_files,
    remove_temp_files_of,
    temp_is_dead,
    temp_path_for,
    writer_tag,
)
from tests.conftest import ROOT, temp_of_a_finished_process, wait_for


def test_the_temp_of_a_writer_that_is_gone_is_removed(tmp_path):
    dead = temp_of_a_finished_process(tmp_path, "page-0001.pdf")
    assert remove_dead_temp_files(tmp_path, "page-0001.pdf") == 1
    assert not dead.exists()


def test_the_temp_of_a_live_writer_is_kept_even_by_its_own_process(tmp_path):
    live = temp_path_for(tmp_path / "page-0001.pdf")  # this test process: alive
    live.write_bytes(b"being written")
    assert remove_dead_temp_files(tmp_path) == 0
    assert live.exists()


def test_a_reused_pid_with_another_start_time_is_a_dead_writer(tmp_path):
    pid, start, host = writer_tag().lstrip("w").split("-")
    reused = tmp_path / f"{TEMP_PREFIX}document.txt.w{pid}-{int(start) + 1}-{host}.cafe0001"
    reused.write_bytes(b"x")
    assert temp_is_dead(reused)


def test_the_fresh_temp_of_another_host_is_kept_and_a_stale_one_removed(tmp_path):
    fresh = tmp_path / f"{TEMP_PREFIX}page-0001.txt.w7-1234-00000000.beef0001"
    stale = tmp_path / f"{TEMP_PREFIX}page-0002.txt.w7-1234-00000000.beef0002"
    legacy = tmp_path / f"{TEMP_PREFIX}page-0003.txt.7.beef0003"  # no writer identity: only age can tell
    for path in (fresh, stale, legacy):
        path.write_bytes(b"x")
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    assert remove_dead_temp_files(tmp_path) == 1
    assert fresh.exists() and legacy.exists() and not stale.exists()


def test_only_the_temp_files_of_the_named_process_go_when_it_was_killed(tmp_path):
    mine = temp_path_for(tmp_path / "page-0001.pdf")
    other = tmp_path / f"{TEMP_PREFIX}page-0001.pdf.w{os.getpid() + 1}-5-{writer_tag().rsplit('-', 1)[1]}.beef0004"
    for path in (mine, other):
        path.write_bytes(b"x")
    assert remove_temp_files_of(tmp_path, os.getpid()) == 1
    assert other.exists() and not mine.exists()


def test_a_killed_writer_not_yet_reaped_is_dead(tmp_path):
    code = (
        "import sys, time; from pathlib import Path; from services.common.atomic import temp_path_for; "
        f"p = temp_path_for(Path({str(tmp_path / 'page-0001.txt')!r})); p.write_bytes(b'x'); print(p, flush=True); "
        "time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    temp = Path(child.stdout.readline().strip())
    assert not temp_is_dead(temp)  # alive
    child.kill()
    wait_for(lambda: Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] == "Z", what="a zombie")
    assert temp_is_dead(temp)  # killed, still waiting for its parent to reap it
    child.wait()
    child.stdout.close()
