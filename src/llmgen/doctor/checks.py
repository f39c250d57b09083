"""`llmgen doctor`: can this host run the deployment a spec describes? One line per check.

A deployment runs one of two ways: natively (launch.sh, the systemd unit: the engine binary on
this host) or in a container (docker-run.sh, compose: the official image). Each problem names
the ways it blocks; doctor exits 1 when the way asked for (`--via`) is blocked, or, without
`--via`, when no way is left. Problems that do not block (another engine version) are
reported and leave the exit status alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, field
from typing import TYPE_CHECKING, Literal

from llmgen.doctor import probes
from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.engines.base import Engine
    from llmgen.rules.analysis import Analysis
    from llmgen.spec.models import Spec

Status = Literal["ok", "problem", "info"]
Way = Literal["native", "docker"]
WAYS: tuple[Way, ...] = ("native", "docker")

MIN_FREE_CACHE = 2 * 1024**3  # below this even a small model cannot be downloaded


@record
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    blocks: tuple[Way, ...] = field(default=())  # the ways this problem stops


@record
class Report:
    """Every check, and which ways of running are left."""

    checks: tuple[Check, ...]
    via: Way | None

    def blocked(self, way: Way) -> list[str]:
        """Names of the checks that stop `way`."""
        return [c.name for c in self.checks if c.status == "problem" and way in c.blocks]

    @property
    def ready(self) -> list[Way]:
        """The ways of running with nothing blocking them."""
        return [way for way in WAYS if not self.blocked(way)]

    @property
    def ok(self) -> bool:
        """False when the deployment cannot run (the exit status is 1)."""
        if self.via is not None:
            return not self.blocked(self.via)
        return bool(self.ready)


# --- hooks for the memory estimate (`llmgen fit`, on another branch) -------------------------


def memory_estimate(analysis: Analysis) -> int | None:
    """Bytes of host memory the deployment needs, from `llmgen fit`'s estimate (offline: the
    local file, the Hugging Face cache or the catalog), or None for an unknown model."""
    from llmgen.fit.run import fit_spec

    spec = analysis.spec
    report = fit_spec(spec, config=analysis.config, lookup=analysis.facts)
    host = next((device for device in report.devices if device.name == "host"), None)
    return host.estimate_bytes if host is not None else None


def download_size(analysis: Analysis) -> int | None:
    """Bytes the model download takes in the cache, when the model's facts are known."""
    if analysis.spec.model.path is not None:
        return None  # already on disk: nothing to download
    facts = analysis.facts.facts
    if facts is None:
        return None
    return facts.file_bytes or facts.weight_bytes


# --- the checks --------------------------------------------------------------------------


def run_checks(analysis: Analysis | None, via: Way | None = None) -> Report:
    """Check this host for the analysed spec (or, without one, for every engine)."""
    if analysis is None:
        return Report(tuple(_general_checks()), None)
    spec = analysis.spec
    from llmgen.engines import engine_of

    engine = engine_of(spec)
    checks: list[Check] = []
    checks += _engine_checks(engine, spec.server.executable, required=True, spec=spec)
    checks += _docker_checks(spec.runtime.gpus, required=True)
    if spec.runtime.gpus > 0:
        checks += _gpu_checks(engine, spec.runtime.gpus)
    checks.append(_port_check(spec.server.host, spec.server.port))
    shm = engine.shm_size(spec)
    if spec.runtime.gpus > 1 and shm:
        checks.append(_shm_check(shm, spec.runtime.gpus))
    elif spec.runtime.gpus == 0 and engine.cpu_shm_bytes:
        checks.append(_cpu_shm_check(engine, shm or "1g"))
    checks.append(_disk_check(analysis))
    checks.append(_memory_check(analysis))
    if engine.loads_gguf:  # llama.cpp: the CPU's features decide which weights repack
        checks.append(_cpu_features_check())
    checks += _model_access_checks(spec)
    return Report(tuple(checks), via)


def _model_access_checks(spec: Spec) -> list[Check]:
    """The systemd unit's DynamicUser reads a local model only through the "other" bits; it
    blocks neither launch.sh nor the containers, so it blocks no way."""
    from llmgen.rules.access import unit_access_diagnostics

    return [
        Check("model access", "problem", found.message, found.hint)
        for found in unit_access_diagnostics(spec)
    ]


def _general_checks() -> list[Check]:
    from llmgen.engines import ENGINES

    checks: list[Check] = []
    for engine in ENGINES.values():
        checks += _engine_checks(engine, None, required=False)
    checks += _docker_checks(0, required=False)
    smi = probes.run(["nvidia-smi"])
    if smi is None:
        checks.append(Check("gpu", "info", "no NVIDIA driver (nvidia-smi not found): CPU only"))
    else:
        checks.append(_driver_line(smi))
    checks.append(_cpu_features_check())
    return checks


def _cpu_features_check() -> Check:
    """The CPU features that decide which weights llama.cpp repacks, read as `llmgen fit`
    reads them (llmgen.fit.llama_repack): one reading for both."""
    from llmgen.fit.llama_repack import describe_features, serving_features

    features, source = serving_features(None)
    return Check("cpu features", "info", describe_features(features, source))


def _engine_checks(
    engine: Engine, executable: str | None, required: bool, spec: Spec | None = None
) -> list[Check]:
    name = f"{engine.key} binary"
    found = probes.which(executable or engine.executable)
    if found is None:
        where = executable or f"{engine.executable} on PATH"
        return [
            Check(
                name,
                "problem" if required else "info",
                f"{where} not found",
                engine.install_hint,
                ("native",) if required else (),
            )
        ]
    probe = probes.run([found, *engine.version_args], timeout=probes.VERSION_TIMEOUT_S)
    version = probes.parse_version(engine, probe.text) if probe else None
    if probe is None or version is None:
        shown = probe.first_line() if probe else "it could not be run"
        return [
            Check(
                name, "problem", f"{found}: cannot tell its version ({shown})", engine.install_hint
            )
        ]
    if probes.unknown_build(engine, version):
        # A build from a source tarball without -DLLAMA_BUILD_NUMBER reports build 0: it may
        # well be the pinned build, so it is not another version to replace.
        return [
            Check(
                name,
                "info",
                f"{found} does not say its {engine.title} build ({probe.first_line()}): "
                "built from a source tarball without a build number, it may or may not be "
                f"{engine.version}, whose flags and defaults llmgen renders (built with "
                f"-DLLAMA_BUILD_NUMBER={engine.version.removeprefix('b')}, it says)",
                f"if it is not {engine.version}, check its --help against the rendered flags; "
                f"a build of {engine.version}'s source with -DLLAMA_BUILD_NUMBER="
                f"{engine.version.removeprefix('b')} reports it",
            )
        ]
    if version != engine.version:
        return [_other_version(engine, f"{found} is {engine.title} {version}", version, spec)]
    return [Check(name, "ok", f"{found} is {engine.title} {version}")]


def _other_version(engine: Engine, found: str, version: str, spec: Spec | None) -> Check:
    """The installed engine is another version than the spec's: judge the spec by it when
    llmgen knows it, else say which versions llmgen knows."""
    from llmgen.engines import known_versions

    name = f"{engine.key} binary"
    known = known_versions(engine.key)
    if version not in known:
        return Check(
            name,
            "problem",
            f"{found}, which llmgen does not know (it knows {engine.key} {', '.join(known)}); "
            "its flags and defaults may differ from what llmgen renders",
            f"install one of them: {engine.install_hint}",
        )
    if spec is None:
        return Check(name, "ok", f"{found} (llmgen knows it: engine_version: {version})")
    if spec.engine_version is not None:
        return Check(
            name,
            "problem",
            f"{found}; the spec pins engine_version: {spec.engine_version}",
            f"set engine_version: {version} (`llmgen upgrade SPEC --to {version}` says what "
            f"changes), or install {engine.title} {engine.version}: {engine.install_hint}",
        )
    # No pin: the spec runs whatever is installed, so that version's rules judge it.
    from llmgen.rules.analysis import analyze

    errors = analyze(spec.model_copy(update={"engine_version": version})).errors
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Check(
            name,
            "problem",
            f"{found}, and the spec names no engine_version, so {version} judges it: "
            f"{first.path}: {first.message}{more}",
            f"{first.hint}; or install {engine.title} {engine.version}"
            if first.hint
            else f"install {engine.title} {engine.version}: {engine.install_hint}",
        )
    return Check(
        name,
        "ok",
        f"{found}, and the spec names no engine_version: judged by {version}, it has no "
        f"problem (pin engine_version: {version} so the rendered images match)",
    )


def _docker_checks(gpus: int, required: bool) -> list[Check]:
    blocks: tuple[Way, ...] = ("docker",) if required else ()
    status: Status = "problem" if required else "info"
    version = probes.run(["docker", "version", "--format", "{{.Server.Version}}"])
    if version is None:
        return [Check("docker", status, "docker not found", "install Docker Engine", blocks)]
    if version.code != 0 or not version.out.strip():
        detail = version.first_line()
        fix = (
            "let your user use Docker (sudo usermod -aG docker $USER, then log in again)"
            if "permission denied" in detail.lower()
            else "start the Docker daemon (sudo systemctl start docker)"
        )
        return [Check("docker", status, f"cannot reach the Docker daemon: {detail}", fix, blocks)]
    checks = [Check("docker", "ok", f"Docker Engine {version.out.strip()} answers")]
    if gpus > 0:
        runtimes = probes.run(["docker", "info", "--format", "{{json .Runtimes}}"])
        has_runtime = runtimes is not None and "nvidia" in runtimes.out
        # The same test as the rendered docker-run.sh: the toolkit's hook or a registered runtime.
        if has_runtime or probes.which("nvidia-container-runtime-hook"):
            checks.append(Check("nvidia runtime", "ok", "Docker can give containers GPUs"))
        else:
            checks.append(
                Check(
                    "nvidia runtime",
                    "problem",
                    "Docker has no NVIDIA runtime: `docker run --gpus` fails with "
                    "'could not select device driver \"\" with capabilities: [[gpu]]'",
                    "install the NVIDIA Container Toolkit, then: sudo nvidia-ctk runtime "
                    "configure --runtime=docker && sudo systemctl restart docker",
                    ("docker",),
                )
            )
    return checks


def _driver_line(smi: probes.Probe) -> Check:
    cuda = probes.cuda_version(smi.out)
    if smi.code != 0 or cuda is None:
        return Check(
            "gpu driver",
            "problem",
            f"nvidia-smi fails: {smi.first_line()}",
            "reinstall the NVIDIA driver, or reboot after a driver update",
            WAYS,
        )
    return Check("gpu driver", "ok", f"NVIDIA driver supports CUDA {cuda[0]}.{cuda[1]}")


def _gpu_checks(engine: Engine, wanted: int) -> list[Check]:
    smi = probes.run(["nvidia-smi"])
    if smi is None:
        return [
            Check(
                "gpu driver",
                "problem",
                f"runtime.gpus is {wanted} but there is no NVIDIA driver (nvidia-smi not found)",
                "install the NVIDIA driver, or set runtime.gpus: 0 for the CPU",
                WAYS,
            )
        ]
    driver = _driver_line(smi)
    if driver.status != "ok":
        return [driver]
    checks = [driver]
    cuda = probes.cuda_version(smi.out)
    needed = engine.image_cuda
    if cuda is not None and cuda < needed:
        checks.append(
            Check(
                "gpu cuda",
                "problem",
                f"the driver supports CUDA {cuda[0]}.{cuda[1]}; the {engine.title} "
                f"{engine.image_cuda_read_at} image needs CUDA {needed[0]}.{needed[1]}"
                + (
                    f" (llmgen has not read {engine.version}'s Dockerfile; assumed the same)"
                    if engine.version != engine.image_cuda_read_at
                    else ""
                ),
                f"upgrade the NVIDIA driver to one that supports CUDA {needed[0]}.{needed[1]}",
                ("docker",),
            )
        )
    listed = probes.run(["nvidia-smi", "-L"])
    count = probes.gpu_count(listed.out) if listed is not None else 0
    if count < wanted:
        checks.append(
            Check(
                "gpu count",
                "problem",
                f"runtime.gpus is {wanted} but this host has {count}",
                f"set runtime.gpus to {count} or fewer" if count else "use a host with GPUs",
                WAYS,
            )
        )
    else:
        checks.append(Check("gpu count", "ok", f"{count} GPU(s), {wanted} wanted"))
    return checks


def _port_check(host: str, port: int) -> Check:
    problem = probes.port_problem(host, port)
    if not problem:
        return Check("port", "ok", f"{host}:{port} is free")
    fixes = {
        "in use": f"stop what listens there (ss -ltnp 'sport = :{port}') or change server.port",
        "not an address of this host": "bind to 127.0.0.1, 0.0.0.0 or an address of this host",
        "needs privileges (a port below 1024)": "use a port above 1023 (server.port)",
    }
    return Check(
        "port",
        "problem",
        f"{host}:{port} {problem}",
        fixes.get(problem, "change server.port"),
        WAYS,
    )


def _shm_check(needed_text: str, gpus: int) -> Check:
    needed = probes.parse_size(needed_text)
    found = probes.filesystem("/dev/shm")
    if found is None:
        return Check(
            "shared memory",
            "problem",
            "/dev/shm is missing",
            "mount a tmpfs on /dev/shm",
            ("native",),
        )
    _, total, _ = found
    detail = f"/dev/shm holds {probes.human(total)}; tensor parallel over {gpus} GPUs wants {needed_text}"
    if total < needed:
        return Check(
            "shared memory",
            "problem",
            detail,
            f"remount it larger: sudo mount -o remount,size={needed_text} /dev/shm "
            "(docker-run.sh sets --shm-size itself)",
            ("native",),
        )
    return Check("shared memory", "ok", detail)


def _cpu_shm_check(engine: Engine, container_size: str) -> Check:
    """The CPU engine's start-up queues must fit in /dev/shm's free space (a container's
    default 64 MiB does not): launch.sh and the unit run with this host's /dev/shm."""
    needed = engine.cpu_shm_bytes
    found = probes.filesystem("/dev/shm")
    if found is None or found[0] != "/dev/shm":
        return Check(
            "shared memory", "problem", "/dev/shm is missing", "mount a tmpfs on /dev/shm",
            ("native",),
        )  # fmt: skip
    free = found[2]
    detail = (
        f"/dev/shm has {probes.human(free)} free; {engine.title} on CPU needs "
        f"{probes.human(needed)} free at start-up"
    )
    if free < needed:
        return Check(
            "shared memory",
            "problem",
            f"{detail}, else it stops with 'Insufficient space in /dev/shm'",
            f"give /dev/shm more room: sudo mount -o remount,size={container_size} /dev/shm "
            f"(in a container: --shm-size {container_size}, which docker-run.sh, compose.yaml "
            "and the pods set)",
            ("native",),
        )
    return Check("shared memory", "ok", detail)


def _disk_check(analysis: Analysis) -> Check:
    spec = analysis.spec
    if spec.model.path is not None:
        return Check("disk", "ok", f"the model is local ({spec.model.path}): nothing to download")
    cache = probes.hf_cache_dir()
    found = probes.filesystem(cache)
    if found is None:
        return Check("disk", "problem", f"cannot inspect the model cache {cache}", "", ())
    where, _, free = found
    needed = download_size(analysis)
    detail = f"{probes.human(free)} free for the model cache ({cache})"
    if needed is not None:
        if free < needed:
            return Check(
                "disk",
                "problem",
                f"{detail}; the model needs {probes.human(needed)}",
                f"free space under {where} or point HF_HOME at a larger disk",
                WAYS,
            )
        return Check("disk", "ok", f"{detail}; the model needs {probes.human(needed)}")
    if free < MIN_FREE_CACHE:
        return Check(
            "disk",
            "problem",
            f"{detail}: too little for most models",
            f"free space under {where} or point HF_HOME at a larger disk",
        )
    return Check("disk", "ok", detail)


def _memory_check(analysis: Analysis) -> Check:
    spec = analysis.spec
    available = probes.available_memory()
    needed = memory_estimate(analysis)
    if available is None:
        return Check("memory", "info", "cannot read the available memory (/proc/meminfo)")
    detail = f"{probes.human(available)} of memory available"
    if needed is None:
        return Check("memory", "info", f"{detail}; no estimate of what this spec needs yet")
    if spec.runtime.gpus == 0 and available < needed:
        return Check(
            "memory",
            "problem",
            f"{detail}; this spec needs about {probes.human(needed)}",
            "lower runtime.context_length or runtime.parallel, or use a smaller model",
            WAYS,
        )
    return Check("memory", "ok", f"{detail}; this spec needs about {probes.human(needed)}")


# --- output ------------------------------------------------------------------------------


def verdict(report: Report) -> str:
    """`native: ready, docker: blocked (docker)` and the like."""
    if report.via is None and not any(c.blocks for c in report.checks):
        problems = sum(c.status == "problem" for c in report.checks)
        return f"{problems} problem(s)" if problems else "no problems"
    parts = []
    for way in WAYS if report.via is None else (report.via,):
        blocked = report.blocked(way)
        parts.append(f"{way}: blocked ({', '.join(blocked)})" if blocked else f"{way}: ready")
    return ", ".join(parts)


def format_json(report: Report) -> str:
    """The report for machines."""
    return json.dumps(
        {
            "ok": report.ok,
            "ready": report.ready,
            "checks": [asdict(check) for check in report.checks],
        },
        indent=2,
    )
