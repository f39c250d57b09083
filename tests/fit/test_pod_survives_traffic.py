"""A pod sized by llmgen survives traffic: the real llama-server in a container with the memory
limit kubernetes.yaml renders, fed many distinct long prompts, is never killed for memory.

The catalog model's shapes (SmolLM2-135M, F16) are written to a GGUF with random weights and
mounted in place of the hub download (nothing can be pulled here); everything else is what
llmgen renders: the container's argv (compose.yaml's command, `--hf-repo` swapped for the
mounted `--model`) and the pod's memory limit, given to `docker run --memory` (with no swap).
Each request is a different 1,500-token prompt, so llama-server's default prompt cache (8 GiB,
tools/server/server-task.cpp) would keep a 33 MiB state per request (30 layers x 2 x 3 KV heads
x 64 x 2 bytes per token) as slots are reused, and outgrow the limit (measured: docs/fit.md).
"""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import free_port
from tests.support.gguf_shapes import Shape, write_shaped_gguf

pytestmark = [pytest.mark.docker, pytest.mark.engine, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0"
# SmolLM2-135M's config.json (the catalog row): the same shapes, random weights.
SHAPE = Shape(
    "smollm2-135m",
    vocab=49152,
    n_embd=576,
    n_layer=30,
    n_head=9,
    n_head_kv=3,
    n_ff=1536,
    tied=True,
    weight_type="Q8_0",
)
# Three slots of 8,192 tokens: the KV cache (540 MiB) fills most of the 1 GiB pod, leaving
# about 300 MiB that the default prompt cache outgrows within 14,000 prompt tokens.
SLOTS = 3
CONVERSATIONS = 12
PROMPT_TOKENS = 1500


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def llama_image() -> str:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup-docker.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/setup-docker.sh failed:\n{done.stderr}", pytrace=False)
    return done.stdout.strip().splitlines()[-1]


def rendered(tmp_path: Path, port: int) -> tuple[list[str], str]:
    """(the container's argv, the pod's memory limit) as llmgen renders them."""
    spec = {
        "name": "traffic",
        "engine": "llamacpp",
        "model": {"id": MODEL_ID},
        "server": {"host": "127.0.0.1", "port": port},
        "runtime": {"context_length": 8192, "parallel": SLOTS, "threads": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    compose = yaml.safe_load((out / "compose.yaml").read_text("utf-8"))
    argv = [str(word) for word in compose["services"]["traffic"]["command"]]
    docs = yaml.safe_load_all((out / "kubernetes.yaml").read_text("utf-8"))
    pod = next(d for d in docs if d and d["kind"] == "Deployment")
    limit = str(pod["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])
    assert limit.endswith("Gi"), limit
    return argv, limit


# A 1,500-token prompt takes about 100 s on two busy shared cores; the bound is generous so
# that only a dead server, not a slow one, fails the test.
REQUEST_TIMEOUT_S = 900


def post(
    port: int, body: dict[str, object], timeout: float = REQUEST_TIMEOUT_S
) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/completion",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    assert isinstance(answer, dict)
    return answer


def wait_healthy(port: int, name: str, deadline_s: float = 180) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        state = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        assert state == "true", docker("logs", "--tail", "30", name).stderr
        time.sleep(0.5)
    pytest.fail(f"{name} never became healthy")


def peak_rss(name: str) -> int:
    """The server's VmHWM, read from the host through the container's main process."""
    pid = docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    for line in Path(f"/proc/{pid}/status").read_text("utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {name}")


def run_traffic(
    image: str, gguf: Path, argv: list[str], limit: str, port: int
) -> tuple[bool, bool, int, str]:
    """Serve `argv` in a container limited to `limit`, send the conversations; (OOM-killed,
    still answering, peak RSS, the log tail). The container is removed by name, pass or
    fail."""
    args = list(argv)
    at = args.index("--hf-repo")
    args[at : at + 2] = ["--model", "/models/model.gguf"]
    name = f"llmgen-traffic-{secrets.token_hex(4)}"
    docker_limit = limit.removesuffix("Gi") + "g"
    try:
        started = docker(
            "run", "-d", "--name", name,
            "--memory", docker_limit, "--memory-swap", docker_limit,
            "-v", f"{gguf.parent}:/models:ro",
            "-p", f"127.0.0.1:{port}:{port}",
            image, *args,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_healthy(port, name)
        rng = random.Random(7)
        answering = True
        for _ in range(CONVERSATIONS):
            prompt = [rng.randrange(3, SHAPE.vocab) for _ in range(PROMPT_TOKENS)]
            try:
                post(port, {"prompt": prompt, "n_predict": 4, "cache_prompt": True})
            except TimeoutError:
                pytest.fail(f"no answer within {REQUEST_TIMEOUT_S} s (a slow machine, not memory)")
            except (urllib.error.URLError, ConnectionError):
                answering = False  # the server died (OOM-killed) or stopped answering
                break
        if answering:
            answer = post(port, {"prompt": "Hello", "n_predict": 2}, timeout=60)
            answering = "content" in answer
        inspected = docker("inspect", "--format", "{{json .State}}", name)
        state = json.loads(inspected.stdout)
        peak = peak_rss(name) if state["Running"] else 0
        logs = docker("logs", "--tail", "20", name)
        return bool(state["OOMKilled"]), answering and state["Running"], peak, logs.stderr
    finally:
        docker("rm", "--force", name)


def test_a_pod_sized_by_llmgen_survives_many_long_conversations(
    tmp_path: Path, llama_image: str
) -> None:
    (tmp_path / "model").mkdir()
    gguf = write_shaped_gguf(tmp_path / "model" / "model.gguf", SHAPE)
    port = free_port()
    argv, limit = rendered(tmp_path, port)
    assert argv[argv.index("--cache-ram") + 1] == "0"
    killed, answering, peak, logs = run_traffic(llama_image, gguf, argv, limit, port)
    assert not killed, f"OOM-killed under the rendered limit {limit}:\n{logs}"
    assert answering, logs
    # Not even near the limit: with the default prompt cache the same traffic drove the RSS to
    # the limit, where the kernel evicts the mapped weights and each token takes seconds
    # (docs/fit.md); a growing RSS would show here before any kill.
    limit_bytes = int(limit.removesuffix("Gi")) << 30
    assert peak < 0.9 * limit_bytes, f"peak RSS {peak >> 20} MiB of {limit}"
