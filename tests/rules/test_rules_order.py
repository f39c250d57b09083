"""The declared rules run in one order, each seeing what was found before it.

llmgen.rules' docstring states the order: the spec's fields, then the engine's start-up rules
(found while planning), then RULES. A rule whose `when` reads `earlier` (hardware.fit: only a
spec nothing else refused is sized) depends on every earlier finding being there, the engine's
included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import llmgen.rules
from llmgen.errors import Diagnostic, error, warning
from llmgen.rules import RULES, access, client, deploy, hardware, model, run_rules
from llmgen.rules.declare import Context, Rule
from tests.rules.test_model_checks import messages
from tests.support.gguf_shapes import Shape, write_shaped_gguf

SHAPE = Shape("gqa", vocab=2000, n_embd=128, n_layer=4, n_head=8, n_head_kv=2, n_ff=256)


def scripted(name: str, finds: list[Diagnostic], seen: list[tuple[str, tuple[str, ...]]]) -> Rule:
    """A rule that records the messages it was shown as `earlier`, then finds `finds`."""

    def check(context: Context) -> list[Diagnostic]:
        seen.append((name, tuple(d.message for d in context.earlier)))
        return list(finds)

    return Rule(name, "error", name, "-", lambda context: True, check)


def test_each_rule_sees_what_was_found_before_it_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []
    rules = (
        scripted("a", [error("x", "a1"), warning("x", "a2")], seen),
        scripted("b", [], seen),
        scripted("c", [error("y", "c1")], seen),
        scripted("d", [], seen),
    )
    monkeypatch.setattr(llmgen.rules, "RULES", rules)
    context = Context(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        earlier=(error("engine", "from the engine"),),
    )
    found = run_rules(context)
    assert [d.message for d in found] == ["a1", "a2", "c1"]
    assert seen == [
        ("a", ("from the engine",)),
        ("b", ("from the engine", "a1", "a2")),
        ("c", ("from the engine", "a1", "a2")),
        ("d", ("from the engine", "a1", "a2", "c1")),
    ]


def test_the_rules_run_in_the_documented_order() -> None:
    # model facts, the machine (its GPU count before the model rules, the fit after them),
    # the deploy section, the client section, the unit's access to the model.
    assert RULES == (  # noqa: SIM300 (the order is the subject)
        model.unreadable,
        hardware.gpu_count,
        *model.MODEL_RULES,
        hardware.fits,
        deploy.name_length,
        deploy.shared_claim,
        deploy.no_multinode,
        deploy.multinode_release,
        deploy.node_gpus,
        deploy.node_flags,
        deploy.rpc_hosts,
        deploy.rpc_offload,
        deploy.rpc_flag,
        client.max_tokens,
        client.engine_limits,
        access.unit_access,
    )


def test_an_engine_error_keeps_the_fit_from_sizing_a_broken_configuration(
    tmp_path: Path,
) -> None:
    # --ctx-size in extra_args repeats what context_length x parallel renders: llama-server
    # would take the last one, so the configuration fit would size is not the one rendered.
    model = write_shaped_gguf(tmp_path / "gqa.gguf", SHAPE)
    text = (
        f"name: demo\nengine: llamacpp\nmodel:\n  path: {model}\nruntime:\n"
        '  context_length: 4096\n  parallel: 8\n  extra_args: ["--ctx-size", "99"]\n'
        "hardware:\n  memory: 10M\n"
    )
    found = messages(text)
    assert [line.split(": ")[1:3] for line in found] == [["error", "runtime.extra_args.0"]]
    # Without the repeated flag the same budget is refused by the fit.
    fixed = text.replace('  extra_args: ["--ctx-size", "99"]\n', "")
    assert [line.split(": ")[1:3] for line in messages(fixed)] == [["error", "hardware"]]


def test_a_model_error_keeps_the_fit_from_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Llama 3.1 8B is trained for 131072 positions (its config's rope scaling is llama3, which
    # vLLM does not multiply again): 262144 is an error of the model rules, which run before
    # the fit, so a 1G GPU is not sized as well; at 8192 the same GPU is refused by the fit.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    text = (
        "name: demo\nengine: vllm\nmodel:\n  id: meta-llama/Llama-3.1-8B-Instruct\nruntime:\n"
        "  gpus: 1\n  context_length: 262144\nhardware:\n  gpu_memory: 1G\n"
    )
    found = messages(text)
    assert [line.split(": ")[1:3] for line in found] == [["error", "runtime.context_length"]]
    shorter = text.replace("262144", "8192")
    assert [line.split(": ")[1:3] for line in messages(shorter)] == [["error", "hardware"]]
