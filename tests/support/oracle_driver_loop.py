"""The loop every oracle driver shares: read requests, judge each argv, write verdicts.

Runs inside an engine's environment (the vLLM CPU venv, the SGLang venv), never the test
environment: the drivers import it as a sibling module (their folder is sys.path[0] when run as
`python DRIVER.py REQUESTS.json VERDICTS.json`), and it imports only the standard library.

REQUESTS.json is a list of {"id": str, "argv": [words after the serve command], "env": {...}}.
Each argv is judged with the request's environment variables set, and the environment is put
back afterwards. VERDICTS.json gets one {"id", "verdict": "accept"|"refuse", "error": str,
"config": {...}} per request, in order (the judge returns its error as a list of lines).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any


def run_requests(judge: Callable[[list[str]], dict[str, Any]], argv: list[str]) -> int:
    """Judge every request of argv[1]'s file with `judge`; write the verdicts to argv[2]."""
    with open(argv[1], encoding="utf-8") as source:
        requests = json.load(source)
    verdicts = []
    for request in requests:
        saved = dict(os.environ)
        os.environ.update(request.get("env", {}))
        try:
            verdict = judge(request["argv"])
        finally:
            os.environ.clear()
            os.environ.update(saved)
        verdict["error"] = "\n".join(verdict["error"])
        verdicts.append({"id": request["id"], **verdict})
    with open(argv[2], "w", encoding="utf-8") as out:
        json.dump(verdicts, out, indent=1)
    return 0


def main(judge: Callable[[list[str]], dict[str, Any]]) -> int:
    """The driver's entry point: `python DRIVER.py REQUESTS.json VERDICTS.json`."""
    return run_requests(judge, sys.argv)
