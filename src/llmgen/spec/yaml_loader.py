"""Read a YAML spec safely, keeping the line and column of every key for error messages.

Hostile files are refused early with one clear diagnostic: anything but a regular file (a
directory, a FIFO, a device), files over 1 MiB, binary or non-UTF-8 content, duplicate keys,
tags beyond plain scalars, deep nesting, and too many values, counted both while PyYAML
composes the node graph (so a 1 MiB file of tiny items stays fast and small) and while aliases
are expanded (so a few lines of anchors cannot grow into gigabytes).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmgen.errors import Diagnostic, Severity, SpecError

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000
# Up to this many characters the node graph is composed in C (libyaml's own nesting limit
# keeps its recursion bounded): such a file cannot hold more than about MAX_NODES nodes, so
# composing it costs at most milliseconds, and the builder's limits still apply. Larger
# files, which no spec needs, go through PyYAML's Python composer, which counts as it goes.
FAST_COMPOSE_CHARS = 8 * 1024

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
    """Read a spec file as UTF-8 text, refusing anything that is not a small regular file.

    The file is opened without blocking and checked with fstat on the open descriptor, so a
    FIFO, a device or a socket is refused instead of read forever, and no check races the read.
    """
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _fail(name, "no such file", "check the path") from None
    except NotADirectoryError:
        raise _fail(name, "no such file (a part of the path is not a directory)") from None
    except PermissionError:
        raise _fail(name, "permission denied", "make the file readable") from None
    except OSError as exc:
        raise _fail(name, f"cannot open: {_one_line(exc.strerror or str(exc))}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(name, "is a directory, not a spec file", "pass a .yaml file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(
                name,
                f"is a {_file_kind(info.st_mode)}, not a regular file",
                "pass a .yaml file",
            )
        if info.st_size > MAX_FILE_BYTES:
            raise _fail(name, "file is larger than 1 MiB", "a spec is a few hundred bytes")
        raw = _read_at_most(fd, MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _fail(name, f"cannot read: {_one_line(exc.strerror or str(exc))}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(name, "file is larger than 1 MiB", "a spec is a few hundred bytes")
    return decode_spec_bytes(raw, name)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _one_line(text: str) -> str:
    """Collapse whitespace, so every diagnostic stays on one line."""
    return " ".join(text.split())


_UTF16_32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")


def decode_spec_bytes(raw: bytes, name: str) -> str:
    """Decode UTF-8, pointing at the first bad byte; NUL bytes mean binary content."""
    if raw.startswith(_UTF16_32_BOMS):
        raise _fail(name, "the file is UTF-16 or UTF-32, not UTF-8", "save the file as UTF-8")
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


class _Limits:
    """Composer hook that stops after MAX_NODES nodes or MAX_DEPTH levels.

    PyYAML composes the whole node graph before anything can look at it; counting while it
    composes keeps a 1 MiB file of tiny items (or of '[' characters) from costing seconds,
    hundreds of MiB, or a RecursionError.
    """

    file: str
    composed: int
    depth: int

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.composed += 1
        if self.composed > MAX_NODES:
            raise self._limit(f"more than {MAX_NODES} values", "a spec needs a few dozen values")
        if self.depth >= MAX_DEPTH:
            raise self._limit(f"nesting deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self.depth -= 1

    def _limit(self, message: str, hint: str = "") -> SpecError:
        mark = self.peek_event().start_mark  # type: ignore[attr-defined]
        return _fail(self.file, message, hint, mark.line + 1, mark.column + 1)


# The tag PyYAML's resolver gives a value depends on the node kind, the text and how it was
# written, and nothing else; `validate` of many specs meets the same keys and values in every
# file, and the resolver tries its regular expressions on each. Bounded: a hostile file of
# unique values only fills the memo up to the cap, then it starts over.
_TAG_MEMO: dict[tuple[Any, Any, Any], str] = {}
_MEMO_CAP = 4096


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """Keep `value` under `key` in `memo`, emptied first once it holds _MEMO_CAP entries."""
    if len(memo) >= _MEMO_CAP:
        memo.clear()
    memo[key] = value
    return value


class _TagMemo:
    """A loader's resolver, answering from _TAG_MEMO for a value seen before."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        key = (kind, value, implicit)
        tag = _TAG_MEMO.get(key)
        if tag is None:
            tag = _remember(_TAG_MEMO, key, super().resolve(kind, value, implicit))  # type: ignore[misc]
        return tag


if yaml.__with_libyaml__:
    # libyaml scans and parses in C (a 1 MiB scalar takes milliseconds, not most of a second);
    # PyYAML's own composer, ahead of CParser's in the MRO, builds the nodes so the limits
    # apply. The same bases as yaml.CSafeLoader otherwise.
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.cyaml import CParser  # type: ignore[attr-defined]
    from yaml.resolver import Resolver

    class _LimitedLoader(_Limits, Composer, CParser, SafeConstructor, Resolver):
        def __init__(self, text: str, name: str) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.file, self.composed, self.depth = name, 0, 0

    class _FastLoader(_TagMemo, yaml.CSafeLoader):
        """libyaml composes in C."""

else:  # pragma: no cover - PyYAML built without libyaml

    class _LimitedLoader(_Limits, yaml.SafeLoader):  # type: ignore[no-redef]
        def __init__(self, text: str, name: str) -> None:
            yaml.SafeLoader.__init__(self, text)
            self.file, self.composed, self.depth = name, 0, 0

    class _FastLoader(_TagMemo, yaml.SafeLoader):  # type: ignore[no-redef]
        """Without libyaml, small files are composed in Python too."""


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (exc.context, exc.problem) if part]
    return _one_line(": ".join(parts)) if parts else "invalid YAML"


def parse_yaml(text: str, name: str) -> LoadedYaml:
    """Parse one YAML document into plain data plus a position map."""
    if not text.strip():
        raise _fail(name, "the file is empty", "start from one of the files in examples/")
    loader = _LimitedLoader(text, name) if len(text) > FAST_COMPOSE_CHARS else _FastLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        hint = "indent with spaces, not tabs" if "\t" in _line_text(text, line) else ""
        raise _fail(name, f"invalid YAML: {_yaml_problem(exc)}", hint, line, column) from None
    except yaml.YAMLError as exc:
        raise _fail(name, f"invalid YAML: {_one_line(str(exc))}") from None
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


# Tags a spec may hold. A timestamp-looking value (a revision named 2024-01-01) stays the text
# it was; anything else (!!binary, !!set, !!python/..., custom tags) is refused.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "map", "seq")
)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
# A plain scalar's value (int, float, bool, None: immutable) by its tag and text, for the same
# reason as the tag memo above.
_SCALAR_MEMO: dict[tuple[str, str], Any] = {}


class _Builder:
    """Turn a composed node graph into dicts/lists/scalars with limits and positions."""

    def __init__(self, loader: Any, loaded: LoadedYaml) -> None:
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
        if depth >= MAX_DEPTH:  # the same bound as the composer's: the root is depth 0
            raise self._error(node, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise self._tag_error(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self._remember((*path, index), item)
                items.append(self.build(item, (*path, index), depth + 1))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag in (_STR_TAG, _TIMESTAMP_TAG):
            return str(node.value)  # what PyYAML's str constructor returns, without its calls
        if node.tag not in _PLAIN_TAGS:
            raise self._tag_error(node)
        key = (node.tag, node.value)
        if key in _SCALAR_MEMO:
            return _SCALAR_MEMO[key]
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self._error(node, f"invalid value: {_yaml_problem(exc)}") from None
        except (yaml.YAMLError, ValueError, OverflowError):
            # e.g. an integer of 5000 digits, which Python refuses to convert
            shown = _one_line(str(node.value))
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise self._error(node, f"invalid value: '{shown}' is not a valid {kind}") from None
        return _remember(_SCALAR_MEMO, key, value)

    def _tag_error(self, node: yaml.Node) -> SpecError:
        return self._error(
            node,
            f"the tag '{_one_line(str(node.tag))[:80]}' is not allowed in a spec",
            "write plain values: text, numbers, true/false, lists and mappings",
        )

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
                    f"duplicate key '{_one_line(dotted)[:200]}'",
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
