"""The engines llmgen knows, by name: the one list every choice reads (the CLI's options,
`llmgen init`, the spec's `engine` field). It imports nothing, so reading it costs nothing;
llmgen.engines maps each name to its adapter (ENGINES)."""

from __future__ import annotations

ENGINE_NAMES: tuple[str, ...] = ("llamacpp", "vllm", "tgi")  # the order choices are shown in
DEFAULT_ENGINE = "llamacpp"  # `llmgen init`'s default: runs on a CPU anywhere, no Python stack
