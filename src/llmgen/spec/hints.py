"""Hints for a key written in the wrong section (`runtime.port` -> "port belongs under server").

The sections and their fields are read from the Spec itself, so a section added to the
spec gets the same hints without a change here.
"""

from __future__ import annotations

from typing import Any

from llmgen.spec.fieldrules import sections_of


def _sections() -> dict[str, Any]:
    from llmgen.spec.models import Spec

    # Only the sections every spec has: the optional `hardware` repeats runtime's `gpus`, and a
    # stray `gpus` is meant for runtime far more often than for the hardware description.
    return {
        name: model
        for name, model in sections_of(Spec).items()
        if Spec.model_fields[name].default is not None
    }


def misplaced_key_hint(loc: tuple[Any, ...]) -> str:
    """Where an unknown key at `loc` belongs, if it is a known key of another place; else ""."""
    from llmgen.spec.models import Spec

    if not loc:
        return ""
    key, parent = str(loc[-1]), tuple(str(part) for part in loc[:-1])
    sections = _sections()
    if len(parent) > 1:
        return ""
    if parent and key in Spec.model_fields:
        if key in sections:
            return f"{key} is a section of its own: move it to the top level"
        return f"{key} belongs at the top level"
    owners = [name for name, model in sections.items() if key in model.model_fields]
    owners = [name for name in owners if (name,) != parent]
    if not owners:
        return ""
    return f"{key} belongs under {' or '.join(owners)}"
