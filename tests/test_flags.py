"""Every flag llmgen renders exists in the pinned engine's flag table, with a value it accepts."""

from __future__ import annotations

import re

import pytest

from llmgen.engines import ENGINES
from llmgen.errors import Severity
from llmgen.flags import Flag
from llmgen.render import render
from llmgen.spec import Spec
from tests.conftest import EXAMPLES, render_file
from tests.spec_matrix import matrix

MATRIX = matrix()


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


def accepts(flag: Flag, value: str | None) -> bool:
    """Whether `value` fits the type column of the flag table."""
    kind = flag.type
    if value is None:
        return not flag.takes_value
    if enum := re.search(r"enum\{([^}]*)\}", kind):
        return value in re.split(r"[|,]", enum.group(1))
    if choices := re.search(r"choices=\{([^}]*)\}", kind):
        return value in choices.group(1).split(",")
    if kind.startswith("int|auto|all"):
        return value in ("auto", "all") or value.isdigit()
    if kind.startswith(("int", "optional[int]")):
        return value.isdigit()
    if kind.startswith("float"):
        return re.fullmatch(r"\d+(\.\d+)?", value) is not None
    if kind.startswith("bool(value"):
        return value in ("true", "false")
    return True


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_every_rendered_flag_exists_and_accepts_its_value(name: str, spec: Spec) -> None:
    plan = render(spec).plan
    for args in (plan.args, plan.container_args):
        for flag, value in flag_value_pairs(spec.engine, args):
            assert accepts(flag, value), f"{flag.name} {value!r} does not fit {flag.type!r}"


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_matrix_specs_have_no_errors(name: str, spec: Spec) -> None:
    found = ENGINES[spec.engine].plan(spec).diagnostics
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
