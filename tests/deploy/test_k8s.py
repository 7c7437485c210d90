"""deploy/k8s: rendered by the real kubectl kustomize, validated against the schemas, and its promises asserted.

No cluster runs here. kubectl is the upstream release (deploy/k8s/install_kubectl.py, run by `make test`);
core kinds are validated by kubernetes-validate against the Kubernetes OpenAPI schemas, strictly (an unknown
field fails); KEDA's ScaledObject and the Prometheus Operator's ServiceMonitor by the cloudcoil models generated
from those projects' CRDs, made strict here by requiring the model to keep every field we wrote.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import orjson
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBECTL = ROOT / ".tools" / "bin" / "kubectl"
OVERLAYS = ("example", "example-hpa")
# The oldest Kubernetes minor release still supported upstream when this was written; the manifests use nothing newer.
KUBERNETES_VERSION = "1.31.0"
CUSTOM_KINDS = {"ScaledObject": ScaledObject, "ServiceMonitor": ServiceMonitor}
WORKLOADS = ("prep", "ocr", "orchestrator", "sidecar")
# Variables of other programs than ours, which docs/configuration.md does not list.
FOREIGN_ENV = {"OMP_THREAD_LIMIT"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right"}


def kubectl() -> Path:
    if KUBECTL.exists():
        return KUBECTL
    message = f"{KUBECTL} is missing: `make k8s-tools` installs it (`make test` does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def render(overlay: str) -> list[dict]:
    run = subprocess.run(
        [str(kubectl()), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request):
    return render(request.param)


def of_kind(docs, kind):
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_specs(docs):
    return {name: d["spec"]["template"]["spec"] for name, d in of_kind(docs, "Deployment").items()}


def containers(docs):
    for name, spec in pod_specs(docs).items():
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield name, container


@pytest.fixture(scope="module")
def exported_metrics(tmp_path_factory):
    """The metric names a real sidecar serves on /metrics (over an empty jobs volume)."""
    data = tmp_path_factory.mktemp("sidecar") / "data"
    (data / "jobs").mkdir(parents=True)
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data), "ORCHESTRATOR_PORT": str(port), "SIDECAR_HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "sidecar"], env=env, stdout=subprocess.DEVNULL)
    try:
        import urllib.request

        def fetch():
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/metrics?format=prometheus", timeout=2
                ) as response:
                    return response.read().decode()
            except OSError:
                return None

        text = wait_for(fetch, timeout_s=30, what="the sidecar's /metrics")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_names(promql: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers outside `{...}` and `by (...)`, not called."""
    bare = re.sub(r"\{[^}]*\}", "", promql)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    return set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare)) - PROMQL_WORDS


def test_metric_names_finds_the_metrics_of_a_query():
    assert metric_names('sum(a_b{x="1",y=~"z"}) by (ns) + sum(c) / rate(d_total[5m])') == {"a_b", "c", "d_total"}


# --- rendered and valid -------------------------------------------------------------------------------------


def test_every_overlay_renders_the_four_workloads_and_their_volume(docs):
    assert set(of_kind(docs, "Deployment")) == set(WORKLOADS)
    assert set(of_kind(docs, "PersistentVolumeClaim")) == {"ocr-data"}
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {"ocr-pipeline"}


def test_every_core_manifest_matches_the_kubernetes_schema(docs):
    core = [doc for doc in docs if doc["kind"] not in CUSTOM_KINDS]
    for doc in core:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_an_unknown_field():
    broken = {**render("example")[0], "spec": {"finalizers": ["kubernetes"]}, "specc": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def strict_custom_resource(doc: dict) -> None:
    """Parse with the CRD's model; a field the model dropped is one the CRD does not have (the models ignore extras)."""
    model = CUSTOM_KINDS[doc["kind"]].model_validate(doc)
    kept = orjson.loads(model.model_dump_json(by_alias=True, exclude_unset=True))
    assert kept == doc, f"{doc['kind']} {doc['metadata']['name']}: fields unknown to its CRD"


def test_custom_resources_match_their_crd_models(docs):
    custom = [doc for doc in docs if doc["kind"] in CUSTOM_KINDS]
    assert {doc["kind"] for doc in custom} >= {"ServiceMonitor"}
    for doc in custom:
        strict_custom_resource(doc)


def test_the_custom_resource_check_rejects_a_misspelt_field():
    scaled = of_kind(render("example"), "ScaledObject")["ocr"]
    with pytest.raises(AssertionError, match="unknown to its CRD"):
        strict_custom_resource({**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}})


def test_every_command_runs_a_module_that_exists(docs):
    for name, container in containers(docs):
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if "exec" in container.get(probe, {}):
                command = container[probe]["exec"]["command"]
                assert importlib.util.find_spec(command[command.index("-m") + 1]) is not None, (name, probe)
        module = container["command"][container["command"].index("-m") + 1]
        assert importlib.util.find_spec(f"{module}.__main__") is not None, name


def test_every_variable_set_is_one_the_services_document(docs):
    documented = (ROOT / "docs" / "configuration.md").read_text()
    for name, container in containers(docs):
        for var in container.get("env", []):
            assert var["name"] in FOREIGN_ENV or f"`{var['name']}`" in documented, (name, var["name"])


# --- the promises -------------------------------------------------------------------------------------------


def test_nothing_is_exposed_outside_the_cluster(docs):
    assert not [doc["kind"] for doc in docs if doc["kind"] in {"Ingress", "Gateway", "HTTPRoute", "Route"}]
    for name, service in of_kind(docs, "Service").items():
        assert service["spec"]["type"] == "ClusterIP", name
        assert not {"externalIPs", "loadBalancerIP", "externalName"} & set(service["spec"]), name
        assert all("nodePort" not in port for port in service["spec"]["ports"]), name
    for name, spec in pod_specs(docs).items():
        assert not (spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC")), name
    for name, container in containers(docs):
        assert all("hostPort" not in port for port in container.get("ports", [])), name


def test_every_pod_runs_as_non_root_without_privileges(docs):
    for name, spec in pod_specs(docs).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
    for name, container in containers(docs):
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert not security.get("privileged"), name
        assert security.get("runAsUser", 1) != 0, name


def test_the_namespace_enforces_the_restricted_pod_security_profile(docs):
    (namespace,) = of_kind(docs, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_sidecar_can_write_nothing(docs):
    spec = pod_specs(docs)["sidecar"]
    (data,) = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert data["persistentVolumeClaim"]["readOnly"] is True
    (container,) = spec["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == data["name"])
    assert mount["readOnly"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_every_pod_mounts_the_one_read_write_many_claim(docs):
    (claim,) = of_kind(docs, "PersistentVolumeClaim").values()
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for name, spec in pod_specs(docs).items():
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        assert claims == {claim["metadata"]["name"]}, name


def test_one_orchestrator_at_a_time(docs):
    orchestrator = of_kind(docs, "Deployment")["orchestrator"]
    assert orchestrator["spec"]["replicas"] == 1
    assert orchestrator["spec"]["strategy"] == {"type": "Recreate"}
    targets = [
        d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] in {"ScaledObject", "HorizontalPodAutoscaler"}
    ]
    assert "orchestrator" not in targets


def test_every_container_has_a_liveness_probe_and_those_behind_a_service_a_readiness_probe(docs):
    served = {s["spec"]["selector"]["app.kubernetes.io/name"] for s in of_kind(docs, "Service").values()}
    for name, container in containers(docs):
        assert "livenessProbe" in container, name
        assert "startupProbe" in container, name
        if name in served:
            assert "readinessProbe" in container, name


def test_stage_services_set_their_workers_and_one_openmp_thread(docs):
    for name, variable in (("prep", "PREP_WORKERS"), ("ocr", "OCR_WORKERS")):
        (container,) = pod_specs(docs)[name]["containers"]
        env = {v["name"]: v["value"] for v in container["env"]}
        assert env["OMP_THREAD_LIMIT"] == "1"
        assert int(env[variable]) <= int(container["resources"]["limits"]["cpu"]), name
        assert container["resources"]["requests"] and container["resources"]["limits"], name


def test_only_the_namespace_and_prometheus_reach_the_sidecar(docs):
    policies = of_kind(docs, "NetworkPolicy").values()
    sidecar_labels = of_kind(docs, "Deployment")["sidecar"]["spec"]["template"]["metadata"]["labels"]

    def selects(policy):
        wanted = policy["spec"]["podSelector"].get("matchLabels", {})
        return all(sidecar_labels.get(k) == v for k, v in wanted.items())

    sources = [peer for p in policies if selects(p) for rule in p["spec"].get("ingress", []) for peer in rule["from"]]
    assert sources, "no NetworkPolicy selects the sidecar: it would accept traffic from anywhere"
    for peer in sources:
        if "namespaceSelector" in peer:
            assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}, peer
            assert peer["namespaceSelector"]["matchLabels"], peer
        else:
            assert peer == {"podSelector": {}}, peer  # same namespace only
        assert "ipBlock" not in peer


def test_stage_services_have_disruption_budgets(docs):
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name in ("prep", "ocr"):
        assert budgets[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_ocr_alone_is_autoscaled_and_its_replica_count_left_to_the_autoscaler(docs):
    autoscalers = [d for d in docs if d["kind"] in {"ScaledObject", "HorizontalPodAutoscaler"}]
    assert [a["spec"]["scaleTargetRef"]["name"] for a in autoscalers] == ["ocr"]
    assert "replicas" not in of_kind(docs, "Deployment")["ocr"]["spec"]


def test_keda_scales_ocr_on_a_metric_the_sidecar_exports(exported_metrics):
    (trigger,) = of_kind(render("example"), "ScaledObject")["ocr"]["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    names = metric_names(trigger["metadata"]["query"])
    assert names and names <= exported_metrics, names - exported_metrics
    assert 'namespace="ocr-pipeline"' in trigger["metadata"]["query"]


def test_the_hpa_reads_the_metric_the_adapter_rule_serves_from_sidecar_metrics(exported_metrics):
    hpa = of_kind(render("example-hpa"), "HorizontalPodAutoscaler")["ocr"]
    rules = yaml.safe_load((K8S / "components" / "hpa" / "prometheus-adapter-rules.yaml").read_text())
    (rule,) = rules["externalRules"]
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == rule["name"]["as"]
    names = metric_names(rule["metricsQuery"].replace("<<.LabelMatchers>>", ""))
    assert names and names <= exported_metrics, names - exported_metrics


def test_the_service_monitor_scrapes_the_sidecar_port(docs):
    monitor = of_kind(docs, "ServiceMonitor")["sidecar"]
    service = of_kind(docs, "Service")["sidecar"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
