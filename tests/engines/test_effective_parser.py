"""The argv parser of the effective configuration, on a small flag table written here.

Every expected setting and diagnostic is a literal: the table below says what each flag takes
(its type column, read the way `llmgen.engines.flags.Flag.nargs` documents it), and the
messages are the words a user sees, compared whole (severity, path, message, hint).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmgen.engines.effective import (
    POSITIONAL,
    EffectiveConfig,
    EngineDefaults,
    Origin,
    ParserRules,
    Setting,
    Word,
    parse_argv,
)
from llmgen.engines.flags import Flag, FlagTable
from llmgen.errors import Diagnostic, error, warning

THREADS = Flag("--threads", ("-t",), "", "int N", "-1", "")
SWITCH = Flag("--kv", (), "", "bool(flag)", "false", "", ("--no-kv",))
PLAIN_SWITCH = Flag("--quiet", (), "", "bool(flag)", "false", "")
NAME = Flag("--name", (), "", "str", "", "")
REPEATED = Flag("--mw", (), "", "str (repeatable)", "", "")
PAIR = Flag("--pair", (), "", "2 values: A B", "", "")
OPTIONAL = Flag("--opt", (), "", "str nargs=?", "", "")
ANY = Flag("--many", (), "", "str nargs=*", "", "")
MODES = Flag("--modes", (), "", "enum{a|b} nargs=+", "a", "")
SECRET = Flag("--api-key", (), "", "str", "", "")
CTX = Flag("--ctx", (), "", "int N", "4096", "")
LENGTH = Flag("--max-model-len", (), "", "int N", "", "")
HOST = Flag("--host", (), "", "str", "127.0.0.1", "")
FLAGS = (THREADS, SWITCH, PLAIN_SWITCH, NAME, REPEATED, PAIR, OPTIONAL, ANY, MODES, SECRET)
TABLE = FlagTable("demo.tsv", (*FLAGS, CTX, LENGTH, HOST))
OWNERS = {"--ctx": "runtime.context_length", "--gone": "runtime.gone", "--old": "runtime.old"}


def _forbidden(spelling: str, path: str) -> list[Diagnostic]:
    return [error(path, "llmgen sets the host", "set server.host")] if spelling == "--host" else []


def _history(spelling: str) -> tuple[str, str] | None:
    return {
        "--gone": ("removed in Demo 1.0", "set engine_version: 0.9"),
        "--old": ("renamed to --new in Demo 1.0", "use --new"),
        "--gone-too": ("removed in Demo 1.0", "use --threads"),
    }.get(spelling)


def _notice(spelling: str, path: str) -> list[Diagnostic]:
    return [warning(path, "'-t' is deprecated", "write --threads")] if spelling == "-t" else []


RULES = ParserRules(
    table=TABLE,
    title="Demo",
    version="1.0",
    owners=OWNERS,
    forbidden=_forbidden,
    secrets={"--api-key": "pass it as DEMO_API_KEY"},
    history=_history,
    notice=_notice,
)


def extra(*items: str) -> list[Word]:
    """extra_args items, each at its own index."""
    return [Word(text, index) for index, text in enumerate(items)]


def spec_words(*items: str) -> list[Word]:
    """Spec-derived words (no extra_args index)."""
    return [Word(text, None) for text in items]


def parse(
    words: list[Word], rules: ParserRules = RULES, notes: dict[str, str] | None = None
) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str, str, str]]]:
    """(values by canonical name, (severity, path, message, hint) of each problem)."""
    settings, found = parse_argv(rules, words, notes)
    values = {name: setting.values for name, setting in settings.items()}
    return values, [(d.severity.value, d.path, d.message, d.hint) for d in found]


def err(path: str, message: str, hint: str) -> tuple[str, str, str, str]:
    return ("error", path, message, hint)


# --- Origin and Setting ---------------------------------------------------------------------


def test_an_origin_describes_itself() -> None:
    assert Origin("default", note="Demo 1.0 on cpu").describe() == "default (Demo 1.0 on cpu)"
    assert Origin("default").describe() == "default"
    assert Origin("llmgen", note="the pod's CPUs").describe() == "llmgen (the pod's CPUs)"
    assert Origin("llmgen").describe() == "llmgen"
    assert Origin("spec", "runtime.gpus").describe() == "runtime.gpus"
    assert Origin("extra_args", "runtime.extra_args.2").describe() == "runtime.extra_args.2"


def test_a_setting_shows_its_spelling_and_values() -> None:
    given = Origin("extra_args", "runtime.extra_args.0")
    written = Setting("--max-model-len", ("8",), given, "--max_model_len=8", LENGTH)
    assert written.shown() == "`--max_model_len 8`"  # as written, the `=` part dropped
    assert Setting("--threads", ("4",), given).shown() == "`--threads 4`"  # no spelling: the name
    assert Setting("--kv", ("true",), given, "--kv", SWITCH).shown() == "`--kv`"
    assert Setting("--kv", ("false",), given, "--no-kv", SWITCH).shown() == "`--no-kv`"
    assert Setting("--many", (), given, "--many", ANY).shown() == "`--many`"  # no values
    pair = Setting("--pair", ("a", "b"), given, "--pair", PAIR)
    assert (pair.value, pair.shown(), pair.as_int()) == ("a b", "`--pair a b`", None)
    assert Setting("--ctx", ("8K",), given).as_int() == 8192
    assert given.path and Setting("--ctx", ("1",), given).explicit
    assert not Setting("--ctx", ("1",), Origin("default")).explicit
    assert Setting("--ctx", ("1",), Origin("llmgen")).explicit


# --- EffectiveConfig ------------------------------------------------------------------------


def _config() -> EffectiveConfig:
    extra_origin = Origin("extra_args", "runtime.extra_args.1")
    explicit = {
        "--threads": Setting("--threads", ("6",), extra_origin, "-t", THREADS),
        "--kv": Setting("--kv", ("false",), Origin("extra_args", "runtime.extra_args.2")),
        "--quiet": Setting("--quiet", ("true",), Origin("llmgen", note="always")),
        "--ctx": Setting("--ctx", ("2048",), Origin("spec", "runtime.context_length")),
        "--name": Setting("--name", ("x",), Origin("llmgen")),
    }
    defaults = {
        "--ctx": Setting("--ctx", ("4096",), Origin("default")),
        "--pair": Setting("--pair", ("a b",), Origin("default")),
        "--host": Setting("--host", ("127.0.0.1",), Origin("default")),
    }
    owners = {"--ctx": "runtime.context_length", "--name": "model.name"}
    return EffectiveConfig("demo", "cpu", explicit, defaults, owners)


def test_the_configuration_reads_given_values_before_defaults() -> None:
    config = _config()
    assert config.get_value("--ctx") == "2048"  # given wins over the default 4096
    assert config.get_value("--host") == "127.0.0.1"
    assert config.get_value("--absent") is None and config.get("--absent") is None
    assert config.given("--host") is None
    assert config.int_value("--threads") == 6
    assert config.int_value("--pair") is None  # not a number
    assert config.int_value("--absent") is None
    assert config.diagnostics == ()


def test_a_switch_is_on_off_or_left_to_the_engine() -> None:
    config = _config()
    assert config.enabled("--quiet") is True
    assert config.enabled("--kv") is False
    assert config.enabled("--host") is None  # only a default: not given


def test_the_field_to_change_and_where_a_diagnostic_points() -> None:
    config = _config()
    # field_for: the owning spec field first, else the item that gave it, else extra_args.
    assert config.field_for("--ctx") == "runtime.context_length"
    assert config.field_for("--name") == "model.name"  # the owner, not llmgen's empty path
    assert config.field_for("--threads") == "runtime.extra_args.1"
    assert config.field_for("--host") == "runtime.extra_args"
    # Rendered by llmgen and owned by no field: extra_args, where such a flag is overridden
    # (an empty name made messages read "set  to ...").
    assert config.field_for("--quiet") == "runtime.extra_args"
    # path_of: the item or field that set it first, else the owner, else extra_args.
    assert config.path_of("--threads") == "runtime.extra_args.1"
    assert config.path_of("--name") == "model.name"  # set by llmgen (no path): its owner
    assert config.path_of("--quiet") == "runtime.extra_args"
    assert config.path_of("--pair") == "runtime.extra_args"


def test_settings_list_given_ones_in_order_then_defaults_by_name() -> None:
    names = [setting.name for setting in _config().settings()]
    given = ["--threads", "--kv", "--quiet", "--ctx", "--name"]
    assert names == [*given, "--ctx", "--host", "--pair"]


# --- EngineDefaults -------------------------------------------------------------------------


def test_engine_defaults_cover_every_flag_not_given() -> None:
    given = {"--threads": Setting("--threads", ("2",), Origin("extra_args", "x"))}
    overrides = {"--host": ("0.0.0.0", "in a container")}
    defaults = EngineDefaults(TABLE, given, overrides, "Demo 1.0 on cpu")
    ctx = defaults["--ctx"]
    assert (ctx.name, ctx.values, ctx.origin, ctx.spelling, ctx.flag) == (
        "--ctx",
        ("4096",),
        Origin("default", note="Demo 1.0 on cpu"),
        "",
        CTX,
    )
    assert defaults["--ctx"] is ctx  # made once
    host = defaults["--host"]
    assert (host.values, host.origin.note) == (("0.0.0.0",), "in a container")
    for missing in ("--threads", "--nothing"):  # given, or not a flag of the table
        with pytest.raises(KeyError):
            defaults[missing]
    expected = [f.name for f in TABLE.flags if f.name != "--threads"]
    assert list(defaults) == expected and len(defaults) == 12 == len(expected)
    assert defaults.get("--threads") is None


# --- parsing: values --------------------------------------------------------------------------


def test_a_flag_takes_its_value_from_the_next_item_or_after_the_equals_sign() -> None:
    assert parse(extra("--threads", "4", "--name=a=b")) == (
        {"--threads": ("4",), "--name": ("a=b",)},
        [],
    )
    assert parse(extra("-t", "-3")) == ({"--threads": ("-3",)}, [_deprecated(0)])


def _deprecated(index: int) -> tuple[str, str, str, str]:
    return ("warning", f"runtime.extra_args.{index}", "'-t' is deprecated", "write --threads")


def test_a_single_value_may_look_like_a_flag_the_engine_does_not_know() -> None:
    assert parse(extra("--name", "-odd")) == ({"--name": ("-odd",)}, [])
    # A spelling of the table starts the next flag; `--...` never is a value.
    assert parse(extra("--name", "-t", "2")) == (
        {"--threads": ("2",)},
        [
            err("runtime.extra_args.0", "'--name' needs a value", "write '--name VALUE'"),
            _deprecated(1),
        ],
    )
    assert parse(extra("--name", "--xyzzy")) == (
        {},
        [
            err("runtime.extra_args.0", "'--name' needs a value", "write '--name VALUE'"),
            err("runtime.extra_args.1", "Demo 1.0 has no flag '--xyzzy'", _HELP),
        ],
    )
    # Only a single-value flag does this: `--modes` takes one or more.
    assert parse(extra("--modes", "-odd"))[1][0] == err(
        "runtime.extra_args.0", "'--modes' needs a value", "write '--modes VALUE'"
    )


_HELP = "see the engine's --help for this version"


def test_how_many_values_each_flag_takes() -> None:
    assert parse(extra("--pair", "a", "b", "--opt", "--many", "--modes", "a", "b")) == (
        {"--pair": ("a", "b"), "--opt": (), "--many": (), "--modes": ("a", "b")},
        [],
    )
    assert parse(extra("--opt", "v", "--many", "x", "y", "z")) == (
        {"--opt": ("v",), "--many": ("x", "y", "z")},
        [],
    )
    stray = "'w' is not a flag and follows no flag that takes a value"
    assert parse(extra("--opt", "v", "w")) == (
        {"--opt": ("v",)},
        [err("runtime.extra_args.2", stray, "write flags as '--name value'")],
    )
    assert parse(extra("--pair", "a")) == (
        {},
        [err("runtime.extra_args.0", "'--pair' needs 2 values", "write '--pair VALUE'")],
    )
    assert parse(extra("--modes")) == (
        {},
        [err("runtime.extra_args.0", "'--modes' needs a value", "write '--modes VALUE'")],
    )
    assert parse(extra("--threads")) == (
        {},
        [err("runtime.extra_args.0", "'--threads' needs a value", "write '--threads VALUE'")],
    )


def test_a_value_error_points_at_the_item_that_holds_the_value() -> None:
    number = "the engine takes a whole number"
    assert parse(extra("--name", "n", "--threads", "x"))[1] == [
        err("runtime.extra_args.3", "invalid value 'x' for '--threads'", number)
    ]
    assert parse(extra("--name", "n", "--threads=x"))[1] == [
        err("runtime.extra_args.2", "invalid value 'x' for '--threads'", number)
    ]
    # Several values: each bad one at its own item (items 2 and 4 here).
    assert parse(extra("--opt", "--modes", "c", "a", "d"))[1] == [
        err(
            "runtime.extra_args.2",
            "invalid value 'c' for '--modes'",
            "the engine takes one of a, b",
        ),
        err(
            "runtime.extra_args.4",
            "invalid value 'd' for '--modes'",
            "the engine takes one of a, b",
        ),
    ]
    assert parse(extra("--modes=c"))[1] == [
        err(
            "runtime.extra_args.0",
            "invalid value 'c' for '--modes'",
            "the engine takes one of a, b",
        )
    ]
    # Spec-derived words are trusted: no value check.
    assert parse(spec_words("--threads", "x")) == ({"--threads": ("x",)}, [])


# --- parsing: switches ------------------------------------------------------------------------


def test_a_switch_and_its_negation_take_no_value() -> None:
    assert parse(extra("--kv", "--quiet")) == ({"--kv": ("true",), "--quiet": ("true",)}, [])
    assert parse(extra("--no-kv")) == ({"--kv": ("false",)}, [])
    assert parse(extra("--kv=1", "--quiet=yes")) == (
        {},
        [
            err(
                "runtime.extra_args.0",
                "'--kv' is a switch and takes no value",
                "write '--kv' alone or '--no-kv'",
            ),
            err(
                "runtime.extra_args.1",
                "'--quiet' is a switch and takes no value",
                "write '--quiet' alone",
            ),
        ],
    )
    # A switch's following item is not its value.
    assert parse(extra("--kv", "1"))[1] == [
        err(
            "runtime.extra_args.1",
            "'1' is not a flag and follows no flag that takes a value",
            "write flags as '--name value'",
        )
    ]


# --- parsing: spellings -----------------------------------------------------------------------


def test_underscore_spellings_only_where_the_engine_reads_them() -> None:
    vllm_like = replace(RULES, underscores=True)
    settings, found = parse_argv(vllm_like, extra("--max_model_len=8", "--max_model_len", "9"))
    assert found[0] == error(
        "runtime.extra_args.1",
        "'--max-model-len' appears twice (also runtime.extra_args.0)",
        "the engine keeps only one value; give it once",
    )
    setting = settings["--max-model-len"]
    assert (setting.values, setting.spelling) == (("9",), "--max_model_len")
    assert parse(extra("--max_model_len", "9"))[1] == [
        err(
            "runtime.extra_args.0",
            "Demo 1.0 has no flag '--max_model_len'",
            "did you mean '--max-model-len'?",
        )
    ]


def test_an_engine_without_equals_values_says_to_split_the_item() -> None:
    llamacpp_like = replace(RULES, equals_values=False)
    assert parse(
        extra("--threads=4", "--kv=1", "--api-key=s", "--nope=2", "--name", "n"), llamacpp_like
    ) == (
        {"--name": ("n",)},
        [
            err(
                "runtime.extra_args.0",
                "Demo takes '--threads 4', not '--threads=4'",
                "give two items: ['--threads', '4']",
            ),
            err(
                "runtime.extra_args.1",
                "'--kv' is a switch and takes no value",
                "write '--kv' alone or '--no-kv'",
            ),
            err(
                "runtime.extra_args.2",
                "'--api-key' takes a secret, and secrets never go into generated files",
                "pass it as DEMO_API_KEY",
            ),
            err(
                "runtime.extra_args.3",
                "Demo takes '--nope 2', not '--nope=2'",
                "give two items: ['--nope', '2']",
            ),
        ],
    )


def test_numbers_stray_words_and_whole_command_lines() -> None:
    not_a_flag = "is not a flag and follows no flag that takes a value"
    hint = "write flags as '--name value'"
    assert parse(extra("-1", "-2.5", "-", "x"))[1] == [
        err(f"runtime.extra_args.{i}", f"'{text}' {not_a_flag}", hint)
        for i, text in enumerate(("-1", "-2.5", "-", "x"))
    ]
    assert parse(extra("-1.2.3"))[1] == [
        err("runtime.extra_args.0", "Demo 1.0 has no flag '-1.2.3'", _HELP)
    ]
    assert parse(extra("a b", " a "))[1] == [
        err(
            "runtime.extra_args.0",
            "'a b' holds several words in one item; the engine would get them as one argument",
            "give one item per word, e.g. ['--flag', 'value']",
        ),
        err("runtime.extra_args.1", f"' a ' {not_a_flag}", hint),
    ]
    assert parse(extra("--threads 4 --kv", "--threads 4"))[1] == [
        err(
            "runtime.extra_args.0",
            "'--threads 4 --kv' is a whole command line in one item; the engine would get it "
            "as one argument",
            "give one item per word, e.g. ['--threads', '4', ...]",
        ),
        err(
            "runtime.extra_args.1",
            "'--threads 4' is a whole command line in one item; the engine would get it "
            "as one argument",
            "give one item per word, e.g. ['--threads', '4', ...]",
        ),
    ]


def test_the_values_of_an_unknown_or_refused_flag_are_not_a_second_problem() -> None:
    assert parse(extra("--xyzzy", "-1", "x", "--threads", "2")) == (
        {"--threads": ("2",)},
        [err("runtime.extra_args.0", "Demo 1.0 has no flag '--xyzzy'", _HELP)],
    )
    assert parse(extra("--host", "0.0.0.0", "--threads", "2")) == (
        {"--threads": ("2",)},
        [err("runtime.extra_args.0", "llmgen sets the host", "set server.host")],
    )
    # The refusal is for extra_args: llmgen's own words may set the flag.
    assert parse(spec_words("--host", "0.0.0.0")) == ({"--host": ("0.0.0.0",)}, [])


def test_a_near_miss_is_named() -> None:
    assert parse(extra("--thread", "2"))[1] == [
        err("runtime.extra_args.0", "Demo 1.0 has no flag '--thread'", "did you mean '--threads'?")
    ]


# --- origins, duplicates, secrets ---------------------------------------------------------------


def test_each_setting_keeps_its_origin() -> None:
    words = [*spec_words("org/model", "--ctx", "2048", "--threads", "4"), Word("--name", 0)]
    words.append(Word("n", 1))
    rules = replace(RULES, positional="model.id")
    settings, found = parse_argv(rules, words, {"--threads": "the pod's CPUs"})
    assert found == []
    assert settings[POSITIONAL] == Setting(
        POSITIONAL, ("org/model",), Origin("spec", "model.id"), "org/model"
    )
    assert settings["--ctx"].origin == Origin("spec", "runtime.context_length")
    assert settings["--threads"].origin == Origin("llmgen", note="the pod's CPUs")
    assert settings["--name"].origin == Origin("extra_args", "runtime.extra_args.0")
    assert (settings["--name"].spelling, settings["--name"].flag) == ("--name", NAME)
    assert parse_argv(rules, spec_words("--threads", "4"))[0]["--threads"].origin == Origin(
        "llmgen"
    )


def test_only_one_positional_and_only_from_the_spec() -> None:
    rules = replace(RULES, positional="model.id")
    stray = "is not a flag and follows no flag that takes a value"
    hint = "write flags as '--name value'"
    assert parse([*spec_words("a/b", "c/d"), Word("e/f", 0)], rules) == (
        {POSITIONAL: ("a/b",)},
        [err("", f"'c/d' {stray}", hint), err("runtime.extra_args.0", f"'e/f' {stray}", hint)],
    )
    assert parse(spec_words("a/b")) == ({}, [err("", f"'a/b' {stray}", hint)])


def test_a_repeatable_flag_adds_values_and_keeps_its_first_origin() -> None:
    settings, found = parse_argv(RULES, extra("--mw", "a", "--name", "n", "--mw", "b"))
    assert found == []
    assert settings["--mw"].values == ("a", "b")
    assert settings["--mw"].origin == Origin("extra_args", "runtime.extra_args.0")
    assert settings["--mw"].spelling == "--mw"


def test_a_flag_given_twice_or_already_rendered_is_an_error_at_the_item() -> None:
    words = [*spec_words("--ctx", "2048", "--quiet"), Word("--ctx", 0), Word("1", 1)]
    words += [Word("--quiet", 2), Word("-t", 3), Word("1", 4), Word("--threads", 5)]
    words += [Word("2", 6)]
    values, found = parse(words)
    assert values == {"--ctx": ("1",), "--quiet": ("true",), "--threads": ("2",)}
    assert found == [
        err(
            "runtime.extra_args.0",
            "'--ctx' is already set by runtime.context_length",
            "change runtime.context_length instead of repeating the flag",
        ),
        err(
            "runtime.extra_args.2",
            "'--quiet' is already set by llmgen",
            "llmgen renders this flag itself; remove it from extra_args",
        ),
        _deprecated(3),
        err(
            "runtime.extra_args.5",
            "'--threads' appears twice (also runtime.extra_args.3)",
            "the engine keeps only one value; give it once",
        ),
    ]
    hinted = replace(RULES, duplicate_hint=lambda name: f"set {name} in the spec")
    assert parse(words[:5], hinted)[1] == [
        err(
            "runtime.extra_args.0",
            "'--ctx' is already set by runtime.context_length",
            "set --ctx in the spec",
        )
    ]


def test_a_secret_flag_is_refused_wherever_it_is_given() -> None:
    assert parse(extra("--api-key", "s")) == (
        {"--api-key": ("s",)},
        [
            err(
                "runtime.extra_args.0",
                "'--api-key' takes a secret, and secrets never go into generated files",
                "pass it as DEMO_API_KEY",
            )
        ],
    )


# --- flags this version lacks -----------------------------------------------------------------


def test_a_spelling_another_version_takes() -> None:
    assert parse(extra("--gone", "1"))[1] == [
        err("runtime.extra_args.0", "removed in Demo 1.0", "set engine_version: 0.9")
    ]


def test_a_rendered_flag_this_version_lacks_names_the_field_or_the_version() -> None:
    lacks = "which Demo 1.0 does not take"
    assert parse(spec_words("--gone", "1"))[1] == [
        err(
            "runtime.gone",
            f"runtime.gone renders '--gone', {lacks}; removed in Demo 1.0",
            "set engine_version: 0.9",
        )
    ]
    assert parse(spec_words("--old", "1"))[1] == [
        err(
            "runtime.old",
            f"runtime.old renders '--old', {lacks}; renamed to --new in Demo 1.0",
            "remove runtime.old",
        )
    ]
    assert parse(spec_words("--gone-too"))[1] == [
        err(
            "engine_version",
            f"llmgen renders '--gone-too', {lacks}; removed in Demo 1.0",
            "choose another engine_version",
        )
    ]
    no_history = replace(RULES, history=lambda spelling: None)
    assert parse(spec_words("--gone"), no_history)[1] == [
        err("runtime.gone", f"runtime.gone renders '--gone', {lacks}", "remove runtime.gone")
    ]
    # Neither owned nor known to another version: the plain unknown flag, at no item.
    assert parse(spec_words("--xyzzy"))[1] == [err("", "Demo 1.0 has no flag '--xyzzy'", _HELP)]


def test_the_parser_s_defaults_accept_everything_they_are_not_told_about() -> None:
    bare = ParserRules(table=TABLE, title="Demo", version="1.0", owners={})
    settings, found = parse_argv(bare, extra("--host", "h", "--api-key", "k", "-t", "1"))
    assert found == []
    assert {name: s.values for name, s in settings.items()} == {
        "--host": ("h",),
        "--api-key": ("k",),
        "--threads": ("1",),
    }
    assert parse(spec_words("--ctx", "1", "--ctx", "2"), bare)[1] == []
    assert parse(extra("--ctx", "1"), replace(bare, owners=OWNERS))[1] == []
    assert parse([*spec_words("--ctx", "1"), Word("--ctx", 0), Word("2", 1)], bare)[1] == [
        err(
            "runtime.extra_args.0",
            "'--ctx' is already set by llmgen",
            "llmgen renders this flag itself; remove it from extra_args",
        )
    ]
    # Told nothing of other versions: an unknown flag is only unknown.
    assert parse(extra("--xyzzy"), bare)[1] == [
        err("runtime.extra_args.0", "Demo 1.0 has no flag '--xyzzy'", _HELP)
    ]
