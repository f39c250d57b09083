"""The spec: what the user wants, loaded from YAML with positions and checked."""
