"""llmgen: one validated spec of an LLM deployment, rendered for vLLM, TGI or llama.cpp.

The public API, loaded on first use so that `import llmgen` (and `llmgen --version`) stays
cheap: load_spec and validate (llmgen.api), render (the llmgen.render package is callable:
llmgen.render.files), Spec, Diagnostic, SpecError and ENGINES.
"""

from llmgen.version import __version__

# Not typing.TYPE_CHECKING: importing typing would cost `llmgen --version` more than it takes.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from llmgen.api import load_spec, validate
    from llmgen.engines import ENGINES
    from llmgen.errors import Diagnostic, SpecError
    from llmgen.render.files import render_files as render
    from llmgen.spec.models import Spec

__all__ = [
    "ENGINES",
    "Diagnostic",
    "Spec",
    "SpecError",
    "__version__",
    "load_spec",
    "render",
    "validate",
]

_HOMES = {
    "load_spec": "llmgen.api",
    "validate": "llmgen.api",
    "render": "llmgen.render",  # the callable package (see llmgen/render/__init__.py)
    "Spec": "llmgen.spec.models",
    "Diagnostic": "llmgen.errors",
    "SpecError": "llmgen.errors",
    "ENGINES": "llmgen.engines",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmgen' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(home)
    value = module if home == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # the next access skips this function
    return value
