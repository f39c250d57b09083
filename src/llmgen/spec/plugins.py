"""The llmgen command builds the spec models without pydantic's plugin scan.

pydantic looks for plugins (observability hooks other programs install) when it builds the
first model: it imports importlib.metadata and reads the entry points of every installed
distribution, a cost that grows with the environment and was about a fifth of
`llmgen validate` (docs/benchmarks.md). The command has no use for them.
"""

from __future__ import annotations

import sys
import types

_LOADER = "pydantic.plugin._loader"


def skip_pydantic_plugins() -> None:
    """Stand in for pydantic's plugin loader with one that finds none (the command only).

    Called by the `llmgen` command in its own process, never when llmgen is imported as a
    library, where another program's plugins must keep working. Once pydantic is imported it
    is left alone.
    """
    if "pydantic" in sys.modules or _LOADER in sys.modules:
        return
    loader = types.ModuleType(_LOADER, "llmgen: no pydantic plugins in the llmgen command")

    def real_loader(attribute: str) -> object:
        # A pydantic that asks its loader for more than get_plugins gets its own module back
        # (and its plugin scan) instead of an ImportError.
        import importlib

        if attribute.startswith("__"):  # the import system asks for __path__ and the like
            raise AttributeError(attribute)
        del sys.modules[_LOADER]
        return getattr(importlib.import_module(_LOADER), attribute)

    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    loader.__getattr__ = real_loader  # type: ignore[method-assign]
    sys.modules[_LOADER] = loader
