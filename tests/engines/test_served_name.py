"""The model name in every generated client is exactly the name the server will report.

What each engine reports in /v1/models: vLLM the --served-model-name value, llama.cpp the
--alias value, TGI the --model-id string itself (it has no rename flag). The end-to-end proof
against a real llama-server lives in the verify tests.
"""

from __future__ import annotations

import ast
import json
import re
import shlex

import pytest

from llmgen.render.bundle import render
from llmgen.spec.models import Spec, parse_spec
from tests.spec_matrix import matrix

MATRIX = matrix()
NAME_FLAG = {"vllm": "--served-model-name", "llamacpp": "--alias", "tgi": "--model-id"}


def value_after(args: tuple[str, ...], flag: str) -> str:
    return args[args.index(flag) + 1]


def python_client_model(source: str) -> str:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODEL":
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError("client.py has no MODEL constant")


def javascript_client_model(source: str) -> str:
    match = re.search(r"^const MODEL = (.*);$", source, re.MULTILINE)
    assert match, "client.mjs has no model constant"
    value = json.loads(match.group(1))
    assert isinstance(value, str)
    return value


def shell_client_model(source: str) -> str:
    line = next(line for line in source.splitlines() if line.startswith("model="))
    # One shell word: the assignment's value as the shell reads it.
    (value,) = shlex.split(line.removeprefix("model="))
    return value


@pytest.mark.parametrize(("name", "spec"), MATRIX, ids=[n for n, _ in MATRIX])
def test_clients_send_the_name_the_server_reports(name: str, spec: Spec) -> None:
    bundle = render(spec)
    served = value_after(bundle.plan.args, NAME_FLAG[spec.engine])
    assert bundle.plan.served_name == served
    assert python_client_model(bundle.files["clients/client.py"]) == served
    assert javascript_client_model(bundle.files["clients/client.mjs"]) == served
    assert shell_client_model(bundle.files["clients/client.sh"]) == served
    assert json.loads(bundle.files["manifest.json"])["served_model_name"] == served


def test_default_names_follow_each_engine() -> None:
    def served(engine: str, model: dict[str, str]) -> str:
        spec = parse_spec({"name": "n", "engine": engine, "model": model})
        return render(spec).plan.served_name

    assert served("vllm", {"id": "org/m"}) == "org/m"
    assert served("vllm", {"path": "/m/dir/"}) == "dir"
    assert served("tgi", {"path": "/m/dir"}) == "/m/dir"
    assert served("llamacpp", {"id": "org/m-GGUF:Q8_0"}) == "org/m-GGUF"
    assert served("llamacpp", {"path": "/m/a.gguf"}) == "a.gguf"
