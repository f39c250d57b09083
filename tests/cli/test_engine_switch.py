"""`llmgen validate SPEC --as-engine NAME` on the bundled TGI examples.

Expected flags come from the engines' own parsers (the flag tables: TGI 3.3.7 launcher
main.rs, SGLang 0.5.23 ServerArgs.add_cli_args) and the spec files in examples/.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from llmgen.cli.app import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.output


def test_tgi_example_moves_to_sglang_cleanly() -> None:
    code, out = _run(str(EXAMPLES / "tgi-smollm2.yaml"), "--as-engine", "sglang")
    assert code == 0, out
    # TGI's --max-total-tokens is SGLang's --context-length; the running batch (TGI's
    # --max-batch-size, requests beyond it queue in both) is --max-running-requests; the model
    # goes by --model-path.
    assert "runtime.context_length: --max-total-tokens -> --context-length" in out
    assert "runtime.parallel: --max-batch-size -> --max-running-requests" in out
    assert "model: --model-id -> --model-path" in out
    assert "lmsysorg/sglang:v0.5.23" in out
    assert "SGLang accepts the moved spec as it is" in out


def test_tgi_only_field_is_named_and_refused() -> None:
    # tgi-sharded-public.yaml sets runtime.max_input_tokens, which SGLang has no flag for.
    code, out = _run(str(EXAMPLES / "tgi-sharded-public.yaml"), "--as-engine", "sglang")
    assert code == 1, out
    assert "fields SGLang lacks (remove them):" in out
    assert "runtime.max_input_tokens" in out
    assert "API key: SGLang gets it as SGLANG_API_KEY (was API_KEY), still from LLM_API_KEY" in out


def test_unknown_extra_args_are_listed(tmp_path: Path) -> None:
    spec = tmp_path / "tgi.yaml"
    spec.write_text(
        (EXAMPLES / "tgi-smollm2.yaml").read_text("utf-8")
        + "  extra_args: [--max-batch-total-tokens, '8192']\n",
        "utf-8",
    )
    code, out = _run(str(spec), "--as-engine", "sglang")
    assert code == 1, out  # SGLang's parser refuses the TGI-only flag
    assert "runtime.extra_args SGLang does not know: --max-batch-total-tokens" in out


def test_every_tgi_example_moves_to_vllm_too() -> None:
    for example in sorted(EXAMPLES.glob("tgi-*.yaml")):
        code, out = _run(str(example), "--as-engine", "vllm")
        assert "runtime.context_length: --max-total-tokens -> --max-model-len" in out, out
        assert code in (0, 1)


def test_unknown_target_engine_is_one_clear_line() -> None:
    code, out = _run(str(EXAMPLES / "tgi-smollm2.yaml"), "--as-engine", "nope")
    assert code == 2
    assert "'nope' is not an engine" in out
    assert "Traceback" not in out


def test_a_multi_node_spec_names_the_recipe_that_changes() -> None:
    """vllm-multinode-lws.yaml spans 2 nodes: vLLM joins a Ray cluster, SGLang runs itself on
    every node with its rank (its --nnodes, --node-rank and --dist-init-addr), llama.cpp
    offloads to ggml-rpc-server workers, TGI has no multi-node serving."""
    example = str(EXAMPLES / "vllm-multinode-lws.yaml")
    was = (
        "deploy.nodes 2: vLLM spans them with a Ray cluster (tensor parallel within a node, "
        "pipeline parallel across nodes), "
    )
    expected = {
        "sglang": "SGLang with the engine on every node with its node rank (rank 0 serves HTTP)",
        "llamacpp": "llama.cpp with ggml-rpc-server workers that llama-server on the head "
        "offloads to, outside Kubernetes",
        "tgi": "TGI with no multi-node serving",
    }
    for target, line in expected.items():
        _, out = _run(example, "--as-engine", target)
        assert f"{was}{line} (multinode/ and kubernetes.yaml change)" in out, out
    _, same = _run(example, "--as-engine", "vllm")
    assert "deploy.nodes" not in same  # the same recipe: nothing to say
    _, single = _run(str(EXAMPLES / "tgi-smollm2.yaml"), "--as-engine", "vllm")
    assert "deploy.nodes" not in single  # one node: no recipe at all
