"""A small built-in catalog of popular models, so offline CI and air-gapped machines still get
facts for common hub ids.

Every row is transcribed from the model's config.json as published on the hub
(https://huggingface.co/<id>/blob/main/config.json, the `config` URL below); the parameter
count is computed from those shapes (tests compare it with each model card's published count).
Weights are counted at the config's torch_dtype (bf16 = 2 bytes). GGUF repos
(`<org>/<name>-GGUF:QUANT`) map to their base model and the preset's bits per weight
(ggml_types.py).
"""

from __future__ import annotations

from functools import lru_cache

from llmgen.facts.catalog_tensors import catalog_tensors
from llmgen.facts.ggml_types import preset_bits_per_weight
from llmgen.facts.model import ModelFacts, TensorFact
from llmgen.records import record


# eq=False: compared by identity. Nothing compares or hashes two of these by value, and the
# generated __eq__ and __hash__ of a record this wide cost about 1 % of `llmgen render` to
# compile at import (docs/benchmarks.md).
@record(eq=False)
class CatalogEntry:
    """The config.json fields fit and the checks need."""

    hub_id: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_pos: int
    tied: bool
    rope: tuple[str, float, int] | None = None  # (rope_type, factor, original context)
    sliding_window: int | None = None
    qkv_bias: bool = False

    @property
    def model_type(self) -> str | None:
        """config.json's model_type where a rule depends on it (vLLM special-cases Gemma 3)."""
        return "gemma3" if "gemma-3" in self.hub_id else None

    @property
    def architecture(self) -> str:
        """The GGUF `general.architecture` llama.cpp's converter writes for this family
        (convert_hf_to_gguf.py: Gemma2ForCausalLM -> gemma2, Gemma3ForCausalLM -> gemma3,
        Phi3ForCausalLM (Phi-3 and phi-4) -> phi3, Qwen2ForCausalLM -> qwen2, the rest llama);
        fit's sliding-window rules follow it (fit/llama_swa.py)."""
        name = self.hub_id.lower()
        for marker, arch in (
            ("gemma-2", "gemma2"),
            ("gemma-3", "gemma3"),
            ("phi-", "phi3"),
            ("qwen2", "qwen2"),
        ):
            if marker in name:
                return arch
        return "llama"

    @property
    def config(self) -> str:
        """Where the numbers come from."""
        return f"https://huggingface.co/{self.hub_id}/blob/main/config.json"

    @property
    def parameters(self) -> int:
        """Parameters of the text model, from the shapes (embeddings once when tied)."""
        q = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        attention = self.hidden * (q + 2 * kv) + q * self.hidden
        if self.qkv_bias:
            attention += q + 2 * kv
        layer = attention + 3 * self.hidden * self.intermediate + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return self.layers * layer + embeddings + self.hidden


_L3 = ("llama3", 32.0, 8192)
_L31 = ("llama3", 8.0, 8192)
_G3 = ("linear", 8.0, 32768)
_ENTRIES = (
    CatalogEntry("HuggingFaceTB/SmolLM2-135M", 576, 30, 9, 3, 64, 1536, 49152, 8192, True),
    CatalogEntry("HuggingFaceTB/SmolLM2-360M", 960, 32, 15, 5, 64, 2560, 49152, 8192, True),
    CatalogEntry("HuggingFaceTB/SmolLM2-1.7B", 2048, 24, 32, 32, 64, 8192, 49152, 8192, True),
    CatalogEntry("meta-llama/Llama-3.2-1B", 2048, 16, 32, 8, 64, 8192, 128256, 131072, True, _L3),
    CatalogEntry("meta-llama/Llama-3.2-3B", 3072, 28, 24, 8, 128, 8192, 128256, 131072, True, _L3),
    CatalogEntry(
        "meta-llama/Llama-3.1-8B", 4096, 32, 32, 8, 128, 14336, 128256, 131072, False, _L31
    ),
    CatalogEntry(
        "meta-llama/Llama-3.1-70B", 8192, 80, 64, 8, 128, 28672, 128256, 131072, False, _L31
    ),
    CatalogEntry(
        "meta-llama/Llama-3.3-70B-Instruct",
        8192,
        80,
        64,
        8,
        128,
        28672,
        128256,
        131072,
        False,
        _L31,
    ),
    CatalogEntry("meta-llama/Meta-Llama-3-8B", 4096, 32, 32, 8, 128, 14336, 128256, 8192, False),
    CatalogEntry("Qwen/Qwen2.5-0.5B", 896, 24, 14, 2, 64, 4864, 151936, 32768, True, qkv_bias=True),
    CatalogEntry(
        "Qwen/Qwen2.5-1.5B", 1536, 28, 12, 2, 128, 8960, 151936, 32768, True, qkv_bias=True
    ),
    CatalogEntry(
        "Qwen/Qwen2.5-3B", 2048, 36, 16, 2, 128, 11008, 151936, 32768, True, qkv_bias=True
    ),
    CatalogEntry(
        "Qwen/Qwen2.5-7B", 3584, 28, 28, 4, 128, 18944, 152064, 32768, False, qkv_bias=True
    ),
    CatalogEntry(
        "Qwen/Qwen2.5-14B", 5120, 48, 40, 8, 128, 13824, 152064, 32768, False, qkv_bias=True
    ),
    CatalogEntry(
        "Qwen/Qwen2.5-32B", 5120, 64, 40, 8, 128, 27648, 152064, 32768, False, qkv_bias=True
    ),
    CatalogEntry(
        "Qwen/Qwen2.5-72B", 8192, 80, 64, 8, 128, 29568, 152064, 32768, False, qkv_bias=True
    ),
    CatalogEntry("mistralai/Mistral-7B-v0.3", 4096, 32, 32, 8, 128, 14336, 32768, 32768, False),
    CatalogEntry(
        "google/gemma-2-2b", 2304, 26, 8, 4, 256, 9216, 256000, 8192, True, sliding_window=4096
    ),
    CatalogEntry(
        "google/gemma-2-9b", 3584, 42, 16, 8, 256, 14336, 256000, 8192, True, sliding_window=4096
    ),
    CatalogEntry(
        "google/gemma-2-27b", 4608, 46, 32, 16, 128, 36864, 256000, 8192, True, sliding_window=4096
    ),
    CatalogEntry(
        "google/gemma-3-1b-it", 1152, 26, 4, 1, 256, 6912, 262144, 32768, True, sliding_window=512
    ),
    CatalogEntry(
        "google/gemma-3-4b-it", 2560, 34, 8, 4, 256, 10240, 262208, 131072, True, _G3, 1024
    ),
    CatalogEntry(
        "google/gemma-3-12b-it", 3840, 48, 16, 8, 256, 15360, 262208, 131072, True, _G3, 1024
    ),
    CatalogEntry(
        "google/gemma-3-27b-it", 5376, 62, 32, 16, 128, 21504, 262208, 131072, True, _G3, 1024
    ),
    CatalogEntry(
        "microsoft/Phi-3-mini-4k-instruct",
        3072,
        32,
        32,
        32,
        96,
        8192,
        32064,
        4096,
        False,
        sliding_window=2047,
    ),
    CatalogEntry(
        "microsoft/Phi-3-medium-4k-instruct",
        5120,
        40,
        40,
        10,
        128,
        17920,
        32064,
        4096,
        False,
        sliding_window=2047,
    ),
    CatalogEntry("microsoft/phi-4", 5120, 40, 40, 10, 128, 17920, 100352, 16384, False),
)
CATALOG: dict[str, CatalogEntry] = {entry.hub_id.lower(): entry for entry in _ENTRIES}
# Instruct variants and GGUF re-publications share the base model's shapes.
_SUFFIXES = ("-instruct", "-it", "-gguf", "-instruct-gguf", "-it-gguf")


def catalog_entry(hub_id: str) -> CatalogEntry | None:
    """The catalog row for a hub id (org ignored for GGUF re-uploads), or None."""
    repo = hub_id.split(":", 1)[0].lower()
    if repo in CATALOG:
        return CATALOG[repo]
    name = repo.split("/", 1)[-1]
    # Re-uploads keep the original name, sometimes with the org as a prefix (Meta-Llama-3.1).
    name = name.removeprefix("meta-") if name.startswith("meta-llama-3.") else name
    candidates = {name}
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            candidates.add(name.removesuffix(suffix))
    for entry_id, entry in CATALOG.items():
        entry_name = entry_id.split("/", 1)[1]
        bases = {entry_name} | {entry_name.removesuffix(s) for s in _SUFFIXES}
        if candidates & bases:
            return entry
    return None


@lru_cache(maxsize=256)  # ModelFacts is frozen; validate of many specs asks for a few ids
def catalog_facts(hub_id: str, gguf: bool) -> ModelFacts | None:
    """Facts for a hub id from the catalog; a GGUF repo's `:QUANT` sets the weight size."""
    entry = catalog_entry(hub_id)
    if entry is None:
        return None
    quant = hub_id.split(":", 1)[1].upper() if ":" in hub_id else None
    tensors: tuple[TensorFact, ...] = ()
    if gguf:
        # llama.cpp's default quant for a repo without ':QUANT' is Q4_K_M (common/arg.cpp).
        preset = quant or "Q4_K_M"
        bits = preset_bits_per_weight(preset)
        weight_bytes = int(entry.parameters * bits / 8) if bits else None
        dtype: str | None = preset if bits else None
        table = catalog_tensors(
            entry.architecture,
            preset,
            hidden=entry.hidden,
            layers=entry.layers,
            q_width=entry.heads * entry.head_dim,
            kv_width=entry.kv_heads * entry.head_dim,
            intermediate=entry.intermediate,
            vocab=entry.vocab,
            tied=entry.tied,
            qkv_bias=entry.qkv_bias,
        )
        if table is not None:  # the quantizer's own choice per tensor: exact sizes
            tensors, weight_bytes, dtype = table, sum(t.nbytes for t in table), preset
    else:
        weight_bytes, dtype = entry.parameters * 2, "bfloat16"
    rope_type, factor, original = entry.rope or (None, None, None)
    return ModelFacts(
        source=f"catalog:{entry.hub_id} ({entry.config})",
        kind="gguf" if gguf else "hf",
        architecture=entry.architecture if gguf else None,
        layers=entry.layers,
        attention_heads=entry.heads,
        kv_heads=entry.kv_heads,
        head_size=entry.head_dim,
        head_size_v=entry.head_dim,
        hidden_size=entry.hidden,
        vocab_size=entry.vocab,
        max_position_embeddings=entry.max_pos,
        rope_scaling_type=rope_type,
        rope_scaling_factor=factor,
        rope_original_context=original,
        sliding_window=entry.sliding_window,
        weight_bytes=weight_bytes,
        weight_dtype=dtype,
        parameters=entry.parameters,
        tied_embeddings=entry.tied,
        model_type=entry.model_type,
        tensors=tensors,
    )
