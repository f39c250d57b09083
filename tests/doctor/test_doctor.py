"""`llmgen doctor` on this host, run as a real subprocess with a controlled PATH.

Real: llama-server b11434 (scripts/build-llama-server.sh) and vLLM's CPU build
(scripts/setup-vllm-cpu.sh) answer `--version` themselves; ports are really bound; /dev/shm,
the disk and /proc/meminfo are this host's. Stand-ins (small shell scripts on PATH) only for
what this host cannot show the tests reliably: a Docker daemon in a chosen state, an NVIDIA
driver (`nvidia-smi`), and TGI's launcher, which cannot be built here.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.doctor import checks as doctor
from tests.support.engines import free_port, llama_server_binary
from tests.support.vllm_cpu import vllm_cpu_python

DOCKER_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?"
)
DOCKER_DENIED = (
    "permission denied while trying to connect to the Docker daemon socket at "
    'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.47/version": '
    "dial unix /var/run/docker.sock: connect: permission denied"
)
NO_NVIDIA = 'could not select device driver "" with capabilities: [[gpu]]'


def tool(bin_dir: Path, name: str, script: str) -> None:
    """A stand-in command: a /bin/sh script (the tests say which commands are stand-ins)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def docker_standin(bin_dir: Path, state: str, runtimes: str = '{"runc":{"path":"runc"}}') -> None:
    """`docker` answering as a daemon that is up, down, or refusing this user."""
    if state == "up":
        body = (
            f'case "$1" in\n  version) echo "27.3.1";;\n'
            f"  info) echo '{runtimes}';;\n  *) exit 1;;\nesac\n"
        )
    else:
        message = DOCKER_DOWN if state == "down" else DOCKER_DENIED
        body = f"echo '{message}' >&2\nexit 1\n"
    tool(bin_dir, "docker", body)


def nvidia_smi_standin(bin_dir: Path, cuda: str, gpus: int) -> None:
    """`nvidia-smi` of a driver supporting CUDA `cuda` with `gpus` GPUs (`-L` lists them)."""
    listing = "".join(
        f"echo 'GPU {i}: NVIDIA A100-SXM4-80GB (UUID: GPU-0000000{i})'\n" for i in range(gpus)
    )
    header = (
        "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      "
        f"CUDA Version: {cuda}     |"
    )
    tool(bin_dir, "nvidia-smi", f'if [ "$1" = "-L" ]; then\n{listing}exit 0\nfi\necho "{header}"\n')


def write_spec(tmp_path: Path, engine: str, **runtime: object) -> tuple[Path, int]:
    port = free_port()
    model = (
        {"id": "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF:Q8_0"}
        if engine == "llamacpp"
        # 14 attention heads and 2 KV heads: tensor parallel over 2 GPUs is valid for it.
        else {"id": "Qwen/Qwen2.5-0.5B-Instruct"}
    )
    data: dict[str, object] = {
        "name": "doc",
        "engine": engine,
        "model": model,
        "server": {"port": port},
        "runtime": {"gpus": 0, **runtime},
    }
    if engine == "vllm" and not runtime.get("gpus"):
        data["runtime"] = {"gpus": 0, "kv_cache_memory": "1G", **runtime}
    path = tmp_path / f"{engine}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, port


def run_doctor(tmp_path: Path, path_dirs: list[Path], *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "HF_HOME", "HF_HUB_CACHE")}
    env["PATH"] = os.pathsep.join(str(p) for p in path_dirs) or str(tmp_path / "empty")
    env["HF_HOME"] = str(tmp_path / "hf")
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def line(out: str, name: str) -> str:
    found = [
        text for text in out.splitlines() if text.split(" ", 1)[-1].lstrip().startswith(name + ":")
    ]
    assert len(found) == 1, f"one line for {name!r} expected:\n{out}"
    return found[0]


@pytest.mark.engine
def test_real_llama_server_version_matches_the_pin(tmp_path: Path) -> None:
    binary = llama_server_binary()
    engine_dir = tmp_path / "engine"
    engine_dir.mkdir()
    (engine_dir / "llama-server").symlink_to(binary)
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "down")
    spec, _ = write_spec(tmp_path, "llamacpp")
    code, out, _ = run_doctor(tmp_path, [engine_dir, stand_ins], str(spec))
    assert line(out, "llamacpp binary").startswith("ok ")
    # The pin, b11434, as the real binary reports it (`version: 11434 (...)`).
    assert "is llama.cpp b11434" in line(out, "llamacpp binary")
    assert line(out, "docker").startswith("problem docker: cannot reach the Docker daemon")
    assert out.splitlines()[-1] == "native: ready, docker: blocked (docker)"
    assert code == 0  # the native way is ready
    code, out, _ = run_doctor(tmp_path, [engine_dir, stand_ins], str(spec), "--via", "docker")
    assert code == 1
    assert out.splitlines()[-1] == "docker: blocked (docker)"


@pytest.mark.engine
@pytest.mark.vllm
def test_real_vllm_cpu_build_is_judged_by_its_own_version(tmp_path: Path) -> None:
    """Issue 19: the real vllm-cpu build says its version; a spec without engine_version is
    judged by that version when llmgen ships its table, and a pin to another one is a problem."""
    python = vllm_cpu_python()
    installed = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('vllm-cpu'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.strip()
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up")
    version = installed.split("+")[0]
    tables = Path(__file__).parents[2] / "src" / "llmgen" / "engines" / "data" / "flags"
    shipped = sorted(p.name.split("-")[1] for p in tables.glob("vllm-*-flags.tsv"))
    newest = max(shipped, key=lambda v: [int(x) for x in v.split(".")])
    spec, _ = write_spec(tmp_path, "vllm")
    code, out, _ = run_doctor(tmp_path, [python.parent, stand_ins], str(spec), "--via", "native")
    found = line(out, "vllm binary")
    if version == newest:
        assert found.startswith("ok ") and f"is vLLM {version}" in found
    elif version in shipped:
        assert found.startswith("ok "), found
        assert f"is vLLM {version}, and the spec names no engine_version: judged by {version}" in (
            found
        )
    else:
        assert found.startswith("problem ")
        assert f"is vLLM {version}, which llmgen does not know (it knows vllm " in found
    assert code == 0  # another version is worth a line, not a refusal
    if version in shipped and version != newest:
        data = yaml.safe_load(spec.read_text())
        spec.write_text(yaml.safe_dump({**data, "engine_version": newest}))
        code, out, _ = run_doctor(tmp_path, [python.parent, stand_ins], str(spec))
        found = line(out, "vllm binary")
        assert found.startswith("problem ")
        assert f"is vLLM {version}; the spec pins engine_version: {newest} -- fix: set " in found
        assert f"engine_version: {version} (`llmgen upgrade SPEC --to {version}`" in found


def test_missing_engine_blocks_only_the_native_way(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up")
    spec, _ = write_spec(tmp_path, "llamacpp")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    found = line(out, "llamacpp binary")
    assert found.startswith("problem llamacpp binary: llama-server on PATH not found -- fix: ")
    assert "llama.cpp b11434" in found
    assert out.splitlines()[-1] == "native: blocked (llamacpp binary), docker: ready"
    assert code == 0
    assert run_doctor(tmp_path, [stand_ins], str(spec), "--via", "native")[0] == 1


def test_tgi_launcher_version_is_read(tmp_path: Path) -> None:
    # Stand-in: TGI's launcher cannot be built here; clap prints "<name> <version>".
    stand_ins = tmp_path / "bin"
    tool(stand_ins, "text-generation-launcher", 'echo "text-generation-launcher 3.3.7"\n')
    docker_standin(stand_ins, "up")
    spec, _ = write_spec(tmp_path, "tgi")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    assert line(out, "tgi binary").startswith("ok ")
    assert "is TGI 3.3.7" in out
    assert code == 0


def test_an_older_tgi_launcher_judges_the_spec_by_its_own_version(tmp_path: Path) -> None:
    """Issue 19. Stand-in launcher (TGI cannot be built here) saying 3.2.3, a version whose
    table ships; `--prometheus-port` first appears in the 3.3.7 table (its text is read here)."""
    tables = Path(__file__).parents[2] / "src" / "llmgen" / "engines" / "data" / "flags"
    assert "\n--prometheus-port\t" not in (tables / "tgi-3.2.3-flags.tsv").read_text()
    assert "\n--prometheus-port\t" in (tables / "tgi-3.3.7-flags.tsv").read_text()
    stand_ins = tmp_path / "bin"
    tool(stand_ins, "text-generation-launcher", 'echo "text-generation-launcher 3.2.3"\n')
    docker_standin(stand_ins, "up")
    spec, _ = write_spec(tmp_path, "tgi")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    found = line(out, "tgi binary")
    assert found.startswith("ok "), found
    assert "is TGI 3.2.3, and the spec names no engine_version: judged by 3.2.3" in found
    # A flag 3.2.3 lacks: judged by the installed version, it is a problem.
    spec, _ = write_spec(tmp_path, "tgi", extra_args=["--prometheus-port", "9001"])
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    found = line(out, "tgi binary")
    assert found.startswith("problem "), found
    assert "so 3.2.3 judges it: runtime.extra_args.0: '--prometheus-port' was added after" in found
    assert code == 0  # the docker way is still ready
    # A version llmgen has no table for: it says which it knows.
    tool(stand_ins, "text-generation-launcher", 'echo "text-generation-launcher 2.4.1"\n')
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    known = sorted(p.name.split("-")[1] for p in tables.glob("tgi-*-flags.tsv"))
    assert f"is TGI 2.4.1, which llmgen does not know (it knows tgi {', '.join(known)})" in line(
        out, "tgi binary"
    )


def test_an_engine_binary_that_does_not_say_its_version(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    tool(
        stand_ins,
        "llama-server",
        "echo 'error while loading shared libraries: libgomp.so.1' >&2\nexit 127\n",
    )
    docker_standin(stand_ins, "up")
    spec, _ = write_spec(tmp_path, "llamacpp")
    _, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    assert "cannot tell its version (error while loading shared libraries: libgomp.so.1)" in line(
        out, "llamacpp binary"
    )


def test_a_llama_server_that_cannot_tell_its_build(tmp_path: Path) -> None:
    """A tarball build prints build 0: doctor says it cannot tell, not "install b11434".

    The line is what llama.cpp b11434's common/build-info.cpp.in:33 prints
    (`version: %s (build %d, commit %s)`) with cmake/build-info.cmake:1-2's fallbacks
    (BUILD_NUMBER 0, BUILD_COMMIT "unknown") outside a git checkout. Stand-in binary: a real
    build takes minutes and would cache a second llama-server.
    """
    stand_ins = tmp_path / "bin"
    tool(
        stand_ins,
        "llama-server",
        "echo 'version: 0.6.0-dev (build 0, commit unknown)' >&2\n"
        "echo 'built with GNU 12.2.0 for Linux x86_64' >&2\n",
    )
    docker_standin(stand_ins, "up")
    spec, _ = write_spec(tmp_path, "llamacpp")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    found = line(out, "llamacpp binary")
    assert found.startswith("info "), found
    assert "does not say its llama.cpp build" in found
    assert "it may or may not be b11434" in found
    assert "llama.cpp b0" not in out
    assert "install llama.cpp b11434" not in out
    assert "-DLLAMA_BUILD_NUMBER=11434" in out
    assert code == 0


@pytest.mark.parametrize(
    ("state", "fix"),
    [
        ("down", "start the Docker daemon (sudo systemctl start docker)"),
        ("denied", "let your user use Docker (sudo usermod -aG docker $USER, then log in again)"),
    ],
)
def test_docker_unreachable_names_the_fix(tmp_path: Path, state: str, fix: str) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, state)
    spec, _ = write_spec(tmp_path, "llamacpp")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec), "--via", "docker")
    assert code == 1
    found = line(out, "docker")
    assert found.startswith("problem docker: cannot reach the Docker daemon: ")
    assert found.endswith(f"-- fix: {fix}")


def test_docker_not_installed(tmp_path: Path) -> None:
    spec, _ = write_spec(tmp_path, "llamacpp")
    code, out, _ = run_doctor(tmp_path, [], str(spec), "--via", "docker")
    assert code == 1
    assert line(out, "docker") == "problem docker: docker not found -- fix: install Docker Engine"


def test_gpus_without_the_nvidia_runtime(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up")
    nvidia_smi_standin(stand_ins, "12.8", 1)
    spec, _ = write_spec(tmp_path, "tgi", gpus=1)
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec), "--via", "docker")
    assert code == 1
    found = line(out, "nvidia runtime")
    assert NO_NVIDIA in found
    assert "nvidia-ctk runtime configure --runtime=docker" in found
    assert out.splitlines()[-1] == "docker: blocked (nvidia runtime)"


def test_gpus_with_the_nvidia_runtime_and_a_recent_driver(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up", runtimes='{"nvidia":{"path":"nvidia-container-runtime"}}')
    nvidia_smi_standin(stand_ins, "12.8", 2)
    spec, _ = write_spec(tmp_path, "tgi", gpus=2)
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec), "--via", "docker")
    assert code == 0, out
    assert line(out, "nvidia runtime").startswith("ok ")
    assert line(out, "gpu driver") == "ok      gpu driver: NVIDIA driver supports CUDA 12.8"
    assert line(out, "gpu count") == "ok      gpu count: 2 GPU(s), 2 wanted"


def test_an_old_driver_for_the_pinned_image(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up", runtimes='{"nvidia":{}}')
    nvidia_smi_standin(stand_ins, "12.2", 1)
    spec, _ = write_spec(tmp_path, "vllm", gpus=1)
    # Pinned: the image this test knows is vLLM 0.33.0's (the default release has moved on).
    spec.write_text(spec.read_text() + "engine_version: 0.33.0\n")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec), "--via", "docker")
    assert code == 1
    found = line(out, "gpu cuda")
    assert "the driver supports CUDA 12.2; the vLLM 0.33.0 image needs CUDA 12.8" in found


def test_more_gpus_than_the_host_has_and_no_driver(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up", runtimes='{"nvidia":{}}')
    nvidia_smi_standin(stand_ins, "12.8", 1)
    spec, _ = write_spec(tmp_path, "tgi", gpus=2)
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    assert code == 1
    assert line(out, "gpu count").startswith(
        "problem gpu count: runtime.gpus is 2 but this host has 1"
    )
    (stand_ins / "nvidia-smi").unlink()
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    assert code == 1
    assert "there is no NVIDIA driver (nvidia-smi not found)" in line(out, "gpu driver")


def test_a_port_in_use_blocks_every_way(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up")
    spec, port = write_spec(tmp_path, "llamacpp")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    assert code == 1
    assert line(out, "port").startswith(f"problem port: 127.0.0.1:{port} in use -- fix: ")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    assert line(out, "port") == f"ok      port: 127.0.0.1:{port} is free"


def test_shared_memory_for_tensor_parallel_is_this_host_s(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "up", runtimes='{"nvidia":{}}')
    nvidia_smi_standin(stand_ins, "12.8", 2)
    spec, _ = write_spec(tmp_path, "vllm", gpus=2)
    _, out, _ = run_doctor(tmp_path, [stand_ins], str(spec))
    stats = os.statvfs("/dev/shm")
    total = stats.f_blocks * stats.f_frsize
    found = line(out, "shared memory")
    assert "wants 16g" in found  # what docker-run.sh passes as --shm-size for vLLM
    assert found.startswith("ok " if total >= 16 * 1024**3 else "problem ")


def test_memory_against_the_estimate_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The estimate is `llmgen fit`'s (the catalog knows this SmolLM2 GGUF: about 0.4 GiB of
    # Q8_0 weights plus the KV cache); the hook is then replaced to force each verdict.
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec, _ = write_spec(tmp_path, "llamacpp")
    runner = CliRunner()
    result = runner.invoke(main, ["doctor", str(spec)], catch_exceptions=False)
    needs = re.search(r"memory: .* this spec needs about ([0-9.]+) (MiB|GiB)", result.stdout)
    assert needs is not None, result.stdout
    assert 0.3 <= float(needs.group(1)) * (1 if needs.group(2) == "GiB" else 1 / 1024) <= 2.0
    monkeypatch.setattr(doctor, "memory_estimate", lambda spec: 1 << 50)  # 1 PiB
    result = runner.invoke(main, ["doctor", str(spec)], catch_exceptions=False)
    assert result.exit_code == 1
    assert (
        "this spec needs about 1048576.0 GiB -- fix: lower runtime.context_length" in result.stdout
    )
    monkeypatch.setattr(doctor, "memory_estimate", lambda spec: 1 << 20)
    result = runner.invoke(main, ["doctor", str(spec), "--via", "native"], catch_exceptions=False)
    assert "ok      memory: " in result.stdout


def test_disk_against_the_download_size_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    spec, _ = write_spec(tmp_path, "llamacpp")
    monkeypatch.setattr(doctor, "download_size", lambda spec: 1 << 60)
    result = CliRunner().invoke(main, ["doctor", str(spec)], catch_exceptions=False)
    assert result.exit_code == 1
    assert f"free for the model cache ({tmp_path / 'hf' / 'hub'}); the model needs" in result.stdout


def test_json_format(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    docker_standin(stand_ins, "down")
    spec, _ = write_spec(tmp_path, "llamacpp")
    code, out, _ = run_doctor(tmp_path, [stand_ins], str(spec), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["ready"] == []
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["docker"]["status"] == "problem" and by_name["docker"]["blocks"] == ["docker"]
    assert by_name["llamacpp binary"]["blocks"] == ["native"]
    assert set(by_name["port"]) == {"name", "status", "detail", "fix", "blocks"}


def test_without_a_spec_it_surveys_the_host(tmp_path: Path) -> None:
    stand_ins = tmp_path / "bin"
    tool(stand_ins, "text-generation-launcher", 'echo "text-generation-launcher 3.3.7"\n')
    code, out, _ = run_doctor(tmp_path, [stand_ins])
    assert code == 0
    assert line(out, "llamacpp binary").startswith("info ")
    assert line(out, "tgi binary").startswith("ok ")
    assert line(out, "gpu").startswith("info    gpu: no NVIDIA driver")


def test_an_invalid_spec_is_reported_not_checked(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nengine: vllm\nmodel: {id: a/b}\nruntime: {port: 80}\n")
    code, out, err = run_doctor(tmp_path, [], str(spec))
    assert code == 1 and out == ""
    assert (
        err.strip()
        == f"{spec}:4:11: error: runtime.port: unknown key 'port' (port belongs under server)"
    )


@pytest.mark.parametrize(
    ("engine", "output", "version"),
    [
        # llama.cpp's common/build-info: `version: <build number> (<commit>)` from a git
        # checkout; the PyPI sdist build (scripts/build-llama-server.sh) prints the other form.
        ("llamacpp", "version: 11434 (5f0b2a1)\nbuilt with cc for x86_64", "b11434"),
        ("llamacpp", "version: 0.6.0-dev (build 11434, commit unknown)", "b11434"),
        ("llamacpp", "version: 0.6.0-dev", None),
        ("vllm", "INFO some log line\n0.33.0\n", "0.33.0"),
        ("tgi", "text-generation-launcher 3.3.7", "3.3.7"),
    ],
)
def test_version_outputs_are_read(engine: str, output: str, version: str | None) -> None:
    from llmgen.doctor.probes import parse_version
    from llmgen.engines import ENGINES

    assert parse_version(ENGINES[engine], output) == version
