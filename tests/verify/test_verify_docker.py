"""`llmgen verify --via docker` when Docker cannot run the container.

Neither test depends on whether this machine runs a Docker daemon: the first hides the docker
CLI (a PATH with only bash), the second points the real docker CLI at a socket nobody listens
on. Only the second needs the docker CLI installed, so it carries the `docker` marker (CI
installs Docker; a missing CLI is a failure, never a skip).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from llmgen.cli.app import main
from tests.support.engines import SpecFactory, group_gone, only_bash

pytest_plugins = ("tests.support.fixtures",)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def render(spec: Path, out: Path) -> Path:
    result = invoke("render", str(spec), "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def pgid_in(output: str) -> int:
    found = re.search(r"process group (\d+)", output)
    assert found, output
    return int(found.group(1))


def test_via_docker_without_the_docker_cli(
    llamacpp_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-run.sh exits 127 with its install hint; verify calls it engine-missing."""
    out = render(llamacpp_spec(), tmp_path / "out")
    monkeypatch.setenv("PATH", str(only_bash(tmp_path / "bin")))
    result = invoke("verify", str(out), "--via", "docker")
    assert result.exit_code == 1, result.output
    assert "docker-run.sh" in result.output
    assert "FAILED (engine-missing)" in result.output
    assert "docker is not installed" in result.output
    assert group_gone(pgid_in(result.output))


@pytest.mark.docker
def test_via_docker_reports_an_unreachable_daemon(
    llamacpp_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real docker CLI, pointed at a socket with no daemon behind it (DOCKER_HOST), so the
    outcome is the same whether or not this machine runs one."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed (scripts/bootstrap.sh installs Docker)")
    out = render(llamacpp_spec(), tmp_path / "out")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    result = invoke("verify", str(out), "--via", "docker")
    assert result.exit_code == 1, result.output
    # docker-run.sh's own check refuses to run, and verify shows its message and fix.
    assert "FAILED (launch-failed)" in result.output
    assert "cannot reach the Docker daemon" in result.output
    assert group_gone(pgid_in(result.output))
