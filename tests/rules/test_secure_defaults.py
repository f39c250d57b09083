"""Secure defaults: loopback binds, explicit consent for a public bind, secrets by name only,
non-root containers where the image allows it, pinned images.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.engines import ENGINES
from llmgen.errors import Severity, SpecError
from llmgen.render.bundle import Bundle, render
from llmgen.rules.analysis import validate_file, validate_text
from llmgen.spec.models import parse_spec
from tests.conftest import EXAMPLES
from tests.support.bundles import EXTRA_SPECS, extra_spec

MODEL = {
    "vllm": "org/model",
    "tgi": "org/model",
    "llamacpp": "org/model-GGUF",
    "sglang": "org/model",
}
# What each engine leaves reachable without the key, read from each engine's source (kept here
# so a change to the list is a reviewed change): vLLM 0.33.0
# entrypoints/serve/middleware/authenticate.py guards only /v1, /v2, /inference, /cohere;
# llama.cpp b11434 tools/server/server-http.cpp get_public_endpoints (/health, /v1/health and
# the web UI's assets); TGI 3.3.7 router/src/server.rs.
OPEN_ROUTES = {
    "vllm": (
        "/invocations",
        "/tokenize",
        "/detokenize",
        "/pooling",
        "/classify",
        "/score",
        "/rerank",
        "/load",
        "/health",
        "/metrics",
        "/ping",
        "/version",
    ),
    "tgi": ("/health", "/info", "/metrics", "/v1/models"),
    # sglang 0.5.23 srt/utils/auth.py:98-106: prefixes /health, /ready, /metrics stay open.
    "sglang": ("/health", "/health_generate", "/ready", "/metrics"),
    "llamacpp": ("/health", "/v1/health", "/ (web UI)"),
}


def spec_text(engine: str, server: str = "") -> str:
    text = f"name: demo\nengine: {engine}\nmodel:\n  id: {MODEL[engine]}\n"
    return text + (f"server:\n{server}" if server else "")


def all_bundles() -> list[tuple[str, Bundle]]:
    found = [(p.stem, render(validate_file(p).spec)) for p in EXAMPLES]
    return found + [(key, render(extra_spec(key))) for key in EXTRA_SPECS]


# --- who can reach the server ----------------------------------------------------------------


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_default_bind_is_loopback_everywhere(engine: str) -> None:
    spec = validate_text(spec_text(engine)).spec
    assert spec.server.host == "127.0.0.1"
    bundle = render(spec)
    port = spec.server.port
    assert bundle.plan.host == "127.0.0.1"
    assert re.search(r"--(host|hostname) 127\.0\.0\.1 ", bundle.files["launch.sh"])
    assert f"--publish 127.0.0.1:{port}:{port}" in bundle.files["docker-run.sh"]
    assert f'- "127.0.0.1:{port}:{port}"' in bundle.files["compose.yaml"]
    unit = bundle.files["demo.service"]
    assert re.search(r"--(host|hostname) 127\.0\.0\.1 ", unit)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_public_bind_without_a_key_is_refused(engine: str, host: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(spec_text(engine, f'  host: "{host}"\n'))
    (diagnostic,) = [d for d in caught.value.diagnostics if d.severity is Severity.ERROR]
    assert diagnostic.path == "server.host"
    assert "without an API key" in diagnostic.message
    assert "server.api_key_env" in diagnostic.hint
    assert "allow_unauthenticated: true" in diagnostic.hint


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_explicit_opt_out_allows_it_with_a_warning(engine: str) -> None:
    validated = validate_text(spec_text(engine, "  host: 0.0.0.0\n  allow_unauthenticated: true\n"))
    (warning,) = [d for d in validated.diagnostics if d.path == "server.host"]
    assert warning.severity is Severity.WARNING
    assert "anyone there can use the model" in warning.message


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_public_bind_with_a_key_warns_which_routes_stay_open(engine: str) -> None:
    assert ENGINES[engine].open_routes == OPEN_ROUTES[engine]
    validated = validate_text(spec_text(engine, "  host: 0.0.0.0\n  api_key_env: LLM_API_KEY\n"))
    (warning,) = [d for d in validated.diagnostics if d.path == "server.host"]
    assert warning.severity is Severity.WARNING
    assert (
        f"{ENGINES[engine].title} leaves {', '.join(OPEN_ROUTES[engine])} open" in warning.message
    )
    # The README of the bundle repeats which routes stay open.
    readme = render(validated.spec).files["README.md"]
    for route in OPEN_ROUTES[engine]:
        assert f"`{route}`" in readme


def test_the_cli_prints_the_open_routes_warning(tmp_path: Path) -> None:
    spec = tmp_path / "public.yaml"
    spec.write_text(spec_text("tgi", "  host: 0.0.0.0\n  api_key_env: LLM_API_KEY\n"))
    result = CliRunner().invoke(main, ["validate", str(spec)], catch_exceptions=False)
    assert result.exit_code == 0
    assert (
        f"{spec}:6:3: warning: server.host: 0.0.0.0 is reachable from the network; TGI leaves "
        "/health, /info, /metrics, /v1/models open even with an API key"
    ) in result.stderr


# --- secrets ---------------------------------------------------------------------------------


SECRETS = {
    "HF_TOKEN": "hf_SeCrEt0123456789abcdefTOKEN",
    "LLM_API_KEY": "sk-SeCrEt-llm-api-key-42",
    "VLLM_KEY": "sk-SeCrEt-vllm-key-43",
    "LLAMA_API_KEY": "sk-SeCrEt-llama-44",
    "VLLM_API_KEY": "sk-SeCrEt-vllm-45",
    "API_KEY": "sk-SeCrEt-tgi-46",
}


def test_no_secret_value_reaches_any_generated_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    found: dict[str, str] = {}
    for case, bundle in all_bundles():
        for relative, text in bundle.files.items():
            found[f"{case}/{relative}"] = text
    # And through the CLI, which writes the files.
    for path in EXAMPLES:
        out = tmp_path / path.stem
        result = CliRunner().invoke(
            main, ["render", str(path), "-o", str(out)], catch_exceptions=False
        )
        assert result.exit_code == 0
        for file in out.rglob("*"):
            if file.is_file():
                found[str(file)] = file.read_text("utf-8")
        assert not any(value in result.output for value in SECRETS.values())
    assert len(found) > 100
    for where, text in found.items():
        for name, value in SECRETS.items():
            assert value not in text, f"{name}'s value is in {where}"
            assert value[6:20] not in text, f"part of {name}'s value is in {where}"


def test_secrets_are_passed_by_name() -> None:
    bundle = render(extra_spec("llamacpp-gpu1-key"))
    files = bundle.files
    assert "    --env LLAMA_API_KEY \\\n" in files["docker-run.sh"]
    assert "    --env HF_TOKEN \\\n" in files["docker-run.sh"]
    assert 'LLAMA_API_KEY="${LLM_API_KEY}"' in files["launch.sh"]
    assert (
        'LLAMA_API_KEY: "${LLM_API_KEY:?set LLM_API_KEY to the API key}"' in files["compose.yaml"]
    )
    # Like launch.sh, the unit refuses to start without the key: no optional `-` file.
    unit = files["llamacpp-gpu1-key.service"]
    assert "EnvironmentFile=/etc/llmgen/llamacpp-gpu1-key.env\n" in unit
    assert 'ExecStartPre=/bin/sh -c \'test -n "$$LLAMA_API_KEY"' in unit
    kubernetes = list(yaml.safe_load_all(files["kubernetes.yaml"]))
    env = kubernetes[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert all("valueFrom" in item for item in env if item["name"] in ("LLAMA_API_KEY", "HF_TOKEN"))
    assert (
        "API_KEY"
        not in files["Dockerfile"].split("# Secrets are not in the image")[1].split("\n", 1)[1]
    )


@pytest.mark.parametrize(
    ("engine", "flag"),
    [
        ("vllm", "--api-key"),
        ("vllm", "--hf-token"),
        ("tgi", "--api-key"),
        ("tgi", "--ngrok-authtoken"),
        ("llamacpp", "--api-key"),
        ("llamacpp", "-hft"),
        ("llamacpp", "--hf-token"),
    ],
)
def test_a_secret_flag_in_extra_args_is_refused(engine: str, flag: str) -> None:
    for args in ([flag, "sk-literal"], [f"{flag}=sk-literal"]):
        text = spec_text(engine) + f"runtime:\n  extra_args: {json.dumps(args)}\n"
        with pytest.raises(SpecError) as caught:
            validate_text(text)
        messages = [d.format() for d in caught.value.diagnostics if d.severity is Severity.ERROR]
        assert any(
            "runtime.extra_args.0" in m and "takes a secret, and secrets never go into" in m
            for m in messages
        ), messages


@pytest.mark.parametrize("name", ["HF_TOKEN", "PATH", "_", "LD_PRELOAD", "BASH_ENV", "IFS"])
def test_reserved_names_cannot_hold_the_api_key(name: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(spec_text("vllm", f"  api_key_env: {name}\n"))
    assert [d.path for d in caught.value.diagnostics if d.severity is Severity.ERROR] == [
        "server.api_key_env"
    ]


# --- containers --------------------------------------------------------------------------------


def test_llamacpp_with_a_local_model_runs_as_a_non_root_user() -> None:
    bundle = render(extra_spec("llamacpp-local-public-open"))
    files = bundle.files
    assert bundle.plan.container_user == "65532:65532"
    assert "\nUSER 65532:65532\n" in files["Dockerfile"]
    assert "    --user 65532:65532 \\\n" in files["docker-run.sh"]
    assert 'user: "65532:65532"' in files["compose.yaml"]
    pod = next(yaml.safe_load_all(files["kubernetes.yaml"]))["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_every_container_drops_privileges_it_does_not_need() -> None:
    for case, bundle in all_bundles():
        workload = next(yaml.safe_load_all(bundle.files["kubernetes.yaml"]))["spec"]
        # A LeaderWorkerSet has two pod templates (leader, workers); the others one.
        group = workload.get("leaderWorkerTemplate", {})
        templates = [group[t] for t in ("leaderTemplate", "workerTemplate") if t in group]
        for template in templates or [workload["template"]]:
            security = template["spec"]["containers"][0]["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, case
            assert security["capabilities"] == {"drop": ["ALL"]}, case
        unit = next(text for path, text in bundle.files.items() if path.endswith(".service"))
        for line in (
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=",
            "ProtectSystem=strict",
        ):
            assert f"\n{line}\n" in unit, (case, line)


IMAGE = re.compile(r"^[a-z0-9.-]+(/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9_.-]*$")
LOCAL_IMAGE = re.compile(r"^[a-z0-9._-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def test_images_are_always_pinned() -> None:
    for case, bundle in all_bundles():
        image = bundle.plan.image
        # A published image names its publisher; one the engine publishes none of (SGLang's CPU
        # image, docs/targets.md) is a local name the user builds, still pinned to a tag.
        pattern = LOCAL_IMAGE if bundle.plan.image_build else IMAGE
        assert pattern.match(image), (case, image)
        assert not image.endswith(":latest"), case
        files = bundle.files
        assert f"\nFROM {image}\n" in files["Dockerfile"], case
        assert f'image: "{image}"' in files["compose.yaml"], case
        assert f'image: "{image}"' in files["kubernetes.yaml"], case
        assert f"    {image} \\\n" in files["docker-run.sh"], case


def test_latest_cannot_be_chosen() -> None:
    with pytest.raises(SpecError) as caught:
        validate_text(spec_text("vllm") + "container:\n  image_tag: latest\n")
    assert caught.value.diagnostics[0].path == "container.image_tag"
    spec = parse_spec({"name": "x", "engine": "vllm", "model": {"id": "org/m"}})
    assert not render(spec).plan.image.endswith("latest")
