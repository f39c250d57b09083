"""TGI: the launcher's clap `struct Args` (launcher/src/main.rs at a release tag).

`text-generation-launcher` is a clap derive parser: every field of `struct Args` is one flag,
its `#[clap(...)]` attribute says its long/short spellings, environment variable and default,
its Rust type says what it takes, and the first line of its `///` comment is its help. The
value enums (`value_enum` fields, e.g. `Quantization`) are read from the same file: clap
spells a variant in kebab case unless `#[clap(name = "...")]` renames it.

The sources: the tag's launcher/src/main.rs, read with `git show <tag>:launcher/src/main.rs`
from a clone of github.com/huggingface/text-generation-inference, or the excerpt of it that
this module writes under tgi_sources/ (the struct and the enums, byte for byte, with the tag,
commit and line numbers they came from), so the tables rebuild where GitHub is out of reach.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .common import Row

SOURCES = Path(__file__).resolve().parent / "tgi_sources"
MAIN_RS = "launcher/src/main.rs"


@dataclass(frozen=True)
class Field:
    """One field of `struct Args`."""

    name: str
    rust_type: str
    attrs: str
    doc: list[str]


def excerpt_path(version: str) -> Path:
    """Where the excerpt of release `version`'s launcher source is kept."""
    return SOURCES / f"v{version}-launcher-main.rs"


def extract(git_dir: Path, version: str) -> str:
    """The excerpt of v<version>'s launcher/src/main.rs: struct Args and the value enums."""
    tag = f"v{version}"
    commit = _git(git_dir, "rev-parse", f"{tag}^{{commit}}").strip()
    text = _git(git_dir, "show", f"{tag}:{MAIN_RS}")
    lines = text.splitlines()
    blocks = []
    for start, end in _blocks(lines):
        blocks.append(f"// {MAIN_RS}:{start + 1}-{end + 1}\n" + "\n".join(lines[start : end + 1]))
    head = (
        f"// Excerpt of huggingface/text-generation-inference tag {tag} (commit {commit}),\n"
        f"// {MAIN_RS}: struct Args and its value enums, byte for byte (Apache-2.0).\n"
        "// Written by scripts/flag-table.py tgi --extract; the table is parsed from it.\n"
    )
    return head + "\n".join(blocks) + "\n"


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges (0-based, inclusive) of struct Args and every `enum` deriving ValueEnum,
    each with the attributes and doc comment right above it."""
    found = []
    for index, line in enumerate(lines):
        if re.match(r"(pub )?(struct Args|enum \w+) \{", line):
            is_args = line.startswith("struct Args")
            start = index
            while start > 0 and lines[start - 1].startswith(("#[", "///", "//")):
                start -= 1
            attrs = "\n".join(lines[start:index])
            if not is_args and "ValueEnum" not in attrs:
                continue
            end = index
            while lines[end] != "}":
                end += 1
            found.append((start, end))
    return found


def rows(source: str) -> list[Row]:
    """One row per field of `struct Args`, in declaration order."""
    enums = _value_enums(source)
    out: list[Row] = []
    for field in _fields(source):
        out.append(_row(field, enums))
    return out


def _fields(source: str) -> list[Field]:
    body = re.search(r"^struct Args \{\n(.*?)^\}", source, re.S | re.M)
    if body is None:
        raise ValueError("no `struct Args {` in the launcher source")
    fields: list[Field] = []
    doc: list[str] = []
    attrs: list[str] = []
    pending = ""
    for raw in body.group(1).splitlines():
        line = raw.strip()
        if pending:  # an attribute spread over several lines
            pending += " " + line
            if pending.endswith(")]"):
                attrs.append(pending)
                pending = ""
            continue
        if line.startswith("///"):
            doc.append(line[3:].removeprefix(" "))
        elif line.startswith("#["):
            if line.endswith(")]"):
                attrs.append(line)
            else:
                pending = line
        elif match := re.fullmatch(r"(\w+): (.+),", line):
            fields.append(Field(match.group(1), match.group(2), " ".join(attrs), doc))
            doc, attrs = [], []
        elif line and not line.startswith("//"):
            raise ValueError(f"struct Args: cannot read the line {raw!r}")
    return fields


def _value_enums(source: str) -> dict[str, list[str]]:
    """Enum name -> the values clap accepts, in declaration order."""
    enums: dict[str, list[str]] = {}
    for match in re.finditer(r"^(?:pub )?enum (\w+) \{\n(.*?)^\}", source, re.S | re.M):
        values: list[str] = []
        rename = ""
        for raw in match.group(2).splitlines():
            line = raw.strip()
            if named := re.match(r'#\[(?:clap|value)\((?:name) = "([^"]+)"\)\]', line):
                rename = named.group(1)
            elif variant := re.fullmatch(r"([A-Z]\w*),?", line):
                values.append(rename or _kebab(variant.group(1)))
                rename = ""
        enums[match.group(1)] = values
    return enums


def _kebab(variant: str) -> str:
    """clap's ValueEnum spelling of a variant: BitsandbytesNf4 -> bitsandbytes-nf4."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", variant).lower()


def _row(field: Field, enums: dict[str, list[str]]) -> Row:
    attrs = field.attrs
    long_name = _attr_value(attrs, "long") or field.name.replace("_", "-")
    short = ""
    if re.search(r"\bshort\b", attrs):
        short = "-" + (_attr_value(attrs, "short") or field.name[0])
    env = ""
    if re.search(r"\benv\b", attrs):
        env = _attr_value(attrs, "env") or field.name.upper()
    kind, optional = _type(field.rust_type, attrs, enums)
    default = _attr_value(attrs, "default_value")
    if default is None:
        default = "false" if kind == "bool(flag)" else "(unset)"
    help_line = field.doc[0].strip() if field.doc else "(no doc comment in source)"
    del optional
    return (f"--{long_name}", short, env, kind, default, help_line)


def _attr_value(attrs: str, key: str) -> str | None:
    """The quoted value of `key = "..."` (or `key = 'c'`) in a clap attribute, if any."""
    match = re.search(rf"\b{key}\s*=\s*(\"[^\"]*\"|'[^']*')", attrs)
    return match.group(1)[1:-1] if match else None


_INTS = {"usize", "u8", "u16", "u32", "u64", "isize", "i8", "i16", "i32", "i64"}


def _type(rust: str, attrs: str, enums: dict[str, list[str]]) -> tuple[str, bool]:
    optional = rust.startswith("Option<")
    inner = rust[len("Option<") : -1] if optional else rust
    if inner == "bool":
        return ("bool(value true|false)" if optional else "bool(flag)"), optional
    if vec := re.fullmatch(r"Vec<(\w+)>", inner):
        if "value_delimiter" in attrs:
            delimiter = _attr_value(attrs, "value_delimiter") or ","
            name = "comma" if delimiter == "," else repr(delimiter)
            return f"list<{vec.group(1)}> ({name}-separated)", optional
        return f"list<{vec.group(1)}> (repeatable)", optional
    return _scalar(inner, enums), optional


def _scalar(inner: str, enums: dict[str, list[str]]) -> str:
    if inner == "String":
        return "string"
    if inner in _INTS:
        return f"int({inner})"
    if inner in ("f32", "f64"):
        return "float"
    if inner in enums:
        return "enum{" + "|".join(enums[inner]) + "}"
    raise ValueError(f"struct Args: a field of type {inner} that this reader does not know")
