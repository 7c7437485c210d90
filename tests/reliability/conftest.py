"""Fixtures of the reliability suite: the profile, the results collector, real stacks and tiny documents."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests import factory
from tests.e2e.conftest import Stack

from . import results
from .profile import PROFILE

HERE = Path(__file__).resolve().parent
# Tiny single-line pages: Tesseract reads one in a few milliseconds, so the suite spends its time on faults.
TINY_PAGE = (700, 300)
TINY_FONT = 40
# Faster start and steady CPU use on a 2-core machine shared with other runs.
FAST_ENV = {"OCR_WORKERS": "1", "PREP_WORKERS": "1", "OCR_LANG": "eng", "METRICS_HEARTBEAT_S": "1"}

_rows: list[results.Row] = []


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="long profile only: run `make reliability-long` (RELIABILITY_PROFILE=long)")
    for item in items:
        if PROFILE.name != "long" and "long" in item.keywords and HERE in Path(item.fspath).parents:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or report.failed:
        item.stash.setdefault(_outcome_key, []).append(report)
    return report


_outcome_key = pytest.StashKey[list]()


def pytest_sessionfinish(session):
    # Only a deliberate run (`make reliability[-long]` sets the profile) rewrites the figures: a plain `make test`
    # must not leave the docs modified in everyone's working tree.
    if _rows and "RELIABILITY_PROFILE" in os.environ:
        results.save(PROFILE.name, _rows)
        results.write_doc()


@pytest.fixture
def record(request):
    """record(scenario, injected, checked) -> Row: the test adds counts; the outcome is taken from its result."""
    rows: list[results.Row] = []
    started = time.monotonic()

    def create(scenario: str, injected: str, checked: str) -> results.Row:
        row = results.Row(scenario=scenario, test=request.node.name, injected=injected, checked=checked)
        rows.append(row)
        return row

    yield create
    reports = request.node.stash.get(_outcome_key, [])
    if any(hasattr(r, "wasxfail") for r in reports):
        outcome = "xfailed: known bug"
    elif any(r.failed for r in reports):
        outcome = "failed"
    else:
        outcome = "skipped" if any(r.skipped for r in reports) else "passed"
    for row in rows:
        row.outcome, row.duration_s, row.date = outcome, round(time.monotonic() - started, 1), results.today()
        _rows.append(row)


@pytest.fixture
def stack_at():
    """stack_at(root, services, **env) -> a started Stack whose data lives in root/data; stopped at teardown."""
    stacks: list[Stack] = []

    def create(root: Path, services=("prep", "ocr", "orchestrator"), **extra_env) -> Stack:
        stack = Stack(root, {**FAST_ENV, **{k: str(v) for k, v in extra_env.items()}})
        stacks.append(stack)
        for name in services:
            stack.start(name)
        return stack

    yield create
    for stack in stacks:
        stack.stop()


def tiny_document(folder: Path, number: int, pages: int = 1, kind: str = "png") -> Path:
    """A small valid document whose bytes are unique to `number` (so each makes its own job)."""
    images = [
        factory.page_image([f"Doc {number} page {page + 1}"], size=TINY_PAGE, font_size=TINY_FONT)
        for page in range(pages if kind != "png" else 1)
    ]
    path = folder / f"doc-{number:04d}.{kind}"
    if kind == "pdf":
        return factory.write_pdf(path, images)
    if kind == "tiff":
        return factory.write_tiff(path, images)
    return factory.write_image(path, images[0])


@pytest.fixture
def documents(tmp_path):
    """documents(count, start=0) -> tiny PNG/PDF/TIFF files of one to three pages, made under tmp_path/src."""
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    kinds = ("png", "pdf", "tiff")

    def create(count: int, start: int = 0) -> list[Path]:
        return [tiny_document(folder, n, pages=1 + n % 3, kind=kinds[n % 3]) for n in range(start, start + count)]

    return create
