"""`llmgen verify` against a real llama-server (b11434) serving a tiny random GGUF.

No mocks on the main path: the generated launch.sh starts the real engine, verify polls its
real /health (503 while loading), runs the generated clients/client.py with the openai SDK,
streams, checks the API key, and tears the process group down. Every test asserts that no
process of the server's group survives.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from llmgen.cli.app import main
from tests.support.engines import SpecFactory, free_port, group_gone, only_bash, wait_for_http

pytest_plugins = ("tests.support.fixtures",)

pytestmark = pytest.mark.engine


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


@pytest.mark.usefixtures("llama_on_path")
def test_verify_rendered_directory_passes(llamacpp_spec: SpecFactory, tmp_path: Path) -> None:
    """All three checks pass against the real engine, and the group is gone afterwards."""
    out = render(llamacpp_spec(), tmp_path / "out")
    result = invoke("verify", str(out))
    assert result.exit_code == 0, result.output
    for check in ("models", "client.py", "client.sh", "client.mjs", "stream"):
        assert re.search(rf"PASS {check}\b", result.output), result.output
    assert not re.search(r"(PASS|FAIL) auth", result.output)  # no api_key_env in this spec
    assert "lists 'tiny.gguf'" in result.output
    assert "no process left" in result.output
    assert "OK: 5 checks passed" in result.output
    assert group_gone(pgid_in(result.output))
    assert (out / "verify.log").read_text("utf-8").strip()  # the engine's own log was kept


def test_verify_as_a_real_subprocess_with_json(
    llamacpp_spec: SpecFactory, llama_server_bin: Path, tmp_path: Path
) -> None:
    """`python -m llmgen verify DIR --format json` prints one parseable object with figures."""
    out = render(llamacpp_spec(), tmp_path / "out")
    env = dict(os.environ, PATH=f"{llama_server_bin.parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "verify", str(out), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["failure"] is None
    assert [c["name"] for c in report["checks"]] == [
        "models",
        "client.py",
        "client.sh",
        "client.mjs",
        "stream",
    ]
    assert all(c["ok"] and c["seconds"] >= 0 for c in report["checks"])
    metrics = report["metrics"]
    assert 0 < metrics["time_to_ready_s"] < 60
    assert metrics["first_token_s"] > 0
    assert metrics["tokens_per_second"] > 0
    assert metrics["peak_rss_bytes"] > 1_000_000  # llama-server with the model is ~20 MB
    assert report["teardown"]["signals"] == ["SIGTERM"]
    assert report["teardown"]["leftover_pids"] == []
    assert group_gone(report["pgid"])


@pytest.mark.usefixtures("llama_on_path")
@pytest.mark.parametrize("key_preset", [False, True], ids=["one-time-key", "user-key"])
def test_api_key_is_enforced(
    llamacpp_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_preset: bool
) -> None:
    """With server.api_key_env the fourth check runs: no key -> 401, the key -> 200.

    Unset, verify makes a one-time key for server and client; set, it uses the user's.
    """
    if key_preset:
        monkeypatch.setenv("TINY_API_KEY", "s3cret-from-the-user")
    else:
        monkeypatch.delenv("TINY_API_KEY", raising=False)
    out = render(llamacpp_spec(api_key_env="TINY_API_KEY"), tmp_path / "out")
    result = invoke("verify", str(out), "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    auth = [c for c in report["checks"] if c["name"] == "auth"]
    assert auth and auth[0]["ok"], report["checks"]
    assert "HTTP 401" in auth[0]["detail"]
    assert "HTTP 200" in auth[0]["detail"]
    assert all(c["ok"] for c in report["checks"])  # client.py got the key too
    assert "s3cret" not in result.output
    assert group_gone(report["pgid"])


@pytest.mark.usefixtures("llama_on_path")
def test_verify_a_spec_file_renders_to_a_temporary_directory(llamacpp_spec: SpecFactory) -> None:
    """Given a spec, verify renders it into a temporary directory, which it removes on success."""
    result = invoke("verify", str(llamacpp_spec()), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"]
    assert not Path(report["directory"]).exists()
    assert group_gone(report["pgid"])


@pytest.mark.usefixtures("llama_on_path")
def test_keep_running_leaves_the_server_up(llamacpp_spec: SpecFactory, tmp_path: Path) -> None:
    """--keep-running prints the PGID and the kill command; the server still answers."""
    spec = llamacpp_spec()
    out = render(spec, tmp_path / "out")
    result = invoke("verify", str(out), "--keep-running")
    assert result.exit_code == 0, result.output
    pgid = pgid_in(result.output)
    try:
        assert f"kill -TERM -- -{pgid}" in result.output
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        origin = manifest["base_url"].removesuffix("/v1")
        wait_for_http(origin + "/health", timeout=5)
    finally:
        os.killpg(pgid, signal.SIGTERM)  # the group this test's verify started
        # verify ran inside this process, so the server is this process's child: reap it.
        os.waitpid(pgid, 0)
    assert group_gone(pgid, wait=10)


@pytest.mark.usefixtures("llama_on_path")
def test_corrupt_model_dies_while_loading(llamacpp_spec: SpecFactory, tmp_path: Path) -> None:
    """A model file that is not GGUF: llama-server exits 1; the log lines say why."""
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"this is not a GGUF file\n" * 64)
    out = render(llamacpp_spec(model_path=corrupt), tmp_path / "out")
    result = invoke("verify", str(out))
    assert result.exit_code == 1, result.output
    assert "FAILED (server-died)" in result.output
    assert "exited with status 1 before it was ready" in result.output
    assert "invalid magic" in result.output  # llama.cpp's own words, from the log tail
    assert "last lines of" in result.output
    assert "Traceback" not in result.output
    assert group_gone(pgid_in(result.output))


@pytest.mark.usefixtures("llama_on_path")
def test_impossible_timeout(llamacpp_spec: SpecFactory, tmp_path: Path) -> None:
    """--timeout 0.001: a readiness timeout, exit 1, and the server that was starting is gone."""
    out = render(llamacpp_spec(), tmp_path / "out")
    result = invoke("verify", str(out), "--timeout", "0.001", "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["failure"]["kind"] == "readiness-timeout"
    assert "not ready after 0.001 s" in report["failure"]["message"]
    assert report["checks"] == []
    assert report["teardown"]["leftover_pids"] == []
    assert group_gone(report["pgid"])


@pytest.mark.usefixtures("llama_on_path")
def test_port_in_use_is_refused_before_launch(llamacpp_spec: SpecFactory, tmp_path: Path) -> None:
    """Something already listens on the port: exit 1 before anything is launched."""
    out = render(llamacpp_spec(), tmp_path / "out")
    base_url = json.loads((out / "manifest.json").read_text("utf-8"))["base_url"]
    port = urllib.parse.urlsplit(base_url).port
    assert port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = invoke("verify", str(out))
    assert result.exit_code == 1, result.output
    assert "FAILED (port-in-use)" in result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert "nothing was launched" in result.output
    assert not (out / "verify.log").exists()
    assert "process group" not in result.output


def test_engine_binary_missing(
    llamacpp_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATH without llama-server: launch.sh exits 127 with the install hint; verify shows it.

    The PATH holds only bash (what launch.sh's `#!/usr/bin/env bash` needs), so the test does
    not depend on where this machine installs anything.
    """
    out = render(llamacpp_spec(), tmp_path / "out")
    monkeypatch.setenv("PATH", str(only_bash(tmp_path / "bin")))
    result = invoke("verify", str(out))
    assert result.exit_code == 1, result.output
    assert "FAILED (engine-missing)" in result.output
    assert "llama-server not found on PATH" in result.output
    assert "fix: build llama-server from llama.cpp b11434" in result.output
    assert group_gone(pgid_in(result.output))


def test_wrong_served_name_via_url(
    llamacpp_spec: SpecFactory, llama_server_bin: Path, tiny_gguf: Path, tmp_path: Path
) -> None:
    """--url against a llama-server started with another --alias: the models check fails."""
    out = render(llamacpp_spec(), tmp_path / "out")
    port = free_port()
    log = tmp_path / "other.log"
    with log.open("wb") as stream:
        server = subprocess.Popen(
            [str(llama_server_bin), "-m", str(tiny_gguf), "--alias", "someone-else",
             "--host", "127.0.0.1", "--port", str(port), "-c", "512", "-np", "1"],
            stdout=stream,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health")
        result = invoke("verify", str(out), "--url", f"http://127.0.0.1:{port}/v1")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.exit_code == 1, result.output
    assert "FAIL models" in result.output
    assert "the server serves 'someone-else', but the generated clients send 'tiny.gguf'" in (
        result.output
    )
    assert "FAILED: 1 of 5 checks: models" in result.output
    assert "stopped process group" not in result.output  # --url launches and stops nothing


def test_via_docker_reports_a_missing_daemon(
    llamacpp_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--via docker runs docker-run.sh; with no daemon at DOCKER_HOST its own check refuses to
    run, and verify shows that message and its fix (the real engine: tests/render/test_docker_engine.py)."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed (scripts/setup-docker.sh installs it)")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    out = render(llamacpp_spec(), tmp_path / "out")
    result = invoke("verify", str(out), "--via", "docker")
    assert result.exit_code == 1, result.output
    assert (
        "FAILED (launch-failed): docker-run.sh refused to start: cannot reach the Docker daemon"
        in result.output
    )
    assert "fix: start it (sudo systemctl start docker)" in result.output
    assert group_gone(pgid_in(result.output))


@pytest.mark.usefixtures("llama_on_path")
def test_report_points_only_at_a_log_that_still_exists(
    llamacpp_spec: SpecFactory, tmp_path: Path
) -> None:
    """A spec's temporary directory goes away after a pass, so no `log:` line names it; a
    rendered directory keeps its verify.log and the report says where."""
    from_spec = invoke("verify", str(llamacpp_spec()))
    assert from_spec.exit_code == 0, from_spec.output
    assert "\nlog: " not in from_spec.output
    out = render(llamacpp_spec(), tmp_path / "out")
    from_dir = invoke("verify", str(out))
    assert from_dir.exit_code == 0, from_dir.output
    assert f"log: {out / 'verify.log'}" in from_dir.output
