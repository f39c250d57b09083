"""`llmgen explain`: every rendered flag and variable with its origin and the engine's help."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.engines import ENGINES
from llmgen.render.bundle import render
from llmgen.rules.analysis import validate_file

EXAMPLE = Path(__file__).parents[2] / "examples" / "vllm-cpu-smollm2.yaml"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["explain", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_every_rendered_flag_is_explained_with_the_table_help() -> None:
    plan = render(validate_file(EXAMPLE).spec).plan
    table = ENGINES["vllm"].flag_table
    lines = json.loads(run(str(EXAMPLE), "--format", "json"))
    names = {line["name"] for line in lines if line["kind"] == "flag"}
    rendered = {arg.split("=", 1)[0] for arg in plan.args if arg.startswith("--")}
    assert rendered <= names
    by_name = {line["name"]: line for line in lines}
    # The meaning is the vLLM 0.33.0 flag table's help column; the origin the spec field.
    assert by_name["--max-model-len"]["meaning"] == table.get("--max-model-len").help
    assert by_name["--max-model-len"]["origin"] == "runtime.context_length"
    assert by_name["--max-num-seqs"]["origin"] == "runtime.parallel"


def test_extra_args_items_and_moved_variables_name_their_origin(tmp_path: Path) -> None:
    spec = tmp_path / "tgi.yaml"
    spec.write_text(
        "name: demo\nengine: tgi\nmodel: {path: /models/my model}\n"
        'runtime:\n  gpus: 1\n  extra_args: ["--max-best-of", "3"]\n'
    )
    lines = {line["name"]: line for line in json.loads(run(str(spec), "--format", "json"))}
    assert lines["--max-best-of"]["origin"] == "runtime.extra_args.0"
    # TGI's GPU image word-splits its arguments: the path travels as MODEL_ID instead.
    assert lines["MODEL_ID"]["value"] == "/models/my model"
    assert lines["MODEL_ID"]["origin"] == "model"
    assert lines["MODEL_ID"]["targets"] == "container"


def test_text_output_is_one_line_per_item_and_bad_specs_fail_cleanly(tmp_path: Path) -> None:
    text = run(str(EXAMPLE))
    assert "--max-model-len 2048" in text
    assert "runtime.context_length" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: demo\nengine: vllm\nmodel: {id: org/model}\nruntime: {gpus: 1, "
        'extra_args: ["-tp", "2"]}\n'
    )
    result = CliRunner().invoke(main, ["explain", str(bad)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "conflicts with runtime.gpus: 1" in result.stderr
    assert "Traceback" not in result.stderr
