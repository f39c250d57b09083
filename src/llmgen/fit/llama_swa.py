"""Which layers of a llama.cpp model use sliding-window attention, as b11434 decides it.

- An architecture uses a window only where its loader sets `swa_type` (src/models/<arch>.cpp,
  `load_arch_hparams`); every other architecture (llama, qwen2, mistral...) ignores an
  `attention.sliding_window` key, and phi3 reads it and turns it off ("Phi SWA is currently
  disabled", src/models/phi3.cpp).
- The layers that slide: the GGUF's own `<arch>.attention.sliding_window_pattern` (a per-layer
  bool array, or a period), else the architecture's period, through
  `llama_model_base::load_swa_pattern` (src/llama-model.cpp) and
  `llama_hparams::set_swa_pattern` (src/llama-hparams.cpp): layer il slides when
  il % n < n - 1 (or il % n != 0 with dense_first); a period of 0 makes every layer slide.
"""

from __future__ import annotations

from llmgen.facts.model import ModelFacts

# architecture -> (period, dense_first, window llama.cpp assumes without the key): the
# load_swa_pattern call of each src/models/<arch>.cpp.
SWA_PATTERNS: dict[str, tuple[int, bool, int | None]] = {
    "gemma2": (2, False, 4096),  # gemma2.cpp: n_swa = 4096 unless the key says otherwise
    "gemma3": (6, False, None),
    "gemma3n": (5, False, None),
    "gemma-embedding": (6, False, None),
    "cohere2": (4, False, None),
    "exaone4": (4, False, None),
    "olmo2": (4, False, None),
    "llama4": (4, False, None),
    "gpt-oss": (2, False, None),  # openai-moe.cpp
    "plamo3": (8, False, None),
    "smallthinker": (4, True, None),
    "afmoe": (4, False, None),
}


def sliding_window(facts: ModelFacts) -> int | None:
    """The window llama.cpp uses for this model, or None when no layer slides."""
    pattern = SWA_PATTERNS.get(facts.architecture or "")
    if pattern is None:
        return None
    window = facts.sliding_window or pattern[2]
    return window if window and window > 0 else None


def swa_layers(facts: ModelFacts) -> list[bool]:
    """For each layer, whether it keeps only the window in its KV cache."""
    layers = facts.layers or 0
    pattern = SWA_PATTERNS.get(facts.architecture or "")
    if pattern is None or sliding_window(facts) is None:
        return [False] * layers
    own = facts.sliding_window_pattern
    if isinstance(own, tuple):
        return [bool(own[index]) if index < len(own) else False for index in range(layers)]
    period, dense_first, _ = pattern
    if isinstance(own, int):
        period = own
    if dense_first:
        return [period == 0 or index % period != 0 for index in range(layers)]
    return [period == 0 or index % period < period - 1 for index in range(layers)]
