"""The OCR service's settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.ocr.app import Config


def test_defaults_follow_the_documented_values(tmp_path):
    config = Config.from_env({"DATA_DIR": str(tmp_path), "TESSDATA_PREFIX": "/opt/tessdata"})
    assert (config.host, config.port, config.lang) == ("0.0.0.0", 8082, "fra+eng")
    assert (config.page_timeout_s, config.page_retries, config.workers >= 1) == (120.0, 1, True)
    assert config.paths.jobs_dir == tmp_path / "jobs"
    assert config.tessdata_dir == Path("/opt/tessdata")


def test_variables_override_the_defaults():
    env = {"OCR_PORT": "9000", "OCR_WORKERS": "3", "OCR_PAGE_TIMEOUT_S": "2.5", "OCR_TESSDATA_DIR": "/td"}
    config = Config.from_env(env)
    assert (config.port, config.workers, config.page_timeout_s, config.tessdata_dir) == (9000, 3, 2.5, Path("/td"))


def test_zero_workers_is_a_config_error():
    with pytest.raises(ConfigError, match="OCR_WORKERS"):
        Config.from_env({"OCR_WORKERS": "0"})
