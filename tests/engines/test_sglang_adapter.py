"""The SGLang 0.5.23 adapter: argv, API key hand-over, routes, images, readiness.

Expected values come from SGLang 0.5.23's source (paths inside the sglang wheel) and from
arithmetic written here, never from the adapter.
"""

from __future__ import annotations

import shlex
import subprocess

from llmgen.doctor import probes
from llmgen.engines import ENGINES
from tests.engines.test_adapter_contracts import errors, pairs, plan


def test_spec_fields_map_to_sglangs_flags() -> None:
    p = plan(
        "sglang",
        runtime={
            "context_length": 4096,
            "parallel": 16,
            "batch_size": 2048,
            "gpus": 2,
            "gpu_memory_fraction": 0.8,
            "dtype": "bfloat16",
        },
    )
    args = pairs(p.args)
    assert args["--context-length"] == "4096"
    assert args["--max-running-requests"] == "16"  # fields/schedule.py:31-34
    assert args["--chunked-prefill-size"] == "2048"  # tokens per step (fields/schedule.py:52)
    assert "--max-prefill-tokens" not in args
    assert args["--tp-size"] == "2"
    assert args["--mem-fraction-static"] == "0.8"
    assert args["--dtype"] == "bfloat16"
    assert p.subcommand == ("serve",)  # launch_server.py:75-80 recommends `sglang serve`


def test_cpu_spec_names_the_cpu_device_and_its_image() -> None:
    p = plan("sglang", runtime={"gpus": 0, "threads": 4})
    assert pairs(p.args)["--device"] == "cpu"
    assert "--tp-size" not in p.args
    assert p.image == "lmsysorg/sglang:v0.5.23-xeon"
    assert dict(p.env)["SGLANG_CPU_OMP_THREADS_BIND"] == "0-3"  # 4 threads: cores 0..3
    assert plan("sglang", runtime={"gpus": 1}).image == "lmsysorg/sglang:v0.5.23"


def test_api_key_reaches_argv_from_the_environment_only() -> None:
    p = plan("sglang", server={"api_key_env": "LLM_API_KEY"})
    assert p.secret_flags == (("--api-key", "SGLANG_API_KEY"),)
    assert "--api-key" not in p.args  # never in a rendered file's argv
    # The container command: a shell that appends the key read from the variable at start.
    script = p.container_args[2]
    assert p.container_args[:2] == ("/bin/sh", "-c")
    done = subprocess.run(
        [
            "sh",
            "-c",
            script.replace("exec python3 -m sglang.launch_server", "printf '%s\\n'"),
            "sglang",
            "--port",
            "30000",
        ],
        env={"SGLANG_API_KEY": "k e y"},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout.splitlines() == ["--port", "30000", "--api-key", "k e y"]
    no_key = plan("sglang")
    assert no_key.container_args[:3] == ("python3", "-m", "sglang.launch_server")
    assert shlex.join(no_key.container_args).count("--api-key") == 0


def test_open_routes_and_readiness_follow_sglangs_source() -> None:
    engine = ENGINES["sglang"]
    # srt/utils/auth.py:98-106: /health*, /ready*, /metrics* pass without the key.
    assert set(engine.open_routes) >= {"/health", "/ready", "/metrics"}
    assert "/v1/models" not in engine.open_routes
    # http_server.py:721-736: 503 while server_status is Starting.
    assert engine.readiness == "503-while-loading"


def test_sglangs_own_argument_checks() -> None:
    # validation_hook.py:214-219: no ':' in served_model_name.
    bad = plan("sglang", model={"id": "org/m", "served_name": "m:chat"})
    assert any("colon" in d.message for d in errors(bad))
    # validation_hook.py:243-246: 1000 is not a multiple of page size 16 (16 x 62 = 992).
    odd = plan("sglang", runtime={"batch_size": 1000, "extra_args": ["--page-size", "16"]})
    assert any("divisible by page_size" in d.message for d in errors(odd))
    even = plan("sglang", runtime={"batch_size": 1024, "extra_args": ["--page-size", "16"]})
    assert errors(even) == []


def test_doctor_reads_sglangs_version_line() -> None:
    engine = ENGINES["sglang"]
    assert engine.version_args == ("version",)
    # `sglang version` of the 0.5.23 wheel prints this line (sglang/cli/main.py:7-8).
    assert probes.parse_version(engine, "sglang version: 0.5.23\n") == "0.5.23"
