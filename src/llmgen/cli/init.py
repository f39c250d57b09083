"""`llmgen init`: write a commented starter spec that validates as written.

The first line is a yaml-language-server modeline pointing at the released JSON Schema (see
links.py), so editors complete and check fields. Only the knobs the chosen engine has are
offered as comments. Nothing is asked unless stdin is a terminal; an existing file is never
replaced without --force.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from llmgen.errors import LlmgenError, SpecError, UsageError
from llmgen.records import record

DEFAULT_OUTPUT = Path("llmgen.yaml")

# Runtime knobs offered as comments: (field, example line). An engine's `unsupported` table
# removes the ones it lacks.
_RUNTIME_KNOBS = (
    ("batch_size", "# batch_size: 512           # tokens per step; default: the engine's own"),
    ("threads", "# threads: 8                # CPU threads"),
    ("gpu_layers", "# gpu_layers: all           # layers on the GPU; needs gpus > 0"),
    ("gpu_memory_fraction", "# gpu_memory_fraction: 0.9  # share of GPU memory; needs gpus > 0"),
    ("max_input_tokens", "# max_input_tokens: 4095    # longest prompt, below context_length"),
    ("dtype", "# dtype: auto               # auto | float16 | bfloat16 | float32"),
)


@record
class Starter:
    """What the starter spec is made of."""

    engine: str
    model: str
    schema: str


class ExistsError(LlmgenError):
    """The output file exists and --force was not given."""


def name_for(model: str) -> str:
    """A deployment name from the model: its last part, lowercased, only [a-z0-9-]."""
    last = model.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    last = re.sub(r"\.gguf$", "", last, flags=re.IGNORECASE)
    name = re.sub(r"[^a-z0-9]+", "-", last.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:63].rstrip("-")
    return name or "llm"


def _scalar(value: str) -> str:
    # A JSON string is a YAML double-quoted scalar: safe for any path the spec rules allow.
    import json

    return json.dumps(value)


def spec_text(starter: Starter) -> str:
    """The commented starter spec for `starter`."""
    from llmgen.engines import ENGINES

    engine = ENGINES[starter.engine]
    local = starter.model.startswith("/")
    model_lines = (
        [f"  path: {_scalar(starter.model)}"]
        if local
        else [
            f"  id: {_scalar(starter.model)}",
            "  # path: /models/...       # or a local model instead of id",
        ]
    )
    if not local and engine.model_kind == "hf":
        model_lines.append("  # revision: main          # hub branch, tag or commit")
    if engine.names_served_model:
        model_lines.append("  # served_name: my-model   # the name clients send")
    knobs = [f"  {line}" for field, line in _RUNTIME_KNOBS if field not in engine.unsupported]
    lines = [
        f"# yaml-language-server: $schema={starter.schema}",
        f"# An llmgen deployment spec for {engine.title} {engine.version}.",
        "# Check it:  llmgen validate <this file>      Render it:  llmgen render <this file>",
        f"name: {name_for(starter.model)}  # lowercase letters, digits, '-'; names the files",
        f"engine: {starter.engine}",
        "model:",
        *model_lines,
        "server:",
        "  host: 127.0.0.1             # any other address needs api_key_env",
        "  port: 8000",
        "  # api_key_env: LLM_API_KEY  # the NAME of the variable holding the key",
        "runtime:",
        "  context_length: 4096        # tokens per request, prompt plus answer",
        "  parallel: 4                 # requests served at once",
        "  gpus: 0                     # 0 = CPU; more than 1 = tensor parallel",
        *engine.starter_lines,
        *knobs,
        "  # extra_args: []            # more engine flags, checked against its flag table",
        "# container:",
        "#   image_tag: ...            # override the pinned image tag (never latest)",
    ]
    return "\n".join(lines) + "\n"


def check_model(engine: str, model: str) -> str:
    """'' when `model` is acceptable for `engine`, else what is wrong (one line)."""
    from llmgen.rules.analysis import validate_text

    try:
        validate_text(spec_text(Starter(engine, model, "x")), "<init>")
    except SpecError as exc:
        first = exc.diagnostics[0]
        return first.message + (f" ({first.hint})" if first.hint else "")
    return ""


def refuse_existing(output: Path, force: bool) -> None:
    """Fail before asking anything when the output cannot be written (write_spec re-checks)."""
    if output.is_dir():
        raise UsageError(f"{output} is a directory; give a file name with -o")
    if not force and (output.exists() or output.is_symlink()):
        raise ExistsError(f"{output} exists; pass --force to replace it")


def write_spec(text: str, output: Path, force: bool) -> None:
    """Write `text` to `output`; never replaces an existing file (or link) without `force`."""
    if output.is_dir():
        raise UsageError(f"{output} is a directory; give a file name with -o")
    if force:
        from llmgen.render.writer import atomic_write

        atomic_write(output, text.encode("utf-8"), executable=False)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(output, flags, 0o644)
    except FileExistsError:
        raise ExistsError(f"{output} exists; pass --force to replace it") from None
    except FileNotFoundError:
        raise LlmgenError(
            f"cannot write {output}: the directory {output.parent} does not exist"
        ) from None
    except OSError as exc:
        raise LlmgenError(f"cannot write {output}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)


def ask_missing(engine: str | None, model: str | None) -> tuple[str, str]:
    """Prompt on the terminal for the engine and model not given as options."""
    import click

    from llmgen.engines import ENGINES
    from llmgen.engines.registry import DEFAULT_ENGINE, ENGINE_NAMES

    if engine is None:
        engine = click.prompt(
            "Engine", type=click.Choice(ENGINE_NAMES), default=DEFAULT_ENGINE, err=True
        )
    chosen = str(engine)
    while model is None:
        answer = str(
            click.prompt(
                "Model (hub id org/name, or an absolute path)",
                default=ENGINES[chosen].starter_model,
                err=True,
            )
        ).strip()
        problem = check_model(chosen, answer)
        if problem:
            click.echo(f"Error: {problem}", err=True)
        else:
            model = answer
    return chosen, model
