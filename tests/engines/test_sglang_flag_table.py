"""The shipped SGLang flag table is what SGLang's own parser says, byte for byte.

scripts/flag-table.py walks `ServerArgs.add_cli_args(argparse.ArgumentParser())` in the SGLang
environment (scripts/setup-sglang.sh); re-running it must reproduce the committed table.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.oracle_sglang import sglang_python

pytestmark = [pytest.mark.vllm, pytest.mark.sglang]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "src" / "llmgen" / "engines" / "data" / "flags" / "sglang-0.5.23-flags.tsv"


def test_flag_table_is_reproduced_from_sglangs_parser(tmp_path: Path) -> None:
    target = tmp_path / "sglang.tsv"
    done = subprocess.run(
        [
            str(sglang_python()),
            str(REPO / "scripts" / "flag-table.py"),
            "sglang",
            "--out",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert target.read_bytes() == SHIPPED.read_bytes()
    # Spot checks against SGLang 0.5.23's field declarations (srt/arg_groups/fields/):
    rows = {line.split("\t")[0]: line.split("\t") for line in SHIPPED.read_text().splitlines()}
    assert rows["--tp-size"][1] == "--tensor-parallel-size"  # parallel.py:45-51, aliases
    assert rows["--port"][4] == "30000"  # serving.py:66
    assert rows["--max-prefill-tokens"][4] == "16384"  # schedule.py:71-81
