"""Hostile values in every string field: refused with a message naming the field, or inert.

A corpus of hostile text (command substitution, backticks, both quotes, newlines, `;`, `&&`,
globs, a leading `-`, systemd `%` specifiers and `$` variables, compose `${VAR}`, Kubernetes
`$(VAR)`, YAML specials, invisible and non-ASCII characters, very long strings) goes into every
string field of a spec, for every engine, through a real YAML file. For each value either

- validation refuses it, with an error whose spec path is that field (and one line of text), or
- it renders, and then the value reaches the engine as exactly the argv the spec asks for,
  written from the engines' flags in tests/support/expected_argv.py (never llmgen's plan):
  launch.sh and docker-run.sh are *executed* with stand-in `vllm`/`llama-server`/`docker`/
  `curl` executables first on PATH (no engine, daemon or server runs here: the stand-ins only
  record their argv and environment, and say so); the unit's `ExecStart=` is read back with a
  parser of systemd's quoting rules (tests/support/systemd_syntax.py); the Dockerfile's exec
  form as JSON; compose `command:` as YAML plus compose's `$$` unescape; Kubernetes `args` as
  YAML plus Kubernetes' `$$` unescape; the clients' literals with Python's ast and node.

`touch` payloads point at a canary path in the test's temp directory, which must never
appear; the scripts run with their working directory in tmp, and the repository's top level,
examples/ and templates/ must be unchanged afterwards.

A second test (marked linters) hands the hostile extra_args bundles to the real parsers:
Docker Compose v2 `config` and `systemd-analyze verify`.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmgen.errors import Severity, SpecError
from llmgen.render.bundle import render
from llmgen.rules.analysis import validate_text
from tests.conftest import REPO
from tests.support.bundles import compose_binary, require_tool, write_files
from tests.support.expected_argv import container_argv, native_argv, served_name
from tests.support.systemd_syntax import exec_start_argv, undouble

ENGINES = ("vllm", "tgi", "llamacpp")

HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    "'$(touch {canary})'",
    '"$(touch {canary})"',
    "x'; touch {canary}; echo '",
    'x"; touch {canary}; echo "',
    "x\ntouch {canary}",
    "x\r\nExecStartPre=/usr/bin/touch {canary}",
    "x; touch {canary}",
    "x && touch {canary}",
    "x | tee {canary}",
    "x > {canary}",
    "*",
    "/*",
    "-rf",
    "--help",
    "%n%h%%%",
    "%",
    "$HOME",
    "${HOME}",
    "${HF_TOKEN:-leak}",
    "$(HF_TOKEN)",
    "$$",
    "\\",
    "a\\",
    "\\x41\\n",
    ";",
    "&",
    "!",
    "#not a comment",
    ": colon",
    "- dash",
    "&anchor",
    "*alias",
    "!!python/object/apply:os.system",
    "{a: b}",
    "[1, 2]",
    "yes",
    "null",
    "~",
    "0x1F",
    "1e3",
    "  spaced  ",
    "tab\there",
    "é ü ß 中文",
    "😀",
    "\u2028",
    "\x85",
    "\ufeff",
    "\u202e",
    "",
    "x" * 4096,
    "y" * 100_000,
]

# The releases pinned, so the expected image tags below stay those of these releases when
# llmgen's newest known release moves.
BASE: dict[str, dict[str, Any]] = {
    "vllm": {
        "name": "inj",
        "engine": "vllm",
        "engine_version": "0.34.0",
        "model": {"id": "org/model"},
    },
    "tgi": {
        "name": "inj",
        "engine": "tgi",
        "engine_version": "3.3.7",
        "model": {"id": "org/model"},
    },
    "llamacpp": {
        "name": "inj",
        "engine": "llamacpp",
        "engine_version": "b11434",
        "model": {"id": "org/model-GGUF"},
    },
}
# A flag that takes a free-text value, per engine, to carry hostile text in extra_args.
VALUE_FLAG = {
    "vllm": "--chat-template",
    "tgi": "--tokenizer-config-path",
    "llamacpp": "--chat-template",
}

STAND_IN = """#!/bin/bash
# Stand-in for {what}: the real one cannot run here. It records its argv and environment
# (NUL-separated) and exits, so the test sees exactly what the script would hand over.
{body}
"""
RECORD = 'printf "%s\\0" "$@" > "$LLMGEN_RECORD.$(basename "$0").argv"'
ENGINE_BODY = RECORD + '\nenv -0 > "$LLMGEN_RECORD.$(basename "$0").env"\nexit 0'
DOCKER_BODY = (
    """case "$1" in
    info) [ "${2:-}" = "--format" ] && echo '{"nvidia":{}}'; exit 0 ;;
    run) """
    + RECORD
    + """; exit 0 ;;
esac
exit 3"""
)
# A non-streamed answer, then the status line client.sh asks for with -w '\n%{http_code}\n'.
CURL_BODY = (
    RECORD
    + '\ncat > "$LLMGEN_RECORD.curl.stdin"'
    + """\nprintf '%s\\n200\\n' '{"choices":[{"message":{"content":"ok"}}]}'\nexit 0"""
)


@dataclasses.dataclass
class Case:
    """Where one value is tried: the temp dirs, the canary, the stand-ins."""

    root: Path
    canary: Path
    bin_dir: Path
    cwd: Path
    javascript: list[tuple[str, str]] = dataclasses.field(
        default_factory=list
    )  # (literal, expected)

    def value(self, raw: str) -> str:
        return raw.replace("{canary}", str(self.canary))


@pytest.fixture(scope="module", autouse=True)
def _nothing_outside_tmp_changes() -> Iterator[None]:
    """Snapshot the repository's top level, examples/ and templates/, and the cwd."""

    def snapshot() -> dict[str, float]:
        found = {f"top:{p.name}": 0.0 for p in REPO.iterdir()}
        found |= {f"cwd:{p.name}": 0.0 for p in Path.cwd().iterdir()}
        for folder in ("examples", "templates"):
            for path in (REPO / folder).rglob("*"):
                found[str(path)] = path.stat().st_mtime
        return found

    before = snapshot()
    yield
    after = snapshot()
    assert after == before, {k for k in before.keys() ^ after.keys()} or "mtimes changed"


@pytest.fixture
def case(tmp_path: Path) -> Case:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("vllm", "text-generation-launcher", "llama-server"):
        _stand_in(bin_dir / name, f"the {name} engine", ENGINE_BODY)
    _stand_in(bin_dir / "docker", "the docker CLI and a daemon", DOCKER_BODY)
    _stand_in(bin_dir / "curl", "curl and a running server", CURL_BODY)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Case(tmp_path, tmp_path / "canary" / "PWNED", bin_dir, cwd)


def _stand_in(path: Path, what: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STAND_IN.format(what=what, body=body))
    path.chmod(0o755)


# --- where each field's value goes -----------------------------------------------------------


def _candidates(field: str, engine: str, raw: str, case: Case) -> list[Any]:
    """The field values built around one hostile text: alone and embedded in a valid shape."""
    v = case.value(raw)
    gguf = ".gguf" if engine == "llamacpp" else ""
    shapes: dict[str, list[Any]] = {
        "name": [v, f"inj-{v}"],
        "model.id": [v, f"org/{v}"],
        "model.path": [v, f"/models/{v}{gguf}"],
        "model.revision": [v, f"refs/{v}"],
        "model.served_name": [v, f"m-{v}"],
        "server.host": [v, f"::1%{v}", f"127.0.0.1{v}"],
        "server.api_key_env": [v, f"KEY{v}"],
        "server.executable": [v, f"{case.bin_dir}/custom/{v}"],
        "runtime.kv_cache_memory": [v, f"1G{v}"],
        # llama-server has no `--x=v` form (common/arg.cpp b11434 looks the whole word up),
        # so llmgen refuses it there; the value goes after the flag instead.
        "runtime.extra_args": [
            [v],
            [VALUE_FLAG[engine], v],
            [f"{VALUE_FLAG[engine]}={v}"]
            if engine != "llamacpp"
            else [VALUE_FLAG[engine], f"x{v}"],
        ],
        "container.image_tag": [v, f"1.0{v}"],
    }
    return shapes[field]


FIELDS = (
    "name",
    "model.id",
    "model.path",
    "model.revision",
    "model.served_name",
    "server.host",
    "server.api_key_env",
    "server.executable",
    "runtime.kv_cache_memory",
    "runtime.extra_args",
    "container.image_tag",
)


def _spec_data(engine: str, field: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE[engine])
    section, _, key = field.partition(".")
    if not key:
        data[section] = value
    elif field in ("model.id", "model.path"):
        data["model"] = {key: value}
    else:
        *parents, last = field.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


# --- the checks once a value rendered --------------------------------------------------------


def _records(case: Case, program: str) -> list[str]:
    raw = (case.root / f"record.{program}.argv").read_bytes()
    return raw.decode("utf-8").split("\0")[:-1]


def _environment(case: Case, program: str) -> dict[str, str]:
    raw = (case.root / f"record.{program}.env").read_bytes().decode("utf-8")
    return dict(item.split("=", 1) for item in raw.split("\0") if item)


def _run_script(case: Case, script: Path, key_var: str | None, *args: str) -> None:
    env = {
        "PATH": f"{case.bin_dir}:{os.environ['PATH']}",
        "HOME": str(case.root),
        "LLMGEN_RECORD": str(case.root / "record"),
    }
    if key_var:
        env[key_var] = "test-api-key"  # the scripts refuse to start without the key
    for stale in case.root.glob("record.*"):
        stale.unlink()  # what is compared afterwards was recorded by this run
    result = subprocess.run(
        [str(script), *args], cwd=case.cwd, env=env, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, (script.name, result.stdout, result.stderr)


def _unescape_dollars(value: str) -> str:
    """compose and Kubernetes both read `$$` as `$`; a lone `$` would be expanded: refuse it."""
    return undouble(value, "$")


# The engine's variable for the API key (../shared/engines/README.md, "API key" row).
API_KEY_VAR = {"vllm": "VLLM_API_KEY", "tgi": "API_KEY", "llamacpp": "LLAMA_API_KEY"}
# The executables (the same README's image rows: `vllm serve`, the launcher, /app/llama-server)
# and the unit's default path for them (spec.models' `server.executable`: /usr/local/bin/<binary>).
EXECUTABLE = {"vllm": "vllm", "tgi": "text-generation-launcher", "llamacpp": "llama-server"}
# The CPU images of the pinned releases (the same README's "CPU image" row).
IMAGE = {
    "vllm": ("vllm/vllm-openai-cpu", "v0.34.0-x86_64"),
    "tgi": ("ghcr.io/huggingface/text-generation-inference", "3.3.7-intel-cpu"),
    "llamacpp": ("ghcr.io/ggml-org/llama.cpp", "server-b11434"),
}


def _check_rendered(case: Case, out: Path, data: dict[str, Any], field: str) -> None:
    """Read each rendered command back and compare it with the argv the spec asks for,
    written from the engines' flags (tests/support/expected_argv.py), never with the plan."""
    engine = data["engine"]
    native = native_argv(data)
    inside = container_argv(data)
    served = served_name(data)
    key_var = data.get("server", {}).get("api_key_env")

    # launch.sh, executed: the stand-in engine gets exactly that argv.
    default_unit = f"/usr/local/bin/{EXECUTABLE[engine]}"
    unit_executable = data.get("server", {}).get("executable", default_unit)
    if field == "server.executable":
        assert unit_executable.startswith(str(case.root))
        _stand_in(Path(unit_executable), "the engine (custom path)", ENGINE_BODY)
    _run_script(case, out / "launch.sh", key_var)
    program = Path(unit_executable).name if field == "server.executable" else EXECUTABLE[engine]
    assert _records(case, program) == native
    if key_var:
        assert _environment(case, program)[API_KEY_VAR[engine]] == "test-api-key"

    # docker-run.sh, executed: `docker run ... IMAGE` then exactly the container's argv.
    _run_script(case, out / "docker-run.sh", key_var)
    docker = _records(case, "docker")
    name = str(data["name"])
    assert docker[docker.index("--name") + 1] == name
    repository, tag = IMAGE[engine]
    image = f"{repository}:{data.get('container', {}).get('image_tag', tag)}"
    image_at = docker.index(image)
    assert docker[image_at + 1 :] == inside

    # The systemd unit, read back with systemd's quoting rules.
    unit = (out / f"{name}.service").read_text("utf-8")
    assert exec_start_argv(unit) == [unit_executable, *native]

    # Dockerfile exec form is JSON.
    dockerfile = (out / "Dockerfile").read_text("utf-8").splitlines()
    cmd = [line for line in dockerfile if line.startswith("CMD ")]
    assert len(cmd) == 1 and json.loads(cmd[0][4:]) == inside

    # compose: YAML, then compose's `$$` unescape.
    compose = yaml.safe_load((out / "compose.yaml").read_text("utf-8"))
    assert compose["name"] == name
    command = compose["services"][name]["command"]
    assert [_unescape_dollars(item) for item in command] == inside

    # Kubernetes: YAML, then Kubernetes' `$$` unescape in args.
    documents = list(yaml.safe_load_all((out / "kubernetes.yaml").read_text("utf-8")))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == name
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    pod_args = [_unescape_dollars(item) for item in container["args"]]
    if engine == "llamacpp" and "--threads" not in inside:
        # The pod adds its CPU limit as llama.cpp's --threads (llama.cpp ignores CPU quotas),
        # and nothing else.
        at = pod_args.index("--threads")
        assert pod_args[at + 1] == container["resources"]["limits"]["cpu"]
        del pod_args[at : at + 2]
    assert pod_args == inside

    # The Python client's literals.
    tree = ast.parse((out / "clients" / "client.py").read_text("utf-8"))
    constants = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert ast.literal_eval(constants["MODEL"]) == served

    if field in ("name", "model.id", "model.path", "model.served_name", "server.host"):
        _check_clients_run(case, out, served, key_var)


def _check_clients_run(case: Case, out: Path, served: str, key_var: str | None) -> None:
    """client.sh (executed, stand-in curl) and client.mjs (node) send the spec's model."""
    _run_script(case, out / "clients" / "client.sh", key_var, "hello $(touch", str(case.canary))
    curl = _records(case, "curl")
    # server.host 127.0.0.1 and port 8000 (the only host that renders here, and the default).
    assert "http://127.0.0.1:8000/v1/chat/completions" in curl
    body = json.loads(curl[curl.index("-d") + 1])
    assert body["model"] == served
    assert body["messages"][0]["content"] == f"hello $(touch {case.canary}"

    source = (out / "clients" / "client.mjs").read_text("utf-8")
    literals = [
        line.removeprefix("const MODEL = ").removesuffix(";")
        for line in source.splitlines()
        if line.startswith("const MODEL = ")
    ]
    assert len(literals) == 1
    case.javascript.append((literals[0], served))


def _check_javascript_literals(case: Case) -> None:
    """Evaluate every collected client.mjs model literal in one node run (node starts slowly)."""
    if not case.javascript:
        return
    node = require_tool("node", "apt-get install nodejs")
    program = (
        "process.stdout.write(JSON.stringify(["
        + ",".join(literal for literal, _ in case.javascript)
        + "]))"
    )
    shown = subprocess.run(
        [node, "-e", program], capture_output=True, text=True, check=True, cwd=case.cwd, timeout=600
    )
    assert json.loads(shown.stdout) == [expected for _, expected in case.javascript]


# --- the test ----------------------------------------------------------------------------------


def _spec_yaml(data: dict[str, Any]) -> str:
    """The spec as a YAML file that means exactly `data`.

    Non-ASCII text is written literally where that round-trips; PyYAML's emitter writes NEL
    and U+2028 literally too, which YAML 1.1 then reads as a line break, so for those the
    file uses escapes instead.
    """
    for literal in (True, False):
        text = yaml.safe_dump(data, allow_unicode=literal, sort_keys=False, width=1_000_000)
        if yaml.safe_load(text) == data:
            return text
    raise AssertionError(f"no YAML round-trips {data!r}")


def _try(case: Case, engine: str, field: str, value: Any, index: int) -> str:
    """'refused' or 'rendered'; raises AssertionError on anything else."""
    text = _spec_yaml(_spec_data(engine, field, value))
    try:
        validated = validate_text(text, "spec.yaml")
    except SpecError as exc:
        errors = [d for d in exc.diagnostics if d.severity is Severity.ERROR]
        assert errors, exc.diagnostics
        for diagnostic in errors:
            assert diagnostic.path == field or diagnostic.path.startswith(field + "."), (
                f"{field}={value!r}: error names {diagnostic.path!r}: {diagnostic.format()}"
            )
            line = diagnostic.format()
            assert "\n" not in line and field in line
        return "refused"
    bundle = render(validated.spec)
    out = write_files(bundle.files, case.root / f"out-{index}")
    _check_rendered(case, out, yaml.safe_load(text), field)
    return "rendered"


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_hostile_value_is_refused_or_inert(case: Case, engine: str, field: str) -> None:
    outcomes: dict[str, list[str]] = {"refused": [], "rendered": []}
    failures = []
    index = 0
    for raw in HOSTILE:
        for value in _candidates(field, engine, raw, case):
            index += 1
            try:
                outcomes[_try(case, engine, field, value, index)].append(repr(value)[:40])
            except AssertionError as exc:
                failures.append(f"{field} = {repr(value)[:80]}: {str(exc)[:600]}")
    _check_javascript_literals(case)
    assert not failures, "\n".join(failures)
    assert not case.canary.exists()
    assert not case.canary.parent.exists()
    assert sorted(p.name for p in case.cwd.iterdir()) == []
    assert outcomes["refused"], "every hostile value was accepted: is validation running?"
    if field == "runtime.extra_args":
        # Free-form by design: every printable value is carried in the value position.
        assert len(outcomes["rendered"]) > len(HOSTILE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "yes"),
        ("name", "null"),
        ("name", "no"),
        ("model.path", "/models/  spaced  "),
        ("model.path", "/models/a,b=c@d+e"),
        ("model.served_name", "org/model:v1@2+3"),
    ],
)
def test_hostile_looking_but_legitimate_values_are_accepted(
    case: Case, field: str, value: str
) -> None:
    # The character rules are no blanket refusal: YAML keywords as names and paths with spaces
    # and punctuation render, and are carried inertly.
    assert _try(case, "vllm", field, value, 0) == "rendered"
    _check_javascript_literals(case)


# --- the real parsers on the same hostile extra_args -------------------------------------


@pytest.mark.linters
@pytest.mark.parametrize("engine", ENGINES)
def test_real_compose_and_systemd_read_hostile_args_back(engine: str, tmp_path: Path) -> None:
    compose = compose_binary()
    systemd_analyze = require_tool("systemd-analyze", "apt-get install systemd")
    from tests.render.test_linters import _scratch_root

    failures = []
    for index, raw in enumerate(HOSTILE):
        value = raw.replace("{canary}", str(tmp_path / "canary"))
        data = _spec_data(engine, "runtime.extra_args", [VALUE_FLAG[engine], value])
        try:
            spec = validate_text(_spec_yaml(data), "spec.yaml").spec
        except SpecError:
            continue
        bundle = render(spec)
        out = write_files(bundle.files, tmp_path / f"out-{index}")
        result = subprocess.run(
            [compose, "-f", "compose.yaml", "config", "--format", "json"],
            cwd=out,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
            timeout=600,
        )
        if result.returncode != 0 or result.stderr:
            failures.append(f"compose {value[:40]!r}: {result.stderr[:300]}")
            continue
        # `config` prints the model with `$$` kept as written (it round-trips); the container
        # gets the unescaped value.
        command = json.loads(result.stdout)["services"][spec.name]["command"]
        if [_unescape_dollars(c) for c in command] != container_argv(data):
            failures.append(f"compose {value[:40]!r}: {command[-1][:80]!r}")
        unit = f"{spec.name}.service"
        root = _scratch_root(
            tmp_path / f"root-{index}",
            unit,
            (out / unit).read_text("utf-8"),
            f"/usr/local/bin/{EXECUTABLE[engine]}",
        )
        verify = subprocess.run(
            [systemd_analyze, "verify", "--man=no", "--generators=no", f"--root={root}", unit],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if verify.returncode != 0 or verify.stdout or verify.stderr:
            failures.append(f"systemd {value[:40]!r}: {(verify.stdout + verify.stderr)[:300]}")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "canary").exists()


# --- the character rules are documented and named in errors -----------------------------------


def _patterned_fields() -> dict[str, str]:
    """Dotted field path -> pattern, from the JSON Schema generated from spec.py."""
    from llmgen.spec.schema import schema_text

    schema = json.loads(schema_text())
    found: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                walk(schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], path)
            if "pattern" in node:
                found[path] = node["pattern"]
            for key, value in node.get("properties", {}).items():
                walk(value, f"{path}.{key}" if path else key)
            for key in ("anyOf", "allOf", "oneOf"):
                for option in node.get(key, []):
                    walk(option, path)

    walk(schema, "")
    return found


def test_the_rules_document_quotes_every_pattern() -> None:
    doc = (REPO / "docs" / "spec-rules.md").read_text("utf-8")
    fields = _patterned_fields()
    assert len(fields) >= 8, fields
    for path, pattern in fields.items():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{path}` |")), None)
        assert row is not None, f"docs/spec-rules.md has no row for {path}"
        assert f"`{pattern}`" in row, f"docs/spec-rules.md: {path} does not quote {pattern}"
    for path in ("server.host", "runtime.extra_args"):
        assert f"| `{path}`" in doc


@pytest.mark.parametrize("field", sorted(_patterned_fields()))
def test_a_pattern_error_names_the_field_and_states_the_rule(field: str) -> None:
    engine = "llamacpp" if field == "model.id" else "vllm"
    value = "bad value ;$(x)" if field != "model.path" else "/bad:value"
    with pytest.raises(SpecError) as caught:
        validate_text(_spec_yaml(_spec_data(engine, field, value)), "spec.yaml")
    (diagnostic,) = caught.value.diagnostics
    line = diagnostic.format()
    assert line.startswith("spec.yaml:") and f": error: {field}: " in line
    assert "is not valid: must be " in diagnostic.message
    assert "an allowed value" not in diagnostic.message  # a rule text exists for the field
    assert diagnostic.hint == "the character rules per field are in docs/spec-rules.md"
