"""The `hardware:` rules, whole diagnostics: the GPU count, and the memory fit with its fixes.

The sizes are written here: Llama 3.1 8B's published config (32 layers, 8 KV heads of 128,
hidden 4096, vocabulary 128256, 8030261248 bfloat16 parameters) and vLLM's start-up floor as
tests/fit/test_fit_numbers.py derives it from vLLM's source (weights, one max_model_len
sequence's KV, the profiling pass of max_num_batched_tokens 2048 with float32 logits for the
sequences, the CUDA context 600 MiB and CUDA graphs 512 MiB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.test_model_checks import messages
from tests.support.gguf_shapes import Shape, write_shaped_gguf

GIB = 1 << 30
MIB = 1 << 20
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
# vLLM's least on one GPU for Llama 3.1 8B at max_model_len 8192 and max_num_seqs 4:
VLLM_FLOOR = (
    8030261248 * 2  # the weights, bfloat16
    + 32 * 2 * 8 * 128 * 2 * 8192  # K and V of one 8192-token sequence: 1 GiB
    + 2 * (4 * 4096 + 2 * 4 * 4096) * 2048  # one layer's activations for 2048 batched tokens
    + 4 * 128256 * 4  # float32 logits of 4 sequences
    + 600 * MIB
    + 512 * MIB
)
SHAPE = Shape("gqa", vocab=2000, n_embd=128, n_layer=4, n_head=8, n_head_kv=2, n_ff=256)


@pytest.fixture(autouse=True)
def no_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Catalog facts only: an empty hub cache, never the network.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))


def vllm_llama(gpus: int = 1, *, runtime: str = "", hardware: str = "") -> str:
    return (
        f"name: demo\nengine: vllm\nmodel:\n  id: {LLAMA}\nruntime:\n  gpus: {gpus}\n"
        f"  context_length: 8192\n{runtime}hardware:\n{hardware}"
    )


def size(count: int) -> str:
    # format_size's form, written out: one decimal of the largest binary unit under 1024.
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def test_the_floor_words_are_the_arithmetic() -> None:
    assert VLLM_FLOOR == 18503659520 and size(VLLM_FLOOR) == "17.2 GiB"


def test_a_gpu_short_of_vllm_s_floor_is_refused_with_fit_s_first_three_fixes() -> None:
    # No hardware.gpus: doubling the GPUs is offered first (half the weights, KV heads and
    # activations per token: enough alone); parallel 4 -> 2 drops two sequences' logits and
    # 8192 -> 4096 half a sequence's KV, neither enough alone. The floor, not the estimate
    # with the whole cache, is what the message names: vLLM gives the KV what is left.
    gpus_saves = 8030261248 + 32 * 2 * 8 * 128 * 2 * 8192 // 2 + 98304 // 2 * 2048
    assert messages(vllm_llama(hardware="  gpu_memory: 12G\n  memory: 64G\n")) == [
        f"spec.yaml:8:1: error: hardware: the deployment cannot fit: gpu0 needs "
        f"{size(VLLM_FLOOR)} of 12.0 GiB (llmgen fit shows the breakdown) (gpus 1 -> 2 "
        f"(tensor parallel) halves the weights per GPU, saves {size(gpus_saves)}; parallel "
        f"4 -> 2 saves {size(2 * 4 * 128256)} (not enough alone); context_length 8192 -> 4096 "
        f"saves {size(32 * 2 * 8 * 128 * 2 * 4096)} (not enough alone))"
    ]


def test_a_machine_without_more_gpus_is_not_told_to_double_them() -> None:
    # hardware.gpus 1: the "gpus 1 -> 2" fix would break the hardware.gpus rule, so it goes.
    assert messages(vllm_llama(hardware="  gpus: 1\n  gpu_memory: 12G\n  memory: 64G\n")) == [
        f"spec.yaml:8:1: error: hardware: the deployment cannot fit: gpu0 needs "
        f"{size(VLLM_FLOOR)} of 12.0 GiB (llmgen fit shows the breakdown) (parallel 4 -> 2 "
        f"saves {size(2 * 4 * 128256)} (not enough alone); context_length 8192 -> 4096 saves "
        f"{size(32 * 2 * 8 * 128 * 2 * 4096)} (not enough alone))"
    ]
    # hardware.gpus 2: doubling to 2 is within the machine, so it is offered.
    assert (
        "gpus 1 -> 2 (tensor parallel)"
        in messages(vllm_llama(hardware="  gpus: 2\n  gpu_memory: 12G\n  memory: 64G\n"))[0]
    )


def test_without_any_fix_the_hint_asks_for_more_memory() -> None:
    # One sequence of 256 tokens (the context fix's floor), one GPU on a one-GPU machine and
    # the GPU share at its 0.95 cap: nothing left to give up. The budget is that share of the
    # GPU (vLLM uses gpu_memory_utilization x its memory), and vLLM's profiling pass still
    # batches 2048 tokens (chunked prefill keeps max_num_batched_tokens above max_model_len).
    text = vllm_llama(
        runtime="  parallel: 1\n  gpu_memory_fraction: 0.95\n",
        hardware="  gpus: 1\n  gpu_memory: 12G\n  memory: 64G\n",
    ).replace("context_length: 8192", "context_length: 256")
    floor = (
        8030261248 * 2
        + 32 * 2 * 8 * 128 * 2 * 256
        + 98304 * 2048
        + 4 * 128256 * 1
        + 600 * MIB
        + 512 * MIB
    )
    assert messages(text) == [
        f"spec.yaml:10:1: error: hardware: the deployment cannot fit: gpu0 needs {size(floor)} "
        f"of {size(int(12 * GIB * 0.95))} (llmgen fit shows the breakdown) (use a machine with "
        "more memory)"
    ]


def test_only_the_devices_that_cannot_start_are_named() -> None:
    # 64G of RAM holds vLLM's process; only gpu0 is short.
    (line,) = messages(vllm_llama(hardware="  gpu_memory: 12G\n  memory: 64G\n"))
    assert " gpu0 needs " in line and "host needs" not in line


def test_a_tight_or_fitting_deployment_is_not_refused() -> None:
    # 20 GiB: above vLLM's 17.2 GiB floor, so it starts (tight or fits: no diagnostic).
    assert messages(vllm_llama(hardware="  gpu_memory: 20G\n  memory: 64G\n")) == []
    assert messages(vllm_llama(hardware="  gpu_memory: 80G\n  memory: 64G\n")) == []


def test_without_a_hardware_section_nothing_is_sized() -> None:
    text = f"name: demo\nengine: vllm\nmodel:\n  id: {LLAMA}\nruntime:\n  gpus: 1\n"
    assert messages(text) == []


def test_an_unknown_model_is_not_sized() -> None:
    text = (
        "name: demo\nengine: vllm\nmodel:\n  id: acme/unknown-model\nruntime:\n  gpus: 1\n"
        "hardware:\n  gpu_memory: 1G\n"
    )
    assert messages(text) == []


def test_an_earlier_error_stops_the_fit_but_a_warning_does_not(tmp_path: Path) -> None:
    # An error before it (runtime.gpus above hardware.gpus): the fit is not run.
    assert messages(vllm_llama(2, hardware="  gpus: 1\n  gpu_memory: 12G\n")) == [
        "spec.yaml:6:3: error: runtime.gpus: 2 GPUs asked, the machine has 1 (hardware.gpus) "
        "(set runtime.gpus to 1 or lower)"
    ]
    # A warning before it (a context beyond the GGUF's 8192, which llama.cpp only warns
    # about): the fit still runs and refuses 100M.
    model = write_shaped_gguf(tmp_path / "gqa.gguf", SHAPE)
    text = (
        f"name: demo\nengine: llamacpp\nmodel:\n  path: {model}\nruntime:\n"
        "  context_length: 32768\n  parallel: 8\nhardware:\n  memory: 100M\n"
    )
    found = messages(text)
    assert [line.split(": ")[1:3] for line in found] == [
        ["error", "hardware"],
        ["warning", "runtime.context_length"],
    ]
    assert found[0].startswith(
        "spec.yaml:8:1: error: hardware: the deployment cannot fit: host needs "
    )


def test_runtime_gpus_at_the_machine_s_count_passes_and_one_more_is_refused() -> None:
    def gpu_lines(gpus: int, machine: int) -> list[str]:
        text = vllm_llama(gpus, hardware=f"  gpus: {machine}\n  gpu_memory: 80G\n")
        return [line for line in messages(text) if "hardware.gpus" in line]

    assert gpu_lines(2, 2) == [] and gpu_lines(1, 2) == []
    assert gpu_lines(3, 2) == [
        "spec.yaml:6:3: error: runtime.gpus: 3 GPUs asked, the machine has 2 (hardware.gpus) "
        "(set runtime.gpus to 2 or lower)"
    ]


def test_the_gpu_count_is_checked_without_a_gpu_count_or_memory() -> None:
    # hardware without gpus: no bound. runtime.gpus 0 on a machine of 0 GPUs: fine.
    assert messages(vllm_llama(8, hardware="  memory: 64G\n")) == []
    text = (
        f"name: demo\nengine: vllm\nmodel:\n  id: {LLAMA}\nruntime:\n  kv_cache_memory: 1G\n"
        "hardware:\n  gpus: 0\n  memory: 64G\n"
    )
    assert messages(text) == []


def test_an_unreadable_model_file_still_has_its_gpu_count_checked(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00 cut short")
    text = (
        f"name: demo\nengine: llamacpp\nmodel:\n  path: {broken}\nruntime:\n  gpus: 2\n"
        "hardware:\n  gpus: 1\n"
    )
    found = messages(text)
    assert (
        "spec.yaml:6:3: error: runtime.gpus: 2 GPUs asked, the machine has 1 (hardware.gpus) "
        "(set runtime.gpus to 1 or lower)"
    ) in found


# --- relayed from fit: the same figures `llmgen fit` prints for the spec ---------------------

GPU_SHORT = "runtime:\n  context_length: 4096\n  parallel: 4\n  gpus: 1\n  gpu_layers: all\n"


def llamacpp(model: Path, runtime: str, hardware: str) -> str:
    return f"name: demo\nengine: llamacpp\nmodel:\n  path: {model}\n{runtime}hardware:\n{hardware}"


def fit_of(tmp_path: Path, text: str, form: str) -> str:
    from click.testing import CliRunner

    from llmgen.cli.app import main

    spec = tmp_path / "fit.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["fit", str(spec), "--offline", "--format", form])
    assert result.exit_code == 1, result.output
    return result.stdout


def test_the_first_three_of_more_fixes_are_carried(tmp_path: Path) -> None:
    # The GPU short by a few MiB (tests/fit/test_fit_numbers.py's case): fit offers five fixes.
    model = write_shaped_gguf(tmp_path / "gqa.gguf", SHAPE)
    text = llamacpp(model, GPU_SHORT, "  gpu_memory: 410M\n  memory: 8G\n")
    report = fit_of(tmp_path, text, "text").splitlines()
    fixes = report[report.index("fixes (least given up first):") + 1 :]
    fixes = [line.strip().removesuffix(" (gpu0)") for line in fixes if line.startswith("  ")]
    assert len(fixes) == 5
    (line,) = messages(text)
    assert line.endswith(f" ({'; '.join(fixes[:3])})")


def test_every_device_that_cannot_start_is_named_in_order(tmp_path: Path) -> None:
    # The same GPU, and a host of 1M: both short, the host first as fit lists it.
    import json

    model = write_shaped_gguf(tmp_path / "gqa.gguf", SHAPE)
    text = llamacpp(model, GPU_SHORT, "  gpu_memory: 410M\n  memory: 1M\n")
    devices = json.loads(fit_of(tmp_path, text, "json"))["devices"]
    assert [d["name"] for d in devices] == ["host", "gpu0"]
    # llama.cpp has no separate start-up floor: the estimate is what each device needs.
    parts = [
        f"{d['name']} needs {size(d['estimate_bytes'])} of {size(d['budget_bytes'])}"
        for d in devices
    ]
    (line,) = messages(text)
    assert f"the deployment cannot fit: {', '.join(parts)} (llmgen fit shows" in line
    assert parts[1].startswith("gpu0 needs ") and parts[1].endswith(" of 410.0 MiB")


def test_without_a_hardware_section_even_a_deployment_beyond_this_machine_is_not_sized(
    tmp_path: Path,
) -> None:
    # 1048576 tokens x 256 slots (llama-server's most) of K and V (2 KV heads x 16 x 2 bytes
    # x 2, 4 layers): 128 GiB of KV, more than this machine's RAM, which fit would take as the
    # host's budget. Only the two context warnings remain.
    model = write_shaped_gguf(tmp_path / "gqa.gguf", SHAPE)
    text = (
        f"name: demo\nengine: llamacpp\nmodel:\n  path: {model}\nruntime:\n"
        "  context_length: 1048576\n  parallel: 256\n"
    )
    assert [line.split(": ")[1:3] for line in messages(text)] == [
        ["warning", "runtime.context_length"],
        ["warning", "runtime.context_length"],
    ]
