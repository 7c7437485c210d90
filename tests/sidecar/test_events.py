"""`GET /events` against a real sidecar: changes on disk become events; replay, relist, heartbeats and limits."""

import asyncio

import orjson
import pytest

from sidecar.keys import EVENTS, INDEX
from sidecar.state_file import parse_state

from .conftest import eventually, state_doc


class EventReader:
    """A minimal SSE client over a raw connection, so tests see exactly the bytes the server sends."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, sidecar, last_event_id=None, read_buffer=None):
        host, port = sidecar.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port), limit=read_buffer or 2**16)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        writer.write(f"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
        await writer.drain()
        self = cls(reader, writer)
        self.head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        return self

    async def next_block(self, timeout_s=10):
        """The next event or comment block, as a dict of its fields (chunked framing stripped)."""
        fields = {}
        while True:
            line = await asyncio.wait_for(self._line(), timeout_s)
            if line == "":
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")

    async def _line(self):
        while True:
            if getattr(self, "_pending", None):
                line, _, rest = self._pending.partition("\n")
                if _:
                    self._pending = rest
                    return line
            size = (await self.reader.readline()).strip()
            if not size:
                continue
            chunk = await self.reader.readexactly(int(size, 16) + 2)
            self._pending = getattr(self, "_pending", "") + chunk[:-2].decode()

    async def next_event(self, name="job", timeout_s=10):
        while True:
            block = await self.next_block(timeout_s)
            if block.get("event") == name:
                return block

    def close(self):
        self.writer.close()


def write_state(jobs_dir, key, **fields):
    folder = jobs_dir / key
    folder.mkdir(exist_ok=True)
    tmp = folder / ".tmp-state.json"
    tmp.write_bytes(orjson.dumps(state_doc(key, **fields)))
    tmp.replace(folder / "state.json")


async def test_a_change_on_disk_arrives_as_an_event_with_an_id(start_sidecar, jobs_dir):
    sidecar = await start_sidecar()
    client = await EventReader.open(sidecar)
    assert b"text/event-stream" in client.head
    relist = await client.next_event("relist")
    write_state(jobs_dir, "a", state="RUNNING", stage="OCR", attempt=2, updated_at="2026-12-01T10:00:00.000Z")
    event = await client.next_event()
    assert orjson.loads(event["data"]) == {
        "jobKey": "a",
        "change": "added",
        "state": "RUNNING",
        "stage": "OCR",
        "attempt": 2,
        "updatedAt": "2026-12-01T10:00:00.000Z",
    }
    stream, seq = event["id"].split("-")
    assert relist["id"].split("-")[0] == stream and int(seq) > int(relist["id"].split("-")[1])
    (jobs_dir / "a" / "state.json").unlink()
    gone = orjson.loads((await client.next_event())["data"])
    assert (gone["jobKey"], gone["change"], gone["state"]) == ("a", "deleted", None)
    client.close()


async def test_a_client_that_reconnects_gets_what_it_missed(start_sidecar, jobs_dir):
    sidecar = await start_sidecar()
    first = await EventReader.open(sidecar)
    write_state(jobs_dir, "a")
    seen = await first.next_event()
    first.close()
    for key in ("b", "c"):
        write_state(jobs_dir, key)
    await eventually(lambda: _indexed(sidecar, 3))
    again = await EventReader.open(sidecar, last_event_id=seen["id"])
    missed = [orjson.loads((await again.next_event())["data"])["jobKey"] for _ in range(2)]
    assert sorted(missed) == ["b", "c"]  # one batch of events: the watcher applies it in no set order
    again.close()


@pytest.mark.parametrize(
    "last_event_id",
    ["garbage", "1-1", "-1", "9" * 5_000, "0-0", "1" * 21 + "-1", "\u00e9\u00e8-3", "{stream}-999999", "{stream}--1"],
)
async def test_a_hostile_or_foreign_last_event_id_gets_relist_and_a_working_stream(
    start_sidecar, jobs_dir, last_event_id
):
    sidecar = await start_sidecar()
    stream_id = sidecar.app[EVENTS].stream_id
    client = await EventReader.open(sidecar, last_event_id=last_event_id.replace("{stream}", str(stream_id)))
    relist = orjson.loads((await client.next_event("relist"))["data"])
    assert relist["list"] == "/jobs"
    write_state(jobs_dir, "after")
    assert orjson.loads((await client.next_event())["data"])["jobKey"] == "after"
    client.close()


async def test_a_last_event_id_past_the_header_limit_is_refused_with_400(start_sidecar):
    sidecar = await start_sidecar()
    status, _, _ = await sidecar.get("/events", headers={"Last-Event-ID": "9" * 10_000})
    assert status == 400
    assert (await sidecar.get("/healthz"))[0] == 200


async def test_an_id_older_than_the_window_gets_relist(start_sidecar, jobs_dir):
    sidecar = await start_sidecar(events_window=3)
    client = await EventReader.open(sidecar)
    write_state(jobs_dir, "a")
    old = await client.next_event()
    client.close()
    for i in range(5):
        write_state(jobs_dir, f"k{i}")
    await eventually(lambda: _indexed(sidecar, 6))
    again = await EventReader.open(sidecar, last_event_id=old["id"])
    first = await again.next_block()
    while "event" not in first:
        first = await again.next_block()
    assert first["event"] == "relist"
    again.close()


async def test_an_idle_stream_sends_heartbeats(start_sidecar):
    sidecar = await start_sidecar(events_heartbeat_s=0.2)
    client = await EventReader.open(sidecar)
    await client.next_event("relist")
    assert (await client.next_block())["comment"] == "heartbeat"
    client.close()


async def test_streams_beyond_their_limit_get_503_and_other_routes_keep_answering(start_sidecar):
    sidecar = await start_sidecar(max_event_streams=20, max_connections=60)
    clients = [await EventReader.open(sidecar) for _ in range(20)]
    await eventually(lambda: _streams(sidecar, 20))
    status, headers, body = await sidecar.get("/events")
    assert status == 503 and orjson.loads(body)["error"]["type"] == "TooManyStreams"
    assert headers["Retry-After"] == "5"
    assert (await sidecar.get("/metrics"))[0] == 200
    assert (await sidecar.get("/jobs"))[0] == 200
    for client in clients:
        client.close()
    await eventually(lambda: _streams(sidecar, 0))
    again = await EventReader.open(sidecar)
    assert again.head.startswith(b"HTTP/1.1 200")
    again.close()


async def test_a_thousand_connections_hold_the_limit_and_scrapes_still_answer(start_sidecar):
    sidecar = await start_sidecar(max_event_streams=100, max_connections=400)
    host, port = sidecar.url.removeprefix("http://").split(":")
    request = b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"
    opened = []
    for _ in range(1000):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        opened.append((reader, writer))
    await eventually(lambda: _streams(sidecar, 100))
    assert sidecar.app[EVENTS].clients == 100
    assert len(sidecar.runner.server.connections) <= 400
    status, _, _ = await sidecar.get("/metrics")  # a fresh connection, once refused ones have gone
    assert status in (200, 503)
    for _reader, writer in opened:
        writer.close()
    await eventually(lambda: _streams(sidecar, 0))
    assert (await sidecar.get("/metrics"))[0] == 200


async def test_a_client_that_never_reads_is_disconnected_and_costs_no_memory(start_sidecar):
    sidecar = await start_sidecar(events_window=500, events_write_timeout_s=0.5)
    client = await EventReader.open(sidecar, read_buffer=1024)  # and never reads again
    await eventually(lambda: _streams(sidecar, 1))
    index = sidecar.app[INDEX]
    # Volume without disk I/O: the index applies what the watcher would, tens of thousands of times.
    for round_ in range(40):
        for i in range(1000):
            index.put(_entry(f"k{i}", round_))
        await asyncio.sleep(0.01)
        if not sidecar.app[EVENTS].clients:
            break
    await eventually(lambda: _streams(sidecar, 0))
    assert (await sidecar.get("/healthz"))[0] == 200
    client.close()


async def test_stopping_the_server_ends_open_streams(start_sidecar):
    sidecar = await start_sidecar()
    client = await EventReader.open(sidecar)
    await client.next_event("relist")
    await asyncio.wait_for(sidecar.runner.cleanup(), 20)  # not the 60 s aiohttp would wait for a handler
    client.close()


def _entry(key, round_):
    doc = state_doc(key, updated_at=f"2026-12-01T10:{round_:02d}:00.000Z")
    return parse_state(key, (round_, 1, 1, 1), orjson.dumps(doc), 0.0)


async def _indexed(sidecar, count):
    return len(sidecar.app[INDEX]) >= count


async def _streams(sidecar, count):
    return sidecar.app[EVENTS].clients == count


def test_the_ring_returns_what_follows_a_position_in_order_within_the_limit():
    from sidecar.events import ChangeStream

    stream = ChangeStream(window=100)
    for i in range(150):
        stream.apply(f"k{i}", None, None)
    assert [c.seq for c in stream.since(145)] == [146, 147, 148, 149, 150]
    assert [c.seq for c in stream.since(60, limit=3)] == [61, 62, 63]
    assert stream.since(150) == []
    assert stream.since(49) is None  # 50 left the window: the client fell behind
    assert stream.since(50)[0].seq == 51


def test_changes_before_the_initial_scan_ends_are_not_recorded():
    from sidecar.events import ChangeStream

    ready = False
    stream = ChangeStream(window=10, is_ready=lambda: ready)
    stream.apply("scanned", None, None)
    assert stream.last_seq == 0 and stream.since(0) == []
    ready = True
    stream.apply("after", None, None)
    assert [c.key for c in stream.since(0)] == ["after"]


async def test_a_client_connected_during_the_initial_scan_is_told_to_relist_once_it_ends(start_sidecar, jobs_dir):
    for i in range(300):
        write_state(jobs_dir, f"early{i}")
    sidecar = await start_sidecar(wait_ready=False)
    client = await EventReader.open(sidecar)
    relist = await client.next_event("relist", timeout_s=30)
    assert orjson.loads(relist["data"])["list"] == "/jobs"
    assert (await sidecar.json("/jobs?limit=1"))[1]["total"] == 300  # the list it is told to fetch is complete
    client.close()
