import errno
import multiprocessing

import orjson

from services.common.atomic import atomic_write_bytes, is_disk_error, move_durably


def _hammer_writes(path: str, rounds: int) -> None:
    from pathlib import Path

    target = Path(path)
    for i in range(rounds):
        # Sizes vary a lot so that a torn write would show as a parse error or a short file.
        atomic_write_bytes(target, orjson.dumps({"i": i, "pad": "x" * (i % 7 * 3000)}))


def test_reader_hammering_a_rewritten_file_never_sees_a_partial_file(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_bytes(target, orjson.dumps({"i": -1, "pad": ""}))
    writer = multiprocessing.get_context("spawn").Process(target=_hammer_writes, args=(str(target), 400))
    writer.start()
    reads = 0
    seen = set()
    while writer.is_alive() or reads == 0:
        doc = orjson.loads(target.read_bytes())  # raises on a partial file
        assert doc["pad"] == "x" * (doc["i"] % 7 * 3000) if doc["i"] >= 0 else True
        seen.add(doc["i"])
        reads += 1
    writer.join()
    assert writer.exitcode == 0
    assert orjson.loads(target.read_bytes())["i"] == 399
    assert len(seen) > 1, "the reader should have seen several versions"


def test_atomic_write_leaves_no_temp_file(tmp_path):
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_disk_errors_are_told_apart_from_other_errors():
    assert is_disk_error(OSError(errno.ENOSPC, "full"))
    assert is_disk_error(OSError(errno.EROFS, "ro"))
    assert not is_disk_error(OSError(errno.ENOENT, "missing"))
    assert not is_disk_error(ValueError("x"))


def test_move_keeps_the_bytes_and_removes_the_source(tmp_path):
    src, dst = tmp_path / "in.pdf", tmp_path / "job" / "source.pdf"
    dst.parent.mkdir()
    src.write_bytes(b"%PDF-1.4 data")
    move_durably(src, dst)
    assert not src.exists()
    assert dst.read_bytes() == b"%PDF-1.4 data"
