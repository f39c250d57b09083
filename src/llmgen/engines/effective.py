"""The effective configuration: what the engine will really run for a spec.

The spec-derived arguments and `runtime.extra_args` are parsed once, as one argv, through the
engine's flag table (aliases, `--x=v`, negations, flags with several values, vLLM's underscore
spellings) into one `Setting` per engine parameter, each with its origin: the spec field that
rendered it, the extra_args item that gave it, or the engine's default for this version and
device. Engine rules read this, never raw spec fields, so a flag given through extra_args obeys
the same rules as the spec field that renders it, and a message names the field to change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from llmgen.engines.flags import Flag, FlagTable
from llmgen.errors import Diagnostic, error
from llmgen.records import record

OriginKind = Literal["spec", "extra_args", "llmgen", "default"]

POSITIONAL = "<model>"  # the name of vLLM's positional model argument in a configuration

_NUMBER = re.compile(r"-\d+(\.\d+)?")


@record
class Origin:
    """Where a setting's value comes from."""

    kind: OriginKind
    path: str = ""  # spec field ("runtime.gpus") or extra_args item ("runtime.extra_args.2")
    note: str = ""  # for defaults: which version/device the default belongs to

    def describe(self) -> str:
        """A short human phrase: `runtime.gpus`, `runtime.extra_args.2`, `default (...)`."""
        if self.kind == "default":
            return f"default ({self.note})" if self.note else "default"
        if self.kind == "llmgen":
            return f"llmgen ({self.note})" if self.note else "llmgen"
        return self.path


@record
class Setting:
    """One engine parameter: its canonical flag, value(s) and origin."""

    name: str  # canonical flag name (`--tensor-parallel-size`), or POSITIONAL
    values: tuple[str, ...]  # the given values; a switch is ("true",) or ("false",)
    origin: Origin
    spelling: str = ""  # as written (`-tp`, `--max_model_len=8`); "" for defaults
    flag: Flag | None = None

    @property
    def value(self) -> str:
        """The values as one string (one value for nearly every flag)."""
        return " ".join(self.values)

    @property
    def explicit(self) -> bool:
        """Given on the command line (by the spec or extra_args), not an engine default."""
        return self.origin.kind != "default"

    def shown(self) -> str:
        """How the setting reads in a message: `--tensor-parallel-size 4` in backticks."""
        spelling = (self.spelling or self.name).split("=", 1)[0]
        if self.flag is not None and self.flag.is_switch:
            return f"`{spelling}`"
        return f"`{spelling} {self.value}`".replace(" `", "`")

    def as_int(self) -> int | None:
        """The value as an integer (vLLM's `8k`/`8K` forms included), or None."""
        return parse_int(self.value)


@lru_cache(maxsize=512)  # the same few values are read by every rule of every spec
def parse_int(text: str) -> int | None:
    """An integer as the engines read one: plain digits, or vLLM's human-readable k/K/m/M/g/G."""
    match = re.fullmatch(r"(\d+)([kKmMgGtT]?)", text.strip())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2)
    # vLLM's human_readable_int: lowercase is decimal (1k = 1000), uppercase binary (1K = 1024).
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
    binary = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    return number * (scale.get(unit) or binary[unit])


@record
class Word:
    """One argv entry and where it came from (spec-derived words have no extra_args index)."""

    text: str
    extra_index: int | None  # index in runtime.extra_args, or None for a spec-derived word


@record
class EffectiveConfig:
    """Every engine parameter for one spec: explicit settings first, then the defaults."""

    engine: str
    device: Literal["cpu", "gpu"]
    explicit: Mapping[str, Setting]  # canonical name -> setting given on the command line
    defaults: Mapping[str, Setting]  # canonical name -> the engine's default (not given)
    owners: Mapping[str, str]  # canonical name -> the spec field that renders the flag
    diagnostics: tuple[Diagnostic, ...] = ()  # what parsing the argv found wrong

    def get(self, name: str) -> Setting | None:
        """The setting for a canonical flag: given, else the engine default, else None."""
        return self.explicit.get(name) or self.defaults.get(name)

    def given(self, name: str) -> Setting | None:
        """The setting only when the command line gives it."""
        return self.explicit.get(name)

    def get_value(self, name: str) -> str | None:
        """The effective value of a flag as text (given, else default), or None."""
        setting = self.get(name)
        return setting.value if setting else None

    def int_value(self, name: str) -> int | None:
        """The effective integer value of a flag, or None when unset or not a number."""
        setting = self.get(name)
        return setting.as_int() if setting else None

    def enabled(self, name: str) -> bool | None:
        """A switch's effective state: True/False when given, None when left to the engine."""
        setting = self.explicit.get(name)
        if setting is None:
            return None
        return setting.values == ("true",)

    def field_for(self, name: str) -> str:
        """The spec field to change for this flag: its owner, else the item that gave it, else
        runtime.extra_args (where a flag llmgen adds, such as llama.cpp's `--fit off`, is
        overridden)."""
        owner = self.owners.get(name)
        if owner:
            return owner
        setting = self.explicit.get(name)
        return setting.origin.path if setting and setting.origin.path else "runtime.extra_args"

    def path_of(self, name: str) -> str:
        """Where a diagnostic about this flag points: the item or field that set it."""
        setting = self.explicit.get(name)
        if setting is not None and setting.origin.path:
            return setting.origin.path
        return self.owners.get(name, "runtime.extra_args")

    def settings(self) -> list[Setting]:
        """Every setting, explicit ones first in argv order, then defaults by name."""
        return [*self.explicit.values(), *sorted(self.defaults.values(), key=lambda s: s.name)]


class EngineDefaults(Mapping[str, Setting]):
    """The engine's default for every flag the command line leaves unset, made when read.

    Rules read a handful of defaults per spec; building a Setting for each of the hundreds of
    flags in a table up front cost about a millisecond per spec, most of validating one.
    """

    def __init__(
        self,
        table: FlagTable,
        given: Mapping[str, Setting],
        overrides: Mapping[str, tuple[str, str]],
        note: str,
    ) -> None:
        self._flags = table.by_name()
        self._given = given
        self._overrides = overrides  # flag -> (the device's default, why)
        self._note = note
        self._made: dict[str, Setting] = {}

    def __getitem__(self, name: str) -> Setting:
        made = self._made.get(name)
        if made is not None:
            return made
        flag = self._flags.get(name)
        if flag is None or name in self._given:
            raise KeyError(name)
        value, why = self._overrides.get(name, (flag.default, self._note))
        made = self._made[name] = Setting(name, (value,), Origin("default", note=why), "", flag)
        return made

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._flags if name not in self._given)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class ParserRules:
    """How one engine's parser reads its argv."""

    table: FlagTable
    title: str
    version: str
    owners: Mapping[str, str]  # canonical flag -> spec field that renders it
    underscores: bool = False  # vLLM: `--max_model_len` is `--max-model-len`
    equals_values: bool = True  # `--x=v`; llama.cpp looks the whole word up instead
    positional: str | None = None  # spec field behind a leading positional (vLLM's model)
    forbidden: Callable[[str, str], list[Diagnostic]] = lambda spelling, path: []
    secrets: Mapping[str, str] = field(default_factory=dict)  # flag -> how to pass it instead
    duplicate_hint: Callable[[str], str] = lambda name: ""
    # What other versions say of a spelling this one lacks: (message, fix), or None.
    history: Callable[[str], tuple[str, str] | None] = lambda spelling: None
    # What this version itself says of a spelling it parses (removed, deprecated, renamed).
    notice: Callable[[str, str], list[Diagnostic]] = lambda spelling, path: []


def parse_argv(
    rules: ParserRules, words: list[Word], llmgen_notes: Mapping[str, str] | None = None
) -> tuple[dict[str, Setting], list[Diagnostic]]:
    """Parse an argv the way the engine would; return settings by canonical name, and problems.

    Spec-derived words are trusted (a test checks they parse cleanly); problems are reported
    for extra_args items, each at its own index.
    """
    parser = _Parser(rules, words, llmgen_notes or {})
    while parser.index < len(words):
        parser.step()
    return parser.settings, parser.found


@dataclass
class _Parser:
    rules: ParserRules
    words: list[Word]
    notes: Mapping[str, str]
    index: int = 0
    settings: dict[str, Setting] = field(default_factory=dict)
    found: list[Diagnostic] = field(default_factory=list)

    def step(self) -> None:
        word = self.words[self.index]
        self.index += 1
        path = _item_path(word)
        if not _looks_like_flag(word.text):
            self._positional(word, path)
            return
        spelling, has_inline, inline = word.text.partition("=")
        if self.rules.underscores and spelling.startswith("--"):
            spelling = "--" + spelling[2:].replace("_", "-")
        if has_inline and not self.rules.equals_values:
            found = self.rules.table.resolve(spelling)
            if found is not None and found.flag.name in self.rules.secrets:
                # The secret matters more than the spelling: it must not reach the files.
                self.found += _extra_flag_problems(self.rules, found.flag, spelling, path, {})
                return
            self.found.append(
                _switch_with_value(found.flag, spelling, path)
                if found is not None and found.flag.is_switch
                else error(
                    path,
                    f"{self.rules.title} takes '{spelling} {inline}', not '{word.text}'",
                    f"give two items: ['{spelling}', '{inline}']",
                )
            )
            return
        refused = self.rules.forbidden(spelling, path) if word.extra_index is not None else []
        resolved = self.rules.table.resolve(spelling)
        if refused or resolved is None:
            self.found += refused or [_unknown_flag(self.rules, word.text, spelling, path)]
            self.index = _skip_values(self.words, self.index)
            return
        flag = resolved.flag
        if flag.nargs == "0":
            if has_inline:
                self.found.append(_switch_with_value(flag, spelling, path))
                return
            values: tuple[str, ...] = ("false",) if resolved.negated else ("true",)
        elif has_inline:
            values = (inline,)
        else:
            taken = self._take_values(flag, spelling, path)
            if taken is None:
                return
            values = taken
        self._record(word, flag, spelling, path, values)

    def _positional(self, word: Word, path: str) -> None:
        if word.extra_index is None and self.rules.positional and POSITIONAL not in self.settings:
            origin = Origin("spec", self.rules.positional)
            self.settings[POSITIONAL] = Setting(POSITIONAL, (word.text,), origin, word.text)
        else:
            self.found.append(_stray_value(word.text, path))

    def _record(
        self, word: Word, flag: Flag, spelling: str, path: str, values: tuple[str, ...]
    ) -> None:
        if word.extra_index is None:
            owner = self.rules.owners.get(flag.name, "")
            note = self.notes.get(flag.name, "")
            origin = Origin("spec", owner) if owner else Origin("llmgen", note=note)
        else:
            origin = Origin("extra_args", path)
            self.found += _extra_flag_problems(self.rules, flag, spelling, path, self.settings)
            if not flag.is_switch:
                self.found += _value_problems(flag, spelling, values, word)
        previous = self.settings.get(flag.name)
        if previous is not None and flag.repeatable:
            values = (*previous.values, *values)
            origin = previous.origin
        self.settings[flag.name] = Setting(flag.name, values, origin, word.text, flag)

    def _take_values(self, flag: Flag, spelling: str, path: str) -> tuple[str, ...] | None:
        nargs = flag.nargs
        taken: list[str] = []
        limit = int(nargs) if nargs.isdigit() else (1 if nargs == "?" else len(self.words))
        while self.index < len(self.words) and len(taken) < limit:
            candidate = self.words[self.index].text
            single = nargs == "1" and _is_value_like(self.rules, candidate)
            if _looks_like_flag(candidate) and not single:
                break
            taken.append(candidate)
            self.index += 1
        needed = 0 if nargs in ("?", "*") else (int(nargs) if nargs.isdigit() else 1)
        if len(taken) < needed:
            count = "a value" if needed == 1 else f"{needed} values"
            self.found.append(
                error(path, f"'{spelling}' needs {count}", f"write '{spelling} VALUE'")
            )
            return None
        return tuple(taken)


def _value_problems(
    flag: Flag, spelling: str, values: tuple[str, ...], word: Word
) -> list[Diagnostic]:
    found = []
    # A value given as `--x=v` sits in the flag's own item, else in the items after it.
    first = (word.extra_index or 0) + (0 if "=" in word.text else 1)
    for offset, value in enumerate(values):
        why = flag.value_problem(value)
        if why is None:
            continue
        path = f"runtime.extra_args.{first + offset}"
        found.append(
            error(path, f"invalid value '{value}' for '{spelling}'", f"the engine takes {why}")
        )
    return found


def _switch_with_value(flag: Flag, spelling: str, path: str) -> Diagnostic:
    other = f" or '{flag.negations[0]}'" if flag.negations else ""
    return error(
        path, f"'{spelling}' is a switch and takes no value", f"write '{spelling}' alone{other}"
    )


def _extra_flag_problems(
    rules: ParserRules, flag: Flag, spelling: str, path: str, settings: Mapping[str, Setting]
) -> list[Diagnostic]:
    found: list[Diagnostic] = rules.notice(spelling, path)
    previous = settings.get(flag.name)
    if previous is not None and not flag.repeatable:
        if previous.origin.kind == "extra_args":
            found.append(
                error(
                    path,
                    f"'{spelling}' appears twice (also {previous.origin.path})",
                    "the engine keeps only one value; give it once",
                )
            )
        else:
            owner = rules.owners.get(flag.name)
            where = f"by {owner}" if owner else "by llmgen"
            hint = rules.duplicate_hint(flag.name) or (
                f"change {owner} instead of repeating the flag"
                if owner
                else "llmgen renders this flag itself; remove it from extra_args"
            )
            found.append(error(path, f"'{spelling}' is already set {where}", hint))
    if flag.name in rules.secrets:
        found.append(
            error(
                path,
                f"'{spelling}' takes a secret, and secrets never go into generated files",
                rules.secrets[flag.name],
            )
        )
    return found


def _is_value_like(rules: ParserRules, text: str) -> bool:
    # A single-value flag takes a following "-x" that no flag of the engine spells, e.g. a
    # negative number or an odd value; a known spelling starts the next flag instead.
    spelling = text.split("=", 1)[0]
    return not text.startswith("--") and rules.table.resolve(spelling) is None


def _looks_like_flag(text: str) -> bool:
    return text.startswith("-") and len(text) > 1 and not _NUMBER.fullmatch(text)


def _skip_values(words: list[Word], index: int) -> int:
    # After an unknown or refused flag its value(s) are not a second problem.
    while index < len(words) and not _looks_like_flag(words[index].text):
        index += 1
    return index


def _item_path(word: Word) -> str:
    return "" if word.extra_index is None else f"runtime.extra_args.{word.extra_index}"


def _stray_value(text: str, path: str) -> Diagnostic:
    if " " in text.strip():
        return error(
            path,
            f"'{text}' holds several words in one item; the engine would get them as one argument",
            "give one item per word, e.g. ['--flag', 'value']",
        )
    return error(
        path,
        f"'{text}' is not a flag and follows no flag that takes a value",
        "write flags as '--name value'",
    )


def _unknown_flag(rules: ParserRules, text: str, spelling: str, path: str) -> Diagnostic:
    if " " in text.strip():
        first, second = text.split(maxsplit=2)[:2]
        return error(
            path,
            f"'{text}' is a whole command line in one item; the engine would get it as one "
            "argument",
            f"give one item per word, e.g. ['{first}', '{second}', ...]",
        )
    told = rules.history(spelling)
    if not path and (told is not None or spelling in rules.owners):
        # A flag llmgen renders from a field that this version lacks: the field (or the
        # version) is what to change.
        owner = rules.owners.get(spelling)
        why = f"; {told[0]}" if told else ""
        fix = told[1] if told and told[1].startswith("set engine_version") else ""
        return error(
            owner or "engine_version",
            f"{owner or 'llmgen'} renders '{spelling}', which {rules.title} {rules.version} "
            f"does not take{why}",
            fix or (f"remove {owner}" if owner else "choose another engine_version"),
        )
    if told is not None:
        return error(path, *told)
    names = [f.name for f in rules.table.flags]
    close = difflib.get_close_matches(spelling, names, n=1, cutoff=0.6)
    return error(
        path,
        f"{rules.title} {rules.version} has no flag '{spelling}'",
        f"did you mean '{close[0]}'?" if close else "see the engine's --help for this version",
    )
