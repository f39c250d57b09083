"""fit's verdicts, sizes and report, on values written here.

- A device fits below 90 % of its budget, is tight from there up to the budget (or above it,
  while the engine can still start: its least need is within the budget), and does not fit
  when its least need (or, without one, its estimate) is above the budget; without a budget
  it is unknown. A report takes its worst device.
- Sizes are binary (the engines read K/M/G/T as powers of 1024; nvidia-smi gives an "80GB"
  GPU 81559 MiB, so a GPU sold as 80GB has 80 GiB).
- The JSON contract and the text report are written out whole.
"""

from __future__ import annotations

import pytest

from llmgen.facts.model import ModelFacts
from llmgen.fit.model import Breakdown, DeviceEstimate, FitReport, Fix, missing_facts
from llmgen.fit.report import as_json, as_text
from llmgen.fit.sizes import format_size, parse_size

MIB = 1 << 20


def test_a_breakdown_totals_its_five_parts() -> None:
    assert Breakdown(1, 20, 300, 4000, 50000).total == 54321
    assert Breakdown().total == 0


@pytest.mark.parametrize(
    ("estimate", "budget", "minimum", "verdict"),
    [
        (899, 1000, None, "fits"),
        (900, 1000, None, "fits"),  # 90 % exactly still fits
        (901, 1000, None, "tight"),
        (1000, 1000, None, "tight"),  # the whole budget: tight
        (1001, 1000, None, "does-not-fit"),
        (1500, 1000, 1000, "tight"),  # it starts (least need within the budget), not all fits
        (1500, 1000, 1001, "does-not-fit"),
        (800, 1000, 0, "fits"),  # a least need of 0 is a need, not "none given"
        (10, None, None, "unknown"),
        (10, None, 5, "unknown"),
    ],
)
def test_a_device_s_verdict_at_each_boundary(
    estimate: int, budget: int | None, minimum: int | None, verdict: str
) -> None:
    device = DeviceEstimate("gpu0", Breakdown(weights=estimate), budget, minimum)
    assert device.estimate_bytes == estimate
    assert device.verdict == verdict


def test_a_device_without_a_least_need_is_judged_by_its_estimate() -> None:
    assert DeviceEstimate("host", Breakdown(weights=1001), 1000).minimum_bytes is None
    assert DeviceEstimate("host", Breakdown(weights=1001), 1000).verdict == "does-not-fit"


FACTS = ModelFacts(
    source="test",
    kind="gguf",
    architecture="llama",
    layers=4,
    attention_heads=8,
    kv_heads=2,
    head_size=16,
    vocab_size=2000,
    weight_bytes=3 * MIB,
    weight_dtype="F16",
)


def device(name: str, total: int, budget: int | None) -> DeviceEstimate:
    return DeviceEstimate(name, Breakdown(weights=total), budget)


@pytest.mark.parametrize(
    ("totals", "verdict"),
    [
        ((10, 10), "fits"),
        ((95, 10), "tight"),
        ((10, 95), "tight"),
        ((95, 200), "does-not-fit"),  # the worst wins over a tight one
        ((200, 95), "does-not-fit"),
        ((10, None), "unknown"),  # one device without a budget, the rest fitting
        ((95, None), "tight"),  # tight outranks unknown
        ((200, None), "does-not-fit"),
    ],
)
def test_a_report_takes_its_worst_device(totals: tuple[int, int | None], verdict: str) -> None:
    host, gpu = totals
    devices = (
        device("host", host, 100),
        device("gpu0", gpu if gpu is not None else 10, 100 if gpu is not None else None),
    )
    assert FitReport("llamacpp", FACTS, "test", devices).verdict == verdict


def test_a_report_without_facts_or_devices_is_unknown() -> None:
    assert FitReport("vllm", None, "unknown model", (device("host", 1, 100),)).verdict == "unknown"
    assert FitReport("vllm", FACTS, "test", ()).verdict == "unknown"


def test_missing_facts_are_named_in_order() -> None:
    bare = ModelFacts(source="test", kind="hf")
    assert missing_facts(bare) == [
        "the weights' size",
        "the layer count",
        "the attention heads",
        "the head size",
    ]
    assert missing_facts(FACTS) == []
    # 0 is as good as missing: no estimate can be made of it.
    zero = ModelFacts(
        source="t", kind="hf", weight_bytes=1, layers=0, attention_heads=1, head_size=1
    )
    assert missing_facts(zero) == ["the layer count"]


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("1", 1),
        ("512", 512),
        ("1K", 1024),
        ("1k", 1024),
        ("2KiB", 2048),
        ("512M", 512 * MIB),
        ("512MB", 512 * MIB),
        ("24G", 24 << 30),
        ("24GiB", 24 << 30),
        ("80GB", 80 << 30),
        ("80gb", 80 << 30),
        ("7.5G", int(7.5 * (1 << 30))),
        ("1T", 1 << 40),
        ("1TiB", 1 << 40),
        (" 24 G ", 24 << 30),  # spaces around and between are read
        ("0.5K", 512),
    ],
)
def test_sizes_are_binary_whatever_the_suffix(text: str, count: int) -> None:
    assert parse_size(text) == count


@pytest.mark.parametrize("text", ["lots", "", "G", "-1G", "1.G", "1P", "1 GiBs", "1e3", ".5G"])
def test_what_is_not_a_size_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(text)
    assert str(caught.value) == f"'{text}' is not a size; write e.g. 24G, 24GiB, 80GB or 512M"


@pytest.mark.parametrize("text", ["0", "0G", "0.5", "0.0001K"])
def test_a_size_under_one_byte_is_refused(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(text)
    assert str(caught.value) == f"'{text}' is not a positive size"


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024 - 1, "1024.0 KiB"),  # 1023.999 rounds up in its unit
        (MIB, "1.0 MiB"),
        (3 * MIB // 2, "1.5 MiB"),
        (1 << 30, "1.0 GiB"),
        (int(17.25 * (1 << 30)), "17.2 GiB"),  # round half to even: 17.25 -> 17.2
        (1023 << 30, "1023.0 GiB"),
        (1 << 40, "1.0 TiB"),
        (5 << 40, "5.0 TiB"),
        (1 << 50, "1024.0 TiB"),
        (-2048, "-2.0 KiB"),  # a negative saving reads as one
        (512.4, "512 B"),
    ],
)
def test_sizes_print_in_binary_units_with_one_decimal(count: int, text: str) -> None:
    assert format_size(count) == text


# --- the report --------------------------------------------------------------------------------

REPORT = FitReport(
    engine="llamacpp",
    facts=FACTS,
    model_note="/models/m.gguf",
    devices=(
        DeviceEstimate("host", Breakdown(3 * MIB, 2 * MIB, MIB, 4 * MIB, 5 * MIB), 8 * MIB),
        DeviceEstimate("gpu0", Breakdown(MIB, 0, 0, 0, 0), None, 512),
    ),
    fixes=(
        Fix("runtime.context_length", 4096, 2048, MIB, "host", "context_length 4096 -> 2048", 4),
        Fix("runtime.parallel", 4, 2, 2 * MIB, "host", "parallel 4 -> 2", 3),
    ),
    notes=("first note", "second note"),
    cpu_features=(("avx2", "avx512f"), "given with --cpu-features"),
)


def test_the_json_contract_whole() -> None:
    model = {**FACTS.as_json(), "source": "/models/m.gguf"}
    assert as_json(REPORT) == {
        "engine": "llamacpp",
        "model": model,
        "devices": [
            {
                "name": "host",
                "estimate_bytes": 15 * MIB,
                "budget_bytes": 8 * MIB,
                "breakdown": {
                    "weights": 3 * MIB,
                    "kv_cache": 2 * MIB,
                    "compute": MIB,
                    "overhead": 4 * MIB,
                    "prompt_cache": 5 * MIB,
                },
            },
            {
                "name": "gpu0",
                "estimate_bytes": MIB,
                "budget_bytes": None,
                "breakdown": {
                    "weights": MIB,
                    "kv_cache": 0,
                    "compute": 0,
                    "overhead": 0,
                    "prompt_cache": 0,
                },
            },
        ],
        "verdict": "does-not-fit",
        "fixes": [
            {
                "field": "runtime.context_length",
                "from": 4096,
                "to": 2048,
                "saves_bytes": MIB,
                "device": "host",
            },
            {
                "field": "runtime.parallel",
                "from": 4,
                "to": 2,
                "saves_bytes": 2 * MIB,
                "device": "host",
            },
        ],
        "cpu_features": {"names": ["avx2", "avx512f"], "source": "given with --cpu-features"},
    }
    assert model["layers"] == 4 and model["weight_bytes"] == 3 * MIB


def test_the_json_of_an_unknown_model() -> None:
    unknown = FitReport("vllm", None, "not in the catalog", ())
    assert as_json(unknown) == {
        "engine": "vllm",
        "model": {"source": None, "unknown": "not in the catalog"},
        "devices": [],
        "verdict": "unknown",
        "fixes": [],
        "cpu_features": None,
    }


def test_the_text_report_whole() -> None:
    header = (
        f"{'device':8} {'weights':>10} {'kv cache':>10} {'compute':>10} {'overhead':>10} "
        f"{'prompt':>10} {'total':>10} {'budget':>10}  verdict"
    )
    assert as_text(REPORT).split("\n") == [
        "engine: llamacpp",
        "model: /models/m.gguf",
        "  layers 4, heads 8, kv heads 2, vocab 2000, weights 3.0 MiB, type F16",
        header,
        "host        3.0 MiB    2.0 MiB    1.0 MiB    4.0 MiB    5.0 MiB   15.0 MiB    8.0 MiB"
        "  does-not-fit",
        "gpu0        1.0 MiB        0 B        0 B        0 B        0 B    1.0 MiB          ?"
        "  unknown",
        "verdict: does-not-fit",
        "fixes (least given up first):",
        "  context_length 4096 -> 2048 (host)",
        "  parallel 4 -> 2 (host)",
        "note: first note",
        "note: second note",
    ]


def test_the_text_of_an_unknown_model_and_of_bare_facts() -> None:
    unknown = FitReport("vllm", None, "not in the catalog", (), notes=("unknown model: x",))
    assert as_text(unknown).split("\n") == [
        "engine: vllm",
        "model: unknown (not in the catalog); no estimate",
        "verdict: unknown",
        "note: unknown model: x",
    ]
    bare = FitReport("vllm", ModelFacts(source="s", kind="hf"), "catalog:x", ())
    assert as_text(bare).split("\n") == ["engine: vllm", "model: catalog:x", "verdict: unknown"]
    # weights of 0 bytes are left out like unknown ones
    empty = FitReport("vllm", ModelFacts(source="s", kind="hf", layers=2, weight_bytes=0), "c", ())
    assert as_text(empty).split("\n")[2] == "  layers 2"
