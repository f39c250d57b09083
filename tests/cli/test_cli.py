"""The command line contract: exit codes, output locations, schema freshness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.spec.schema import schema_text
from tests.conftest import EXAMPLES, REPO

GOOD = REPO / "examples" / "llamacpp-smollm2.yaml"
BAD = REPO / "tests" / "cases" / "invalid" / "unknown-key.yaml"
WARN = REPO / "tests" / "cases" / "warning" / "vllm-cpu-kv-cache.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_validate_exit_codes() -> None:
    assert invoke("validate", str(GOOD))[0] == 0
    assert invoke("validate", str(WARN))[0] == 0
    assert invoke("validate", str(GOOD), str(BAD))[0] == 1
    assert invoke("validate")[0] == 2  # usage: no spec given
    assert invoke("validate", "--format", "xml", str(GOOD))[0] == 2


def test_validate_json_format_for_machines() -> None:
    code, out, _ = invoke("validate", "--format", "json", str(GOOD), str(BAD))
    assert code == 1
    report = json.loads(out)
    assert [entry["valid"] for entry in report] == [True, False]
    diagnostic = report[1]["diagnostics"][0]
    assert diagnostic["path"] == "server.prot"
    assert (diagnostic["line"], diagnostic["column"]) == (7, 3)
    assert diagnostic["hint"] == "did you mean 'port'?"


def test_validate_quiet_hides_warnings() -> None:
    code, _, err = invoke("validate", "-q", str(WARN))
    assert code == 0 and err == ""


def test_render_writes_default_directory(tmp_path: Path) -> None:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        code, out, _ = invoke("render", str(GOOD))
    finally:
        os.chdir(cwd)
    assert code == 0
    target = tmp_path / "out" / "smollm2-gguf"
    assert (target / "launch.sh").stat().st_mode & 0o111
    assert not (target / "Dockerfile").stat().st_mode & 0o111
    assert "clients send model 'HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF'" in out
    manifest = json.loads((target / "manifest.json").read_text())
    on_disk = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert sorted([*manifest["files"], "manifest.json"]) == on_disk


def test_render_invalid_spec_exits_1_without_writing(tmp_path: Path) -> None:
    code, _, err = invoke("render", str(BAD), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "server.prot: unknown key 'prot'" in err
    assert not (tmp_path / "o").exists()


def test_render_is_byte_identical_across_runs(tmp_path: Path) -> None:
    for example in EXAMPLES:
        first, second = tmp_path / "a" / example.stem, tmp_path / "b" / example.stem
        assert invoke("render", str(example), "-o", str(first))[0] == 0
        assert invoke("render", str(example), "-o", str(second))[0] == 0
        for path in first.rglob("*"):
            if path.is_file():
                assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()


def test_rendered_files_hold_no_build_machine_paths(tmp_path: Path) -> None:
    for example in EXAMPLES:
        assert invoke("render", str(example), "-o", str(tmp_path / example.stem))[0] == 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert str(tmp_path) not in text and str(REPO) not in text, path


def test_schema_is_current_and_valid() -> None:
    committed = (REPO / "schemas" / "llmgen.schema.json").read_text("utf-8")
    assert committed == schema_text(), "run: llmgen schema -o schemas/llmgen.schema.json"
    jsonschema.Draft202012Validator.check_schema(json.loads(committed))


def test_schema_check_command_detects_staleness(tmp_path: Path) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    assert invoke("schema", "--check", "-o", str(stale))[0] == 1
    assert invoke("schema", "-o", str(stale))[0] == 0
    assert invoke("schema", "--check", "-o", str(stale))[0] == 0


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_satisfy_the_published_schema(example: Path) -> None:
    schema = json.loads((REPO / "schemas" / "llmgen.schema.json").read_text("utf-8"))
    jsonschema.validate(yaml.safe_load(example.read_text("utf-8")), schema)


def test_every_field_has_a_description() -> None:
    schema = json.loads(schema_text())
    sections = [schema, *schema["$defs"].values()]
    for section in sections:
        for name, prop in section.get("properties", {}).items():
            assert prop.get("description"), f"{name} has no description"


def test_module_entry_point_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmgen", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert "llmgen, version" in result.stdout


def test_engines_command_lists_the_registry() -> None:
    code, out, _ = invoke("engines")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["vllm", "tgi", "llamacpp"]
