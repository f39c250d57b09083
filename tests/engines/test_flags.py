"""Every flag llmgen renders exists in the pinned engine's flag table, with a value it accepts."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest

from llmgen.engines import ENGINES
from llmgen.engines.flags import Flag
from llmgen.errors import Severity
from llmgen.render.bundle import render
from llmgen.spec.models import Spec, parse_spec
from tests.conftest import EXAMPLES, render_file
from tests.spec_matrix import matrix

MATRIX = matrix()
REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "vllm": "vllm-0.34.0-flags.tsv",  # the newest release: what a spec without engine_version gets
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
    text = (REPO / "src" / "llmgen" / "engines" / "data" / "flags" / TABLES[engine_key]).read_text(
        "utf-8"
    )
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
    # The newest release of each: the options of its parser or source, as
    # scripts/flag-table.py counts them: vLLM 0.34.0's `vllm serve` parser 329, TGI v3.3.7's
    # struct Args 54, llama.cpp b11434's server add_opt calls 256, SGLang 0.5.23's
    # ServerArgs.add_cli_args 532.
    assert counts == {"vllm": 329, "tgi": 54, "llamacpp": 256, "sglang": 532}


# --- the effective configuration: extra_args parsed once through the flag table --------------
# Expected values come from the flag tables (type column: nargs, aliases column: negations) and
# the specs, not from the parser.


def effective(engine: str, extra: list[str], **runtime: object) -> tuple[Any, list[str]]:
    model = {"llamacpp": {"id": "org/model-GGUF"}}.get(engine, {"id": "org/model"})
    spec = parse_spec(
        {
            "name": "demo",
            "engine": engine,
            "model": model,
            "runtime": {"extra_args": extra, **runtime},
        }
    )
    config, found = ENGINES[engine].analyze(spec)
    return config, [d.format() for d in found if d.severity is Severity.ERROR]


def test_vllm_multi_value_flag_takes_every_value() -> None:
    flag = ENGINES["vllm"].flag_table.get("--lora-modules")
    assert "nargs=+" in flag.type
    config, errors = effective("vllm", ["--lora-modules", "a=/x", "b=/y", "--enforce-eager"])
    assert errors == []
    setting = config.given("--lora-modules")
    assert setting.values == ("a=/x", "b=/y")
    assert setting.origin.path == "runtime.extra_args.0"
    assert config.enabled("--enforce-eager") is True


def test_vllm_underscore_spelling_is_the_dashed_flag() -> None:
    config, errors = effective("vllm", ["--max_num_batched_tokens", "8192"])
    assert errors == []
    assert config.int_value("--max-num-batched-tokens") == 8192
    _, errors = effective("vllm", ["--max_model_len", "8192"])
    assert any("'--max-model-len' is already set by runtime.context_length" in e for e in errors)


def test_flag_equals_value_and_human_readable_numbers() -> None:
    config, errors = effective("vllm", ["--max-num-batched-tokens=8K"])
    assert errors == []
    assert config.int_value("--max-num-batched-tokens") == 8 * 1024


@pytest.mark.parametrize(
    ("engine", "spelling", "flag", "state"),
    [
        ("vllm", "--disable-chunked-prefill", "--enable-chunked-prefill", False),
        ("vllm", "--enable-chunked-prefill", "--enable-chunked-prefill", True),
        # Hidden from --help, kept by vLLM 0.33.0 vllm/utils/argparse_utils.py
        # EnableDisableAction for backwards compatibility:
        ("vllm", "--no-enable-prefix-caching", "--enable-prefix-caching", False),
        ("vllm", "--no-disable-prefix-caching", "--enable-prefix-caching", True),
        ("vllm", "--no-disable-log-stats", None, None),  # bool(flag): no negation at all
        ("llamacpp", "-no-kvu", "--kv-unified", False),
        ("llamacpp", "--no-kv-unified", "--kv-unified", False),
        ("llamacpp", "-kvu", "--kv-unified", True),
        ("llamacpp", "-nocb", "--cont-batching", False),
    ],
)
def test_negations_switch_a_flag_off(
    engine: str, spelling: str, flag: str | None, state: bool | None
) -> None:
    config, errors = effective(engine, [spelling])
    if flag is None:
        assert any(f"has no flag '{spelling}'" in e for e in errors)
        return
    assert errors == []
    assert config.enabled(flag) is state


def test_aliases_resolve_to_the_canonical_flag_and_obey_its_rules() -> None:
    _, errors = effective("vllm", ["-tp", "2"], gpus=1)
    assert any("runtime.extra_args.0: `-tp 2` conflicts with runtime.gpus: 1" in e for e in errors)
    config, errors = effective("vllm", [], gpus=2)
    assert errors == []
    assert config.given("--tensor-parallel-size").origin.path == "runtime.gpus"


def test_spec_fields_and_defaults_carry_their_origin() -> None:
    config, _ = effective("vllm", [], context_length=8192)
    length = config.get("--max-model-len")
    assert (length.value, length.origin.kind, length.origin.path) == (
        "8192",
        "spec",
        "runtime.context_length",
    )
    # vLLM 0.33.0 vllm/engine/arg_utils.py get_batch_defaults: CPU 2048 tokens per step.
    budget = config.get("--max-num-batched-tokens")
    assert (budget.value, budget.origin.kind) == ("2048", "default")
    assert "CPU" in budget.origin.note
    port = ENGINES["tgi"].effective(
        parse_spec({"name": "d", "engine": "tgi", "model": {"id": "o/m"}})
    )
    assert port.get("--prometheus-port").value == "9000"  # the TGI table's default column


def test_unknown_flag_and_missing_value_are_one_line_each() -> None:
    _, errors = effective("vllm", ["--max-num-seq", "8"])
    assert len(errors) == 1
    assert "has no flag '--max-num-seq'" in errors[0]
    assert "did you mean '--max-num-seqs'?" in errors[0]
    _, errors = effective("llamacpp", ["--threads-batch"])
    assert errors == [
        "<spec>: error: runtime.extra_args.0: '--threads-batch' needs a value "
        "(write '--threads-batch VALUE')"
    ]


def test_two_value_flag_takes_exactly_two() -> None:
    flag = ENGINES["llamacpp"].flag_table.get("--control-vector-layer-range")
    assert flag.type.startswith("2 values")
    config, errors = effective("llamacpp", ["--control-vector-layer-range", "1", "5"])
    assert errors == []
    assert config.given("--control-vector-layer-range").values == ("1", "5")


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_rendered_argv_parses_cleanly_with_an_origin_per_flag(name: str, spec: Spec) -> None:
    config = ENGINES[spec.engine].effective(spec)
    assert config.diagnostics == ()
    for setting in config.explicit.values():
        assert setting.origin.kind in ("spec", "llmgen", "extra_args")
        if setting.origin.kind == "spec":
            assert setting.origin.path.split(".")[0] in ("model", "server", "runtime")


def test_tgi_gpu_image_gets_split_prone_values_through_the_flag_variable() -> None:
    # tgi-entrypoint.sh runs `exec text-generation-launcher $@` unquoted (TGI v3.3.7): a path
    # with a space must not be an argument there; MODEL_ID is the table's env column.
    spec = parse_spec(
        {
            "name": "demo",
            "engine": "tgi",
            "model": {"path": "/models/my model"},
            "runtime": {"gpus": 1, "extra_args": ["--lora-adapters", "a=/models/my adapter"]},
        }
    )
    table = ENGINES["tgi"].flag_table
    plan = render(spec).plan
    assert not any(" " in arg for arg in plan.container_args)
    env = dict(plan.container_env)
    assert env[table.get("--model-id").env_name] == "/models/my model"
    assert env[table.get("--lora-adapters").env_name] == "a=/models/my adapter"
    # The CPU image starts the launcher directly: arguments stay arguments.
    cpu = spec.model_copy(update={"runtime": spec.runtime.model_copy(update={"gpus": 0})})
    assert "/models/my model" in render(cpu).plan.container_args


@pytest.mark.parametrize(("gpus", "devices"), [(0, "none"), (1, "CUDA0"), (2, "CUDA0,CUDA1")])
def test_llamacpp_uses_exactly_the_gpus_the_spec_names(gpus: int, devices: str) -> None:
    # b11434 flag table: --device "comma-separated list of devices ... (none = don't offload)",
    # default "(all available GPU devices)".
    config, _ = effective("llamacpp", [], gpus=gpus)
    assert config.given("--device").value == devices


@pytest.mark.parametrize("gpus", [1, 2])
def test_tgi_names_its_shard_count_for_every_gpu_count(gpus: int) -> None:
    # TGI table: --num-shard unset -> the number of visible devices.
    config, _ = effective("tgi", [], gpus=gpus)
    assert config.int_value("--num-shard") == gpus


@pytest.mark.parametrize("path", ["/models/m.gguf", "/models/M.GGUF", "/models/m.Gguf"])
def test_kubernetes_mounts_a_gguf_file_as_a_file_whatever_the_case(path: str) -> None:
    import yaml

    spec = parse_spec({"name": "demo", "engine": "llamacpp", "model": {"path": path}})
    documents = list(yaml.safe_load_all(render(spec).files["kubernetes.yaml"]))
    volumes = documents[0]["spec"]["template"]["spec"]["volumes"]
    host = [v["hostPath"] for v in volumes if "hostPath" in v]
    assert host == [{"path": path, "type": "File"}]


@pytest.mark.parametrize("engine", sorted(TABLES))
def test_defaults_cover_every_flag_the_command_line_leaves_unset(engine: str) -> None:
    """The defaults are made when read; they must still be every row of the table, once."""
    text = (REPO / "src" / "llmgen" / "engines" / "data" / "flags" / TABLES[engine]).read_text(
        "utf-8"
    )
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    extra = {"vllm": ["--seed", "7"], "tgi": ["--disable-custom-kernels"]}
    config, errors = effective(engine, extra.get(engine, ["--seed", "7"]))
    assert errors == []
    names = list(dict.fromkeys(row["flag"] for row in rows))  # table order, first row wins
    unset = [name for name in names if name not in config.explicit]
    assert list(config.defaults) == unset
    assert len(config.defaults) == len(unset)
    given = next(iter(config.explicit))
    assert given not in config.defaults and config.defaults.get(given) is None
    for name in unset:
        setting = config.defaults[name]
        assert setting.origin.kind == "default"
        assert setting.flag is not None and setting.flag.name == name
        # Device defaults (vLLM's CPU batch budget) replace the table's where they apply.
        adapter = ENGINES[engine]
        if setting.origin.note == f"{adapter.title} {adapter.version}":
            assert setting.value == adapter.flag_table.get(name).default
    assert [s.name for s in config.settings()][: len(config.explicit)] == list(config.explicit)
