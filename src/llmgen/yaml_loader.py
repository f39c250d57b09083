"""Read a YAML spec safely, keeping the line and column of every key for error messages.

Hostile files are refused early with one clear diagnostic: files over 1 MiB, binary or
non-UTF-8 content, duplicate keys, deep nesting and alias bombs (counted while the node
graph is expanded, so a few lines cannot grow into gigabytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmgen.errors import Diagnostic, Severity, SpecError

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000

PathKey = tuple[str | int, ...]


@dataclass
class LoadedYaml:
    """The plain data of a YAML document and the position of each key path in it."""

    data: Any
    file: str
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: PathKey) -> tuple[int, int]:
        """Line and column (1-based) of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found:
                return found
        return (0, 0)


def _fail(file: str, message: str, hint: str = "", line: int = 0, column: int = 0) -> SpecError:
    return SpecError([Diagnostic(Severity.ERROR, "", message, hint, file, line, column)])


def read_spec_text(path: Path) -> str:
    """Read a spec file as UTF-8 text, refusing anything that is not a small text file."""
    name = str(path)
    if not path.exists():
        raise _fail(name, "no such file", "check the path")
    if path.is_dir():
        raise _fail(name, "is a directory, not a spec file", "pass a .yaml file")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise _fail(name, "permission denied", "make the file readable") from None
    except OSError as exc:
        raise _fail(name, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(name, "file is larger than 1 MiB", "a spec is a few hundred bytes")
    return decode_spec_bytes(raw, name)


def decode_spec_bytes(raw: bytes, name: str) -> str:
    """Decode UTF-8, pointing at the first bad byte; NUL bytes mean binary content."""
    if b"\x00" in raw:
        line, column = _line_col(raw, raw.index(b"\x00"))
        raise _fail(name, "binary content (NUL byte)", "a spec is a YAML text file", line, column)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_col(raw, exc.start)
        raise _fail(name, "not valid UTF-8", "save the file as UTF-8", line, column) from None
    return text.removeprefix("\ufeff")


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column


def parse_yaml(text: str, name: str) -> LoadedYaml:
    """Parse one YAML document into plain data plus a position map."""
    if not text.strip():
        raise _fail(name, "the file is empty", "start from one of the files in examples/")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "indent with spaces, not tabs" if "\t" in _line_text(text, line) else ""
        raise _fail(name, f"invalid YAML: {problem}", hint, line, column) from None
    except yaml.YAMLError as exc:
        raise _fail(name, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _fail(name, f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if node is None:
        raise _fail(name, "the file is empty", "start from one of the files in examples/")
    loaded = LoadedYaml(data=None, file=name)
    loaded.positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    builder = _Builder(loader, loaded)
    loaded.data = builder.build(node, (), 0)
    if not isinstance(loaded.data, dict):
        kind = type(loaded.data).__name__ if loaded.data is not None else "null"
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        raise _fail(
            name,
            f"the top level must be a mapping of keys, not a {kind}",
            "write `name: ...`, `engine: ...` at the top level",
            line,
            column,
        )
    return loaded


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


class _Builder:
    """Turn a composed node graph into dicts/lists/scalars with limits and positions."""

    def __init__(self, loader: yaml.SafeLoader, loaded: LoadedYaml) -> None:
        self.loader = loader
        self.loaded = loaded
        self.count = 0

    def build(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._error(
                node,
                f"more than {MAX_NODES} values (an alias bomb?)",
                "a spec needs a few dozen values; remove anchors and aliases",
            )
        if depth > MAX_DEPTH:
            raise self._error(node, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self._remember((*path, index), item)
                items.append(self.build(item, (*path, index), depth + 1))
            return items
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self._error(node, f"invalid value: {exc}") from None

    def _mapping(self, node: yaml.MappingNode, path: PathKey, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, path, depth + 1)
            if isinstance(key, (dict, list)):
                raise self._error(key_node, "a key must be a plain value")
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                dotted = ".".join(str(p) for p in (*path, key))
                raise self._error(
                    key_node,
                    f"duplicate key '{dotted}'",
                    "YAML keeps only the last one; remove the other",
                )
            self._remember((*path, key), key_node)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def _remember(self, path: PathKey, node: yaml.Node) -> None:
        self.loaded.positions.setdefault(
            path, (node.start_mark.line + 1, node.start_mark.column + 1)
        )

    def _error(self, node: yaml.Node, message: str, hint: str = "") -> SpecError:
        mark = node.start_mark
        return _fail(self.loaded.file, message, hint, mark.line + 1, mark.column + 1)


def load_yaml_file(path: str | os.PathLike[str]) -> LoadedYaml:
    """Read and parse a spec file; every problem becomes a SpecError with one diagnostic."""
    file = Path(path)
    return parse_yaml(read_spec_text(file), str(path))
