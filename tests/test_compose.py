"""compose.yaml and the Dockerfile: validated (no Docker engine runs here), not run."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ("prep", "ocr", "orchestrator", "sidecar")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification():
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    run = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_service_publishes_a_port(compose):
    for name, service in compose["services"].items():
        assert "ports" not in service, f"{name} must not publish ports"
    assert compose["networks"]["internal"]["internal"] is True


def test_every_service_runs_a_module_that_exists(compose):
    for name in PIPELINE:
        command = compose["services"][name]["command"]
        module = command[command.index("-m") + 1]
        assert importlib.util.find_spec(f"{module}.__main__") is not None, name


def test_services_share_one_named_jobs_volume_and_the_sidecar_mounts_it_read_only(compose):
    assert "jobs" in compose["volumes"]
    for name in ("prep", "ocr", "orchestrator"):
        assert compose["services"][name]["volumes"] == ["jobs:/data"]
    assert compose["services"]["sidecar"]["volumes"] == ["jobs:/data:ro"]


def test_the_sidecar_is_locked_down(compose):
    sidecar = compose["services"]["sidecar"]
    assert sidecar["read_only"] is True
    assert sidecar["cap_drop"] == ["ALL"]
    assert not sidecar["user"].startswith("0")
    assert "/readyz" in " ".join(sidecar["healthcheck"]["test"])


def test_ocr_scales_with_replicas_and_stage_services_stay_internal(compose):
    assert compose["services"]["ocr"]["deploy"]["replicas"] >= 2
    for name in ("prep", "ocr"):
        assert compose["services"][name]["networks"] == ["internal"]
    env = compose["services"]["orchestrator"]["environment"]
    assert env["PREP_URL"] == "http://prep:8081" and env["OCR_URL"] == "http://ocr:8082"


def test_dockerfile_copies_paths_that_exist_and_runs_as_non_root():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert any(line.startswith("USER 10001") for line in lines)


def test_one_orchestrator_runs_and_a_stop_lets_it_release_its_lease(compose):
    orchestrator = compose["services"]["orchestrator"]
    assert orchestrator.get("deploy", {}).get("replicas", 1) == 1
    assert orchestrator["stop_signal"] == "SIGTERM"  # SIGTERM: calls finish, the lease is released for the next one
