"""llmgen: one validated spec of an LLM deployment, rendered for vLLM, TGI or llama.cpp."""

from llmgen.version import __version__

__all__ = ["__version__"]
