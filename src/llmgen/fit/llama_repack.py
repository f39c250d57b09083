"""Which weights ggml-cpu copies into its CPU_REPACK buffer, per CPU feature set (b11434).

ggml/src/ggml-cpu/repack.cpp, `ggml_repack_get_optimal_repack_type`, picks a repacked layout
for a matrix by its type, the CPU's features and its row count (ne[1]); a matrix with a layout
is loaded into the CPU_REPACK buffer (src/llama-model.cpp `make_cpu_buft_list`, extra buffer
types, unless `--no-repack`) on top of the mapped file. The features are the build's
(`ggml_cpu_has_avx2` is `#if defined(__AVX2__)` in ggml-cpu.c); a native build, and the
official image's per-CPU variants, match the host's, so fit reads the host's /proc/cpuinfo
flags, or takes them from `llmgen fit --cpu-features` for another host.

Only matrices multiplied by activations repack (MUL_MAT/MUL_MAT_ID in `supports_op`): never
the token embeddings, which get_rows reads, except where a tied model's output layer reuses
them (llama-model-loader.cpp TENSOR_DUPLICATED: the output gets its own copy in its buffer).
"""

from __future__ import annotations

from pathlib import Path

# type -> [(features that all must be present, rows multiple)], first match wins, as in
# ggml_repack_get_optimal_repack_type (x86 and ARM; RISC-V and s390x are left out).
REPACK_RULES: dict[str, list[tuple[frozenset[str], int]]] = {
    "Q4_0": [
        (frozenset({"avx2"}), 8),
        (frozenset({"neon", "i8mm"}), 4),
        (frozenset({"neon", "dotprod"}), 4),
    ],
    "Q4_K": [
        (frozenset({"avx2"}), 8),
        (frozenset({"neon", "i8mm"}), 8),
        (frozenset({"neon", "dotprod"}), 8),
    ],
    "Q2_K": [(frozenset({"avx512f"}), 8)],
    "Q5_K": [(frozenset({"neon", "i8mm"}), 8), (frozenset({"neon", "dotprod"}), 8)],
    "Q6_K": [(frozenset({"neon", "i8mm"}), 8), (frozenset({"neon", "dotprod"}), 8)],
    "IQ4_NL": [(frozenset({"avx2"}), 8), (frozenset({"neon", "dotprod"}), 4)],
    "MXFP4": [(frozenset({"avx2"}), 8), (frozenset({"neon", "dotprod"}), 4)],
    "Q8_0": [(frozenset({"neon", "i8mm"}), 4), (frozenset({"neon", "dotprod"}), 4)],
}
# What rendering assumes (it must not depend on the machine): an x86-64 server with AVX2.
DEFAULT_FEATURES = frozenset({"avx2"})
KNOWN_FEATURES = frozenset({"avx2", "avx512f", "neon", "dotprod", "i8mm"})
# /proc/cpuinfo spellings: x86 `flags`, ARM `Features` (asimd = NEON, asimddp = dotprod).
_CPUINFO_NAMES = {
    "avx2": "avx2",
    "avx512f": "avx512f",
    "asimd": "neon",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
}


def repacks(type_name: str, rows: int | None, features: frozenset[str]) -> bool:
    """Whether a matrix of this type and row count gets a repacked copy."""
    for needed, multiple in REPACK_RULES.get(type_name, []):
        if needed <= features:
            return rows is None or rows % multiple == 0
    return False


def repacked_types(features: frozenset[str]) -> list[str]:
    """The weight types ggml-cpu repacks on a CPU with these features (rows permitting)."""
    return [name for name, rules in REPACK_RULES.items() if any(n <= features for n, _ in rules)]


def describe_features(features: frozenset[str], source: str) -> str:
    """One line for doctor and fit: the features, where they came from, what they repack."""
    names = ", ".join(sorted(features)) or "none"
    types = ", ".join(repacked_types(features)) or "nothing"
    return (
        f"{names} ({source}): llama.cpp repacks {types} weights "
        f"(llmgen fit --cpu-features {','.join(sorted(features)) or 'none'})"
    )


def host_cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The repack-relevant features of this machine's CPU, or None when unreadable."""
    try:
        text = cpuinfo.read_text("utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(_CPUINFO_NAMES[f] for f in value.split() if f in _CPUINFO_NAMES)
    return None


def serving_features(given: frozenset[str] | None) -> tuple[frozenset[str], str]:
    """The features fit assumes, and where they came from: `given` (--cpu-features), else
    this machine's /proc/cpuinfo, else an AVX2 x86 (what rendering assumes)."""
    if given is not None:
        return given, "given with --cpu-features"
    host = host_cpu_features()
    if host is None:
        return DEFAULT_FEATURES, "assumed: /proc/cpuinfo unreadable"
    return host, "this machine's /proc/cpuinfo"


def parse_cpu_features(text: str) -> frozenset[str]:
    """`avx2,avx512f` (or `none`) from the command line; ValueError names what is unknown."""
    words = {w.strip().lower() for w in text.split(",") if w.strip()}
    if words == {"none"}:
        return frozenset()
    unknown = sorted(words - KNOWN_FEATURES)
    if unknown:
        raise ValueError(
            f"unknown CPU feature {', '.join(unknown)}; use a comma list of "
            f"{', '.join(sorted(KNOWN_FEATURES))}, or none"
        )
    return frozenset(words)
