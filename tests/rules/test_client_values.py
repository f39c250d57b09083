"""Client values at their bounds: max_tokens against the context, TGI's narrower top_p and
presence_penalty (router/src/validation.rs, router/src/lib.rs at v3.3.7, cited in
tests/rules/test_client_section.py), the default max_tokens, and the literals the clients get."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from llmgen.errors import SpecError
from llmgen.render.bundle import render
from llmgen.render.client import javascript_literal, python_literal, shell_literal
from llmgen.rules.analysis import validate_text

MODELS = {
    "llamacpp": {"id": "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"},
    "tgi": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
}


def spec_text(engine: str, context: int = 1024, **client: Any) -> str:
    data = {
        "name": "demo",
        "engine": engine,
        "model": MODELS[engine],
        "runtime": {"context_length": context},
        "client": client,
    }
    return yaml.safe_dump(data)


def client_errors(engine: str, context: int = 1024, **client: Any) -> list[tuple[str, str]]:
    try:
        found = validate_text(spec_text(engine, context, **client), "spec.yaml").diagnostics
    except SpecError as exc:
        found = exc.diagnostics
    return [(d.path, d.message) for d in found if d.path.startswith("client")]


def test_max_tokens_must_be_below_the_context() -> None:
    assert client_errors("llamacpp", max_tokens=1023) == []
    assert client_errors("llamacpp", max_tokens=1024) == [
        (
            "client.max_tokens",
            "1024 leaves no room for the prompt in runtime.context_length (1024): the engine "
            "refuses such requests",
        )
    ]


def test_the_max_tokens_error_says_the_value_that_fits() -> None:
    # The fix names the bound the engine needs: any value below the context (1024 here).
    with pytest.raises(SpecError) as refused:
        validate_text(spec_text("llamacpp", 1024, max_tokens=4096), "spec.yaml")
    found = refused.value.diagnostics
    assert [(d.severity, d.hint) for d in found if d.path == "client.max_tokens"] == [
        ("error", "set client.max_tokens below 1024")
    ]


@pytest.mark.parametrize("engine", ["llamacpp", "tgi"])
def test_top_p_1_is_refused_by_tgi_only(engine: str) -> None:
    expected = (
        [("client.top_p", "TGI refuses top_p 1.0 (it must be below 1; leaving it out means 1.0)")]
        if engine == "tgi"
        else []
    )
    assert client_errors(engine, top_p=1.0) == expected
    assert client_errors(engine, top_p=0.999) == []


@pytest.mark.parametrize("engine", ["llamacpp", "tgi"])
def test_presence_penalty_minus_2_is_refused_by_tgi_only(engine: str) -> None:
    expected = (
        [
            (
                "client.presence_penalty",
                "TGI refuses presence_penalty -2 (it adds 2 and needs a positive result)",
            )
        ]
        if engine == "tgi"
        else []
    )
    assert client_errors(engine, presence_penalty=-2.0) == expected
    assert client_errors(engine, presence_penalty=-1.999) == []


def max_tokens_sent(context: int, **client: Any) -> str:
    spec = validate_text(spec_text("llamacpp", context, **client), "spec.yaml").spec
    text = render(spec).files["clients/client.py"]
    return next(line for line in text.splitlines() if line.startswith("MAX_TOKENS = "))


def test_the_default_max_tokens_is_256_or_half_the_context() -> None:
    assert max_tokens_sent(1024) == "MAX_TOKENS = 256"  # min(256, 1024 // 2)
    assert max_tokens_sent(512) == "MAX_TOKENS = 256"  # min(256, 256)
    assert max_tokens_sent(510) == "MAX_TOKENS = 255"  # min(256, 255)
    assert max_tokens_sent(1024, max_tokens=7) == "MAX_TOKENS = 7"


def test_the_sampling_values_are_sent_in_a_fixed_order() -> None:
    spec = validate_text(
        spec_text("llamacpp", seed=3, temperature=0.5, stop=["x"], top_p=0.9), "spec.yaml"
    ).spec
    lines = render(spec).files["clients/client.py"].splitlines()
    keys = [line.split(" = ")[0] for line in lines if line.split(" = ")[0].isupper()]
    sampling = [k for k in keys if k in ("MAX_TOKENS", "TEMPERATURE", "TOP_P", "SEED", "STOP")]
    assert sampling == ["MAX_TOKENS", "TEMPERATURE", "TOP_P", "SEED", "STOP"]


@pytest.mark.parametrize(
    ("value", "python", "javascript", "shell"),
    [
        (None, "None", "null", "''"),
        (True, "True", "true", "true"),
        (0.5, "0.5", "0.5", "0.5"),
        ("it's", '"it\'s"', '"it\'s"', "'it'\"'\"'s'"),
        ("a\nb\tc", '"a\\nb\\tc"', '"a\\nb\\tc"', "'a\nb\tc'"),
        (["x", "y"], '[\n    "x",\n    "y",\n]', '["x", "y"]', '\'["x", "y"]\''),
    ],
)
def test_literals_for_each_client(value: object, python: str, javascript: str, shell: str) -> None:
    assert python_literal(value) == python
    assert javascript_literal(value) == javascript
    assert shell_literal(value) == shell
