"""Differential test: the real llama-server b11434 judges llmgen's verdicts.

For every spec of the corpus (spec fields x extra_args), llmgen validates it and renders the
argv; llama-server is started on exactly that argv with a tiny GGUF. llmgen accepting must mean
the server answers llmgen's health path with 200; llmgen refusing must mean the server exits
(or answers elsewhere), and both must name the same cause. Cases where llmgen refuses by a rule
of its own (security, spec consistency) are marked `policy`: the server is shown to start, and
llmgen to refuse with that rule. The figures are printed at the end of the run.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.oracle_common import check_corpus_ids, corpus_param, record_and_check
from tests.support.oracle_llamacpp import (
    TEST_KEY,
    Case,
    judge,
    server_environment,
    serving,
    write_gguf_variants,
)
from tests.support.oracle_llamacpp import spec_for as llamacpp_spec_for

pytest_plugins = ("tests.support.fixtures",)

# Starts llama-server once per case: longer than the suite's 900 s default.
pytestmark = [pytest.mark.engine, pytest.mark.timeout(1800)]

# Causes are regular expressions matched (case-insensitively) against llmgen's error lines and
# the server's log; a pair is (llmgen, server).
CORPUS: tuple[Case, ...] = (
    # --- spec fields -----------------------------------------------------------------------
    Case("baseline"),
    Case("slots-4", runtime={"parallel": 4}),
    Case("slots-256", runtime={"parallel": 256, "context_length": 64}),
    Case("context-beyond-trained", runtime={"context_length": 4096}),
    Case("batch-64", runtime={"batch_size": 64}),
    Case("threads-2", runtime={"threads": 2}),
    Case("gpu-layers-0", runtime={"gpu_layers": 0}),
    Case(
        "gpu-layers-on-cpu-spec",
        runtime={"gpu_layers": 4},
        policy=r"gpu",
    ),
    Case("gpu-layers-all-on-cpu-spec", runtime={"gpu_layers": "all"}, policy=r"gpu"),
    Case("api-key", server={"api_key_env": "LLM_API_KEY"}),
    Case("ipv6-loopback", server={"host": "::1"}),
    Case("loopback-127-0-0-2", server={"host": "127.0.0.2"}),
    # --- extra_args the server accepts -----------------------------------------------------
    Case("ubatch-32", extra=("--ubatch-size", "32")),
    Case("ubatch-short-alias", extra=("-ub", "32")),
    Case("batch-and-ubatch", runtime={"batch_size": 64}, extra=("--ubatch-size", "32")),
    Case("threads-batch", extra=("--threads-batch", "1")),
    Case("kv-unified", runtime={"parallel": 2}, extra=("--kv-unified",)),
    Case("kv-unified-short", runtime={"parallel": 2}, extra=("-kvu",)),
    Case("flash-attn-on-q8-v", extra=("--flash-attn", "on", "--cache-type-v", "q8_0")),
    Case("q8-k-cache", extra=("--cache-type-k", "q8_0")),
    Case("q4-k-and-v-cache", extra=("--cache-type-k", "q4_0", "--cache-type-v", "q4_0")),
    Case(
        "q8-k-cache-head-size-16",
        model="head-16",
        extra=("--cache-type-k", "q8_0"),
        cause=(r"head|block", r"does not divide n_embd_head_k"),
        disagree="needs the GGUF's head size: a quantized K cache needs a head size divisible by "
        "the type's block (32 for q8_0) unless flash attention is off "
        "(src/llama-context.cpp:3854-3862); llmgen's model facts do not check it",
    ),
    Case("q8-v-cache-auto-fa", extra=("--cache-type-v", "q8_0")),
    Case("no-warmup", extra=("--no-warmup",)),
    Case("temp", extra=("--temp", "0.5")),
    Case("n-predict", extra=("--n-predict", "16")),
    Case("metrics", extra=("--metrics",)),
    Case("seed", extra=("--seed", "42")),
    Case("rope-scaling", extra=("--rope-scaling", "linear", "--rope-scale", "2")),
    Case("fit-ctx", extra=("--fit-ctx", "512")),
    Case("jinja", extra=("--jinja",)),
    Case("chat-template-chatml", extra=("--chat-template", "chatml")),
    Case(
        "underscore-spelling",
        extra=("--ubatch_size", "32"),
    ),
    Case("threads-http", extra=("--threads-http", "2")),
    Case("timeout", extra=("--timeout", "30")),
    # --- extra_args the server refuses -----------------------------------------------------
    Case("unknown-flag", extra=("--no-such-flag",), cause=r"--no-such-flag"),
    Case("removed-flag-no-mmap", extra=("--no-mmap",), cause=r"--no-mmap"),
    Case("unknown-flag-with-value", extra=("--frobnicate", "3"), cause=r"--frobnicate"),
    Case(
        "flash-attn-off-q8-v",
        extra=("--flash-attn", "off", "--cache-type-v", "q8_0"),
        cause=(r"flash", r"requires flash_attn|requires Flash Attention"),
    ),
    Case("cache-type-bogus", extra=("--cache-type-k", "q9_9"), cause=r"q9_9|cache type"),
    Case("flash-attn-bogus", extra=("--flash-attn", "maybe"), cause=r"flash.?attn|maybe"),
    Case(
        "equals-spelling",
        extra=("--temp=0.5",),
        cause=r"--temp",
    ),
    Case("missing-value", extra=("--temp",), cause=r"--temp|value"),
    Case(
        "repeat-penalty-zero",
        extra=("--repeat-penalty", "0"),
        cause=r"repeat.?penalty",
    ),
    Case(
        "batch-size-zero",
        extra=("--batch-size", "0"),
        cause=(r"batch size of 0", r"GGML_ASSERT"),
    ),
    Case(
        "override-kv-bad",
        extra=("--override-kv", "foo=bar"),
        cause=r"override.?kv|foo",
    ),
    Case(
        "lora-missing",
        extra=("--lora", "/nonexistent/adapter.gguf"),
        cause=(r"lora|adapter", r"failed to load lora adapter"),
        disagree="the adapter is a file on the machine that runs the server; llmgen does not "
        "require files named in extra_args to exist where it validates",
    ),
    Case(
        "api-prefix-moves-health",
        extra=("--api-prefix", "/llm"),
        cause=(r"api.?prefix|route|health", r"outcome: moved"),
    ),
    Case(
        "slots-257",
        runtime={"parallel": 257, "context_length": 16},
        cause=(r"256", r"n_seq_max must be <= 256"),
    ),
    # --- flags llmgen sets from the spec: repeating them is llmgen's own refusal -------------
    Case("repeat-ctx-size", extra=("--ctx-size", "512"), policy=r"ctx-size|context"),
    Case("repeat-gpu-layers", extra=("-ngl", "0"), policy=r"gpu.?layers|ngl"),
    Case("repeat-fit", extra=("--fit", "on"), policy=r"--fit"),
    Case("repeat-host", extra=("--host", "127.0.0.1"), policy=r"host"),
    Case("repeat-device", extra=("--device", "none"), policy=r"device"),
    Case("repeated-extra-flag", extra=("--temp", "0.5", "--temp", "0.7"), policy=r"twice|temp"),
    Case("api-key-in-extra-args", extra=("--api-key", "secret"), policy=r"secret|api.?key"),
)


@pytest.fixture(scope="module")
def corpus_ids() -> list[str]:
    return [case.id for case in CORPUS]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny GGUF with head size 16 and with head size 64 (for quantized KV caches)."""
    return write_gguf_variants(tmp_path_factory.mktemp("oracle-gguf"))


@pytest.mark.parametrize("case", [corpus_param(c) for c in CORPUS])
def test_llmgen_agrees_with_llama_server(
    case: Case, llama_server_bin: Path, models: dict[str, Path]
) -> None:
    # For a policy case the engine starts; llmgen refuses with its own rule.
    record_and_check(case.policy, judge(case, llama_server_bin, models))


def test_corpus_is_large_and_ids_unique(corpus_ids: list[str]) -> None:
    check_corpus_ids(corpus_ids)


def _status(url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_routes_llmgen_calls_open_are_open_and_the_rest_need_the_key(
    llama_server_bin: Path, tiny_gguf: Path
) -> None:
    """With server.api_key_env set, the real server decides which routes stay open.

    llmgen's warning names the routes the engine leaves open (plan.open_routes); every route
    listed must answer without the key, and the generation route must demand it.
    """
    data = llamacpp_spec_for(Case("routes", server={"api_key_env": "LLM_API_KEY"}), tiny_gguf)
    from tests.support.oracle_common import rendered_plan

    plan = rendered_plan(data)
    base = f"http://{plan.client_host}:{plan.port}"
    with serving(
        llama_server_bin, plan.args, base + plan.health_path, server_environment(data)
    ) as run:
        assert run.outcome == "healthy", run.log
        # A route may carry a note ("/ (web UI)"); its first word is the path.
        named_open = {route.split()[0] for route in plan.open_routes}
        for route in sorted(named_open):
            # Open means no key asked; "/" is 404 in a build without the web UI (as here).
            assert _status(base + route) != 401, route
        assert _status(base + plan.health_path) == 200
        chat = b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}'
        json_header = {"Content-Type": "application/json"}
        assert _status(base + "/v1/chat/completions", json_header, chat) == 401
        keyed = {**json_header, "Authorization": f"Bearer {TEST_KEY}"}
        assert _status(base + "/v1/chat/completions", keyed, chat) == 200
        # Routes the engine serves without the key must all be named by llmgen.
        probes = ("/", "/health", "/v1/health", "/v1/models", "/models", "/props", "/slots")
        for route in probes:
            if _status(base + route) == 200:
                assert route in named_open, f"{route} is open but llmgen does not say so"
