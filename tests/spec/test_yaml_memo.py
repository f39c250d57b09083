"""The YAML loader remembers resolved tags and plain scalar values across files
(llmgen.spec.yaml_loader): remembering must never change what a value reads as.

PyYAML's own `yaml.safe_load` is the judge: every text below must load to the same value,
of the same type, the first time (memo empty) and every time after (memo hit), plain and quoted.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmgen.spec import yaml_loader
from llmgen.spec.yaml_loader import parse_yaml

REPO = Path(__file__).resolve().parents[2]

# YAML 1.1 as PyYAML reads it: `yes` and `on` are booleans, `010` is octal, `0x1f` hex,
# `1_000` an int, `1:30` sexagesimal, `.inf` a float, `~` null; and texts that look alike.
TEXTS = [
    "yes",
    "no",
    "on",
    "off",
    "true",
    "False",
    "TRUE",
    "y",
    "n",
    "010",
    "0",
    "-0",
    "+12",
    "1_000",
    "0x1f",
    "0b101",
    "1:30",
    "12:30:00",
    "1.5",
    "1e3",
    "1.0e+3",
    ".inf",
    "-.Inf",
    ".nan",
    "3.",
    "~",
    "null",
    "Null",
    "",
    "2024-01-01",
    "0.9",
    "07",
    "08",
    "09",
]


def _loaded(text: str) -> object:
    return parse_yaml(f"key: {text}\n", "memo.yaml").data["key"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_value_reads_the_same_before_and_after_it_is_remembered(text: str) -> None:
    yaml_loader._TAG_MEMO.clear()
    yaml_loader._SCALAR_MEMO.clear()
    expected = yaml.safe_load(f"key: {text}\n")["key"]
    if isinstance(expected, float) and math.isnan(expected):
        for _ in range(2):
            value = _loaded(text)
            assert isinstance(value, float) and math.isnan(value)
        return
    if text == "2024-01-01":
        expected = "2024-01-01"  # llmgen keeps a timestamp-looking value as its text
    for _ in range(3):  # first: memo empty; then: answered from the memo
        value = _loaded(text)
        assert value == expected and type(value) is type(expected), text


@pytest.mark.parametrize("text", ["yes", "010", "1.5", "null", "1_000"])
def test_a_quoted_value_stays_text_after_the_plain_one_was_remembered(text: str) -> None:
    assert _loaded(text) == yaml.safe_load(f"k: {text}")["k"]
    assert _loaded(f'"{text}"') == text
    assert _loaded(f"'{text}'") == text
    assert _loaded(text) == yaml.safe_load(f"k: {text}")["k"]


def test_the_memos_stay_bounded_by_a_file_of_unique_values() -> None:
    yaml_loader._TAG_MEMO.clear()
    yaml_loader._SCALAR_MEMO.clear()
    cap = yaml_loader._MEMO_CAP
    # 1,000 unique integers per file, in files small enough for libyaml's fast path
    for start in range(0, cap + 3000, 1000):
        text = "".join(f"k{n}: {n}\n" for n in range(start, start + 1000))
        data = parse_yaml(text, "many.yaml").data
        assert data[f"k{start + 999}"] == start + 999
    assert len(yaml_loader._TAG_MEMO) <= cap
    assert len(yaml_loader._SCALAR_MEMO) <= cap


def test_validate_s_fast_start_leaves_the_collector_on_for_the_specs_that_follow() -> None:
    # The fast start turns the cyclic collector off while it imports, then freezes what it
    # imported and turns it on again: many specs must not pile up their cycles.
    program = (
        "import gc, sys; from llmgen.cli.entry import fast_path; "
        f"code = fast_path(['validate', '-q', {str(REPO / 'examples' / 'llamacpp-smollm2.yaml')!r}]); "
        "print(code, gc.isenabled(), gc.get_freeze_count() > 1000)"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["0", "True", "True"]
