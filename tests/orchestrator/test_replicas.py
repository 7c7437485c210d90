"""Stage replicas named by a URL list: parsed strictly, calls spread, a refusing replica passed over."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.common.errors import ConfigError
from services.common.job import Stage
from services.orchestrator.app import Config
from services.orchestrator.app.dispatch import Dispatcher, run_now
from services.orchestrator.app.replicas import PASS_OVER_MAX_S, Replicas, parse_urls
from services.orchestrator.app.stages import Outcome
from tests.conftest import free_port
from tests.orchestrator.test_dispatch import running_job

A, B, C = "http://a:8082", "http://b:8082", "http://c:8082"


def test_a_url_list_is_split_trimmed_and_kept_in_order():
    assert parse_urls(" http://a:8082/ ,http://b:8082,, ", "OCR_URL") == (A, B)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(" , ", "names no URL"), ("http://a:8082,a:8082", "not an http"), ("http://a:8082,http://a:8082/", "twice")],
)
def test_a_bad_url_list_is_refused_at_start_with_the_variable_named(raw, message):
    with pytest.raises(ConfigError, match=f"OCR_URL.*{message}"):
        Config.from_env({"OCR_URL": raw})


def test_calls_go_to_the_replica_with_the_fewest_in_flight_in_turn_among_equals():
    replicas = Replicas((A, B, C))
    assert [replicas.pick(0.0) for _ in range(6)] == [A, B, C, A, B, C]
    replicas.done(B, True, 0.0)
    assert replicas.pick(0.0) == B
    assert replicas.in_flight == {A: 2, B: 2, C: 2}


def test_a_replica_that_refused_is_passed_over_then_tried_again():
    replicas = Replicas((A, B))
    url = replicas.pick(0.0)
    replicas.done(url, False, 10.0)
    assert [replicas.pick(10.5) for _ in range(3)] == [B, B, B]
    assert replicas.pick(11.0) == A  # one second later it is tried again
    replicas.done(A, False, 11.0)
    assert replicas.reachable(12.5) == [B] and replicas.reachable(13.0) == [A, B]  # then two seconds
    for _ in range(10):
        replicas.pick(0.0)
        replicas.done(A, False, 100.0)
    assert replicas.reachable(100.0 + PASS_OVER_MAX_S - 0.1) == [B]


def test_when_every_replica_refused_the_next_call_still_goes_somewhere():
    replicas = Replicas((A, B))
    for url in (A, B):
        replicas.pick(0.0)
        replicas.done(url, False, 0.0)
    assert replicas.reachable(0.5) == [] and replicas.pick(0.5) in (A, B)


class _OcrAnswer(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"pages": 1, "meanConfidence": 90.0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ocr_replica():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OcrAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_one_dead_replica_costs_one_refused_call_and_is_no_outage(ocr_replica, caplog):
    dead = f"http://127.0.0.1:{free_port()}"
    config = Config.from_env({"DATA_DIR": "/nonexistent", "OCR_URL": f"{dead},{ocr_replica}", "OCR_CONCURRENCY": "8"})
    dispatcher = Dispatcher(config, run_now)
    outcomes = []
    with caplog.at_level(logging.WARNING):
        for i in range(6):
            job = running_job(i)
            job.stage = Stage.OCR
            dispatcher.start(job)
            outcomes += [(f.url, f.result.outcome) for f in dispatcher.collect()]
    assert outcomes[0] == (dead, Outcome.UNAVAILABLE)
    assert outcomes[1:] == [(ocr_replica, Outcome.OK)] * 5
    assert "outage_start" not in [getattr(r, "event", None) for r in caplog.records]
