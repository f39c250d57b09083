"""Real validators for rendered Kubernetes files: kubernetes-validate, the LWS CRD, checkov.

kubernetes-validate knows the built-in kinds only; a LeaderWorkerSet is checked against the
vendored LWS v1 CRD schema (tests/data/lws), and each of its pod templates, wrapped as a Pod,
goes through kubernetes-validate and checkov like any other pod.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.bundles import require_tool

LWS_CRD = (
    Path(__file__).resolve().parents[1]
    / "data/lws/leaderworkerset.x-k8s.io_leaderworkersets.yaml.gz"
)
# Kubernetes 1.30 and every newer release kubernetes-validate bundles schemas for.
MIN_KUBERNETES = (1, 30)
LWS_KIND = "LeaderWorkerSet"


def kubernetes_versions() -> list[str]:
    """Every bundled Kubernetes schema version from 1.30 on (e.g. 1.30.0 ... 1.37.0)."""
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    found = set()
    for entry in root.iterdir():
        name = entry.name.removeprefix("v")
        if not name.endswith("-local-strict"):
            continue
        major, minor, patch = name.removesuffix("-local-strict").split(".")
        if (int(major), int(minor)) >= MIN_KUBERNETES:
            found.add((int(major), int(minor), int(patch)))
    assert found, f"no Kubernetes >= 1.30 schemas in {root}"
    return [".".join(map(str, v)) for v in sorted(found)]


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a rendered file (empty documents dropped)."""
    return [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]


def _closed(schema: Any) -> Any:
    """The CRD schema with every object closed: unknown fields fail instead of being pruned."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@functools.cache
def lws_schema() -> dict[str, Any]:
    """The LWS v1 openAPIV3Schema from the vendored CRD, closed."""
    crd = yaml.load(
        gzip.decompress(LWS_CRD.read_bytes()), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = _closed(version["schema"]["openAPIV3Schema"])
    return schema


def validate_lws(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `document` is not a valid LeaderWorkerSet v1."""
    import jsonschema

    assert document["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    jsonschema.validate(document, lws_schema(), cls=jsonschema.Draft7Validator)


def lws_pods(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The leader and worker pod templates of a LeaderWorkerSet, each wrapped as a Pod.

    The LWS metadata (and its checkov skip annotations) travels with each pod, as the
    controller copies it; the per-pod cache claim becomes an ordinary claim volume, as the
    StatefulSets the controller creates would mount it.
    """
    template = document["spec"]["leaderWorkerTemplate"]
    pods = []
    for role in ("leaderTemplate", "workerTemplate"):
        pod_template = template[role]
        spec = json.loads(json.dumps(pod_template["spec"]))
        for claim in template.get("volumeClaimTemplates", []):
            spec["volumes"].append(
                {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": "x"}}
            )
        metadata = {
            "name": f"{document['metadata']['name']}-{role.removesuffix('Template')}",
            "namespace": document["metadata"]["namespace"],
            "labels": pod_template["metadata"]["labels"],
            "annotations": document["metadata"].get("annotations", {}),
        }
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    return pods


def split_for_validation(path: Path, out: Path) -> Path:
    """Write what kubernetes-validate and checkov can read: built-in kinds, LWS pods as Pods.

    Validates each LeaderWorkerSet against the CRD on the way.
    """
    documents = []
    for document in load_documents(path):
        if document["kind"] == LWS_KIND:
            validate_lws(document)
            documents += lws_pods(document)
        else:
            documents.append(document)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump_all(documents, sort_keys=False), "utf-8")
    return out


def kubernetes_validate(files: list[Path]) -> None:
    """kubernetes-validate --strict on `files` for every Kubernetes version from 1.30 on."""
    kv = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    for version in kubernetes_versions():
        result = subprocess.run(
            [kv, "--strict", "--quiet", "-k", version, *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0 and output == "", f"Kubernetes {version}:\n{output}"


def checkov_binary() -> str:
    """checkov from its own venv (scripts/setup-checkov.sh); fails (never skips) when missing."""
    cache = os.environ.get("LLMGEN_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmgen"
    )
    found = sorted(Path(cache).glob("checkov-*/bin/checkov"))
    if not found:
        pytest.fail(
            "checkov is not installed (bash scripts/setup-checkov.sh, run by scripts/bootstrap.sh)"
        )
    return str(found[-1])


def checkov(folder: Path) -> dict[str, dict[str, list[str]]]:
    """Run checkov offline on every YAML file under `folder`.

    Returns, per file (relative to `folder`), the check ids that passed, failed and were skipped.
    """
    result = subprocess.run(
        [
            checkov_binary(),
            "--skip-download",
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--directory",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    per_file: dict[str, dict[str, list[str]]] = {}
    for item in reports:
        results = item.get("results", {})
        for verdict in ("passed", "failed", "skipped"):
            for check in results.get(f"{verdict}_checks", []):
                name = check["file_path"].lstrip("/")
                entry = per_file.setdefault(name, {"passed": [], "failed": [], "skipped": []})
                entry[verdict].append(check["check_id"])
    return per_file
