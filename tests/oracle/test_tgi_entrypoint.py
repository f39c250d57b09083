"""TGI's GPU image runs `exec text-generation-launcher $@` UNQUOTED, so bash itself is the
oracle for what the launcher receives from a rendered container target.

Source (v3.3.7): tgi-entrypoint.sh:6 `exec text-generation-launcher $@`, installed as the image's
ENTRYPOINT by Dockerfile:245-249; the CPU image (Dockerfile_intel:221) runs the launcher directly.
Every value must reach the launcher intact (or travel in an environment variable, which is not
split), or llmgen must refuse the spec.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.oracle_common import llmgen_verdict

# tgi-entrypoint.sh:6 at v3.3.7, verbatim but for the program: printf shows what exec would pass.
ENTRYPOINT_LINE = 'exec printf "%s\\0" $@'

CASES: dict[str, dict[str, Any]] = {
    "plain": {"model": {"id": "org/model"}, "value": "org/model"},
    "path-with-space": {"model": {"path": "/models/my model"}, "value": "/models/my model"},
    "extra-arg-with-space": {
        "model": {"id": "org/model"},
        "runtime_extra": ["--lora-adapters", "tuned=/models/my adapter"],
        "value": "tuned=/models/my adapter",
    },
    "extra-arg-with-glob": {
        "model": {"id": "org/model"},
        "runtime_extra": ["--lora-adapters", "adapter-*"],
        "value": "adapter-*",
    },
}


def spec(case: dict[str, Any]) -> dict[str, Any]:
    runtime: dict[str, Any] = {"context_length": 1024, "gpus": 1}
    if "runtime_extra" in case:
        runtime["extra_args"] = case["runtime_extra"]
    return {"name": "demo", "engine": "tgi", "model": case["model"], "runtime": runtime}


def through_entrypoint(args: list[str], cwd: Path) -> list[str]:
    """What `exec text-generation-launcher $@` hands the launcher, computed by bash."""
    done = subprocess.run(
        ["bash", "-c", ENTRYPOINT_LINE, "tgi-entrypoint.sh", *args],
        cwd=cwd,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_container_args_reach_the_launcher_intact_or_are_refused(name: str, tmp_path: Path) -> None:
    from llmgen.render.bundle import render
    from llmgen.spec.models import parse_spec

    data = spec(CASES[name])
    if llmgen_verdict(data).verdict == "refuse":
        return  # refused for TGI: nothing reaches the image
    bundle = render(parse_spec(data))
    compose = yaml.safe_load(bundle.files["compose.yaml"])
    (service,) = compose["services"].values()
    command = [str(word) for word in service["command"]]
    # The image's working directory holds files; a glob in a value would match them.
    (tmp_path / "adapter-1").write_text("")
    received = through_entrypoint(command, tmp_path)
    assert received == command
    # The value reaches the launcher: as one argument, or in its flag's environment variable
    # (every launcher flag but --env also reads one, and the environment is not split).
    given = service.get("environment") or {}
    if isinstance(given, list):  # compose's KEY=VALUE list form
        given = dict(str(item).split("=", 1) for item in given)
    environment = {str(value) for value in given.values()}
    assert CASES[name]["value"] in received or CASES[name]["value"] in environment
