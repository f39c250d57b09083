"""llmgen: one validated spec of an LLM deployment, rendered for vLLM, TGI or llama.cpp."""

__version__ = "0.1.0"
