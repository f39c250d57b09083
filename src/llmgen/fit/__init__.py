"""Memory estimates per device for a deployment (`llmgen fit`), following each engine's own
sizing; see docs/fit.md for the formulas, their sources and the measured accuracy."""
