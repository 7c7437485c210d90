"""deploy/monitoring: the alert rules pass promtool's checks and unit tests, and the rules and the dashboard only use
metrics a real sidecar exports."""

import json
import re
import subprocess

import yaml

from .conftest import MONITORING, get, tool

METRIC = re.compile(r"\bocr_[a-z_]+\b")


def test_the_rules_are_valid():
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(MONITORING / "alerts.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_each_alert_fires_when_it_should_and_stays_quiet_otherwise():
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(MONITORING / "alerts_test.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "alerts_test.yml").read_text()))
    defined = {
        rule["alert"]
        for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert tested == defined  # no rule without a test


def test_rules_and_dashboard_name_only_metrics_the_sidecar_exports(sidecar):
    url, _jobs_dir = sidecar
    exposed = set(METRIC.findall(get(url + "/metrics?format=prometheus").decode()))
    used = set(METRIC.findall((MONITORING / "alerts.yml").read_text()))
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used |= {name for expr in exprs for name in METRIC.findall(expr)}
    assert not used - exposed, used - exposed
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"]) >= 10
