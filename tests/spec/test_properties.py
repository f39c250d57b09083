"""Property-based tests: random specs never crash validation, and valid ones render faithfully.

Specs are drawn field by field, mostly from each field's valid shapes (so a good share is
valid and renders) and sometimes from wrong types, out-of-range numbers, arbitrary text and
unknown keys. The properties:

- validation of any spec, any YAML text and any bytes either succeeds or raises SpecError
  whose diagnostics are one line each; never another exception;
- every valid spec renders, and renders the same bytes twice;
- in every valid spec's bundle the argv survives each target's quoting: the unit's ExecStart
  (read with systemd's rules), the Dockerfile's exec form, compose `command:` and Kubernetes
  `args` (YAML plus `$$` unescape) all give back the argv the drawn values ask for, written
  from the engines' flags in tests/support/expected_argv.py (never llmgen's plan).
"""

from __future__ import annotations

import json
import string
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgen.errors import SpecError
from llmgen.render.bundle import render
from llmgen.rules.analysis import Analysis, validate_text
from llmgen.spec.models import (
    IMAGE_TAG_PATTERN,
    NAME_PATTERN,
    PATH_PATTERN,
    REVISION_PATTERN,
    SERVED_NAME_PATTERN,
    SIZE_PATTERN,
)
from llmgen.spec.yaml_loader import decode_spec_bytes, parse_yaml
from tests.support.expected_argv import container_argv, native_argv
from tests.support.systemd_syntax import exec_start_argv

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def regex(pattern: str, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= max_size)


printable = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)

hosts = st.sampled_from(["127.0.0.1", "::1", "0.0.0.0", "::", "10.1.2.3", "fe80::1"])


ids = regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}/[A-Za-z0-9][A-Za-z0-9._-]{0,20}").filter(
    lambda s: "gguf" not in s.lower()
)
# The engines' executables (../shared/engines/README.md, the image rows); the unit's default
# path for them is /usr/local/bin/<binary> (spec.models, `server.executable`).
EXECUTABLE = {"vllm": "vllm", "tgi": "text-generation-launcher", "llamacpp": "llama-server"}
value_flag = {
    "vllm": "--chat-template",
    "tgi": "--tokenizer-config-path",
    "llamacpp": "--chat-template",
}


@st.composite
def valid_spec_data(draw: st.DrawFn) -> dict[str, Any]:
    """A spec built to pass every engine rule (hostile but legal text included)."""
    engine = draw(st.sampled_from(["vllm", "tgi", "llamacpp"]))
    model: dict[str, Any] = {}
    if draw(st.booleans()):
        repo = draw(ids)
        model["id"] = repo + (
            "-GGUF" + draw(st.sampled_from(["", ":Q4_K_M"])) if engine == "llamacpp" else ""
        )
    else:
        path = draw(
            regex(PATH_PATTERN, 60).filter(
                lambda p: (
                    ".." not in p.split("/")
                    and "." not in p.split("/")
                    and "//" not in p.rstrip("/")
                    and p != "/"
                )
            )
        )
        model["path"] = path.rstrip("/") + ".gguf" if engine == "llamacpp" else path
    if engine != "tgi" and draw(st.booleans()):
        model["served_name"] = draw(regex(SERVED_NAME_PATTERN))
    if engine != "llamacpp" and draw(st.booleans()):
        model["revision"] = draw(regex(REVISION_PATTERN))

    server: dict[str, Any] = {"host": draw(hosts), "port": draw(st.integers(1, 65535))}
    if draw(st.booleans()):
        server["api_key_env"] = draw(regex(r"LLM_[A-Z0-9_]{0,10}"))
    elif server["host"] not in ("127.0.0.1", "::1"):
        server["allow_unauthenticated"] = True
    if draw(st.booleans()):
        server["executable"] = draw(
            st.from_regex(r"/[a-z]{1,8}(/[a-z0-9_+-][a-z0-9._+-]{0,7}){0,3}", fullmatch=True)
        )

    gpus = draw(st.integers(0, 8))
    context = draw(st.integers(64, 65536))
    runtime: dict[str, Any] = {"gpus": gpus, "context_length": context}
    if engine == "vllm":
        parallel = draw(st.integers(1, 256))
        runtime |= {"parallel": parallel, "batch_size": draw(st.integers(parallel, 65536))}
        runtime["kv_cache_memory"] = draw(regex(SIZE_PATTERN, 8))
        runtime["enforce_eager"] = draw(st.booleans())
        runtime["dtype"] = draw(st.sampled_from(["auto", "float16", "bfloat16", "float32"]))
        if gpus:
            runtime["gpu_memory_fraction"] = draw(st.floats(0.05, 1.0))
        else:
            runtime["threads"] = draw(st.integers(1, 64))
    elif engine == "tgi":
        max_input = draw(st.integers(1, context - 1))
        runtime |= {
            "max_input_tokens": max_input,
            "batch_size": draw(st.integers(max_input, 131072)),
        }
        runtime["parallel"] = draw(st.integers(1, 1024))
        runtime["dtype"] = draw(st.sampled_from(["auto", "float16", "bfloat16"]))
        if not gpus:
            runtime["threads"] = draw(st.integers(1, 64))
    else:
        runtime["parallel"] = draw(st.integers(1, 8))
        runtime["threads"] = draw(st.integers(1, 64))
        if gpus:
            runtime["gpu_layers"] = draw(st.one_of(st.integers(0, 100), st.just("all")))
    if draw(st.booleans()):
        runtime["extra_args"] = [value_flag[engine], draw(printable)]
    data: dict[str, Any] = {
        "name": draw(regex(NAME_PATTERN, 63)),
        "engine": engine,
        "model": model,
        "server": server,
        "runtime": runtime,
    }
    if draw(st.integers(0, 3)) == 0:
        data["container"] = {
            "image_tag": draw(regex(IMAGE_TAG_PATTERN, 20).filter(lambda t: t != "latest"))
        }
    return data


@st.composite
def spec_data(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec, often with one or more values replaced by junk or wrong shapes."""
    data = draw(valid_spec_data())
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        section = draw(
            st.sampled_from(["name", "engine", "model", "server", "runtime", "container", "extra"])
        )
        if section in ("name", "engine"):
            data[section] = draw(st.one_of(junk, printable))
        elif section == "extra":
            data[draw(st.sampled_from(["nmae", "Model", "x-extra"]))] = draw(junk)
        else:
            target = data.setdefault(section, {})
            key = draw(
                st.sampled_from(
                    {
                        "model": ["id", "path", "served_name", "revision", "typo"],
                        "server": [
                            "host",
                            "port",
                            "api_key_env",
                            "allow_unauthenticated",
                            "executable",
                        ],
                        "runtime": [
                            "context_length",
                            "batch_size",
                            "parallel",
                            "threads",
                            "gpu_layers",
                            "gpus",
                            "gpu_memory_fraction",
                            "kv_cache_memory",
                            "enforce_eager",
                            "max_input_tokens",
                            "dtype",
                            "extra_args",
                        ],
                        "container": ["image_tag"],
                    }[section]
                )
            )
            target[key] = draw(st.one_of(junk, printable, st.lists(printable, max_size=3)))
    return data


def _validate(data: dict[str, Any]) -> Analysis | None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    try:
        return validate_text(text, "spec.yaml")
    except SpecError as exc:
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            assert "\n" not in diagnostic.format(), diagnostic
        return None


@SETTINGS
@given(spec_data())
def test_validate_never_crashes(data: dict[str, Any]) -> None:
    _validate(data)


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_validate_never_crashes_on_any_text(text: str) -> None:
    try:
        validate_text(text, "spec.yaml")
    except SpecError as exc:
        assert all("\n" not in d.format() for d in exc.diagnostics)


@SETTINGS
@given(st.binary(max_size=300))
def test_decoding_and_parsing_never_crash_on_any_bytes(raw: bytes) -> None:
    try:
        parse_yaml(decode_spec_bytes(raw, "spec.yaml"), "spec.yaml")
    except SpecError as exc:
        assert all("\n" not in d.format() for d in exc.diagnostics)


def _unescape_dollars(value: str) -> str:
    assert "$" not in value.replace("$$", ""), value
    return value.replace("$$", "$")


@SETTINGS
@given(spec_data())
def test_valid_specs_render_deterministically_and_keep_their_argv(data: dict[str, Any]) -> None:
    validated = _validate(data)
    if validated is None:
        return
    first = render(validated.spec)
    second = render(validated.spec)
    assert first.files == second.files
    assert json.loads(first.files["manifest.json"])["files"].keys() == set(first.files) - {
        "manifest.json"
    }
    # The argv each target carries, read back with its own quoting rules, against the argv
    # the drawn values ask for, written from the engines' flags (tests/support/expected_argv.py).
    native, inside = native_argv(data), container_argv(data)
    executable = data["server"].get("executable", f"/usr/local/bin/{EXECUTABLE[data['engine']]}")
    unit = first.files[f"{validated.spec.name}.service"]
    assert exec_start_argv(unit) == [executable, *native]
    cmd = [line for line in first.files["Dockerfile"].splitlines() if line.startswith("CMD ")]
    assert json.loads(cmd[0][4:]) == inside
    compose = yaml.safe_load(first.files["compose.yaml"])
    service = compose["services"][validated.spec.name]
    assert [_unescape_dollars(a) for a in service["command"]] == inside
    kubernetes = list(yaml.safe_load_all(first.files["kubernetes.yaml"]))
    container = kubernetes[0]["spec"]["template"]["spec"]["containers"][0]
    pod_args = [_unescape_dollars(a) for a in container["args"]]
    if data["engine"] == "llamacpp" and "--threads" not in inside:
        # The pod gives llama.cpp its CPU limit as --threads (it ignores CPU quotas).
        at = pod_args.index("--threads")
        assert pod_args[at + 1] == container["resources"]["limits"]["cpu"]
        del pod_args[at : at + 2]
    assert pod_args == inside
    assert all(c in string.printable or ord(c) > 127 for c in "".join(first.files.values()))


def test_the_strategy_reaches_valid_specs_for_every_engine() -> None:
    # Guards the property above against a strategy that only ever produces invalid specs.
    found: dict[str, int] = {}

    @settings(max_examples=300, deadline=None, database=None)
    @given(spec_data())
    def collect(data: dict[str, Any]) -> None:
        validated = _validate(data)
        if validated is not None:
            found[validated.spec.engine] = found.get(validated.spec.engine, 0) + 1

    collect()
    assert set(found) == {"vllm", "tgi", "llamacpp"}, found
