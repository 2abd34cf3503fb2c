"""Offline checks of deploy/observability: the Prometheus rules (`promtool check rules` and the unit
tests of alerts_test.yml), the Grafana dashboard, the PodMonitor, and the names they all use.

promtool comes with Debian's `prometheus` package, installed on first use when missing
(tests/support/apt.py); a machine that cannot install it fails these tests, it never skips them.
Every metric a query names must be in metrics.txt (the metrics contract), so a typo fails here
instead of drawing an empty panel or an alert that can never fire.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from support import apt
from tm_common.metrics import LATENCY_BUCKETS
from tm_devstack.gateway import TRANSCODED_SERVICES
from tm_devstack.services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yml"
ALERTS_TEST = OBSERVABILITY / "alerts_test.yml"
DASHBOARD = OBSERVABILITY / "dashboard.json"
PODMONITOR = OBSERVABILITY / "podmonitor.yaml"
RUNBOOK = OBSERVABILITY / "RUNBOOK.md"
METRICS = OBSERVABILITY / "metrics.txt"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
JOBS = {spec.name for spec in SERVICES} | {"gateway"}
SEVERITIES = {"page", "ticket"}
# The configuration tests/deploy/test_kubernetes.py lints the manifests with.
YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 110, allow-non-breakable-inline-mappings: true}
"""
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
PROMQL_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}
# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*"}


# --- helpers ----------------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label matchers,
    ranges, grouping clauses, function calls, keywords and numbers are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = re.findall(r"(?<![\w.$:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", expr)
    return {name for name in names if name.lower() not in PROMQL_KEYWORDS}


def contract_metrics() -> set[str]:
    lines = (line.strip() for line in METRICS.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def query_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in query_panels() for target in panel["targets"]]


def prometheus_expr(expr: str) -> str:
    """A dashboard query as Grafana sends it."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def run_promtool(promtool: str, *args: str, cwd: Path = OBSERVABILITY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def find_promtool() -> str | None:
    return shutil.which("promtool")


@pytest.fixture(scope="module")
def promtool() -> str:
    try:
        return apt.ensure(("prometheus",), find_promtool)
    except apt.AptUnavailable as error:
        pytest.fail(f"promtool is needed to test the alert rules: {error}", pytrace=False)


# --- the rules ----------------------------------------------------------------------------------------


def test_rules_pass_promtool_check(promtool: str) -> None:
    out = run_promtool(promtool, "check", "rules", str(ALERTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


def test_rule_unit_tests_pass(promtool: str) -> None:
    out = run_promtool(promtool, "test", "rules", ALERTS_TEST.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_unit_tests_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: with the fast burn rate's factor 10 times too high, they do."""
    broken = ALERTS.read_text().replace("> (14.4 * 0.001)", "> (144 * 0.001)")
    assert broken != ALERTS.read_text()
    (tmp_path / ALERTS.name).write_text(broken)
    shutil.copy(ALERTS_TEST, tmp_path / ALERTS_TEST.name)
    out = run_promtool(promtool, "test", "rules", ALERTS_TEST.name, cwd=tmp_path)
    assert out.returncode != 0
    assert "alertname: AvailabilityBurnRateFast" in out.stdout + out.stderr


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert fired == set(alerts()), "alerts without a test that fires them"
    assert silent == set(alerts()), "alerts without a test that they stay silent"


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    headings = re.findall(r"^## (\w+)$", RUNBOOK.read_text(), re.MULTILINE)
    assert sorted(headings) == sorted(alerts()), "RUNBOOK.md: one section per alert"
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        assert annotations["runbook_url"] == f"deploy/observability/RUNBOOK.md#{name.lower()}", name


def test_slo_routes_are_the_gateways_public_services() -> None:
    """The SLO rules select exactly the services the gateway transcodes, and no internal one."""
    selectors = set(re.findall(r"grpc_service=~`([^`]*)`", ALERTS.read_text()))
    assert len(selectors) == 1, "every SLO rule selects the same services"
    (public,) = selectors
    declared = []
    for proto in ROOT.glob("protos/**/*.proto"):
        text = proto.read_text()
        package = re.search(r"^package ([\w.]+);", text, re.MULTILINE)
        assert package, proto
        declared += [f"{package.group(1)}.{s}" for s in re.findall(r"^service (\w+)", text, re.MULTILINE)]
    assert set(TRANSCODED_SERVICES) <= set(declared)
    # Prometheus anchors a regex matcher at both ends, as fullmatch does.
    assert {s for s in declared if re.fullmatch(public, s)} == set(TRANSCODED_SERVICES)


def test_latency_slo_sits_on_a_bucket_of_the_histogram() -> None:
    """The latency SLO counts the le="0.25" bucket: the services' histogram must have that bound."""
    bounds = set(re.findall(r'grpc_server_handling_seconds_bucket\{le="([^"]+)"', ALERTS.read_text()))
    assert bounds == {"0.25"}
    assert 0.25 in LATENCY_BUCKETS


def test_target_alerts_watch_every_deployed_job() -> None:
    for name in ("ServiceDown", "TargetDown"):
        (jobs,) = re.findall(r'job=~"([^"]*)"', alerts()[name]["expr"])
        assert set(jobs.split("|")) == JOBS, name


# --- the names every query uses ---------------------------------------------------------------------


def test_metric_names_are_found_in_promql() -> None:
    expr = """sum by (grpc_service, le) (rate(grpc_server_handling_seconds_bucket{le="0.25",
        grpc_service=~`a\\.b`}[$__rate_interval])) / on (job) group_left (x) tm_db_pool_max offset 5m
        > bool 1e3 * 14.4 and max(up{job="x"}) unless grpc_method:grpc_server_slow:ratio_rate5m"""
    assert metric_names(expr) == {
        "grpc_server_handling_seconds_bucket",
        "tm_db_pool_max",
        "up",
        "grpc_method:grpc_server_slow:ratio_rate5m",
    }


def test_rules_and_tests_use_only_contract_metrics() -> None:
    allowed = contract_metrics() | recorded()
    for rule in rules():
        unknown = metric_names(rule["expr"]) - allowed
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown} not in metrics.txt"
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for series in case["input_series"]:
            name = series["series"].partition("{")[0]
            assert name in contract_metrics(), f"alerts_test.yml feeds {name}, not in metrics.txt"


def test_dashboard_uses_only_contract_metrics_and_all_of_them() -> None:
    allowed = contract_metrics() | recorded()
    used: set[str] = set()
    for expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, expr
        assert not names - allowed, f"{names - allowed} not in metrics.txt: {expr}"
        used |= names

    def family(name: str) -> str:
        return re.sub(r"_(bucket|count|sum)$", "", name)

    missing = {family(n) for n in contract_metrics()} - {family(n) for n in used}
    assert not missing, f"metrics on no panel: {missing}"


def test_a_misspelt_metric_is_caught() -> None:
    assert metric_names("rate(tm_consumer_dead_letered_total[5m])") - contract_metrics() == {
        "tm_consumer_dead_letered_total"
    }


# --- the dashboard ------------------------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard_with_its_variables() -> None:
    document = dashboard()
    assert document["schemaVersion"] >= 36 and document["uid"] and document["title"]
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job = variables["job"]
    assert job["type"] == "query" and job["includeAll"] and job["multi"]
    assert job["datasource"]["uid"] == "${datasource}"
    assert "label_values(" in job["definition"] and job["definition"].endswith(", job)")
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_has_a_title_and_queries() -> None:
    panels = query_panels()
    assert len(panels) >= 20
    for panel in panels:
        assert panel["title"].strip(), panel["id"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells.get((x, y))}"
                cells[(x, y)] = panel["title"]


def test_dashboard_covers_each_area() -> None:
    """RED per method, the event pipeline, DB pools, notify and the gateway: each has its panels."""
    exprs = "\n".join(dashboard_exprs())
    for needle in (
        "rate(grpc_server_handled_total",
        "histogram_quantile(0.5, sum by (grpc_service, grpc_method, le)",
        "histogram_quantile(0.99, sum by (grpc_service, grpc_method, le)",
        "tm_consumer_lag",
        "tm_consumer_pending",
        "tm_outbox_oldest_unpublished_age_seconds",
        "tm_outbox_unpublished_rows",
        "increase(tm_consumer_dead_lettered_total",
        'tm_db_pool_connections{job=~"$job",state="in_use"}',
        "tm_db_pool_waiting",
        "tm_notify_queue_emails",
        'envoy_http_downstream_rq_xx{envoy_response_code_class="5"}',
    ):
        assert needle in exprs, needle


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each query, as Grafana sends it, parses: promtool checks it as a recording rule."""
    records = [
        {"record": f"dashboard:query_{i}", "expr": prometheus_expr(expr)}
        for i, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    out = run_promtool(promtool, "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


# --- scraping in Kubernetes -----------------------------------------------------------------------------


def test_podmonitor_scrapes_every_deployment_on_its_metrics_port() -> None:
    monitor = yaml.safe_load(PODMONITOR.read_text())
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    spec = monitor["spec"]
    assert spec["jobLabel"] == "app.kubernetes.io/name"
    (endpoint,) = spec["podMetricsEndpoints"]
    (expression,) = spec["selector"]["matchExpressions"]
    assert expression["operator"] == "In"
    scraped: set[str] = set()
    for path in K8S_BASE.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["kind"] != "Deployment":
                continue
            template = doc["spec"]["template"]
            labels = template["metadata"]["labels"]
            if spec["selector"]["matchLabels"].items() <= labels.items() and (
                labels[expression["key"]] in expression["values"]
            ):
                ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
                assert endpoint["port"] in ports, doc["metadata"]["name"]
                scraped.add(labels[spec["jobLabel"]])
    assert scraped == JOBS


def test_observability_yaml_is_lint_clean() -> None:
    config = YamlLintConfig(YAMLLINT_CONFIG)
    files = sorted([*OBSERVABILITY.glob("*.yml"), *OBSERVABILITY.glob("*.yaml")])
    assert len(files) == 3
    problems = [
        f"{path.relative_to(ROOT)}:{problem.line}: {problem.message}"
        for path in files
        for problem in linter.run(path.read_text(), config, str(path))
    ]
    assert not problems


# --- installing promtool --------------------------------------------------------------------------------


def test_a_promtool_that_cannot_be_installed_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root and no promtool on PATH: an error that says what to install, not a skip."""
    monkeypatch.setattr(apt.os, "geteuid", lambda: 1000)
    with pytest.raises(apt.AptUnavailable, match="apt-get install prometheus"):
        apt.ensure(("prometheus",), lambda: None)


def test_the_default_sampling_is_the_same_everywhere() -> None:
    """The services' default TRACE_SAMPLE_RATIO is the gateway's (the local renderer, its image,
    the Kubernetes render) and the Kubernetes ConfigMap's: the README's cost figures are for it."""
    from tm_common.config import ServiceSettings
    from tm_devstack.gateway import GatewaySettings

    ratio = ServiceSettings.model_fields["trace_sample_ratio"].default
    assert 0 < ratio < 1
    assert GatewaySettings.trace_sample_ratio == ratio
    dockerfile = (ROOT / "gateway" / "Dockerfile").read_text()
    assert re.search(r"^ARG TRACE_SAMPLE_RATIO=(\S+)$", dockerfile, re.M).group(1) == str(ratio)  # type: ignore[union-attr]
    kustomization = (ROOT / "deploy" / "k8s" / "base" / "kustomization.yaml").read_text()
    assert f"- TRACE_SAMPLE_RATIO={ratio}\n" in kustomization
    envoy = yaml.safe_load((ROOT / "deploy" / "k8s" / "base" / "gateway" / "envoy.yaml").read_text())
    sampling = re.findall(r"random_sampling': \{'value': ([\d.]+)\}", str(envoy))
    assert sampling and all(float(value) == ratio * 100 for value in sampling)
