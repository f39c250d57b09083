"""The public `render` (llmgen.render): a spec or spec file in, the deployment's files out."""

from __future__ import annotations

import os

from llmgen.rules.analysis import analyze, analyze_file
from llmgen.spec.models import Spec


def render_files(spec: Spec | str | os.PathLike[str]) -> dict[str, str]:
    """The deployment's files, relative path -> text; SpecError when `spec` has errors.

    A path is read first (its diagnostics then carry file:line:col).
    """
    from llmgen.render.bundle import render

    analysis = analyze(spec) if isinstance(spec, Spec) else analyze_file(spec)
    analysis.raise_for_errors()
    return dict(render(analysis.spec, analysis.plan).files)
