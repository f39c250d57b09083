"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit (`pre-commit try-repo`).

try-repo clones this repository (with its uncommitted changes to tracked files), installs
llmgen into a fresh virtualenv the way a user's pre-commit would, and runs the hooks on a
scratch git repository. Slow (a pip install per call): marked `precommit`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.conftest import REPO

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
LLAMACPP = REPO / "examples" / "llamacpp-smollm2.yaml"  # name: smollm2-gguf
VLLM_CPU = REPO / "examples" / "vllm-cpu-smollm2.yaml"  # name: smollm2-vllm-cpu
BAD = REPO / "tests" / "cases" / "invalid" / "unknown-key.yaml"  # server.prot at 7:3

# pre-commit builds fresh virtualenvs: longer than the suite's 900 s default.
pytestmark = [pytest.mark.precommit, pytest.mark.timeout(1800)]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=600)


def try_repo(scratch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(scratch.parent / "pre-commit-home")}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(REPO), *args, "--color", "never"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with a current deployment, a stale one, a bad spec and a non-spec."""
    repo = tmp_path_factory.mktemp("scratch") / "repo"
    (repo / "deploy").mkdir(parents=True)
    git(repo, "init", "-q")
    shutil.copy(LLAMACPP, repo / "deploy" / "chat.llmgen.yaml")
    shutil.copy(VLLM_CPU, repo / "deploy" / "stale.llmgen.yaml")
    shutil.copy(BAD, repo / "deploy" / "bad.llmgen.yaml")
    shutil.copy(BAD, repo / "deploy" / "not-a-spec-name.yaml")  # outside the hooks' files
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        for spec in ("chat", "stale"):
            result = CliRunner().invoke(main, ["render", f"deploy/{spec}.llmgen.yaml"])
            assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    launch = repo / "out" / "smollm2-vllm-cpu" / "launch.sh"
    launch.write_text(launch.read_text() + "# edited by hand\n")
    git(repo, "add", ".")
    return repo


def test_hooks_fail_on_a_bad_spec_and_a_stale_rendering(scratch: Path) -> None:
    run = try_repo(scratch, "--all-files")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "llmgen validate" in output and "llmgen render --check" in output
    assert "deploy/bad.llmgen.yaml:7:3: error: server.prot: unknown key 'prot'" in output
    assert "not-a-spec-name.yaml" not in output
    assert "out/smollm2-vllm-cpu differs from what deploy/stale.llmgen.yaml renders" in output
    assert "+# edited by hand" in output or "-# edited by hand" in output
    assert "out/smollm2-gguf is up to date with deploy/chat.llmgen.yaml" in output
    assert "Traceback" not in output


def test_hooks_pass_on_a_good_spec_with_a_current_rendering(scratch: Path) -> None:
    run = try_repo(scratch, "--files", "deploy/chat.llmgen.yaml")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert [line.rsplit(".", 1)[-1] for line in output.splitlines() if "llmgen" in line][-2:] == [
        "Passed",
        "Passed",
    ]
