"""Find the template folder in an installed wheel or in a source checkout."""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    """`llmgen/templates` inside the wheel, else the checkout's top-level `templates/`."""
    # this file is llmgen/render/templates_dir.py: the wheel has llmgen/templates, a checkout
    # has templates/ beside src/.
    package_dir = Path(__file__).resolve().parents[1]
    for candidate in (package_dir / "templates", package_dir.parents[1] / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"llmgen templates not found near {package_dir}")
