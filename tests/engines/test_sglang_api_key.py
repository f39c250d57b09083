"""SGLang's API key reaches SGLang's own parsed arguments, and no process's command line.

SGLang 0.5.23 reads the key from `--api-key` only (srt/arg_groups/fields/serving.py:160-163),
so llmgen starts it through the Python of its environment with a program that appends the flag
and the variable's value to sys.argv inside the process (LaunchPlan.secret_program). Run here
with the real sglang 0.5.23 of scripts/setup-sglang.sh:

- under pdb, stopped at sglang/cli/serve.py:106 (`run_server(server_args)`, right after SGLang's
  `prepare_server_args` at line 105): `server_args.api_key` is the key, and the process's own
  /proc/self/cmdline does not hold it;
- the rendered launch.sh, with that environment's `sglang` first on PATH: the process it execs
  is the environment's python, and its /proc/PID/cmdline holds no key while SGLang starts (it
  then stops: this environment cannot serve, docs/targets.md, SGLang).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from llmgen.render.bundle import render
from llmgen.spec.models import parse_spec
from tests.support.oracle_sglang import sglang_python

pytest_plugins = ("tests.support.vllm_fixtures",)

# The SGLang environment is built on the vLLM CPU one.
pytestmark = [pytest.mark.vllm, pytest.mark.sglang]

KEY = "s3cr3t k3y-for-the-test"


def spec(model: Path) -> dict[str, object]:
    return {
        "name": "demo",
        "engine": "sglang",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": 31987, "api_key_env": "LLM_API_KEY"},
        "runtime": {"gpus": 0, "context_length": 512, "parallel": 1},
    }


def test_the_key_reaches_sglangs_server_args_in_process(
    tiny_hf_model: Path, tmp_path: Path
) -> None:
    plan = render(parse_spec(spec(tiny_hf_model))).plan
    assert plan.secret_program is not None
    program = tmp_path / "program.py"
    program.write_text(plan.secret_program + "\n")
    commands = [
        "break sglang/cli/serve.py:106",
        "continue",
        "p ('API_KEY', server_args.api_key)",
        "p ('CMDLINE', open('/proc/self/cmdline', 'rb').read())",
        "quit",
    ]
    done = subprocess.run(
        [
            str(sglang_python()),
            "-m",
            "pdb",
            *[word for command in commands for word in ("-c", command)],
            str(program),
            *plan.subcommand,
            *plan.args,
        ],
        env={**os.environ, "SGLANG_API_KEY": KEY, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    lines = done.stdout.splitlines()
    assert f"('API_KEY', {KEY!r})" in lines, done.stdout[-3000:] + done.stderr[-3000:]
    cmdline = next(line for line in lines if line.startswith("('CMDLINE'"))
    assert "--model-path" in cmdline and KEY not in cmdline and "--api-key" not in cmdline


def test_launch_sh_execs_the_environments_python_without_the_key_on_its_command_line(
    tiny_hf_model: Path, tmp_path: Path
) -> None:
    files = render(parse_spec(spec(tiny_hf_model))).files
    script = tmp_path / "launch.sh"
    script.write_text(files["launch.sh"])
    python = sglang_python()
    env = {
        **os.environ,
        "PATH": f"{python.parent}:{os.environ['PATH']}",
        "LLM_API_KEY": KEY,
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "launch.log").open("w")
    server = subprocess.Popen(
        ["bash", str(script)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    seen: list[bytes] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                seen.append(Path(f"/proc/{server.pid}/cmdline").read_bytes())
            except OSError:
                break
            if seen[-1].split(b"\0")[0].endswith(b"/python3"):
                break  # launch.sh has exec'd the engine's Python
            time.sleep(0.05)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    assert seen, (tmp_path / "launch.log").read_text()[-3000:]
    argv = seen[-1].split(b"\0")
    # launch.sh found the python beside the `sglang` on PATH (a venv's) and exec'd it.
    assert Path(argv[0].decode()).parent == python.parent, argv[:3]
    assert argv[1] == b"-c" and argv[3] == b"serve"
    assert all(KEY.encode() not in word for word in argv)
    assert b"--api-key" not in argv
