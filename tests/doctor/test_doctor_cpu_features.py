"""doctor prints the CPU features that decide llama.cpp's repacking, and fit says which it
assumed: the same reading, checked against this host's /proc/cpuinfo read here.

Expected repacked types per feature set, written out from ggml/src/ggml-cpu/repack.cpp
`ggml_repack_get_optimal_repack_type` (llama.cpp b11434, x86): with AVX2, Q4_0, Q4_K, IQ4_NL
and MXFP4 get a repacked layout; AVX-512F adds Q2_K; without AVX2 nothing repacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.doctor.test_doctor import line, run_doctor, write_spec

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0"


def host_flags() -> set[str]:
    """The x86 `flags` (or ARM `Features`) of the first CPU in /proc/cpuinfo."""
    for text in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = text.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    pytest.fail("/proc/cpuinfo names no CPU flags")


def expected_on_this_host() -> tuple[list[str], list[str]]:
    """(feature names fit uses, types repacked) for this host, from its flags."""
    flags = host_flags()
    names = sorted({"avx2", "avx512f"} & flags)
    if "asimd" in flags:  # ARM: NEON (+ dotprod as asimddp, i8mm)
        names = sorted(
            {"neon"} | ({"dotprod"} if "asimddp" in flags else set()) | ({"i8mm"} & flags)
        )
    types = []
    if "avx2" in flags:
        types = ["Q4_0", "Q4_K", "IQ4_NL", "MXFP4"] + (["Q2_K"] if "avx512f" in flags else [])
    return names, types


def fit_json(tmp_path: Path, *args: str) -> dict[str, object]:
    path = tmp_path / "spec.yaml"
    spec = {"name": "f", "engine": "llamacpp", "model": {"id": MODEL}}
    path.write_text(yaml.safe_dump(spec), "utf-8")
    result = CliRunner().invoke(
        main, ["fit", str(path), "--offline", "--memory", "8G", "--format", "json", *args]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_doctor_without_a_spec_prints_this_host_s_features(tmp_path: Path) -> None:
    names, types = expected_on_this_host()
    code, out, _ = run_doctor(tmp_path, [])
    assert code == 0, out
    found = line(out, "cpu features")
    assert found.startswith("info ")
    shown = ", ".join(names) or "none"
    assert f"cpu features: {shown} (this machine's /proc/cpuinfo)" in found
    assert f"repacks {', '.join(types) or 'nothing'} weights" in found
    assert f"--cpu-features {','.join(names) or 'none'}" in found


def test_doctor_for_a_llama_cpp_spec_prints_the_features(tmp_path: Path) -> None:
    names, _ = expected_on_this_host()
    spec, _ = write_spec(tmp_path, "llamacpp")
    _, out, _ = run_doctor(tmp_path, [], str(spec))
    assert f"cpu features: {', '.join(names) or 'none'} (" in line(out, "cpu features")


def test_doctor_for_a_vllm_spec_leaves_them_out(tmp_path: Path) -> None:
    spec, _ = write_spec(tmp_path, "vllm")
    _, out, _ = run_doctor(tmp_path, [], str(spec))
    assert "cpu features" not in out


def test_fit_says_it_assumed_this_host_s_features(tmp_path: Path) -> None:
    names, types = expected_on_this_host()
    data = fit_json(tmp_path)
    assert data["cpu_features"] == {"names": names, "source": "this machine's /proc/cpuinfo"}
    path = tmp_path / "spec.yaml"
    text = CliRunner().invoke(main, ["fit", str(path), "--offline", "--memory", "8G"]).output
    assert f"CPU features {', '.join(names) or 'none'} (this machine's /proc/cpuinfo)" in text
    assert f"repacks {', '.join(types) or 'nothing'} weights" in text


def test_fit_says_when_the_features_were_given(tmp_path: Path) -> None:
    data = fit_json(tmp_path, "--cpu-features", "avx512f,avx2")
    assert data["cpu_features"] == {
        "names": ["avx2", "avx512f"],
        "source": "given with --cpu-features",
    }
    path = tmp_path / "spec.yaml"
    text = (
        CliRunner()
        .invoke(main, ["fit", str(path), "--offline", "--memory", "8G", "--cpu-features", "none"])
        .output
    )
    assert "CPU features none (given with --cpu-features): llama.cpp repacks nothing" in text


def test_fit_under_no_repack_says_the_features_do_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    spec = {
        "name": "f",
        "engine": "llamacpp",
        "model": {"id": MODEL},
        "runtime": {"extra_args": ["--no-repack"]},
    }
    path.write_text(yaml.safe_dump(spec), "utf-8")
    text = CliRunner().invoke(main, ["fit", str(path), "--offline", "--memory", "8G"]).output
    assert "--no-repack: no repacked copies" in text
    assert "CPU features" not in text


def test_vllm_fit_has_no_cpu_features(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    spec = {
        "name": "f",
        "engine": "vllm",
        "model": {"id": "Qwen/Qwen2.5-0.5B-Instruct"},
        "runtime": {"kv_cache_memory": "1G"},
    }
    path.write_text(yaml.safe_dump(spec), "utf-8")
    result = CliRunner().invoke(
        main, ["fit", str(path), "--offline", "--memory", "8G", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cpu_features"] is None
