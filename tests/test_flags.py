"""Every flag llmgen renders exists in the pinned engine's flag table, with a value it accepts."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from llmgen.engines import ENGINES
from llmgen.errors import Severity
from llmgen.flags import Flag
from llmgen.render import render
from llmgen.spec import Spec
from tests.conftest import EXAMPLES, render_file
from tests.spec_matrix import matrix

MATRIX = matrix()
REPO = Path(__file__).resolve().parents[1]
TABLES = {
    "vllm": "vllm-0.33.0-flags.tsv",
    "tgi": "tgi-3.3.7-flags.tsv",
    "llamacpp": "llamacpp-b11434-flags.tsv",
}


def flag_value_pairs(engine_key: str, args: tuple[str, ...]) -> list[tuple[Flag, str | None]]:
    """Walk an argument list the way the engine's parser would."""
    table = ENGINES[engine_key].flag_table
    pairs: list[tuple[Flag, str | None]] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-"):
            continue  # a positional (vLLM's model)
        flag = table.lookup(arg)
        assert flag is not None, f"{arg!r} is not a {engine_key} flag"
        value: str | None = None
        if "=" in arg:
            value = arg.split("=", 1)[1]
        elif flag.takes_value:
            assert index < len(args), f"{arg} has no value"
            value = args[index]
            index += 1
        pairs.append((flag, value))
    return pairs


class UnknownFlagTypeError(AssertionError):
    """A type column this checker cannot judge: teach `accepts` about it, never pass it."""


_SIGNED_INT = r"-?\d+"
_UNSIGNED_INT = r"\d+"
_FLOAT = r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
# vLLM's human_readable_int: 4096, 25.6k, 1M, 2Gi... (vllm/utils/argparse_utils.py).
_HUMAN_INT = r"\d+(\.\d+)?([kKmMgGtT]i?)?"


def value_pattern(kind: str) -> str | set[str] | None:
    """What a value of the table type `kind` must look like: a regex, a set of choices, or None
    for a flag that takes no value. Raises UnknownFlagTypeError for any other type."""
    if kind.startswith(("bool(flag)", "bool (--x", "bool(on/off")):
        return None
    if kind.startswith("bool(value"):
        return {"true", "false"}
    if enum := re.search(r"(?:enum|choices=)\{([^}]*)\}", kind):
        return set(re.split(r"[|,]", enum.group(1)))
    if kind == "int|auto|all (N)":
        return rf"{_UNSIGNED_INT}|auto|all"
    if kind == "human_readable_int_or_auto":
        return rf"{_HUMAN_INT}|auto|-1"
    if kind in ("human_readable_int", "optional[human_readable_int]"):
        return _HUMAN_INT
    if re.fullmatch(r"uint( .*)?|int\(u(size|8|16|32|64)\)|int <0\|1>", kind):
        return _UNSIGNED_INT
    if re.fullmatch(r"(optional\[)?int\]?( N| SECONDS| PORT| INDEX)?( nargs=\+)?", kind):
        return _SIGNED_INT
    if kind == "2 values: START END":  # the walker reads the first; the second is a plain word
        return _SIGNED_INT
    if re.fullmatch(r"(optional\[)?float\]?( N| P| SIMILARITY)?", kind):
        return _FLOAT
    free_text = (
        "string",
        "str",
        "optional[str]",
        "json",
        "optional[json",
        "list<",
        "parse_reasoning_parser",
    )
    if kind.startswith(free_text):
        return r".+"
    raise UnknownFlagTypeError(f"unknown flag type {kind!r}")


def accepts(flag: Flag, value: str | None) -> bool:
    """Whether `value` fits the type column of the flag table (unknown types raise)."""
    pattern = value_pattern(flag.type)
    if value is None or pattern is None:
        return value is None and pattern is None
    if isinstance(pattern, set):
        return value in pattern  # a choice set may name None itself (vLLM's optional enums)
    # A Python None rendered as text is never a valid value of a typed flag.
    return value != "None" and re.fullmatch(pattern, value) is not None


def table_rows(engine_key: str) -> list[dict[str, str]]:
    """The rows of the engine's flag table, read straight from the TSV (engine data)."""
    text = (REPO / "src" / "llmgen" / "data" / "flags" / TABLES[engine_key]).read_text("utf-8")
    return list(csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))


def flag_of(engine_key: str, name: str) -> Flag:
    row = next(row for row in table_rows(engine_key) if row["flag"] == name)
    return Flag(row["flag"], (), row["env"] or "", row["type"] or "", "", "")


@pytest.mark.parametrize("engine_key", ["vllm", "tgi", "llamacpp"])
def test_the_checker_knows_every_type_in_the_tables(engine_key: str) -> None:
    """No table type falls through to "anything goes"."""
    for row in table_rows(engine_key):
        value_pattern(row["type"] or "")  # raises on an unknown type


@pytest.mark.parametrize(
    ("engine_key", "name", "value", "ok"),
    [
        ("vllm", "--max-model-len", "None", False),
        ("vllm", "--max-model-len", "", False),
        ("vllm", "--max-model-len", "4096", True),
        ("vllm", "--max-model-len", "auto", True),
        ("vllm", "--max-num-batched-tokens", "None", False),
        ("vllm", "--max-num-batched-tokens", "2k", True),
        ("vllm", "--max-num-seqs", "None", False),
        ("vllm", "--gpu-memory-utilization", "0.85", True),
        ("vllm", "--gpu-memory-utilization", "most", False),
        ("vllm", "--dtype", "bfloat16", True),
        ("vllm", "--dtype", "bf16", False),
        ("vllm", "--enforce-eager", None, True),
        ("vllm", "--enforce-eager", "true", False),
        ("vllm", "--served-model-name", "None", False),
        ("vllm", "--port", "-1", True),
        ("tgi", "--max-total-tokens", "-1", False),
        ("tgi", "--max-total-tokens", "4096", True),
        ("tgi", "--dtype", "float16", True),
        ("tgi", "--dtype", "half", False),
        ("llamacpp", "--threads", "None", False),
        ("llamacpp", "--threads", "-1", True),
        ("llamacpp", "--gpu-layers", "all", True),
        ("llamacpp", "--gpu-layers", "most", False),
        ("llamacpp", "--ctx-size", "4096.5", False),
        ("llamacpp", "--fit", "off", True),
    ],
)
def test_the_checker_refuses_values_the_engine_would(
    engine_key: str, name: str, value: str | None, ok: bool
) -> None:
    """The type check itself, on values whose fate the engine's parser decides (vLLM's
    human_readable_int, clap's usize, llama.cpp's std::stoi)."""
    assert accepts(flag_of(engine_key, name), value) is ok


def test_an_unknown_type_is_refused_not_passed() -> None:
    with pytest.raises(UnknownFlagTypeError):
        accepts(Flag("--new", (), "", "complex<int>", "", ""), "3")


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_every_rendered_flag_exists_and_accepts_its_value(name: str, spec: Spec) -> None:
    plan = render(spec).plan
    for args in (plan.args, plan.container_args):
        for flag, value in flag_value_pairs(spec.engine, args):
            assert accepts(flag, value), f"{flag.name} {value!r} does not fit {flag.type!r}"


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_matrix_specs_have_no_errors(name: str, spec: Spec) -> None:
    found = ENGINES[spec.engine].check(spec)
    assert [d for d in found if d.severity is Severity.ERROR] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_render_only_long_canonical_flags(example: object) -> None:
    bundle = render_file(example)  # type: ignore[arg-type]
    table = ENGINES[bundle.plan.engine].flag_table
    for arg in bundle.plan.args:
        if arg.startswith("-"):
            flag = table.lookup(arg)
            assert flag is not None and flag.name == arg.split("=", 1)[0]


def test_tgi_never_renders_the_ambiguous_short_port_flag() -> None:
    for _, spec in MATRIX:
        if spec.engine == "tgi":
            assert "-p" not in render(spec).plan.args


def test_flag_tables_ship_with_the_package() -> None:
    counts = {key: len(engine.flag_table.flags) for key, engine in ENGINES.items()}
    assert counts == {"vllm": 322, "tgi": 54, "llamacpp": 256}
