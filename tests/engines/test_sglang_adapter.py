"""The SGLang 0.5.23 adapter: argv, API key hand-over, routes, images, readiness.

Expected values come from SGLang 0.5.23's source (paths inside the sglang wheel) and from
arithmetic written here, never from the adapter.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass

import yaml

from llmgen.doctor import probes
from llmgen.engines import ENGINES
from llmgen.engines.base import LaunchPlan
from llmgen.render.bundle import render
from llmgen.render.multinode import multinode_plan
from llmgen.spec.models import parse_spec
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
    # SGLang documents no published CPU image, only a build from its recipe: `docker build -t
    # sglang-cpu:latest -f xeon.Dockerfile .` (docs/platforms/cpu_server.md, "Install Using
    # Docker"; docker/xeon.Dockerfile builds VER_SGLANG, `main` unless given). llmgen pins that
    # local name to the version, and the container files carry the build (tests/render/
    # test_built_image.py runs docker-run.sh without the image).
    assert p.image == "sglang-cpu:v0.5.23"
    assert p.image_build is not None
    assert "docker build -t sglang-cpu:v0.5.23 --build-arg VER_SGLANG=v0.5.23" in p.image_build
    assert "-f sglang/docker/xeon.Dockerfile" in p.image_build
    assert p.image_build.startswith("git clone --branch v0.5.23 ")
    assert dict(p.env)["SGLANG_CPU_OMP_THREADS_BIND"] == "0-3"  # 4 threads: cores 0..3
    # GPU: the release workflow's `lmsysorg/sglang:v${version}` manifest
    # (.github/workflows/release-docker.yml, "Create versioned manifest"): pulled, not built.
    gpu = plan("sglang", runtime={"gpus": 1})
    assert gpu.image == "lmsysorg/sglang:v0.5.23"
    assert gpu.image_build is None


# What the `sglang` console script calls: entry_points.txt of the sglang 0.5.23 wheel,
# `sglang = sglang.cli.main:main`.
CONSOLE_ENTRY = "from sglang.cli.main import main"


def test_api_key_is_added_inside_the_process_never_on_a_command_line() -> None:
    p = plan("sglang", server={"api_key_env": "LLM_API_KEY"})
    assert p.secret_flags == (("--api-key", "SGLANG_API_KEY"),)
    assert [(s.engine_var, s.source_var) for s in p.secrets if s.required] == [
        ("SGLANG_API_KEY", "LLM_API_KEY")
    ]
    # No argv of any target holds the flag: the container runs the image's python3 on a
    # program that appends it to sys.argv in process, then runs the console script's target.
    assert "--api-key" not in p.args
    python, dash_c, program, subcommand = p.container_args[:4]
    assert (python, dash_c, subcommand) == ("python3", "-c", "serve")
    assert "--api-key" not in p.container_args[3:]
    assert CONSOLE_ENTRY in program
    compile(program, "<sglang-key>", "exec")  # valid Python
    # Run with a stand-in for SGLang's entry point (the real one is run in
    # test_sglang_api_key.py): sys.argv is the console script's argv plus the key, read from
    # the environment, while the command line holds neither.
    stand_in = program.replace(CONSOLE_ENTRY, "main = lambda: print(repr(sys.argv))")
    done = subprocess.run(
        ["python3", "-c", stand_in, "serve", "--port", "30000"],
        env={"SGLANG_API_KEY": "k e y"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == repr(["sglang", "serve", "--port", "30000", "--api-key", "k e y"])
    no_key = plan("sglang")
    assert no_key.container_args[:3] == ("python3", "-m", "sglang.launch_server")
    assert no_key.secret_program is None
    assert shlex.join(no_key.container_args).count("--api-key") == 0


def test_node_ranks_follow_sglangs_multinode_flags() -> None:
    """deploy.nodes: 2 with 4 GPUs each: tensor parallel spans both nodes (tp 8)."""
    bundle_ = render_spec(
        "sglang",
        runtime={"gpus": 4, "context_length": 4096},
        deploy={"nodes": 2},
        server={"api_key_env": "LLM_API_KEY"},
    )
    mn = multinode_plan(parse_spec(bundle_.spec_data), ENGINES["sglang"], bundle_.plan)
    assert mn is not None and mn.recipe == "ranks" and mn.kubernetes
    # fields/parallel.py:32-44; validation_hook.py:178-181 tp_size % nnodes == 0;
    # engine.py:2070-2071 tp_size_per_node = tp_size // nnodes: 8 // 2 = 4 = runtime.gpus.
    lead = pairs(mn.native_leader_args[2:])
    assert lead["--tp-size"] == "8" and lead["--nnodes"] == "2"
    assert mn.native_leader_args.count("--tp-size") == 1
    assert mn.head_tail == ('--dist-init-addr "$LLMGEN_HEAD_ADDRESS:20000"', "--node-rank 0")
    assert mn.worker_env_value == (
        '--dist-init-addr "$LLMGEN_HEAD_ADDRESS:20000" --node-rank "$LLMGEN_NODE_RANK"'
    )
    # LeaderWorkerSet: the leader's address and each pod's index in its group.
    assert mn.leader_script.endswith('--dist-init-addr "$LWS_LEADER_ADDRESS:20000" --node-rank 0')
    assert mn.worker_script.endswith('--node-rank "$LWS_WORKER_INDEX"')
    # Only rank 0 serves the API (http_server.py:3163-3165); the others answer /health on the
    # same port from engine.py:1281's dummy server, which the worker pods' probes ask.
    assert mn.worker_serves_health
    files = bundle_.files
    assert "multinode/launch-head.sh" in files and "multinode/launch-worker.sh" in files
    assert "--api-key" not in files["multinode/launch-head.sh"].split("sys.exit(main())'")[-1]


@dataclass
class Rendered:
    """A rendered bundle and the spec data it came from."""

    spec_data: dict[str, object]
    plan: LaunchPlan
    files: dict[str, str]


def render_spec(engine: str, **sections: object) -> Rendered:
    """The rendered bundle of a small spec of `engine` with the given sections."""
    data = {"name": "demo", "engine": engine, "model": {"id": "org/model"}, **sections}
    bundle = render(parse_spec(data))
    return Rendered(data, bundle.plan, bundle.files)


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


def test_the_leaderworkerset_runs_sglang_on_every_pod_and_probes_workers_over_http() -> None:
    rendered = render_spec("sglang", runtime={"gpus": 2}, deploy={"nodes": 2})
    (lws,) = [
        d
        for d in yaml.safe_load_all(rendered.files["kubernetes.yaml"])
        if d and d["kind"] == "LeaderWorkerSet"
    ]
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    leader = template["leaderTemplate"]["spec"]["containers"][0]
    worker = template["workerTemplate"]["spec"]["containers"][0]
    for pod, rank in ((leader, "0"), (worker, '"$LWS_WORKER_INDEX"')):
        # The image runs no command of its own: the pod's args start with SGLang's.
        assert pod["args"][:3] == ["python3", "-m", "sglang.launch_server"]
        # Kubernetes reads `$$` in command and args as a literal `$` (no $(VAR) expansion).
        assert pod["command"][2].replace("$$", "$").endswith(f"--node-rank {rank}")
        # Ranks above 0 answer /health from a dummy server on the same port (engine.py:1281).
        assert pod["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert pod["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert [p["name"] for p in leader["ports"]] == ["http", "rendezvous"]
    assert [p["containerPort"] for p in leader["ports"]] == [8000, 20000]
    assert [p["name"] for p in worker["ports"]] == ["http"]
