"""The public API: read a spec, check it (render is llmgen.render.files.render_files). `from llmgen import ...` loads these on
first use (llmgen/__init__.py), so importing llmgen alone stays cheap.

    spec = llmgen.load_spec("chat.llmgen.yaml")
    problems = llmgen.validate(spec)            # every diagnostic, errors included
    files = llmgen.render(spec)                 # {relative path: text}

A path may be given wherever a spec is: its diagnostics then carry file:line:col.
"""

from __future__ import annotations

import os

from llmgen.errors import Diagnostic
from llmgen.rules.analysis import Analysis, analyze, analyze_file
from llmgen.spec.models import Spec

SpecSource = Spec | str | os.PathLike[str]


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """The spec in the YAML file at `path`; SpecError (each problem with file:line:col) when a
    field is wrong."""
    return analyze_file(path).spec


def validate(spec: SpecSource, *, online: bool = False) -> list[Diagnostic]:
    """Every diagnostic for `spec` (errors and warnings); an empty list means it is clean.

    `online` lets the model rules ask the Hugging Face hub for a model's facts.
    """
    return list(_analysis(spec, online).diagnostics)


def _analysis(spec: SpecSource, online: bool) -> Analysis:
    if isinstance(spec, Spec):
        return analyze(spec, online=online)
    return analyze_file(spec, online=online)
