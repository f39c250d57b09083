"""verify's container memory figure: the cgroup files it reads and `docker stats` sizes.

The real figure is checked on the real engine (tests/render/test_docker_engine.py); these cover the
parsing on both cgroup versions, with the formats from the kernel's and docker's documentation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgen.verify import container
from llmgen.verify.report import as_dict, format_text
from llmgen.verify.runner import VerifyResult


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5MiB", int(12.5 * 2**20)),
        ("1.2GiB", int(1.2 * 2**30)),
        ("512KiB", 512 * 2**10),
        ("900B", 900),
        ("3MB", 3_000_000),
        ("--", None),
        ("12.5XiB", None),
    ],
)
def test_docker_stats_sizes(text: str, expected: int | None) -> None:
    assert container.parse_docker_size(text) == expected


def test_cgroup_files_for_v1_and_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "proc" / "42"
    proc.mkdir(parents=True)
    # /proc/PID/cgroup of a container on a hybrid host (cgroup(7)): v1 controllers, then v2.
    (proc / "cgroup").write_text(
        "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/system.slice/docker-abc.scope\n"
    )
    real_path = Path

    def fake_path(value: str) -> Path:
        return real_path(str(value).replace("/proc/", f"{tmp_path}/proc/", 1))

    monkeypatch.setattr(container, "Path", fake_path)
    root = container.CGROUP_ROOT
    assert container._cgroup_files(42) == [
        root / "memory" / "docker/abc" / "memory.max_usage_in_bytes",
        root / "system.slice/docker-abc.scope" / "memory.peak",
        root / "unified" / "system.slice/docker-abc.scope" / "memory.peak",
    ]


def test_a_container_s_memory_is_not_called_peak_rss(tmp_path: Path) -> None:
    """The cgroup's figure leaves out the model file mapped from the host: never "peak RSS"."""
    result = VerifyResult(
        tmp_path, "tiny", "llamacpp", "docker-run.sh", "http://127.0.0.1:8080/v1", "tiny"
    )
    result.peak_rss_bytes, result.rss_scope = 20 * 2**20, "the container's cgroup peak"
    text = format_text(result)
    assert "peak RSS" not in text
    assert "container memory (cgroup peak, leaves out the mapped model file) 20.0 MiB" in text
    assert as_dict(result)["metrics"]["memory_label"].startswith("container memory (cgroup")
    native = VerifyResult(tmp_path, "tiny", "llamacpp", "launch.sh", "http://x/v1", "tiny")
    native.peak_rss_bytes = 20 * 2**20
    assert "peak RSS 20.0 MiB" in format_text(native)
