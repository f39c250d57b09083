"""Which layers of a llama.cpp model use sliding-window attention, as b11434 decides it.

- An architecture uses a window only where its loader sets `swa_type` (src/models/<arch>.cpp,
  `load_arch_hparams`); every other architecture (llama, qwen2, mistral...) ignores an
  `attention.sliding_window` key, and phi3 reads it and turns it off ("Phi SWA is currently
  disabled", src/models/phi3.cpp).
- The window: the GGUF's `<arch>.attention.sliding_window`, except where a loader sets its
  own. Most slide only when the key is there and above 0 (gemma3.cpp: `found_swa &&
  hparams.n_swa > 0`); gemma2 assumes 4096 without the key (gemma2.cpp:5); llama4 slides
  (chunked) unless the key is 0, always with 8192 (llama4.cpp:6-14); smallthinker slides with
  the key, always with 4096 (smallthinker.cpp:4-8); exaone4 slides only in its 64-layer model,
  4096 unless the key says otherwise (exaone4.cpp:3-11).
- The layers that slide: the GGUF's own `<arch>.attention.sliding_window_pattern` (a per-layer
  bool array, or a period), else the architecture's period, through
  `llama_model_base::load_swa_pattern` (src/llama-model.cpp) and
  `llama_hparams::set_swa_pattern` (src/llama-hparams.cpp): layer il slides when
  il % n < n - 1 (or il % n != 0 with dense_first); a period of 0 makes every layer slide.
"""

from __future__ import annotations

from llmgen.facts.model import ModelFacts
from llmgen.records import record


@record
class SwaRule:
    """One architecture's `load_arch_hparams`, as far as the sliding window goes."""

    period: int  # load_swa_pattern(ml, period, ...)
    dense_first: bool = False  # load_swa_pattern's third argument
    default_window: int | None = None  # n_swa before the key is read (the key overrides it)
    fixed_window: int | None = None  # n_swa set after the key (the key only turns it on)
    layers: int | None = None  # the only layer count that slides (exaone4: the 32B model)


SWA_RULES: dict[str, SwaRule] = {
    "gemma2": SwaRule(2, default_window=4096),
    "gemma3": SwaRule(6),
    "gemma3n": SwaRule(5),
    "gemma-embedding": SwaRule(6),
    "cohere2": SwaRule(4),
    "exaone4": SwaRule(4, default_window=4096, layers=64),
    "olmo2": SwaRule(4),
    "llama4": SwaRule(4, default_window=8192, fixed_window=8192),
    "gpt-oss": SwaRule(2),  # openai-moe.cpp
    "plamo3": SwaRule(8),
    "smallthinker": SwaRule(4, dense_first=True, fixed_window=4096),
    "afmoe": SwaRule(4),
}


def sliding_window(facts: ModelFacts) -> int | None:
    """The window llama.cpp uses for this model, or None when no layer slides."""
    rule = SWA_RULES.get(facts.architecture or "")
    if rule is None or (rule.layers is not None and facts.layers != rule.layers):
        return None
    key = facts.sliding_window
    window = key if key is not None else rule.default_window
    if window is None or window <= 0:
        return None
    return rule.fixed_window or window


def swa_layers(facts: ModelFacts) -> list[bool]:
    """For each layer, whether it keeps only the window in its KV cache."""
    layers = facts.layers or 0
    rule = SWA_RULES.get(facts.architecture or "")
    if rule is None or sliding_window(facts) is None:
        return [False] * layers
    own = facts.sliding_window_pattern
    if isinstance(own, tuple):
        return [bool(own[index]) if index < len(own) else False for index in range(layers)]
    period = own if isinstance(own, int) else rule.period
    if rule.dense_first:
        return [period == 0 or index % period != 0 for index in range(layers)]
    return [period == 0 or index % period < period - 1 for index in range(layers)]
