"""Config.from_env: defaults, overrides, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.prep.app import Config


def test_defaults_let_an_a3_page_at_300_dpi_through():
    config = Config.from_env({})
    assert (config.host, config.port, config.dpi, config.max_pages) == ("0.0.0.0", 8081, 300, 2000)
    assert config.max_page_pixels >= 3508 * 4961
    assert (config.deskew, config.clean, config.denoise) == (True, True, True)
    assert config.paths.jobs_dir == Path("data/jobs")


def test_every_setting_is_read_from_the_environment():
    env = {
        "JOBS_DIR": "/srv/jobs",
        "PREP_HOST": "127.0.0.1",
        "PREP_PORT": "9001",
        "PREP_WORKERS": "3",
        "PREP_DPI": "200",
        "PREP_MAX_PAGE_PIXELS": "1000",
        "PREP_MAX_PAGES": "5",
        "PREP_DESKEW": "false",
        "PREP_CLEAN": "0",
        "PREP_DENOISE": "no",
    }
    config = Config.from_env(env)
    assert config.paths.jobs_dir == Path("/srv/jobs")
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 9001, 3)
    assert (config.limits.dpi, config.limits.max_page_pixels, config.limits.max_pages) == (200, 1000, 5)
    assert (config.options.deskew, config.options.clean, config.options.denoise) == (False, False, False)


@pytest.mark.parametrize(("name", "value"), [("PREP_WORKERS", "0"), ("PREP_DPI", "abc"), ("PREP_DESKEW", "maybe")])
def test_an_unusable_value_is_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_to_log_is_plain_json_values():
    logged = Config.from_env({"DATA_DIR": "/d"}).to_log()
    assert logged["paths"]["jobs_dir"] == "/d/jobs"
    assert logged["max_page_pixels"] == 40_000_000
