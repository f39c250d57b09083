"""Engine knowledge lives only in llmgen/engines/: no other module names an engine.

Adding an engine is then its adapter module, its flag table and one name in
engines/registry.py; nothing else branches on which engine it is. Read with `ast`: string
literals (docstrings and comments aside) and comparisons with an engine's `key`.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from llmgen.engines import ENGINES
from llmgen.engines.registry import DEFAULT_ENGINE, ENGINE_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "llmgen"
# Every spelling of an engine a module could branch on (written out here, not read from the
# registry, so a new engine's name has to be added to this test on purpose).
NAMES = {"vllm", "tgi", "llamacpp", "llama.cpp", "sglang"}
# Modules outside engines/ allowed to name an engine, and why.
ALLOWED = {
    # The spec's `engine` field is typed as a Literal of the names (mypy needs them spelled
    # out); test_the_registry_names_every_adapter checks it against the registry.
    "spec/models.py": "the Literal type of the engine field",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def engine_mentions(path: Path) -> list[str]:
    """`file:line: what` for each engine name or `.key` comparison in `path`."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and node.value.lower() in NAMES:
                found.append(f"{path.name}:{node.lineno}: the string {node.value!r}")
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(isinstance(s, ast.Attribute) and s.attr in ("key", "engine") for s in sides)
            if named and any(isinstance(s, ast.Constant) for s in sides):
                found.append(f"{path.name}:{node.lineno}: a comparison with an engine key")
    return sorted(found)


def test_no_module_outside_engines_names_an_engine() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("engines/") or relative in ALLOWED:
            continue
        found += [f"{relative}: {m}" for m in engine_mentions(path)]
    assert found == []


def test_the_check_finds_an_engine_branch(tmp_path: Path) -> None:
    """The check above could fail: a module that branches on an engine is caught."""
    module = tmp_path / "leaky.py"
    module.write_text(
        '"""Mentions vllm in a docstring: fine."""\n'
        "def f(engine, spec):\n"
        '    if engine.key == "vllm":\n'
        "        return 1\n"
        '    return {"llama.cpp": 2}.get(spec.engine)\n'
    )
    assert engine_mentions(module) == [
        "leaky.py:3: a comparison with an engine key",
        "leaky.py:3: the string 'vllm'",
        "leaky.py:5: the string 'llama.cpp'",
    ]


def test_the_registry_names_every_adapter() -> None:
    schema = json.loads((PACKAGE.parents[1] / "schemas" / "llmgen.schema.json").read_text())
    spec_choices = set(schema["properties"]["engine"]["enum"])
    assert (
        set(ENGINE_NAMES) == set(ENGINES) == spec_choices == {"vllm", "tgi", "llamacpp", "sglang"}
    )
    assert DEFAULT_ENGINE in ENGINE_NAMES


TEMPLATES = PACKAGE.parents[1] / "templates"


def sglang_mentions(root: Path, files: list[Path]) -> list[str]:
    """`path:line: text` of every line naming SGLang (any case, comments and docstrings
    included) in `files` outside `src/llmgen/engines/`, but the spec's engine Literal."""
    found = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        if relative.startswith("src/llmgen/engines/"):
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            allowed = relative == "src/llmgen/spec/models.py" and (
                line.startswith("EngineName = Literal[") or "Serving engine:" in line
            )
            if "sglang" in line.lower() and not allowed:
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_sglang_is_named_nowhere_outside_engines() -> None:
    """Issue 21: adding SGLang touched only its adapter, its flag table and the registry.

    Stricter than the check above for the fourth engine: any mention at all (docstrings and
    comments included) in a module or template outside engines/, but the spec's Literal. The
    generic capabilities SGLang needed (docs/design.md, "A new engine is its adapter...") are
    read by code that must not know it is SGLang's.
    """
    files = [*sorted(PACKAGE.rglob("*.py")), *sorted(TEMPLATES.rglob("*.j2"))]
    assert len(files) > 100  # the whole package and every template were read
    assert sglang_mentions(PACKAGE.parents[1], files) == []


def test_the_sglang_check_finds_a_mention(tmp_path: Path) -> None:
    """The check above could fail: a comment in a shared module, a template line, or the
    engine's title in a message are caught; the adapter itself and the Literal are not."""
    shared = tmp_path / "src" / "llmgen" / "render" / "leaky.py"
    template = tmp_path / "templates" / "native" / "leaky.sh.j2"
    adapter = tmp_path / "src" / "llmgen" / "engines" / "sglang.py"
    models = tmp_path / "src" / "llmgen" / "spec" / "models.py"
    for path, text in (
        (shared, '# the ranks recipe, as SGLang wants it\nWORDS = "ok"\n'),
        (template, "{% if plan.engine_title == 'SGLang' %}x{% endif %}\n"),
        (adapter, 'title = "SGLang"\n'),
        (models, 'EngineName = Literal["vllm", "sglang"]\n'),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert sglang_mentions(tmp_path, [shared, template, adapter, models]) == [
        "src/llmgen/render/leaky.py:1: # the ranks recipe, as SGLang wants it",
        "templates/native/leaky.sh.j2:1: {% if plan.engine_title == 'SGLang' %}x{% endif %}",
    ]
