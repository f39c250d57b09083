"""The spec's pydantic models (llmgen.spec.models) against an independent judge, and their contract.

The judge is the JSON Schema the same declarations publish (schemas/llmgen.schema.json, which
tests/cli/test_cli.py keeps equal to the generated one), run by the `jsonschema` library: every
field of every section is set, one at a time, to values of every YAML kind, and the two must
agree. llmgen may only be stricter than the schema in the ways listed in `_stricter`: rules the
schema cannot state (a path without `..`, a toleration's key with operator Equal, ...), a
whole-number float where an integer belongs, and a text ending in a newline (Python's `$`).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from llmgen.spec.messages import spec_diagnostics
from llmgen.spec.models import ModelSpec, RuntimeSpec, Spec, parse_spec
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "schemas" / "llmgen.schema.json").read_text("utf-8"))
JUDGE = jsonschema.Draft202012Validator(SCHEMA)

# A spec that sets every section, so each field below has a place to go.
BASE: dict[str, Any] = {
    "name": "demo",
    "engine": "vllm",
    "model": {"id": "org/model"},
    "server": {},
    "runtime": {},
    "container": {},
    "deploy": {"storage": {}, "tolerations": [{"operator": "Exists"}]},
    "client": {},
    "hardware": {},
}

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    7,
    2**40,
    1.0,
    0.5,
    1.5,
    -2.5,
    math.inf,
    math.nan,
    "",
    "x",
    "all",
    "12",
    "demo",
    "demo\n",
    "/models/m.gguf",
    "NoExecute",
    "x" * 300,
    [],
    ["a"],
    ["a", 1],
    {},
    {"a": "b"},
    {"a": 1},
    {1: "b"},
]


def _fields() -> Iterator[tuple[str, ...]]:
    """The path of every field of every section, from the published schema."""
    for name, prop in SCHEMA["properties"].items():
        yield (name,)
        ref = prop.get("$ref") or next(
            (item["$ref"] for item in prop.get("anyOf", []) if "$ref" in item), None
        )
        if ref is None:
            continue
        section = SCHEMA["$defs"][ref.rsplit("/", 1)[-1]]
        for field, inner in section["properties"].items():
            yield (name, field)
            if "$ref" in inner:
                for leaf in SCHEMA["$defs"][inner["$ref"].rsplit("/", 1)[-1]]["properties"]:
                    yield (name, field, leaf)
    for field in SCHEMA["$defs"]["TolerationSpec"]["properties"]:
        yield ("deploy", "tolerations", 0, field)


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    where: Any = data
    for part in path[:-1]:
        where = where[part]
    where[path[-1]] = value
    return data


def _at(found: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        found = found[part] if isinstance(part, int) else getattr(found, part)
    return found


def _stricter(error: ErrorDetails, value: Any) -> bool:
    """A refusal the schema cannot express, so the schema accepting the value is expected."""
    kind = error["type"]
    return (
        kind == "value_error"
        # 12.0 is an integer to JSON Schema; both members of `int | 'all'` refuse it here.
        or (
            kind in ("int_type", "literal_error")
            and isinstance(value, float)
            and value.is_integer()
        )
        # JSON's keys are text; YAML's may be numbers, which the jsonschema library ignores.
        or error["loc"][-1] == "[key]"
        or (kind == "string_pattern_mismatch" and str(value).endswith("\n"))
        # JSON has no NaN; the jsonschema library lets it pass every bound, llmgen refuses it.
        or (kind == "finite_number" and math.isnan(value))
    )


def _refusals(data: Any, model: type[BaseModel] = Spec) -> list[ErrorDetails]:
    """pydantic's errors for `data`, [] when it is accepted."""
    try:
        model.model_validate(data)
    except ValidationError as refused:
        return refused.errors(include_url=False)
    return []


def _union_free(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The location without pydantic's union member tags (`int`, `literal['all']`)."""
    return tuple(p for p in loc if isinstance(p, int) or not (p == "int" or p.startswith("lit")))


CASES = [(path, value) for path in _fields() for value in VALUES]


def test_the_corpus_reaches_every_field() -> None:
    paths = {path for path, _ in CASES}
    assert ("runtime", "gpu_layers") in paths and ("deploy", "storage", "claim") in paths
    assert ("deploy", "tolerations", 0, "toleration_seconds") in paths
    assert len(paths) > 50


@pytest.mark.parametrize("path", sorted({path for path, _ in CASES}, key=str), ids=str)
def test_llmgen_and_the_schema_agree_on_every_field(path: tuple[str | int, ...]) -> None:
    for value in VALUES:
        data = _with(path, value)
        schema_ok = JUDGE.is_valid(data)
        try:
            spec = parse_spec(data)
        except ValidationError as exc:
            refused = exc.errors(include_url=False)
            assert all(error["type"] != "missing" for error in refused), refused
            assert not schema_ok or all(_stricter(e, value) for e in refused), (
                f"{path}={value!r}: llmgen refuses what the schema allows: {refused}"
            )
            continue
        assert schema_ok, f"{path}={value!r}: llmgen accepts what the schema refuses"
        got = _at(spec, path)
        if isinstance(value, dict) and isinstance(got, BaseModel):
            assert got.model_dump().items() >= value.items(), (path, value)  # defaults added
            continue
        shown = got
        # Taken as given: the one conversion is a whole number read as a decimal.
        assert shown == value or (type(value) is int and shown == float(value)), (path, value)
        assert type(shown) is type(value) or isinstance(shown, float), (path, value)


@pytest.mark.parametrize("path", sorted({path for path, _ in CASES}, key=str), ids=str)
def test_every_error_is_located_at_the_field_or_its_section(path: tuple[str | int, ...]) -> None:
    for value in VALUES:
        for error in _refusals(_with(path, value)):
            loc = _union_free(error["loc"])
            assert loc[: len(path)] == path or loc == path[:-1], (value, error)


def test_unknown_and_missing_keys_are_each_reported() -> None:
    data = _with(("runtime", "port"), 1)
    del data["model"]
    data["zzz"] = 1
    found = [(error["type"], error["loc"]) for error in _refusals(data)]
    assert found == [
        ("missing", ("model",)),
        ("extra_forbidden", ("runtime", "port")),
        ("extra_forbidden", ("zzz",)),
    ]


def test_a_section_rule_runs_only_when_its_fields_are_valid() -> None:
    found = _refusals({"id": "org/m", "path": "/m", "revision": 5}, ModelSpec)
    assert [(e["type"], e["loc"]) for e in found] == [("string_type", ("revision",))]
    found = _refusals({"id": "org/m", "path": "/m"}, ModelSpec)
    assert [(e["type"], e["loc"]) for e in found] == [("value_error", ())]


@pytest.mark.parametrize("value", [True, "12", 12.0, "ALL"])
def test_gpu_layers_takes_a_whole_number_or_all_and_nothing_converted(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec(_with(("runtime", "gpu_layers"), value))
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
        ("int_type", ("runtime", "gpu_layers", "int")),
        ("literal_error", ("runtime", "gpu_layers", "literal['all']")),
    ]
    (diagnostic,) = spec_diagnostics(caught.value)  # the two members, said as one
    assert (diagnostic.path, diagnostic.message) == (
        "runtime.gpu_layers",
        f"must be a whole number or 'all', not {value!r}",
    )


def test_a_trailing_newline_does_not_pass_an_anchored_pattern() -> None:
    for path in [
        ("name",),
        ("model", "id"),
        ("server", "api_key_env"),
        ("runtime", "kv_cache_memory"),
    ]:
        found = _refusals(
            _with(
                path, {"name": "demo", "id": "o/m", "api_key_env": "K"}.get(path[-1], "64M") + "\n"
            )
        )
        assert [e["type"] for e in found] == ["string_pattern_mismatch"], path


def test_sections_are_immutable_values() -> None:
    spec = parse_spec(BASE)
    with pytest.raises(ValidationError, match="frozen_instance"):
        spec.name = "other"  # type: ignore[misc]
    again = parse_spec(copy.deepcopy(BASE))
    assert again == spec and again is not spec and hash(again.server) == hash(spec.server)
    changed = spec.model_copy(update={"runtime": spec.runtime.model_copy(update={"gpus": 2})})
    assert changed.runtime.gpus == 2 and spec.runtime.gpus == 0 and changed != spec
    assert changed.model is spec.model
    assert (
        repr(spec.model) == "ModelSpec(id='org/model', path=None, revision=None, served_name=None)"
    )


def test_model_dump_is_the_whole_spec_as_plain_data_in_declaration_order() -> None:
    data = parse_spec(BASE).model_dump()
    assert list(data) == [
        "name",
        "engine",
        "engine_version",
        "model",
        "server",
        "runtime",
        "container",
        "deploy",
        "client",
        "hardware",
    ]
    assert data["deploy"]["tolerations"] == [
        {
            "key": None,
            "operator": "Exists",
            "value": None,
            "effect": None,
            "toleration_seconds": None,
        }
    ]
    assert json.loads(json.dumps(data)) == data  # JSON as it is
    assert JUDGE.is_valid({k: v for k, v in data.items() if v is not None})


def test_sections_compare_by_their_fields() -> None:
    # Flat sections, so a wrong __eq__ is not hidden by comparing nested ones twice.
    assert ModelSpec(id="o/m") == ModelSpec(id="o/m")
    assert ModelSpec(id="o/m") != ModelSpec(id="o/n")
    assert ModelSpec(id="o/m") != RuntimeSpec()
    assert hash(ModelSpec(id="o/m")) == hash(ModelSpec(id="o/m"))


def test_sections_refuse_unknown_or_missing_fields_when_built_in_code() -> None:
    with pytest.raises(ValidationError) as caught:
        RuntimeSpec(prot=1)  # type: ignore[call-arg]
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
        ("extra_forbidden", ("prot",))
    ]
    with pytest.raises(ValidationError) as caught:
        Spec(engine="vllm", model=ModelSpec(id="o/m"))  # type: ignore[call-arg]
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("missing", ("name",))]
    with pytest.raises(ValidationError, match="frozen_instance"):
        ModelSpec(id="o/m").id = "o/n"  # type: ignore[misc]
    assert ModelSpec(id="o/m").path is None


def test_defaults_are_fresh_for_each_spec() -> None:
    first, second = parse_spec(BASE), parse_spec(BASE)
    assert (
        first.runtime.extra_args == [] and first.runtime.extra_args is not second.runtime.extra_args
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_decimal_must_be_finite(value: float) -> None:
    found = _refusals(_with(("client", "temperature"), value))
    assert [(e["type"], e["msg"]) for e in found] == [
        ("finite_number", "Input should be a finite number")
    ]


# Each kind of refusal with pydantic's exact words: llmgen.spec.messages rewords some kinds
# (keyed on the kind), and passes the others to the user as written here.
REFUSALS = [
    (("model", "revision"), 5, "string_type", "Input should be a valid string"),
    (
        ("client", "system_prompt"),
        "",
        "string_too_short",
        "String should have at least 1 character",
    ),
    (("client", "stop"), [""], "string_too_short", "String should have at least 1 character"),
    (
        ("client", "stop"),
        ["x" * 257],
        "string_too_long",
        "String should have at most 256 characters",
    ),
    (
        ("client", "system_prompt"),
        "x" * 8193,
        "string_too_long",
        "String should have at most 8192 characters",
    ),
    (
        ("deploy", "storage", "claim"),
        "a" * 254,
        "string_too_long",
        "String should have at most 253 characters",
    ),
    (
        ("container", "image_tag"),
        "a b",
        "string_pattern_mismatch",
        "String should match pattern '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'",
    ),
    (("server", "port"), "80", "int_type", "Input should be a valid integer"),
    (("client", "temperature"), "1", "float_type", "Input should be a valid number"),
    (("client", "temperature"), True, "float_type", "Input should be a valid number"),
    (("server", "port"), 65536, "less_than_equal", "Input should be less than or equal to 65535"),
    (("server", "port"), 0, "greater_than_equal", "Input should be greater than or equal to 1"),
    (("client", "top_p"), 0, "greater_than", "Input should be greater than 0"),
    (("server", "allow_unauthenticated"), "yes", "bool_type", "Input should be a valid boolean"),
    (
        ("engine",),
        "ollama",
        "literal_error",
        "Input should be 'vllm', 'tgi', 'llamacpp' or 'sglang'",
    ),
    (("container", "model_cache"), "x", "literal_error", "Input should be 'volume' or 'host'"),
    (("runtime", "extra_args"), "--x", "list_type", "Input should be a valid list"),
    (
        ("runtime", "extra_args"),
        ["a"] * 65,
        "too_long",
        "List should have at most 64 items after validation, not 65",
    ),
    (("deploy", "node_selector"), [], "dict_type", "Input should be a valid dictionary"),
    (
        ("deploy", "node_selector"),
        {f"k{i}": "v" for i in range(33)},
        "too_long",
        "Dictionary should have at most 32 items after validation, not more",
    ),
    (
        ("server",),
        "x",
        "model_type",
        "Input should be a valid dictionary or instance of ServerSpec",
    ),
]


@pytest.mark.parametrize(("path", "value", "kind", "message"), REFUSALS, ids=lambda v: str(v)[:40])
def test_each_refusal_has_its_kind_and_words(
    path: tuple[str, ...], value: Any, kind: str, message: str
) -> None:
    found = _refusals(_with(path, value))
    assert [(e["type"], e["loc"][: len(path)], e["msg"]) for e in found] == [(kind, path, message)]
    refused = found[0]["input"]  # the value itself, or the list item refused
    assert refused == value or (isinstance(value, list) and refused in value)


def test_a_mapping_refuses_each_key_and_value_that_is_not_text() -> None:
    found = _refusals(_with(("deploy", "node_selector"), {1: "a", "b": 2}))
    assert [(e["type"], e["loc"], e["msg"], e["input"]) for e in found] == [
        (
            "string_type",
            ("deploy", "node_selector", 1, "[key]"),
            "Input should be a valid string",
            1,
        ),
        ("string_type", ("deploy", "node_selector", "b"), "Input should be a valid string", 2),
    ]


# (field, the largest value or length accepted, the next one refused)
EDGES = [
    (("server", "port"), 65535, 65536),
    (("server", "port"), 1, 0),
    (("client", "temperature"), 2, 2.000001),
    (("client", "temperature"), 0, -0.000001),
    (("client", "top_p"), 1, 1.000001),
    (("client", "top_p"), 0.000001, 0),
    (("client", "system_prompt"), "x" * 8192, "x" * 8193),
    (("client", "system_prompt"), "x", ""),
    (("client", "stop"), ["x" * 256] * 4, ["x" * 256] * 5),
    (("client", "stop"), ["x" * 256], ["x" * 257]),
    (("runtime", "extra_args"), ["--verbose"] * 64, ["--verbose"] * 65),
    (
        ("deploy", "node_selector"),
        {f"k{i}": "v" for i in range(32)},
        {f"k{i}": "v" for i in range(33)},
    ),
    (("deploy", "storage", "claim"), "a" * 253, "a" * 254),
]


@pytest.mark.parametrize(("path", "accepted", "refused"), EDGES, ids=lambda v: str(v)[:30])
def test_bounds_and_lengths_are_taken_up_to_the_edge(
    path: tuple[str, ...], accepted: Any, refused: Any
) -> None:
    section, field = path[:-1], path[-1]
    model = type(_at(parse_spec(BASE), section))
    assert _refusals({field: accepted}, model) == []
    assert [e["loc"][0] for e in _refusals({field: refused}, model)] == [field]


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        ("^a[0-9]$", "a1", "a1\n"),  # `$` is the end of the text, as in JSON Schema
        ("^a", "ab", "ba"),  # an unanchored end is searched, as JSON Schema does
        ("^a\\$", "a$", "a"),  # a literal dollar at the end stays a dollar
    ],
)
def test_patterns_read_as_json_schema_reads_them(pattern: str, accepted: str, refused: str) -> None:
    class Probe(BaseModel):  # the spec's own configuration, one patterned field
        model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
        text: str = Field(pattern=pattern)

    assert _refusals({"text": accepted}, Probe) == []
    assert [e["type"] for e in _refusals({"text": refused}, Probe)] == ["string_pattern_mismatch"]


def test_a_label_key_that_reads_like_a_union_tag_keeps_its_place() -> None:
    # pydantic tags union members `int` in its locations; a node_selector key `int` is no tag.
    with pytest.raises(ValidationError) as caught:
        parse_spec(_with(("deploy", "node_selector"), {"int": 5}))
    (diagnostic,) = spec_diagnostics(caught.value)
    assert diagnostic.path == "deploy.node_selector.int"
    assert diagnostic.message == "YAML read 5 as a number, but this field is text"
