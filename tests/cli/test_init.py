"""`llmgen init`: a starter spec that validates for every engine, a schema modeline, prompts
only on a terminal (driven through a real pseudo-terminal), and no overwriting without --force.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.conftest import REPO
from tests.support.terminal import Terminal

SCHEMA = json.loads((REPO / "schemas" / "llmgen.schema.json").read_text("utf-8"))
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["version"]
ENGINES = ["llamacpp", "vllm", "tgi", "sglang"]  # the `engine` enum of the published schema, below
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def invoke(*args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    return result.exit_code, result.stderr


def test_the_engine_list_is_the_schema_s() -> None:
    engine = SCHEMA["properties"]["engine"]
    assert sorted(engine.get("enum") or [engine.get("const")]) == sorted(ENGINES)


@pytest.mark.parametrize("engine", ENGINES)
def test_starter_spec_validates_for_every_engine(engine: str, tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    code, _, err = invoke("init", "--engine", engine, "-o", str(out))
    assert code == 0, err
    code, report = validate(out)
    assert code == 0, report
    assert report.strip() == "1 spec checked: all valid"  # no warning either
    data = yaml.safe_load(out.read_text("utf-8"))
    jsonschema.validate(data, SCHEMA)
    assert data["engine"] == engine


@pytest.mark.parametrize("engine", ENGINES)
def test_the_given_model_is_used(engine: str, tmp_path: Path) -> None:
    model = "Org/Some.Model-7B-GGUF:Q4_K_M" if engine == "llamacpp" else "Org/Some.Model-7B"
    out = tmp_path / "spec.yaml"
    assert invoke("init", "--engine", engine, "--model", model, "-o", str(out))[0] == 0
    data = yaml.safe_load(out.read_text("utf-8"))
    assert data["model"] == {"id": model}
    assert data["name"] == "some-model-7b" + ("-gguf" if engine == "llamacpp" else "")
    assert validate(out)[0] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_local_model_path_becomes_model_path(engine: str, tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    model = "/srv/models/Mistral 7B.Q5_K_M.gguf" if engine == "llamacpp" else "/srv/models/m"
    assert invoke("init", "--engine", engine, "--model", model, "-o", str(out))[0] == 0
    assert yaml.safe_load(out.read_text("utf-8"))["model"] == {"path": model}
    assert validate(out) == (0, "1 spec checked: all valid\n")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", ["hub", "/srv/models/m.gguf"])
def test_every_commented_knob_validates_when_uncommented(
    engine: str, model: str, tmp_path: Path
) -> None:
    # Uncommenting an offered line must not produce a spec the engine refuses.
    args = ["init", "--engine", engine, "-o", "-"]
    if model != "hub":
        args += ["--model", model]
    text = invoke(*args)[1]
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if not stripped.startswith("# ") or ":" not in stripped or index < 3:
            continue
        key = stripped[2:].split(":", 1)[0].strip()
        if key in ("path", "container", "image_tag", "extra_args"):
            continue  # an alternative to id / a section header / a placeholder value
        edited = [*lines]
        edited[index] = line.replace("# ", "", 1)
        if "needs gpus" in line:  # offered for GPU deployments, and says so
            edited = ["  gpus: 1" if text.lstrip().startswith("gpus:") else text for text in edited]
        spec = tmp_path / f"{key}.yaml"
        spec.write_text("\n".join(edited) + "\n")
        code, report = validate(spec)
        assert code == 0, f"uncommenting {key!r} for {engine}: {report}"


def test_schema_modeline_points_at_the_released_schema(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    invoke("init", "-o", str(out))
    match = MODELINE.match(out.read_text("utf-8").splitlines()[0])
    assert match, "the first line is the yaml-language-server modeline"
    url = match.group(1)
    prefix = "https://raw.githubusercontent.com/"
    assert url.startswith(prefix)
    owner, name, tag, *path = url.removeprefix(prefix).split("/")
    assert tag == f"v{VERSION}"
    assert "/".join(path) == "schemas/llmgen.schema.json"
    assert (REPO / "/".join(path)).is_file()
    urls = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["urls"]
    assert urls["Repository"] == f"https://github.com/{owner}/{name}"


def test_schema_option_overrides_the_modeline(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    assert invoke("init", "--schema", "../schemas/llmgen.schema.json", "-o", str(out))[0] == 0
    first = out.read_text("utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/llmgen.schema.json"


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    out.write_text("mine\n")
    code, _, err = invoke("init", "-o", str(out))
    assert code == 1
    assert err.strip() == f"llmgen: {out} exists; pass --force to replace it"
    assert out.read_text() == "mine\n"
    assert invoke("init", "--force", "-o", str(out))[0] == 0
    assert validate(out)[0] == 0


def test_never_writes_through_a_symlink_without_force(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep\n")
    link = tmp_path / "spec.yaml"
    link.symlink_to(target)
    assert invoke("init", "-o", str(link))[0] == 1
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "missing.txt")
    assert invoke("init", "-o", str(dangling))[0] == 1
    assert target.read_text() == "keep\n" and not (tmp_path / "missing.txt").exists()


def test_a_directory_as_output_is_refused(tmp_path: Path) -> None:
    code, _, err = invoke("init", "-o", str(tmp_path))
    assert code == 2
    assert "is a directory" in err


def test_a_bad_model_is_refused_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    code, _, err = invoke("init", "--engine", "vllm", "--model", "not a model", "-o", str(out))
    assert code == 2
    assert "--model" in err and "'not a model' is not valid" in err
    assert not out.exists()


def test_no_prompt_when_stdin_is_not_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    # Input is available, but stdin is a pipe: nothing may be read from it.
    code, _, err = invoke("init", "-o", str(out), stdin="vllm\n")
    assert code == 0
    assert "Engine" not in err
    assert yaml.safe_load(out.read_text())["engine"] == "llamacpp"
    assert "no terminal to ask: using --engine llamacpp" in err


def test_dash_writes_to_stdout() -> None:
    code, out, _ = invoke("init", "--engine", "tgi", "-o", "-")
    assert code == 0
    assert yaml.safe_load(out)["engine"] == "tgi"


def test_prompts_on_a_terminal_for_what_is_missing(tmp_path: Path) -> None:
    terminal = Terminal("init", "-o", "spec.yaml", cwd=tmp_path)
    try:
        terminal.expect("Engine (llamacpp, vllm, tgi, sglang) [llamacpp]: ")
        terminal.send("vllm")
        terminal.expect("Model (hub id org/name, or an absolute path) [")
        terminal.send("just-a-name")  # not org/name: refused, asked again
        terminal.expect("Error: 'just-a-name' is not valid")
        terminal.expect("Model (hub id org/name, or an absolute path) [")
        terminal.send("Qwen/Qwen2.5-0.5B-Instruct")
        terminal.expect("wrote spec.yaml")
    finally:
        code = terminal.close()
    assert code == 0, terminal.seen
    data = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    assert (data["engine"], data["model"]) == ("vllm", {"id": "Qwen/Qwen2.5-0.5B-Instruct"})


def test_a_given_option_is_not_asked_again_on_a_terminal(tmp_path: Path) -> None:
    terminal = Terminal("init", "--engine", "tgi", "-o", "spec.yaml", cwd=tmp_path)
    try:
        terminal.expect("Model (hub id org/name, or an absolute path) [")
        terminal.send("")  # the default
        terminal.expect("wrote spec.yaml")
    finally:
        code = terminal.close()
    assert code == 0
    assert "Engine" not in terminal.seen
    assert yaml.safe_load((tmp_path / "spec.yaml").read_text())["engine"] == "tgi"
