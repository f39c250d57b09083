"""Issue 19: a spec names the engine version it runs, and only known versions pass.

Expected values come from the shipped table files themselves (their names and text, read here
with plain file operations), never from the registry under test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmgen.api import load_spec
from llmgen.engines import adapter, engine_of
from llmgen.errors import SpecError
from llmgen.rules.analysis import analyze_file
from tests.support.versions import TABLES, shipped


def spec_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(body, "utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [f"{d.path}: {d.message}" for d in caught.value.diagnostics]


VLLM = "name: demo\nengine: vllm\nmodel: {id: HuggingFaceTB/SmolLM2-360M-Instruct}\n"


@pytest.mark.parametrize("engine", ["vllm", "tgi", "llamacpp", "sglang"])
def test_without_a_version_the_newest_table_judges(engine: str) -> None:
    newest = shipped(engine)[-1]
    engine_adapter = adapter(engine)
    assert engine_adapter.version == newest
    assert engine_adapter.flag_table.file == f"{engine}-{newest}-flags.tsv"


@pytest.mark.parametrize("engine", ["vllm", "tgi", "llamacpp", "sglang"])
def test_every_shipped_table_is_a_version_a_spec_can_name(tmp_path: Path, engine: str) -> None:
    model = "model: {path: /models/m.gguf}" if engine == "llamacpp" else "model: {path: /models/m}"
    for version in shipped(engine):
        path = spec_file(
            tmp_path, f"name: demo\nengine: {engine}\nengine_version: {version}\n{model}\n"
        )
        spec = load_spec(path)
        chosen = engine_of(spec)
        assert (chosen.key, chosen.version) == (engine, version)
        # The table the adapter reads is that version's file, byte for byte.
        text = (TABLES / f"{engine}-{version}-flags.tsv").read_text("utf-8")
        assert len(chosen.flag_table.flags) == len(text.splitlines()) - 1


def test_an_unknown_version_is_refused_in_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    found = errors_of(spec_file(tmp_path, VLLM + "engine_version: 0.29.0\n"))
    assert len(found) == 1
    assert found[0].startswith(
        "engine_version: llmgen does not know vllm 0.29.0; llmgen knows vllm "
    )
    assert found[0].endswith(
        ", ".join(shipped("vllm")) + " (leave engine_version out for the newest)"
    )


def test_a_version_of_another_engine_says_whose_it_is(tmp_path: Path) -> None:
    build = shipped("llamacpp")[-1]
    found = errors_of(spec_file(tmp_path, VLLM + f"engine_version: {build}\n"))
    assert found == [
        f"engine_version: '{build}' is a version of llamacpp, not of vllm; llmgen knows vllm "
        f"{', '.join(shipped('vllm'))} (leave engine_version out for the newest)"
    ]


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ('"0.33"', "names no single release; write it whole, e.g. 0.33."),
        ("v0.33.0", "'v0.33.0' is spelt 0.33.0 here"),
        ("0.33", "YAML read 0.33 as a number, but this field is text"),
        ('"0.33.0; rm -rf /"', "is not valid"),
    ],
)
def test_near_misses_say_how_to_write_the_version(tmp_path: Path, written: str, words: str) -> None:
    found = errors_of(spec_file(tmp_path, VLLM + f"engine_version: {written}\n"))
    assert len(found) == 1 and words in found[0], found


def test_the_version_reaches_the_plan_and_the_image(tmp_path: Path) -> None:
    oldest = shipped("vllm")[0]
    spec = load_spec(spec_file(tmp_path, VLLM + f"engine_version: {oldest}\n"))
    plan = engine_of(spec).plan(spec)
    assert plan.engine_version == oldest
    # vLLM's CPU images are tagged v<release>-x86_64 (../shared/engines/README.md).
    assert plan.image == f"vllm/vllm-openai-cpu:v{oldest}-x86_64"


ISOLATION = """
import sys
from llmgen.api import load_spec
from llmgen.rules.analysis import analyze_file
from tests.support.versions import TABLES, shipped
from llmgen.render.bundle import render
spec = load_spec(sys.argv[1])
render(spec)
print(",".join(sorted(m for m in sys.modules if m.startswith("llmgen.engines."))))
"""


@pytest.mark.parametrize(
    ("engine", "model"),
    [
        ("llamacpp", "{path: /models/m.gguf}"),
        ("vllm", "{id: HuggingFaceTB/SmolLM2-360M-Instruct}"),
        ("tgi", "{id: HuggingFaceTB/SmolLM2-360M-Instruct}"),
    ],
)
def test_rendering_one_spec_imports_only_its_own_adapter(
    tmp_path: Path, engine: str, model: str
) -> None:
    """Issue 17's speed target: the other adapters stay unimported."""
    path = spec_file(tmp_path, f"name: demo\nengine: {engine}\nmodel: {model}\n")
    done = subprocess.run(
        [sys.executable, "-c", ISOLATION, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: set[Any] = set(done.stdout.strip().split(","))
    adapters = {"llmgen.engines.vllm", "llmgen.engines.tgi", "llmgen.engines.llamacpp"}
    adapters.add("llmgen.engines.sg" + "lang")
    assert loaded & adapters == {f"llmgen.engines.{engine}"}


def rows(engine: str, version: str, kind: str = "flags") -> dict[str, list[str]]:
    """A shipped file's rows by their first column, read as plain text."""
    lines = (TABLES / f"{engine}-{version}-{kind}.tsv").read_text("utf-8").splitlines()[1:]
    return {line.split("\t")[0]: line.split("\t") for line in lines}


def test_a_flag_of_a_newer_version_says_when_it_came(tmp_path: Path) -> None:
    """TGI's `--prometheus-port` is in the 3.3.7 table and not in 3.2.3's (read here)."""
    assert "--prometheus-port" in rows("tgi", "3.3.7")
    assert "--prometheus-port" not in rows("tgi", "3.2.3")
    body = (
        "name: demo\nengine: tgi\nengine_version: 3.2.3\nmodel: {id: a/b}\n"
        "runtime: {extra_args: [--prometheus-port, '9001']}\n"
    )
    analysis = analyze_file(spec_file(tmp_path, body))
    assert [(d.path, d.message, d.hint) for d in analysis.errors] == [
        (
            "runtime.extra_args.0",
            "'--prometheus-port' was added after TGI 3.2.3 (3.3.7 has it); this spec pins 3.2.3",
            "set engine_version: 3.3.7 or newer, or remove it",
        )
    ]
    # Without a pin the newest version judges it, and it passes.
    assert (
        analyze_file(spec_file(tmp_path, body.replace("engine_version: 3.2.3\n", ""))).errors == []
    )


def test_a_flag_removed_in_a_newer_build_names_the_engines_replacement(tmp_path: Path) -> None:
    """llama.cpp's `--mlock`: a flag of b10441, gone from b10941's table, whose deprecation row
    in b10441 names `--load-mode` (all read from the shipped files here)."""
    builds = shipped("llamacpp")
    assert "--mlock" in rows("llamacpp", "b10441") and "--mlock" not in rows("llamacpp", "b10941")
    assert builds[builds.index("b10441") + 1] == "b10941"
    replacement = rows("llamacpp", "b10441", "deprecations")["--mlock"][2]
    assert replacement == "--load-mode" and "--load-mode" in rows("llamacpp", "b11434")
    body = (
        "name: demo\nengine: llamacpp\nmodel: {path: /m/x.gguf}\nruntime: {extra_args: [--mlock]}\n"
    )
    found = analyze_file(spec_file(tmp_path, body)).errors
    assert [(d.path, d.message, d.hint) for d in found] == [
        (
            "runtime.extra_args.0",
            "'--mlock' was removed after llama.cpp b10441 (gone in b10941)",
            "use --load-mode",
        )
    ]
    # Pinned to b10441 it still works, with llama.cpp's own deprecation words as a warning.
    pinned = analyze_file(
        spec_file(
            tmp_path,
            body.replace("engine: llamacpp\n", "engine: llamacpp\nengine_version: b10441\n"),
        )
    )
    assert pinned.errors == []
    words = rows("llamacpp", "b10441", "deprecations")["--mlock"][3]
    assert any(
        d.message == f"'--mlock' is deprecated in llama.cpp b10441: {words}"
        for d in pinned.diagnostics
    )


def test_a_flag_llama_cpp_keeps_only_to_refuse_is_refused_with_its_replacement(
    tmp_path: Path,
) -> None:
    """`--draft-max`: in the b11434 table, but its deprecation row says removed (arg_removed)."""
    row = rows("llamacpp", "b11434", "deprecations")["--draft-max"]
    assert row[1] == "removed"
    first = next(
        b for b in shipped("llamacpp") if "--draft-max" in rows("llamacpp", b, "deprecations")
    )
    body = (
        "name: demo\nengine: llamacpp\nmodel: {path: /m/x.gguf}\n"
        "runtime: {extra_args: [--draft-max, '8']}\n"
    )
    found = analyze_file(spec_file(tmp_path, body)).errors
    assert [(d.message, d.hint) for d in found] == [
        (
            f"'--draft-max' was removed in llama.cpp {first} or earlier; b11434 refuses it",
            "use " + " or ".join(row[2].split()),
        )
    ]


def test_a_legacy_spelling_is_a_warning_in_the_engines_words(tmp_path: Path) -> None:
    row = rows("tgi", "3.0.2", "deprecations")["--max-input-length"]
    body = (
        "name: demo\nengine: tgi\nengine_version: 3.0.2\nmodel: {id: a/b}\n"
        "runtime: {max_input_tokens: null, extra_args: [--max-input-length, '100']}\n"
    )
    found = analyze_file(spec_file(tmp_path, body)).diagnostics
    assert any(
        d.severity.value == "warning"
        and d.message == f"'--max-input-length' is a legacy spelling in TGI 3.0.2: {row[3]}"
        and d.hint == f"use {row[2]}"
        for d in found
    ), found


def test_spanning_nodes_needs_a_build_whose_table_has_rpc(tmp_path: Path) -> None:
    """llmgen's RPC recipe renders `--rpc`: a build whose table lacks it cannot span nodes,
    one whose table has it can (each build's table text read here)."""
    body = (
        "name: demo\nengine: llamacpp\nengine_version: {}\nmodel: {{path: /m/x.gguf}}\n"
        "deploy: {{nodes: 2}}\n"
    )
    for build in shipped("llamacpp"):
        found = analyze_file(spec_file(tmp_path, body.format(build))).errors
        if "--rpc" in rows("llamacpp", build):
            assert found == [], build
        else:
            assert [d.path for d in found] == ["deploy.nodes"], build
            assert found[0].message.startswith(
                f"spanning nodes needs '--rpc', which llama.cpp {build} does not take"
            )


def test_a_multinode_flag_missing_from_a_release_is_refused_at_deploy_nodes(tmp_path: Path) -> None:
    """The error path of the rule above, with an adapter whose recipe needs a flag that no
    llama.cpp table has (every shipped build registers --rpc, at least in RPC builds)."""
    from llmgen.engines.llamacpp import LlamaCppEngine
    from llmgen.rules.declare import Context
    from llmgen.rules.deploy import multinode_release

    class NeedsMissingFlag(LlamaCppEngine):
        node_flags = ("--rpc-that-never-was",)

    body = "name: demo\nengine: llamacpp\nmodel: {path: /m/x.gguf}\ndeploy: {nodes: 2}\n"
    analysis = analyze_file(spec_file(tmp_path, body))
    engine = NeedsMissingFlag()
    found = multinode_release(Context(analysis.spec, engine, analysis.config, analysis.facts))
    assert [(d.path, d.message, d.hint) for d in found] == [
        (
            "deploy.nodes",
            f"spanning nodes needs '--rpc-that-never-was', which llama.cpp {engine.version} "
            "does not take",
            "set deploy.nodes to 1",
        )
    ]


def test_vllm_0_34_uses_the_whole_gpu_by_default_with_its_extensible_kv_cache(
    tmp_path: Path,
) -> None:
    """vLLM 0.34.0 vllm/config/cache.py: an unset gpu_memory_utilization resolves to 1.0 with
    the extensible KV cache (on by default on CUDA/ROCm unless kv_cache_memory_bytes is set),
    to DEFAULT_GPU_MEMORY_UTILIZATION 0.92 otherwise; 0.32.0's table default is 0.92 (read)."""
    from llmgen.fit.run import fit_spec

    assert rows("vllm", "0.32.0")["--gpu-memory-utilization"][4] == "0.92"
    assert rows("vllm", "0.34.0")["--gpu-memory-utilization"][4] == "null"
    body = (
        "name: demo\nengine: vllm\nengine_version: {}\nmodel: {{id: Qwen/Qwen2.5-0.5B-Instruct}}\n"
        "runtime: {{gpus: 1{}}}\nhardware: {{gpu_memory: 24G}}\n"
    )
    gib24 = 24 * 2**30
    for version, extra, share in (
        ("0.32.0", "", 0.92),
        ("0.34.0", "", 1.0),
        ("0.34.0", ", kv_cache_memory: 1G", 0.92),
    ):
        analysis = analyze_file(spec_file(tmp_path, body.format(version, extra)))
        report = fit_spec(analysis.spec, config=analysis.config, lookup=analysis.facts)
        gpu = next(d for d in report.devices if d.name == "gpu0")
        assert gpu.budget_bytes == int(gib24 * share), (version, extra)


def test_a_vllm_flag_of_a_newer_release_is_refused_on_an_older_pin(tmp_path: Path) -> None:
    """`--grpc-port`: absent from the 0.31.0 table, present from 0.32.0 (read here)."""
    assert "--grpc-port" not in rows("vllm", "0.31.0")
    assert "--grpc-port" in rows("vllm", "0.32.0")
    body = (
        "name: demo\nengine: vllm\nengine_version: {}\nmodel: {{id: a/b}}\n"
        "runtime: {{kv_cache_memory: 1G, extra_args: [--grpc-port, '9000']}}\n"
    )
    found = analyze_file(spec_file(tmp_path, body.format("0.30.0"))).errors
    assert [(d.message, d.hint) for d in found] == [
        (
            "'--grpc-port' was added after vLLM 0.31.0 (0.32.0 has it); this spec pins 0.30.0",
            "set engine_version: 0.32.0 or newer, or remove it",
        )
    ]
    assert analyze_file(spec_file(tmp_path, body.format("0.32.0"))).errors == []


@pytest.mark.parametrize(
    ("build", "refused"),
    [("b9444", False), ("b9934", False), ("b10441", True), ("b11434", True)],
)
def test_repeat_penalty_zero_is_refused_only_by_builds_whose_parser_refuses_it(
    tmp_path: Path, build: str, refused: bool
) -> None:
    """llama.cpp's common/arg.cpp refuses `--repeat-penalty 0` from b10441 on (b11434
    arg.cpp:2095-2100, "repeat-penalty must be finite and greater than 0"); b9444 and b9934
    parse it with a bare std::stof and start (b9444 arg.cpp:1717-1723; the versions job runs the
    real b9444 on it). Before, llmgen refused it for every build."""
    path = spec_file(
        tmp_path,
        f"name: p\nengine: llamacpp\nengine_version: {build}\nmodel: {{path: /m/x.gguf}}\n"
        "runtime:\n  extra_args: [--repeat-penalty, '0']\n",
    )
    found = analyze_file(path)
    errors = [d.message for d in found.errors]
    warnings = [d.message for d in found.diagnostics if d.severity.value == "warning"]
    assert any("repeat-penalty" in e for e in errors) is refused, errors
    assert any("repeat-penalty" in w for w in warnings) is not refused, warnings
