"""Facts about a model that the engines size memory and refuse configurations by."""

from __future__ import annotations

from dataclasses import asdict, field
from typing import Literal

from llmgen.records import record

FactsKind = Literal["gguf", "hf"]


@record
class TensorFact:
    """One weight tensor of a GGUF file: name, ggml type and real byte size."""

    name: str
    type_name: str
    elements: int
    nbytes: int
    rows: int | None = None  # ne[1]: ggml-cpu's repack needs a multiple of 4 or 8 rows


# eq=False: compared by identity. Nothing compares or hashes two of these by value, and the
# generated __eq__ and __hash__ of a record this wide cost about 1 % of `llmgen render` to
# compile at import (docs/benchmarks.md).
@record(eq=False)
class ModelFacts:
    """What llmgen knows about a model, each fact None when the source does not say.

    `source` names where the facts came from: a local file, `hf-cache:...`, `hub:...` or
    `catalog:<id>` (the built-in table, whose entries cite the published config.json).
    """

    source: str
    kind: FactsKind
    architecture: str | None = None
    layers: int | None = None
    attention_heads: int | None = None
    kv_heads: int | None = None
    head_size: int | None = None  # key/query head size
    head_size_v: int | None = None
    hidden_size: int | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    rope_scaling_type: str | None = None
    rope_scaling_factor: float | None = None
    rope_original_context: int | None = None
    sliding_window: int | None = None
    # GGUF `<arch>.attention.sliding_window_pattern`: per-layer bools, or a period.
    sliding_window_pattern: tuple[bool, ...] | int | None = None
    model_max_length: int | None = None  # tokenizer_config.json
    weight_bytes: int | None = None
    file_bytes: int | None = None  # the whole weight file(s), header included (GGUF)
    weight_dtype: str | None = None  # torch dtype or GGUF file type / quant preset
    parameters: int | None = None
    tied_embeddings: bool | None = None
    is_pooling: bool = False  # an embedding/classification model (vLLM pooling runner)
    model_type: str | None = None  # config.json model_type (vLLM special-cases gemma3)
    absolute_positions: bool = False  # position_embedding_type "absolute" (BERT-like)
    config_model_max_length: int | None = None  # config.json's own model_max_length
    tensors: tuple[TensorFact, ...] = field(default=(), repr=False)

    @property
    def max_context(self) -> int | None:
        """The trained context (max_position_embeddings, GGUF context_length)."""
        return self.max_position_embeddings

    @property
    def kv_heads_or_heads(self) -> int | None:
        """KV heads, which default to the attention heads (multi-head attention)."""
        return self.kv_heads if self.kv_heads is not None else self.attention_heads

    def as_json(self) -> dict[str, object]:
        """The facts for `fit --format json` (the tensor table is left out)."""
        data = asdict(self)
        data.pop("tensors")
        return data
