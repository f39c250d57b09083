"""Each engine adapter pinned against the engines' own facts, in process and fast.

The expected values are literals taken from outside llmgen: the flag tables and notes under
../shared/engines (README.md "Cross-engine knobs" and "Startup rules"), the engines' source
where the adapters quote it (vLLM 0.33.0, TGI 3.3.7 launcher/src/main.rs, llama.cpp b11434
common/arg.cpp), and the spec's own documented translation of each runtime field. Nothing
here reads an adapter's constants to decide what it should produce. This is the test
selection benchmarks/mutation.py runs for every mutant of the adapters, so it imports no
conftest fixtures and starts no process.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from llmgen.engines import ENGINES
from llmgen.engines.base import Engine, LaunchPlan, client_host_for, is_loopback
from llmgen.errors import Diagnostic
from llmgen.facts.model import ModelFacts
from llmgen.rules.model import facts_rules
from llmgen.spec.models import Spec, parse_spec
from tests.support.versions import newest

VLLM = newest("vllm")  # a spec without engine_version runs the newest table's release

HUB = "HuggingFaceTB/SmolLM2-360M-Instruct"
GGUF_HUB = "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"


def make(engine: str, model: dict[str, Any] | None = None, **sections: Any) -> Spec:
    """A spec for `engine`; llama.cpp gets a GGUF repo unless a model is given."""
    default = {"id": GGUF_HUB} if engine == "llamacpp" else {"id": HUB}
    data: dict[str, Any] = {"name": "t", "engine": engine, "model": model or default}
    data.update(sections)
    return parse_spec(data)


def plan(engine: str, model: dict[str, Any] | None = None, **sections: Any) -> LaunchPlan:
    return ENGINES[engine].plan(make(engine, model, **sections))


def found(p: LaunchPlan) -> set[tuple[str, str]]:
    """(severity, path) of every diagnostic."""
    return {(d.severity, d.path) for d in p.diagnostics}


def errors(p: LaunchPlan) -> list[Diagnostic]:
    return [d for d in p.diagnostics if d.severity == "error"]


def pairs(args: tuple[str, ...]) -> dict[str, str]:
    """flag -> the word after it (the value, for a flag that takes one)."""
    return {a: b for a, b in zip(args, (*args[1:], ""), strict=True) if a.startswith("-")}


def extra(
    engine: str, *args: str, model: dict[str, Any] | None = None, **runtime: Any
) -> LaunchPlan:
    return plan(engine, model, runtime={"extra_args": list(args), **runtime})


# --- the shared LaunchPlan (base.py) -------------------------------------------------------


def test_client_and_published_hosts() -> None:
    assert client_host_for("0.0.0.0") == "127.0.0.1"
    assert client_host_for("::") == "[::1]"
    assert client_host_for("10.1.2.3") == "10.1.2.3"
    assert client_host_for("::1") == "[::1]"
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    p = plan("vllm", server={"host": "::1", "port": 8123})
    assert p.published_host == "[::1]"
    assert p.client_host == "[::1]"
    assert p.base_url == "http://[::1]:8123/v1"
    assert plan("vllm", server={"host": "127.0.0.1"}).published_host == "127.0.0.1"


def test_plan_carries_the_spec_values() -> None:
    p = plan("vllm", server={"port": 8123, "executable": "/opt/v/bin/vllm"})
    assert p.engine == "vllm" and p.engine_title == "vLLM" and p.engine_version == VLLM
    assert p.host == "127.0.0.1" and p.port == 8123
    assert p.unit_executable == "/opt/v/bin/vllm"
    assert p.argv[:3] == ("vllm", "serve", HUB)
    assert p.gpus == 0
    assert p.api_key_env is None
    assert p.unit is not None and p.unit.path.startswith("/opt/v/bin:")
    assert p.config.engine == "vllm"
    assert plan("tgi").unit_executable == "/usr/local/bin/text-generation-launcher"
    assert plan("llamacpp").unit_executable == "/usr/local/bin/llama-server"


@pytest.mark.parametrize(
    ("engine", "title", "version", "argv"),
    [
        ("vllm", "vLLM", VLLM, ("vllm", "serve", HUB)),
        ("tgi", "TGI", "3.3.7", ("text-generation-launcher", "--model-id", HUB)),
        ("llamacpp", "llama.cpp", "b11434", ("llama-server", "--hf-repo", GGUF_HUB)),
    ],
)
def test_engine_names(engine: str, title: str, version: str, argv: tuple[str, ...]) -> None:
    # README: the engine, the version each flag table was read from, its executable.
    p = plan(engine, runtime={"gpu_layers": 3} if engine != "llamacpp" else {"dtype": "float16"})
    assert (p.engine, p.engine_title, p.engine_version) == (engine, title, version)
    assert p.argv[:3] == argv
    # Messages name the engine by its title.
    assert any(d.message.startswith(f"{title} has no such knob") for d in p.diagnostics)


@pytest.mark.parametrize(
    ("engine", "flag", "hint"),
    [
        ("vllm", "--api-key", "set server.api_key_env"),
        ("tgi", "--api-key", "set server.api_key_env"),
        ("llamacpp", "--api-key", "set server.api_key_env"),
        ("vllm", "--hf-token", "export HF_TOKEN"),
        ("llamacpp", "--hf-token", "export HF_TOKEN"),
        ("tgi", "--ngrok-authtoken", "pass NGROK_AUTHTOKEN"),
    ],
)
def test_secret_flags_never_reach_the_files(engine: str, flag: str, hint: str) -> None:
    # Flag tables: each of these takes a secret; the env column names its variable.
    p = extra(engine, flag, "s3cret")
    assert [d.hint.startswith(hint) for d in errors(p) if d.path == "runtime.extra_args.0"] == [
        True
    ]


def test_health_contract_per_engine() -> None:
    # README: vLLM and TGI refuse connections while loading; llama.cpp answers 503.
    for engine, readiness in (
        ("vllm", "refused-while-loading"),
        ("tgi", "refused-while-loading"),
        ("llamacpp", "503-while-loading"),
    ):
        p = plan(engine, server={"port": 8123})
        assert p.health_path == "/health"
        assert p.readiness == readiness
        assert p.healthcheck[-1] == "http://127.0.0.1:8123/health"
    assert plan("tgi", server={"port": 8123}).healthcheck == (
        "curl",
        "-fsS",
        "-o",
        "/dev/null",
        "http://127.0.0.1:8123/health",
    )
    vllm = plan("vllm").healthcheck
    assert vllm[:2] == ("python3", "-c")
    assert "urllib.request.urlopen(sys.argv[1], timeout=5)" in vllm[2]


@pytest.mark.parametrize(
    ("engine", "variable"),
    [("vllm", "VLLM_API_KEY"), ("tgi", "API_KEY"), ("llamacpp", "LLAMA_API_KEY")],
)
def test_api_key_reaches_the_engines_own_variable(engine: str, variable: str) -> None:
    # README "API key": the env column of each flag table's --api-key row.
    p = plan(engine, server={"api_key_env": "MY_KEY"})
    key = [s for s in p.secrets if s.source_var == "MY_KEY"]
    assert [(s.engine_var, s.required) for s in key] == [(variable, True)]
    assert p.api_key_env == "MY_KEY"
    hf = [s for s in p.secrets if s.engine_var == "HF_TOKEN"]
    assert [(s.source_var, s.required) for s in hf] == [("HF_TOKEN", False)]
    assert plan(engine).secrets == tuple(hf) and all(s.engine_var != variable for s in hf)


def test_local_model_needs_no_hub_token_and_is_mounted_read_only(tmp_path: Any) -> None:
    p = plan("vllm", {"path": "/models/smol"})
    assert p.secrets == ()
    assert [(v.source, v.target, v.read_only, v.named, v.host_path_type) for v in p.volumes] == [
        ("llmgen-hf-cache", "/root/.cache/huggingface", False, True, "Directory"),
        ("/models/smol", "/models/smol", True, False, "Directory"),
    ]
    g = plan("llamacpp", {"path": "/models/smol.gguf"})
    assert g.volumes[1].host_path_type == "File"
    assert [(v.source, v.target) for v in plan("tgi").volumes] == [("llmgen-tgi-data", "/data")]


@pytest.mark.parametrize(
    ("engine", "image"),
    [
        ("vllm", f"vllm/vllm-openai:v{VLLM}"),
        ("tgi", "ghcr.io/huggingface/text-generation-inference:3.3.7"),
        ("llamacpp", "ghcr.io/ggml-org/llama.cpp:server-cuda-b11434"),
    ],
)
def test_gpu_image(engine: str, image: str) -> None:
    assert plan(engine, runtime={"gpus": 1}).image == image


@pytest.mark.parametrize(
    ("engine", "image"),
    [
        ("vllm", f"vllm/vllm-openai-cpu:v{VLLM}-x86_64"),
        ("tgi", "ghcr.io/huggingface/text-generation-inference:3.3.7-intel-cpu"),
        ("llamacpp", "ghcr.io/ggml-org/llama.cpp:server-b11434"),
    ],
)
def test_cpu_image_and_tag_override(engine: str, image: str) -> None:
    assert plan(engine).image == image
    repository = image.rsplit(":", 1)[0]
    assert plan(engine, container={"image_tag": "custom"}).image == f"{repository}:custom"


def test_container_binds_all_interfaces() -> None:
    p = plan("vllm")
    assert pairs(p.args)["--host"] == "127.0.0.1"
    assert pairs(p.container_args)["--host"] == "0.0.0.0"
    t = plan("tgi")
    assert pairs(t.container_args)["--hostname"] == "0.0.0.0"
    assert p.args[-1] == p.container_args[-1]


def test_extra_args_follow_the_rendered_ones() -> None:
    p = extra("vllm", "--seed", "7")
    assert p.args[-2:] == ("--seed", "7") and p.container_args[-2:] == ("--seed", "7")


def test_tgi_gpu_entrypoint_moves_split_values_into_their_variable() -> None:
    # The GPU image runs `text-generation-launcher $@` unquoted (tgi-entrypoint.sh, v3.3.7);
    # the flag table gives --otlp-service-name the variable OTLP_SERVICE_NAME.
    p = extra("tgi", "--otlp-service-name", "a b", gpus=1)
    assert ("OTLP_SERVICE_NAME", "a b") in p.container_env
    assert p.container_args[-1] == "1" and "a b" not in p.container_args
    assert p.args[-2:] == ("--otlp-service-name", "a b")
    assert errors(p) == []
    inline = extra("tgi", "--otlp-service-name=c*d", gpus=1)
    assert ("OTLP_SERVICE_NAME", "c*d") in inline.container_env
    assert "--otlp-service-name=c*d" not in inline.container_args
    for value in ("x?", "x[1]", "a*"):
        moved = extra("tgi", "--otlp-service-name", value, gpus=1)
        assert ("OTLP_SERVICE_NAME", value) in moved.container_env
    plain = extra("tgi", "--otlp-service-name", "ab", gpus=1)
    assert plain.container_env == ()
    assert plain.container_args[-2:] == ("--otlp-service-name", "ab")
    # A value that is an argument of its own is not a flag's value.
    last = extra("tgi", "--otlp-service-name", gpus=1)
    assert last.container_args[-1] == "--otlp-service-name"
    # The CPU image starts the launcher directly: nothing moves.
    cpu = extra("tgi", "--otlp-service-name", "a b")
    assert cpu.container_args[-2:] == ("--otlp-service-name", "a b") and cpu.container_env == ()


def test_route_flags_in_extra_args_are_errors() -> None:
    assert ("error", "runtime.extra_args.0") in found(extra("vllm", "--root-path", "/x"))
    assert ("error", "runtime.extra_args.0") in found(extra("vllm", "--headless"))
    assert ("error", "runtime.extra_args.0") in found(extra("llamacpp", "--api-prefix", "/x"))
    assert errors(extra("vllm", "--seed", "1")) == []


def test_unsupported_knobs() -> None:
    # README: vLLM and TGI have no GPU-layers knob; llama.cpp takes dtype from the GGUF.
    assert ("error", "runtime.gpu_layers") in found(plan("vllm", runtime={"gpu_layers": 3}))
    assert ("error", "runtime.gpu_layers") in found(plan("tgi", runtime={"gpu_layers": 3}))
    assert ("error", "runtime.dtype") in found(plan("llamacpp", runtime={"dtype": "float16"}))
    assert ("error", "runtime.kv_cache_memory") in found(
        plan("llamacpp", runtime={"kv_cache_memory": "1G"})
    )
    assert ("error", "runtime.enforce_eager") in found(
        plan("llamacpp", runtime={"enforce_eager": True})
    )
    assert ("error", "runtime.max_input_tokens") in found(
        plan("vllm", runtime={"max_input_tokens": 100})
    )
    msg = [d for d in plan("vllm", runtime={"gpu_layers": 3}).diagnostics if "knob" in d.message]
    assert msg[0].message.startswith("vLLM has no such knob: ")
    assert msg[0].hint == "remove runtime.gpu_layers"
    assert (
        errors(plan("vllm")) == [] and errors(plan("tgi")) == [] and errors(plan("llamacpp")) == []
    )


def test_model_kinds() -> None:
    # README: vLLM's GGUF support moved to plugins; llama.cpp loads GGUF only.
    assert ("error", "model.id") in found(plan("vllm", {"id": "org/x-GGUF"}))
    assert ("error", "model.path") in found(plan("tgi", {"path": "/m/x.GGUF"}))
    assert ("error", "model.id") in found(plan("tgi", {"id": "org/x:Q4"}))
    assert ("error", "model.path") in found(plan("llamacpp", {"path": "/m/x.bin"}))
    assert ("warning", "model.id") in found(plan("llamacpp", {"id": HUB}))
    assert found(plan("llamacpp", {"path": "/m/x.GGUF"})) == set()
    assert found(plan("llamacpp", {"id": "org/x-gguf"})) == set()


def test_policy_reaches_the_plan() -> None:
    assert ("error", "server.host") in found(plan("vllm", server={"host": "0.0.0.0"}))


# --- model metadata checks (llmgen.rules.model, with each adapter's hooks) -------------------


def info(**fields: Any) -> ModelFacts:
    return ModelFacts(source="config.json", kind="hf", **fields)


def model_checks(engine: Engine, spec: Spec, facts: ModelFacts) -> list[Diagnostic]:
    return facts_rules(engine, spec, engine.effective(spec), facts)


def test_context_beyond_the_trained_maximum() -> None:
    # README: vLLM refuses a max_model_len beyond the model's maximum; the others run.
    spec = make("vllm", runtime={"context_length": 4097})
    [d] = model_checks(ENGINES["vllm"], spec, info(max_position_embeddings=4096))
    assert (d.severity, d.path) == ("error", "runtime.context_length")
    assert "4096" in d.hint
    assert (
        model_checks(
            ENGINES["vllm"],
            make("vllm", runtime={"context_length": 4096}),
            info(max_position_embeddings=4096),
        )
        == []
    )
    [w] = model_checks(
        ENGINES["tgi"],
        make("tgi", runtime={"context_length": 4097}),
        info(max_position_embeddings=4096),
    )
    assert w.severity == "warning"
    [w] = model_checks(
        ENGINES["llamacpp"],
        make("llamacpp", runtime={"context_length": 4097}),
        info(max_position_embeddings=4096),
    )
    assert w.severity == "warning"


def test_heads_must_divide_across_shards() -> None:
    # README: attention heads divisible by tensor-parallel size (vLLM; TGI shards them too).
    for engine in ("vllm", "tgi"):
        [d] = model_checks(
            ENGINES[engine], make(engine, runtime={"gpus": 3}), info(attention_heads=16)
        )
        assert (d.severity, d.path) == ("error", "runtime.gpus")
        two = make(engine, runtime={"gpus": 2})
        assert [x.path for x in model_checks(ENGINES[engine], two, info(attention_heads=15))] == [
            "runtime.gpus"
        ]
        assert (
            model_checks(
                ENGINES[engine], make(engine, runtime={"gpus": 2}), info(attention_heads=16)
            )
            == []
        )
        assert (
            model_checks(
                ENGINES[engine], make(engine, runtime={"gpus": 1}), info(attention_heads=15)
            )
            == []
        )
    assert (
        model_checks(
            ENGINES["llamacpp"], make("llamacpp", runtime={"gpus": 3}), info(attention_heads=16)
        )
        == []
    )


def test_unknown_metadata_checks_nothing() -> None:
    for engine in ("vllm", "tgi"):
        assert model_checks(ENGINES[engine], make(engine, runtime={"gpus": 2}), info()) == []


def test_vllm_cpu_head_sizes() -> None:
    # vLLM 0.33.0 CPU attention: head sizes 32..512 in its supported list; 48 is not one.
    engine = ENGINES["vllm"]
    [d] = model_checks(engine, make("vllm"), info(head_size=48))
    assert (d.severity, d.path) == ("error", "model.id")  # the spec names a hub model
    assert "48" in d.message and "32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512" in d.message
    for size in (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512):
        assert model_checks(engine, make("vllm"), info(head_size=size)) == []
    assert model_checks(engine, make("vllm", runtime={"gpus": 1}), info(head_size=48)) == []
    assert model_checks(ENGINES["tgi"], make("tgi"), info(head_size=48)) == []


# --- vLLM 0.33.0 (vllm.py) -----------------------------------------------------------------


def test_vllm_flags_for_every_knob() -> None:
    # README "Cross-engine knobs", vLLM column; the flag table names each flag.
    p = plan(
        "vllm",
        {"id": HUB, "revision": "abc", "served_name": "smol"},
        server={"port": 8123},
        runtime={
            "context_length": 2048,
            "parallel": 8,
            "batch_size": 4096,
            "gpus": 2,
            "gpu_memory_fraction": 0.5,
            "dtype": "bfloat16",
            "kv_cache_memory": "64Mi",
            "enforce_eager": True,
        },
    )
    assert p.args == (
        HUB,
        "--served-model-name",
        "smol",
        "--revision",
        "abc",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--max-model-len",
        "2048",
        "--max-num-seqs",
        "8",
        "--max-num-batched-tokens",
        "4096",
        "--tensor-parallel-size",
        "2",
        "--gpu-memory-utilization",
        "0.5",
        "--dtype",
        "bfloat16",
        "--kv-cache-memory-bytes",
        "64M",
        "--enforce-eager",
    )
    assert p.shm_size == "16g"
    assert p.served_name == "smol"


def test_vllm_defaults_render_nothing_extra() -> None:
    p = plan("vllm", runtime={"gpus": 1, "gpu_memory_fraction": 0.5})
    assert p.args == (
        HUB,
        "--served-model-name",
        HUB,
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "4",
        "--gpu-memory-utilization",
        "0.5",
    )
    assert p.shm_size is None
    assert "--gpu-memory-utilization" not in plan("vllm", runtime={"gpu_memory_fraction": 0.5}).args


def test_vllm_served_name_defaults_to_the_model_string() -> None:
    # README: default name is the model string exactly (the directory for a local model).
    assert plan("vllm", {"path": "/models/smol/"}).served_name == "smol"
    assert plan("vllm", {"path": "/models/smolX/"}).served_name == "smolX"
    assert plan("vllm", {"path": "/models/smol"}).args[:3] == (
        "/models/smol",
        "--served-model-name",
        "smol",
    )


def test_vllm_cpu_threads_variable() -> None:
    # README "CPU threads": VLLM_CPU_OMP_THREADS_BIND on the CPU build.
    assert plan("vllm", runtime={"threads": 4}).env == (("VLLM_CPU_OMP_THREADS_BIND", "0-3"),)
    p = plan("vllm", runtime={"threads": 4, "gpus": 1})
    assert p.env == ()
    assert ("warning", "runtime.threads") in found(p)


def test_vllm_cpu_warnings() -> None:
    p = plan("vllm")
    assert ("warning", "runtime.kv_cache_memory") in found(p)
    assert ("warning", "runtime.kv_cache_memory") not in found(
        plan("vllm", runtime={"kv_cache_memory": "1G"})
    )
    assert ("warning", "runtime.gpu_memory_fraction") in found(
        plan("vllm", runtime={"gpu_memory_fraction": 0.5})
    )
    assert found(plan("vllm", runtime={"gpus": 1})) == set()


def test_vllm_token_budget() -> None:
    # README: max_num_batched_tokens >= max_num_seqs; defaults 2048 tokens, 128 seqs on CPU
    # and 256 on GPUs (vllm/engine/arg_utils.py get_batch_defaults).
    p = plan("vllm", runtime={"parallel": 16, "batch_size": 8})
    assert ("error", "runtime.batch_size") in found(p)
    assert [d.hint for d in errors(p)] == ["set runtime.batch_size to 16 or more"]
    assert errors(plan("vllm", runtime={"parallel": 16, "batch_size": 16})) == []
    given = extra("vllm", "--max-num-batched-tokens", "8", parallel=16)
    assert [d.hint for d in errors(given)] == ["give --max-num-batched-tokens 16 or more"]
    assert errors(plan("vllm", runtime={"parallel": 2048})) == []
    default = plan("vllm", runtime={"parallel": 2049})
    assert ("error", "runtime.parallel") in found(default)
    assert "max_num_batched_tokens 2048" in errors(default)[0].message
    assert errors(plan("vllm", runtime={"parallel": 2048, "gpus": 1})) == []
    assert ("error", "runtime.parallel") in found(
        plan("vllm", runtime={"parallel": 2049, "gpus": 1})
    )
    seqs = extra("vllm", "--max-num-seqs", "2049")
    assert ("error", "runtime.parallel") in found(seqs)
    effective = ENGINES["vllm"].effective(make("vllm"))
    assert effective.get_value("--max-num-seqs") == "4"
    cpu = ENGINES["vllm"].effective(make("vllm", runtime={"parallel": 1}))
    assert cpu.get("--max-num-batched-tokens") is not None
    assert cpu.get_value("--max-num-batched-tokens") == "2048"


def test_vllm_budget_that_is_no_number() -> None:
    # Flag table: human_readable_int. A value that is none is the type check's to report.
    p = extra("vllm", "--max-num-batched-tokens", "abc", gpus=1)
    assert [d.path for d in errors(p)] == ["runtime.extra_args.1"]


def test_vllm_chunked_prefill_off_needs_the_whole_context() -> None:
    p = extra("vllm", "--no-enable-chunked-prefill", batch_size=1024, context_length=2048)
    assert ("error", "runtime.batch_size") in found(p)
    assert "2048" in errors(p)[0].hint
    assert (
        errors(extra("vllm", "--no-enable-chunked-prefill", batch_size=2048, context_length=2048))
        == []
    )
    assert (
        errors(extra("vllm", "--enable-chunked-prefill", batch_size=1024, context_length=2048))
        == []
    )
    assert errors(plan("vllm", runtime={"batch_size": 1024, "context_length": 2048})) == []


def test_vllm_serve_arg_checks() -> None:
    # vllm/config/scheduler.py and entrypoints/common/cli_args.py validate_parsed_serve_args.
    p = extra("vllm", "--long-prefill-token-threshold", "5000", context_length=4096)
    assert ("error", "runtime.extra_args.0") in found(p)
    assert errors(extra("vllm", "--long-prefill-token-threshold", "4096")) == []
    for bad in ("0", "1.5", "-1"):
        g = extra("vllm", "--gpu-memory-utilization", bad, gpus=1)
        assert ("error", "runtime.extra_args.0") in found(g), bad
    for good in ("1", "0.5", "x"):
        g = extra("vllm", "--gpu-memory-utilization", good, gpus=1)
        assert not [d for d in errors(g) if "(0, 1]" in d.message], good
    tools = extra("vllm", "--enable-auto-tool-choice")
    assert [(d.path, d.message, d.hint) for d in errors(tools)] == [
        (
            "runtime.extra_args.0",
            "--enable-auto-tool-choice requires --tool-call-parser",
            "add --tool-call-parser NAME to runtime.extra_args",
        )
    ]
    assert errors(extra("vllm", "--enable-auto-tool-choice", "--tool-call-parser", "hermes")) == []
    logs = extra("vllm", "--enable-log-outputs")
    assert [(d.path, d.hint) for d in errors(logs)] == [
        ("runtime.extra_args.0", "add --enable-log-requests to runtime.extra_args")
    ]
    assert errors(extra("vllm", "--enable-log-outputs", "--enable-log-requests")) == []
    assert ("error", "runtime.extra_args.0") in found(
        extra("vllm", "--enable-log-outputs", "--no-enable-log-requests")
    )


def test_vllm_world_size() -> None:
    # README: tp x pp <= GPUs on the node.
    p = extra("vllm", "--pipeline-parallel-size", "2", gpus=1)
    assert [d.path for d in errors(p)] == ["runtime.extra_args.0"]


# --- TGI 3.3.7 (tgi.py) --------------------------------------------------------------------


def test_tgi_flags_for_every_knob() -> None:
    p = plan(
        "tgi",
        {"id": HUB, "revision": "abc"},
        server={"port": 8123},
        runtime={
            "context_length": 2048,
            "max_input_tokens": 1000,
            "parallel": 8,
            "batch_size": 4096,
            "gpus": 2,
            "gpu_memory_fraction": 0.5,
            "dtype": "bfloat16",
            "enforce_eager": True,
        },
    )
    assert p.args == (
        "--model-id",
        HUB,
        "--revision",
        "abc",
        "--hostname",
        "127.0.0.1",
        "--port",
        "8123",
        "--max-total-tokens",
        "2048",
        "--max-input-tokens",
        "1000",
        "--max-batch-size",
        "8",
        "--max-batch-prefill-tokens",
        "4096",
        "--num-shard",
        "2",
        "--cuda-memory-fraction",
        "0.5",
        "--dtype",
        "bfloat16",
        "--cuda-graphs",
        "0",
    )
    assert p.shm_size == "1g"
    assert p.served_name == HUB


def test_tgi_cpu_defaults() -> None:
    # README: --max-input-tokens < --max-total-tokens; CPU threads through OMP_NUM_THREADS.
    p = plan("tgi", runtime={"threads": 6, "enforce_eager": True, "gpu_memory_fraction": 0.5})
    assert p.args == (
        "--model-id",
        HUB,
        "--hostname",
        "127.0.0.1",
        "--port",
        "8000",
        "--max-total-tokens",
        "4096",
        "--max-input-tokens",
        "4095",
        "--max-batch-size",
        "4",
    )
    assert p.env == (("OMP_NUM_THREADS", "6"),)
    assert p.shm_size is None
    assert plan("tgi", runtime={"threads": 6, "gpus": 1}).env == ()
    one = plan("tgi", runtime={"gpus": 1, "dtype": "float16"})
    assert pairs(one.args)["--num-shard"] == "1"
    assert pairs(one.args)["--dtype"] == "float16"
    assert plan("tgi", {"path": "/models/smol"}).served_name == "/models/smol"


def test_tgi_one_gpu() -> None:
    # The spec: gpu_memory_fraction is TGI's --cuda-memory-fraction; TGI's flag table: CUDA
    # graphs are off with --cuda-graphs 0; TGI's own docker example gives --shm-size 1g.
    p = plan("tgi", runtime={"gpus": 1, "gpu_memory_fraction": 0.5, "enforce_eager": True})
    flags = pairs(p.args)
    assert (flags["--num-shard"], flags["--cuda-memory-fraction"]) == ("1", "0.5")
    assert flags["--cuda-graphs"] == "0"
    assert p.shm_size == "1g"


def test_tgi_cannot_rename() -> None:
    p = plan("tgi", {"id": HUB, "served_name": "smol"})
    assert ("error", "model.served_name") in found(p)
    assert errors(plan("tgi", {"id": HUB, "served_name": HUB})) == []


def test_tgi_token_rules() -> None:
    # launcher/src/main.rs: max_input_tokens < max_total_tokens <= max_batch_total_tokens,
    # max_batch_prefill_tokens >= max_input_tokens (warned), prefill <= batch total.
    p = plan("tgi", runtime={"context_length": 2048, "max_input_tokens": 2048})
    assert ("error", "runtime.max_input_tokens") in found(p)
    assert errors(p)[0].hint == "set runtime.max_input_tokens to 2047 or lower"
    assert errors(plan("tgi", runtime={"context_length": 2048, "max_input_tokens": 2047})) == []
    w = plan("tgi", runtime={"context_length": 2048, "batch_size": 1000})
    assert ("warning", "runtime.batch_size") in found(w)
    assert found(plan("tgi", runtime={"context_length": 2048, "batch_size": 2047})) == set()
    total = extra("tgi", "--max-batch-total-tokens", "2047", context_length=2048)
    assert ("error", "runtime.extra_args.0") in found(total)
    assert errors(extra("tgi", "--max-batch-total-tokens", "2048", context_length=2048)) == []
    prefill = extra("tgi", "--max-batch-total-tokens", "4096", context_length=2048, batch_size=4097)
    assert ("error", "runtime.batch_size") in found(prefill)
    assert (
        errors(
            extra("tgi", "--max-batch-total-tokens", "4096", context_length=2048, batch_size=4096)
        )
        == []
    )


def test_tgi_token_values_that_are_no_numbers() -> None:
    # The type check reports them (once each, after the repeat); the token rules skip them.
    for flag in ("--max-input-tokens", "--max-total-tokens"):
        p = extra("tgi", flag, "abc")
        assert [d.path for d in errors(p)] == ["runtime.extra_args.0", "runtime.extra_args.1"]


def test_tgi_quantize_and_dtype() -> None:
    assert ("error", "runtime.dtype") in found(plan("tgi", runtime={"dtype": "float32"}))
    q = extra("tgi", "--quantize", "awq", gpus=1, dtype="float16")
    assert ("error", "runtime.dtype") in found(q)
    assert errors(extra("tgi", "--quantize", "bitsandbytes-nf4", gpus=1, dtype="float16")) == []
    assert errors(extra("tgi", "--quantize", "awq", gpus=1)) == []
    exl2 = extra("tgi", "--quantize", "exl2", gpus=2)
    assert ("error", "runtime.gpus") in found(exl2)
    assert errors(extra("tgi", "--quantize", "exl2", gpus=1)) == []
    sharded = extra("tgi", "--sharded", "true", gpus=1)
    assert ("error", "runtime.extra_args.0") in found(sharded)
    assert errors(extra("tgi", "--sharded", "true", gpus=2)) == []
    assert errors(extra("tgi", "--sharded", "false", gpus=1)) == []


def test_tgi_queues_beyond_parallel() -> None:
    # runtime.parallel is TGI 3.3.7's --max-batch-size (launcher/src/main.rs:757-760: "Enforce
    # a maximum number of requests per batch"; backends/v3/src/queue.rs:397 closes a batch at
    # that size and the rest stay queued). --max-concurrent-requests refuses with HTTP 429
    # beyond its value (router/src/infer/mod.rs:111-119, server.rs:2408), so it is never
    # `parallel`: TGI's default 128 (main.rs:648) is kept, and raised to 2 x parallel above 64.
    for parallel in (1, 4, 64):
        flags = pairs(plan("tgi", runtime={"parallel": parallel}).args)
        assert flags["--max-batch-size"] == str(parallel)
        assert "--max-concurrent-requests" not in flags
    big = pairs(plan("tgi", runtime={"parallel": 100}).args)
    assert (big["--max-batch-size"], big["--max-concurrent-requests"]) == ("100", "200")
    # Given in extra_args, --max-batch-size is a second spelling of runtime.parallel.
    assert ("error", "runtime.extra_args.0") in found(extra("tgi", "--max-batch-size", "2"))


def test_tgi_launcher_rules() -> None:
    p = extra("tgi", "--validation-workers", "0")
    assert [(d.path, d.hint) for d in errors(p)] == [
        ("runtime.extra_args.0", "give --validation-workers 1 or more")
    ]
    assert errors(extra("tgi", "--validation-workers", "1")) == []
    assert ("error", "runtime.extra_args.0") in found(extra("tgi", "--max-input-length", "100"))
    assert ("error", "runtime.extra_args.0") in found(extra("tgi", "--ngrok"))
    lora = extra("tgi", "--lora-adapters", "a@b@c,d@e")
    assert [(d.path, d.message) for d in errors(lora)] == [
        ("runtime.extra_args.1", "Invalid LoRA adapter format: a@b@c")
    ]
    inline = extra("tgi", "--lora-adapters=n=/p@x@y,a@b@c")
    assert [d.path for d in errors(inline)] == ["runtime.extra_args.0"]
    assert errors(extra("tgi", "--lora-adapters", "a@b,n=/x@y@z")) == []


def test_tgi_prometheus_port() -> None:
    # router/src/server.rs: the router binds --prometheus-port (default 9000) too.
    p = plan("tgi", server={"port": 9000})
    assert ("error", "server.port") in found(p)
    assert errors(plan("tgi", server={"port": 9001})) == []
    given = extra("tgi", "--prometheus-port", "8000")
    assert ("error", "runtime.extra_args.0") in found(given)
    moved = extra("tgi", "--prometheus-port", "9001")
    assert (
        errors(
            plan(
                "tgi", server={"port": 9000}, runtime={"extra_args": ["--prometheus-port", "9001"]}
            )
        )
        == []
    )
    assert errors(moved) == []


def test_tgi_never_takes_p() -> None:
    # README: never render -p (it means both --port and --prometheus-port).
    for args in (["-p", "9001"], ["-p=9001"]):
        p = extra("tgi", *args)
        assert ("error", "runtime.extra_args.0") in found(p)
        assert any("ambiguous" in d.message for d in errors(p))
    assert all("ambiguous" not in d.message for d in errors(extra("tgi", "--port-x")))


# --- llama.cpp b11434 (llamacpp.py) --------------------------------------------------------


def test_llamacpp_flags_for_every_knob() -> None:
    p = plan(
        "llamacpp",
        {"path": "/models/smol.gguf", "served_name": "smol"},
        server={"port": 8123},
        runtime={"context_length": 2048, "parallel": 3, "batch_size": 512, "threads": 6, "gpus": 2},
    )
    assert p.args == (
        "--model",
        "/models/smol.gguf",
        "--alias",
        "smol",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--ctx-size",
        "6144",
        "--parallel",
        "3",
        "--batch-size",
        "512",
        "--threads",
        "6",
        "--gpu-layers",
        "all",
        "--device",
        "CUDA0,CUDA1",
        "--fit",
        "off",
        # The prompt cache off: tools/server/server-context.cpp creates it for cache_ram_mib != 0.
        "--cache-ram",
        "0",
    )
    assert p.container_user == "65532:65532"
    assert p.start_period_s == 300


def test_llamacpp_cpu_defaults() -> None:
    p = plan("llamacpp")
    assert p.args == (
        "--hf-repo",
        GGUF_HUB,
        "--alias",
        "bartowski/SmolLM2-360M-Instruct-GGUF",
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--ctx-size",
        "16384",
        "--parallel",
        "4",
        "--gpu-layers",
        "0",
        "--device",
        "none",
        "--fit",
        "off",
        "--cache-ram",
        "0",
    )
    assert p.container_user is None
    assert pairs(plan("llamacpp", runtime={"gpus": 1, "gpu_layers": 5}).args)["--gpu-layers"] == "5"
    assert plan("llamacpp", {"path": "/m/smol.gguf"}).served_name == "smol.gguf"
    # One GPU: every layer on it, and exactly that device (the CUDA build names it CUDA0).
    one = pairs(plan("llamacpp", runtime={"gpus": 1}).args)
    assert (one["--gpu-layers"], one["--device"]) == ("all", "CUDA0")
    assert plan("vllm").start_period_s == 600


def test_llamacpp_slots_and_context() -> None:
    # README: -np in 1..256; the per-request context is -c / -np.
    p = extra("llamacpp", "--parallel", "257")
    assert ("error", "runtime.extra_args.0") in found(p)
    assert [d.path for d in errors(p) if "1 to 256" in d.message] == ["runtime.extra_args.0"]
    assert ("error", "runtime.extra_args.0") in found(extra("llamacpp", "--parallel", "0"))
    assert not [d for d in errors(extra("llamacpp", "--parallel", "256")) if "slots" in d.message]
    assert not [d for d in errors(extra("llamacpp", "--parallel", "1")) if "slots" in d.message]
    big = plan("llamacpp", runtime={"context_length": 65537, "parallel": 4})
    assert ("warning", "runtime.context_length") in found(big)
    assert found(plan("llamacpp", runtime={"context_length": 65536, "parallel": 4})) == set()
    kvu = extra("llamacpp", "--kv-unified")
    assert ("warning", "runtime.extra_args.0") in found(kvu)
    assert found(extra("llamacpp", "--no-kv-unified")) == set()
    # README: the per-request context is -c / -np, so repeating either one gets that hint.
    for flag in ("--ctx-size", "--parallel"):
        hints = [d.hint for d in extra("llamacpp", flag, "10").diagnostics]
        assert any("runtime.context_length x runtime.parallel" in h for h in hints), flag
    dup = extra("llamacpp", "--ctx-size", "10")
    assert any(
        "--ctx-size = runtime.context_length x runtime.parallel" in d.hint for d in dup.diagnostics
    )
    other = extra("llamacpp", "--threads", "3")
    assert all("x runtime.parallel" not in d.hint for d in other.diagnostics)


def test_llamacpp_layers_revision_devices() -> None:
    p = plan("llamacpp", runtime={"gpu_layers": 3})
    assert ("error", "runtime.gpu_layers") in found(p)
    assert errors(plan("llamacpp", runtime={"gpu_layers": 0})) == []
    assert errors(plan("llamacpp", runtime={"gpu_layers": 3, "gpus": 1})) == []
    assert ("error", "model.revision") in found(plan("llamacpp", {"id": GGUF_HUB, "revision": "r"}))
    assert ("error", "runtime.extra_args.0") in found(
        extra("llamacpp", "--tensor-split", "1,1", gpus=1)
    )
    assert ("error", "runtime.extra_args.0") in found(extra("llamacpp", "--tensor-split", "1"))
    assert errors(extra("llamacpp", "--tensor-split", "1/1", gpus=2)) == []
    # common/arg.cpp splits --tensor-split on ',' or '/'.
    for three in ("1/1/1", "1,1,1"):
        split = errors(extra("llamacpp", "--tensor-split", three, gpus=2))
        assert [d.path for d in split] == ["runtime.extra_args.0"], three
    assert errors(extra("llamacpp", "--tensor-split", "1,,", gpus=1)) == []
    main = extra("llamacpp", "--main-gpu", "1", gpus=1)
    assert [d.message for d in errors(main)] == [
        "`--main-gpu 1` is outside the 1 devices runtime.gpus selects (CUDA0)"
    ]
    assert errors(extra("llamacpp", "--main-gpu", "0", gpus=1)) == []
    assert errors(extra("llamacpp", "--main-gpu", "0")) == []
    cpu = extra("llamacpp", "--main-gpu", "1")
    assert "(none)" in errors(cpu)[0].message


def test_llamacpp_value_rules() -> None:
    # src/llama-context.cpp: a quantized V cache requires flash attention.
    p = extra("llamacpp", "--cache-type-v", "q8_0", "--flash-attn", "off")
    assert ("error", "runtime.extra_args.0") in found(p)
    for ok in (
        ["--cache-type-v", "q8_0"],
        ["--cache-type-v", "bf16", "--flash-attn", "off"],
        ["--cache-type-v", "f32", "--flash-attn", "off"],
        ["--cache-type-v", "f16", "--flash-attn", "off"],
        ["--cache-type-v", "q8_0", "--flash-attn", "on"],
    ):
        assert errors(extra("llamacpp", *ok)) == [], ok
    for bad in ("0", "-1", "inf"):
        assert ("error", "runtime.extra_args.0") in found(
            extra("llamacpp", "--repeat-penalty", bad)
        ), bad
    for good in ("1.1", "0.5"):
        assert errors(extra("llamacpp", "--repeat-penalty", good)) == [], good
    # A value that is no number is the type check's to report, once.
    assert len(errors(extra("llamacpp", "--repeat-penalty", "x"))) == 1
    kv = extra("llamacpp", "--override-kv", "a=int:1,=int:2,b=int,c=list:1")
    assert [d.message for d in errors(kv)] == [
        "Invalid type for KV override: =int:2",
        "Invalid type for KV override: b=int",
        "Invalid type for KV override: c=list:1",
    ]
    assert (
        errors(extra("llamacpp", "--override-kv", "a=float:1,b=bool:true,c=str:x:y,d=int:3")) == []
    )


# --- what each rendered flag stands for (Engine.spec_fields) --------------------------------

# The spec's field descriptions and README "Cross-engine knobs": flag -> the field behind it.
SPEC_FIELDS = {
    "vllm": {
        "--served-model-name": "model.served_name",
        "--revision": "model.revision",
        "--host": "server.host",
        "--port": "server.port",
        "--max-model-len": "runtime.context_length",
        "--max-num-seqs": "runtime.parallel",
        "--max-num-batched-tokens": "runtime.batch_size",
        "--tensor-parallel-size": "runtime.gpus",
        "--gpu-memory-utilization": "runtime.gpu_memory_fraction",
        "--dtype": "runtime.dtype",
        "--kv-cache-memory-bytes": "runtime.kv_cache_memory",
        "--enforce-eager": "runtime.enforce_eager",
    },
    "tgi": {
        "--model-id": "model",
        "--revision": "model.revision",
        "--hostname": "server.host",
        "--port": "server.port",
        "--max-total-tokens": "runtime.context_length",
        "--max-input-tokens": "runtime.max_input_tokens",
        "--max-batch-size": "runtime.parallel",
        "--max-batch-prefill-tokens": "runtime.batch_size",
        "--num-shard": "runtime.gpus",
        "--cuda-memory-fraction": "runtime.gpu_memory_fraction",
        "--dtype": "runtime.dtype",
        "--cuda-graphs": "runtime.enforce_eager",
    },
    "llamacpp": {
        "--model": "model.path",
        "--alias": "model.served_name",
        "--host": "server.host",
        "--port": "server.port",
        "--ctx-size": "runtime.context_length",
        "--parallel": "runtime.parallel",
        "--batch-size": "runtime.batch_size",
        "--threads": "runtime.threads",
        "--gpu-layers": "runtime.gpu_layers",
        "--device": "runtime.gpus",
    },
}
EVERY_KNOB: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "vllm": (
        {"id": HUB, "revision": "r", "served_name": "s"},
        {
            "batch_size": 4096,
            "gpus": 2,
            "gpu_memory_fraction": 0.5,
            "dtype": "float16",
            "kv_cache_memory": "1G",
            "enforce_eager": True,
        },
    ),
    "tgi": (
        {"id": HUB, "revision": "r"},
        {
            "batch_size": 4096,
            "max_input_tokens": 100,
            "gpus": 2,
            "gpu_memory_fraction": 0.5,
            "dtype": "float16",
            "enforce_eager": True,
        },
    ),
    "llamacpp": (
        {"path": "/m/x.gguf", "served_name": "s"},
        {"batch_size": 512, "threads": 2, "gpus": 1},
    ),
}


@pytest.mark.parametrize("engine", ["vllm", "tgi", "llamacpp"])
def test_each_rendered_flag_names_its_spec_field(engine: str) -> None:
    model, runtime = EVERY_KNOB[engine]
    config = plan(engine, model, runtime=runtime).config
    assert config is not None
    for flag, field in SPEC_FIELDS[engine].items():
        setting = config.given(flag)
        assert setting is not None, flag
        assert (setting.origin.kind, setting.origin.path) == ("spec", field), flag
    hub = plan("llamacpp").config
    assert hub is not None
    assert hub.given("--hf-repo").origin.path == "model.id"  # type: ignore[union-attr]
    # A flag repeated in extra_args points at the field to change instead.
    for flag, field in SPEC_FIELDS[engine].items():
        if field.startswith("runtime.") and flag not in ("--enforce-eager", "--cuda-graphs"):
            repeated = extra(engine, flag, "1", model=model, **runtime)
            hints = [d.hint for d in errors(repeated) if d.path == "runtime.extra_args.0"]
            named = re.compile(rf"(^|\s){re.escape(field)}(\s|,|$)")
            assert any(named.search(hint) for hint in hints), (flag, hints)


def test_vllm_model_positional_is_the_model_field() -> None:
    # vLLM: `vllm serve <model>`, the positional model_tag; a model path starting with '-'
    # would be read as a flag.
    p = plan("vllm", {"path": "/models/-x"})
    assert [(d.path, d.message) for d in errors(p)] == [
        ("model.path", "the served name '-x' starts with '-', which vLLM would read as a flag")
    ]
    assert errors(plan("vllm", {"path": "/models/x-"})) == []
    config = plan("vllm").config
    assert config is not None
    [positional] = [s for s in config.settings() if s.explicit and not s.name.startswith("-")]
    assert (positional.value, positional.origin.path) == (HUB, "model")


def test_llamacpp_fit_is_llmgens_own() -> None:
    config = plan("llamacpp").config
    assert config is not None
    fit = config.given("--fit")
    assert fit is not None and fit.origin.kind == "llmgen" and fit.origin.note


@pytest.mark.parametrize(
    "flag", ["--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size"]
)
def test_vllm_parallel_sizes_must_match_the_gpus(flag: str) -> None:
    # README: tp x pp <= GPUs; llmgen's gpus: N means N devices (dp included).
    assert [d.path for d in errors(extra("vllm", flag, "2", gpus=1))] == ["runtime.extra_args.0"]
    cpu = errors(extra("vllm", flag, "2"))
    assert [d.path for d in cpu] == ["runtime.extra_args.0"]
    assert "--tensor-parallel-size from runtime.gpus" in cpu[0].hint
    assert errors(extra("vllm", flag, "1", gpus=1)) == []


def test_tgi_shards_must_match_the_gpus() -> None:
    p = extra("tgi", "--sharded", "true", "--num-shard", "2", gpus=1)
    assert ("error", "runtime.extra_args.2") in found(p)
    # Without GPUs llmgen renders no --num-shard, so two shards ask for devices it lacks.
    cpu = errors(extra("tgi", "--num-shard", "2"))
    assert [d.path for d in cpu] == ["runtime.extra_args.0"]
    assert "--num-shard from runtime.gpus" in cpu[0].hint


def test_spellings_each_parser_reads() -> None:
    # vLLM's FlexibleArgumentParser and llama.cpp's common/arg.cpp turn '_' into '-';
    # TGI's clap parser does not. llama.cpp has no `--flag=value` form; argparse and clap do.
    repeated = errors(extra("vllm", "--max_num_seqs", "8"))
    assert [d.message for d in repeated] == ["'--max-num-seqs' is already set by runtime.parallel"]
    assert errors(extra("llamacpp", "--repeat_penalty", "1.1")) == []
    assert errors(extra("tgi", "--max_best_of", "3")) != []
    assert errors(extra("tgi", "--max-best-of=3")) == []
    assert errors(extra("vllm", "--seed=3")) == []
    assert errors(extra("llamacpp", "--repeat-penalty=1.1")) != []


def test_open_routes() -> None:
    # README "API key": TGI leaves /health, /info, /metrics, /v1/models open; vLLM guards
    # only /v1, /v2, /inference and /cohere.
    tgi = plan("tgi", server={"host": "0.0.0.0", "api_key_env": "K"})
    assert [d.message for d in tgi.diagnostics] == [
        "0.0.0.0 is reachable from the network; TGI leaves /health, /info, /metrics, "
        "/v1/models open even with an API key"
    ]
    for engine in ("vllm", "llamacpp"):
        routes = plan(engine).open_routes
        assert "/health" in routes
        assert all(route.startswith("/") for route in routes), routes
    vllm = plan("vllm").open_routes
    assert "/invocations" in vllm
    assert not [r for r in vllm if r.startswith(("/v1", "/v2", "/inference", "/cohere"))]


def test_vllm_healthcheck_program_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The exec-form probe must be a working Python program that fails on a non-2xx answer.
    import http.server
    import sys
    import threading
    import urllib.error

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = plan("vllm", server={"port": server.server_port}).healthcheck
        assert probe[:2] == ("python3", "-c") and len(probe) == 4
        monkeypatch.setattr(sys, "argv", ["-c", probe[3]])
        exec(probe[2], {})
        monkeypatch.setattr(sys, "argv", ["-c", probe[3].replace("/health", "/other")])
        with pytest.raises(urllib.error.HTTPError):
            exec(probe[2], {})
    finally:
        server.shutdown()
        server.server_close()


def test_engine_facts() -> None:
    # vLLM spans nodes with Ray and llama.cpp with its RPC backend; TGI has no multi-node mode.
    # vLLM and TGI load Hugging Face checkpoints, llama.cpp GGUF files.
    assert {key: engine.multinode for key, engine in ENGINES.items()} == {
        "vllm": "ray",
        "tgi": None,
        "llamacpp": "rpc",
        "sglang": None,  # --nnodes/--node-rank/--dist-init-addr exist; no llmgen recipe yet
    }
    assert {key: engine.model_kind for key, engine in ENGINES.items()} == {
        "vllm": "hf",
        "tgi": "hf",
        "llamacpp": "gguf",
        "sglang": "hf",
    }
    # vLLM's cache root variable must be writable under the unit's sandbox.
    assert [name for name, _ in plan("vllm").unit_cache_dirs] == ["HF_HOME", "VLLM_CACHE_ROOT"]
    assert [name for name, _ in plan("tgi").unit_cache_dirs] == ["HF_HOME"]
    assert plan("vllm").install_hint.startswith(f"pip install vllm=={VLLM}")
    assert plan("vllm").config.device == "cpu"  # type: ignore[union-attr]
    assert plan("vllm", runtime={"gpus": 1}).config.device == "gpu"  # type: ignore[union-attr]


def test_caches_and_install_hints() -> None:
    # docs/scale-out.md names the volumes; README "model cache in image": llama.cpp keeps -hf
    # downloads under /root/.cache/huggingface/hub.
    [cache] = plan("llamacpp").volumes
    assert cache.source == "llmgen-hf-cache"
    assert "/root/.cache/huggingface/hub".startswith(cache.target + "/")
    llama = plan("llamacpp").install_hint
    assert llama.startswith("build llama-server from llama.cpp b11434")
    assert "(cmake --build build --target llama-server)" in llama
    assert llama.endswith(" on PATH")
    tgi = plan("tgi").install_hint
    assert tgi.startswith("TGI ") and "release 3.3.7" in tgi
    assert tgi.endswith(" or use docker-run.sh")


@pytest.mark.parametrize(
    ("engine", "flag", "value"),
    [
        ("vllm", "--uds", "/x"),
        ("vllm", "--root-path", "/x"),
        ("vllm", "--ssl-keyfile", "/x"),
        ("vllm", "--ssl-certfile", "/x"),
        ("llamacpp", "--api-prefix", "/x"),
        ("llamacpp", "--ssl-key-file", "/x"),
        ("llamacpp", "--ssl-cert-file", "/x"),
    ],
)
def test_flags_that_move_the_routes(engine: str, flag: str, value: str) -> None:
    # Flag tables: a UNIX socket, a path prefix or TLS leave nothing at http://host:port/health.
    assert [d.path for d in errors(extra(engine, flag, value))] == ["runtime.extra_args.0"]


def test_tgi_launcher_messages_and_cpu_shards() -> None:
    # launcher/src/main.rs: "`validation_workers` must be > 0". (`max_batch_size` must be > 0
    # too, but it is runtime.parallel now, at least 1, and a repeat in extra_args is refused.)
    assert [d.message for d in errors(extra("tgi", "--validation-workers", "0"))] == [
        "`validation_workers` must be > 0"
    ]
    # Without GPUs llmgen renders no --num-shard: one shard.
    assert errors(extra("tgi", "--quantize", "exl2")) == []
    assert [d.path for d in errors(extra("tgi", "--sharded", "true"))] == ["runtime.extra_args.0"]
    assert ("error", "runtime.kv_cache_memory") in found(
        plan("tgi", runtime={"kv_cache_memory": "1G"})
    )


def test_tgi_switch_value_the_entrypoint_would_split() -> None:
    # --env is TGI's one option without a variable (flag table): its value stays in the args.
    p = extra("tgi", "--env=a b", gpus=1)
    assert p.container_args[-1] == "--env=a b" and p.container_env == ()
    assert any("split or glob-expanded" in d.message for d in errors(p))


def test_engine_defaults_in_the_effective_configuration() -> None:
    # The flag tables' default column: TGI --prometheus-port 9000, vLLM
    # --gpu-memory-utilization 0.92; each flag appears once, given or default.
    tgi = plan("tgi").config
    assert tgi is not None
    metrics = tgi.get("--prometheus-port")
    assert metrics is not None and not metrics.explicit
    assert metrics.shown() == "`--prometheus-port 9000`"
    vllm = plan("vllm").config
    assert vllm is not None
    assert vllm.get_value("--gpu-memory-utilization") == "0.92"
    names = [setting.name for setting in vllm.settings()]
    assert len(names) == len(set(names))
    # docs/scale-out.md: start periods of 600 s for vLLM and TGI, 300 s for llama.cpp.
    assert [plan(e).start_period_s for e in ("vllm", "tgi", "llamacpp")] == [600, 600, 300]


def test_plans_are_immutable() -> None:
    import dataclasses

    p = plan("vllm", {"path": "/models/smol"}, server={"api_key_env": "K"})
    for value, attribute in ((p, "port"), (p.secrets[0], "source_var"), (p.volumes[0], "target")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, attribute, "x")


def test_exec_form_entrypoints_keep_values_whole() -> None:
    # README: the vLLM image's entrypoint is `vllm serve`, llama.cpp's `/app/llama-server`,
    # both exec form: a value with spaces reaches the engine as one argument, not moved.
    value = '{"temperature": 0.5}'
    for engine, flag in (
        ("vllm", "--override-generation-config"),
        ("llamacpp", "--chat-template-kwargs"),
    ):
        p = extra(engine, flag, value, gpus=1)
        assert p.container_args[-2:] == (flag, value)
        assert p.container_env == ()


def test_an_adapter_must_implement_the_hooks() -> None:
    # Python's abc: a subclass missing an abstract method cannot be instantiated.
    from llmgen.engines.base import Engine

    for missing in ("serve_args", "served_name", "image"):
        hooks = {
            name: (lambda self, spec, *rest: None)
            for name in ("serve_args", "served_name", "image")
            if name != missing
        }
        incomplete = type("Incomplete", (Engine,), hooks)
        with pytest.raises(TypeError):
            incomplete()


def test_tgi_gpu_entrypoint_moves_every_split_value() -> None:
    # Flag table: --model-id has the variable MODEL_ID; a value may itself hold '='.
    p = plan("tgi", {"path": "/models/a b"}, runtime={"gpus": 1})
    assert ("MODEL_ID", "/models/a b") in p.container_env
    assert "/models/a b" not in p.container_args
    inline = extra("tgi", "--otlp-service-name=a=b c", gpus=1)
    assert ("OTLP_SERVICE_NAME", "a=b c") in inline.container_env


def test_tgi_gpu_entrypoint_moves_values_in_a_row() -> None:
    # Flag table: OTLP_SERVICE_NAME and LORA_ADAPTERS; the other arguments stay in order.
    p = extra("tgi", "--otlp-service-name=a b", "--lora-adapters", "x y", "--seed", "1", gpus=1)
    assert ("OTLP_SERVICE_NAME", "a b") in p.container_env
    assert ("LORA_ADAPTERS", "x y") in p.container_env
    assert p.container_args[-2:] == ("--seed", "1")
    refused = extra("tgi", "--env=a b", gpus=1)
    assert refused.container_args[:2] == ("--model-id", HUB)
