"""The public API, used as a program would: only the names `import llmgen` offers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import llmgen

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "llamacpp-smollm2.yaml"
SNAPSHOTS = REPO / "tests" / "render" / "__snapshots__" / "test_snapshots"


def test_load_validate_render_a_bundled_example() -> None:
    spec = llmgen.load_spec(EXAMPLE)
    assert isinstance(spec, llmgen.Spec)
    assert (spec.name, spec.engine) == ("smollm2-gguf", "llamacpp")  # the example's own text
    assert spec.engine in llmgen.ENGINES
    assert [d for d in llmgen.validate(spec) if d.severity == "error"] == []
    files = llmgen.render(spec)
    assert llmgen.render(EXAMPLE) == files  # a path renders the same as the loaded spec
    for name in ("launch.sh", "Dockerfile", "kubernetes.yaml"):
        snapshot = SNAPSHOTS / f"test_rendered_file_matches_snapshot[llamacpp-smollm2-{name}].txt"
        assert files[name] == snapshot.read_text("utf-8"), name


def test_a_broken_spec_gives_positioned_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\n"
        "engine: llamacpp\n"
        "model:\n"
        "  id: HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M\n"
        "runtime:\n"
        "  context_length: 512\n"
        "client:\n"
        "  max_tokens: 512\n",  # line 8: no room left for the prompt
        "utf-8",
    )
    errors = [d for d in llmgen.validate(path) if d.severity == "error"]
    assert [(d.path, d.line) for d in errors] == [("client.max_tokens", 8)]
    assert isinstance(errors[0], llmgen.Diagnostic)
    with pytest.raises(llmgen.SpecError) as raised:
        llmgen.render(path)
    assert raised.value.diagnostics[0].path == "client.max_tokens"


def test_import_llmgen_loads_no_heavy_library() -> None:
    code = (
        "import sys, llmgen\n"
        "print(sorted(m for m in ('pydantic', 'jinja2', 'yaml', 'click') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_package_is_typed() -> None:
    assert (Path(llmgen.__file__).parent / "py.typed").is_file()
