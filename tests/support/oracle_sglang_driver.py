"""Ask SGLang's own parser and argument checks about many `sglang serve` argvs in one process.

Run by the SGLang environment's python (scripts/setup-sglang.sh), never by the test
environment, and imports nothing from the test suite but its sibling oracle_driver_loop.py (standard
library only), which reads the requests and writes the verdicts:

    python oracle_sglang_driver.py REQUESTS.json VERDICTS.json

REQUESTS.json is a list of {"id": str, "argv": [words after `sglang serve`], "env": {...}}.
For each, what `sglang serve` does before it starts any process (sglang 0.5.23
launch_server.py run_server): `prepare_server_args(argv)` (the argparse parser of
ServerArgs.add_cli_args), then `resolve_once()` (the resolution pipeline: every hook of
srt/arg_groups/pipeline.py, which reads the model's config.json through ModelConfig and
raises the start-up errors, e.g. a context_length above the derived one), then
`check_server_args()` (srt/arg_groups/validation_hook.py). VERDICTS.json gets one
{"id", "verdict": "accept"|"refuse", "error": str, "config": {...}} per request, in order.
Importing SGLang costs about 15 s here; each argv then takes well under a second.
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Any

from oracle_driver_loop import main  # a sibling module: see its docstring


def judge(argv: list[str]) -> dict[str, Any]:
    """SGLang's verdict on one argv (the words after `sglang serve`)."""
    from sglang.srt.arg_groups.overrides import resolving_view
    from sglang.srt.server_args import prepare_server_args

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = prepare_server_args(argv)
    except SystemExit:
        return {"verdict": "refuse", "error": stderr.getvalue().strip().splitlines()[-1:]}
    try:
        args.resolve_once()
        args.check_server_args()
    except Exception as exc:  # SGLang's own start-up error, whatever its class
        return {"verdict": "refuse", "error": [f"{type(exc).__name__}: {exc}"]}
    cfg = resolving_view(args)
    return {
        "verdict": "accept",
        "error": [],
        "config": {
            name: str(getattr(cfg, name, None))
            for name in (
                "context_length",
                "max_running_requests",
                "chunked_prefill_size",
                "tp_size",
                "served_model_name",
                "device",
                "dtype",
            )
        },
    }


if __name__ == "__main__":
    sys.exit(main(judge))
