"""Each rule is declared once, in its concern's module, and docs/spec-rules.md lists them all."""

from __future__ import annotations

from pathlib import Path

from llmgen.rules import RULES
from llmgen.rules.table import BEGIN, END, rules_table, with_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-rules.md"


def test_the_docs_table_is_the_declared_rules() -> None:
    text = DOC.read_text("utf-8")
    assert with_table(text) == text, "run: python -m llmgen.rules.table docs/spec-rules.md"
    rows = text.split(BEGIN)[1].split(END)[0].strip().splitlines()[2:]
    assert len(rows) == len(RULES) == len({r.name for r in RULES})  # one row per rule


def test_each_rule_lives_in_its_concerns_module() -> None:
    for each in RULES:
        concern = each.name.split(".")[0]
        assert each.check.__module__ == f"llmgen.rules.{concern}", each.name
        assert each.checks and each.fix, each.name


def test_the_table_has_a_row_per_rule_in_run_order() -> None:
    names = [line.split("`")[1] for line in rules_table().splitlines()[2:]]
    assert names == [r.name for r in RULES]
    assert names.index("hardware.fit") > names.index("model.context")  # sized once accepted


def test_the_table_replaces_only_what_lies_between_the_markers() -> None:
    text = f"# Rules\nbefore\n{BEGIN}\nold rows\n{END}\nafter\n"
    assert with_table(text) == f"# Rules\nbefore\n{BEGIN}\n{rules_table()}{END}\nafter\n"
    first = rules_table().splitlines()[:2]
    assert first == ["| rule | severity | refuses | fix |", "|---|---|---|---|"]


def test_a_file_without_both_markers_is_refused() -> None:
    import pytest

    for text in (f"{BEGIN}\nno end\n", f"no begin\n{END}\n", "neither\n"):
        with pytest.raises(ValueError) as caught:
            with_table(text)
        assert str(caught.value) == f"the file has no {BEGIN} ... {END} section"


def test_the_module_rewrites_every_file_it_is_given(tmp_path: Path) -> None:
    import subprocess
    import sys

    files = [tmp_path / "a.md", tmp_path / "b.md"]
    for path in files:
        path.write_text(f"é {path.name}\n{BEGIN}\nstale\n{END}\n", "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "llmgen.rules.table", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for path in files:
        assert path.read_text("utf-8") == f"é {path.name}\n{BEGIN}\n{rules_table()}{END}\n"
