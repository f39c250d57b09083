"""The installed llmgen's version: a foundation module, so every layer may read it."""

__version__ = "0.1.0"  # also pyproject's [project] version
