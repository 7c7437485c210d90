import logging

import orjson
import pytest

from services.common.logs import bind_job, configure_logging


@pytest.fixture
def json_logs(capsys, monkeypatch):
    configure_logging("test-service", {"LOG_JSON": "true", "LOG_LEVEL": "DEBUG"})
    yield lambda: [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    logging.getLogger().handlers.clear()


def test_json_lines_carry_the_standard_fields(json_logs):
    logging.getLogger("demo").info("hello %s", "world", extra={"pages": 3})
    [line] = json_logs()
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "demo"
    assert line["service"] == "test-service"
    assert line["pages"] == 3
    assert line["timestamp"].endswith("Z") and len(line["timestamp"]) == len("2026-01-01T00:00:00.000Z")


def test_bound_job_context_is_on_every_line_inside_the_block_only(json_logs):
    log = logging.getLogger("demo")
    with bind_job("abc123", "OCR", 2):
        log.info("inside")
    log.info("outside")
    inside, outside = json_logs()
    assert (inside["jobKey"], inside["stage"], inside["attempt"]) == ("abc123", "OCR", 2)
    assert "jobKey" not in outside


def test_exceptions_are_logged_with_type_message_and_stack(json_logs):
    try:
        raise ValueError("broken page")
    except ValueError:
        logging.getLogger("demo").exception("failed")
    [line] = json_logs()
    assert line["exception"]["type"] == "ValueError"
    assert line["exception"]["message"] == "broken page"
    assert "Traceback" in line["exception"]["stack"]


def test_a_bad_log_call_does_not_raise(json_logs):
    logging.getLogger("demo").info("%d pages", "not-a-number", extra={"obj": object()})
    [line] = json_logs()
    assert "pages" in line["message"]


def test_text_mode_is_readable_and_has_the_job(capsys):
    configure_logging("svc", {"LOG_JSON": "false"})
    try:
        with bind_job("k1", "PREP", 1):
            logging.getLogger("demo").warning("slow page")
    finally:
        logging.getLogger().handlers.clear()
    out = capsys.readouterr().out
    assert "WARNING" in out and "[k1 PREP 1]" in out and "slow page" in out


def test_watchfiles_chatter_at_info_is_not_logged(json_logs):
    logging.getLogger("watchfiles.main").info("1 change detected")
    logging.getLogger("watchfiles.main").warning("watch limit reached")
    assert [line["message"] for line in json_logs()] == ["watch limit reached"]
