"""Where the project lives: the one place that names its repository.

The schema modeline that `llmgen init` writes points at schemas/llmgen.schema.json in this
repository at the release tag of the installed llmgen (`v<version>`): a tagged file never
changes, so an editor checks a spec against exactly the fields this llmgen accepts, and a
newer llmgen writes a newer URL.
"""

from __future__ import annotations

from llmgen.version import __version__

REPOSITORY = "llmgen/llmgen"  # owner/name on GitHub; also in pyproject's [project.urls]
SCHEMA_PATH = "schemas/llmgen.schema.json"


def schema_url(version: str = __version__) -> str:
    """The raw URL of the spec's JSON Schema as released with `version`."""
    return f"https://raw.githubusercontent.com/{REPOSITORY}/v{version}/{SCHEMA_PATH}"
