"""The effective configuration: the engine's argv parsed back through its flag table.

Expected values are written from the flag tables (src/llmgen/engines/data/flags/*.tsv: vLLM
0.33.0's `--middleware` is `str (repeatable)`, TGI 3.3.7's `--cors-allow-origin` is
`list<String> (repeatable)`, llama.cpp's `--threads` is `int N`) and from the spec written here.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmgen.engines import ENGINES
from llmgen.engines.effective import EffectiveConfig, parse_int
from llmgen.errors import SpecError
from llmgen.rules.analysis import validate_text
from llmgen.spec.models import parse_spec

MODELS = {
    "vllm": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
    "tgi": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
    "llamacpp": {"id": "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"},
}


def config(engine: str, extra: list[str], **runtime: Any) -> EffectiveConfig:
    spec = parse_spec(
        {
            "name": "demo",
            "engine": engine,
            "model": MODELS[engine],
            "runtime": {"extra_args": extra, **runtime},
        }
    )
    return ENGINES[engine].effective(spec)


def problems(engine: str, extra: list[str]) -> list[tuple[str, str]]:
    """(path, message) of each error validate reports for these extra_args."""
    import yaml

    text = yaml.safe_dump(
        {
            "name": "demo",
            "engine": engine,
            "model": MODELS[engine],
            "runtime": {"extra_args": extra},
        }
    )
    try:
        found = validate_text(text, "spec.yaml").diagnostics
    except SpecError as exc:
        found = exc.diagnostics
    return [(d.path, d.message) for d in found if d.severity.value == "error"]


@pytest.mark.parametrize(
    ("engine", "flag"), [("vllm", "--middleware"), ("tgi", "--cors-allow-origin")]
)
def test_a_repeatable_flag_keeps_every_value_in_order(engine: str, flag: str) -> None:
    found = config(engine, [flag, "a", flag, "b", flag, "c"])
    setting = found.given(flag)
    assert setting is not None
    assert setting.values == ("a", "b", "c")
    assert setting.origin.path == "runtime.extra_args.0"  # where it was first given
    assert problems(engine, [flag, "a", flag, "b"]) == []


def test_a_flag_that_is_not_repeatable_given_twice_is_an_error_at_the_second() -> None:
    assert problems("llamacpp", ["--threads-http", "2", "-t", "3", "--threads-http", "4"]) == [
        ("runtime.extra_args.4", "'--threads-http' appears twice (also runtime.extra_args.0)")
    ]


def test_a_value_error_points_at_the_value_item() -> None:
    # The value sits in the item after the flag: index 3 for the flag at index 2.
    assert problems("llamacpp", ["--threads-http", "2", "--threads-batch", "many"]) == [
        ("runtime.extra_args.3", "invalid value 'many' for '--threads-batch'")
    ]
    # Written `--x=v`, the value is in the flag's own item (vLLM reads `=`).
    assert problems("vllm", ["--seed=1", "--max-num-batched-tokens=lots"]) == [
        ("runtime.extra_args.1", "invalid value 'lots' for '--max-num-batched-tokens'")
    ]


def test_values_of_a_flag_keep_their_origin_and_spelling() -> None:
    found = config("llamacpp", ["--threads-http", "2", "-tb", "3"])
    batch = found.given("--threads-batch")
    assert batch is not None
    assert (batch.values, batch.origin.kind, batch.origin.path) == (
        ("3",),
        "extra_args",
        "runtime.extra_args.2",
    )
    assert batch.spelling == "-tb" and batch.explicit
    assert found.path_of("--threads-batch") == "runtime.extra_args.2"
    assert found.field_for("--threads-batch") == "runtime.extra_args.2"


def test_spec_fields_own_the_flags_they_render() -> None:
    found = config("llamacpp", [], context_length=2048, parallel=2)
    ctx = found.given("--ctx-size")
    assert ctx is not None and ctx.values == ("4096",)  # 2048 per request x 2 slots
    assert ctx.origin.kind == "spec"
    assert found.int_value("--ctx-size") == 4096
    assert found.int_value("--parallel") == 2


def test_an_unset_flag_reads_the_engine_default_and_is_not_given() -> None:
    found = config("llamacpp", [])
    assert found.given("--threads-http") is None
    default = found.get("--threads-http")
    assert default is not None and not default.explicit
    assert default.value == "-1"  # llama.cpp's table: --threads-http ... int N, default -1
    assert found.enabled("--kv-unified") is None  # a switch left to the engine
    assert found.path_of("--threads-http") == "runtime.extra_args"


def test_a_switch_and_its_negation() -> None:
    assert config("llamacpp", ["--kv-unified"]).enabled("--kv-unified") is True
    assert config("llamacpp", ["--no-kv-unified"]).enabled("--kv-unified") is False


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8192", 8192),
        ("8k", 8000),  # vLLM's human_readable_int: lowercase is decimal
        ("8K", 8192),  # uppercase is binary
        ("2m", 2_000_000),
        ("2M", 2 << 20),
        ("1g", 10**9),
        ("1G", 1 << 30),
        ("1t", 10**12),
        ("1T", 1 << 40),
        (" 12 ", 12),
        ("-1", None),
        ("8x", None),
        ("", None),
    ],
)
def test_parse_int_reads_numbers_as_vllm_does(text: str, value: int | None) -> None:
    assert parse_int(text) == value


def test_vllm_s_model_is_the_positional_setting_named_model() -> None:
    # `vllm serve MODEL`: the configuration (and `llmgen explain`) names it `<model>`.
    found = config("vllm", [])
    model = found.given("<model>")
    assert model is not None
    assert (model.values, model.origin.kind, model.origin.path) == (
        ("HuggingFaceTB/SmolLM2-360M-Instruct",),
        "spec",
        "model",
    )
    assert next(iter(found.explicit)) == "<model>"  # argv order: it comes first
