"""Orchestrate one verification: launch (or attach), wait for readiness, check, tear down."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llmgen.records import record
from llmgen.verify import checks
from llmgen.verify.failures import FailureKind, ServerExitedError, VerifyError, describe_exit
from llmgen.verify.http import Endpoint
from llmgen.verify.interrupt import StopRequest
from llmgen.verify.process import MemorySampler, ServerProcess, Teardown, log_tail, port_in_use
from llmgen.verify.readiness import Probe, State, wait_until_ready
from llmgen.verify.systemd import SystemdUnit

Via = Literal["native", "docker", "systemd"]
SCRIPTS: dict[Via, str] = {"native": "launch.sh", "docker": "docker-run.sh", "systemd": "systemd"}
LOG_NAME = "verify.log"
PROGRESS_EVERY_S = 0.1
WORKER_JOIN_S = 30.0  # after teardown, how long to wait for the worker's last request
# llama.cpp marks errors with " E " after its timestamp; others say error/fatal/Traceback.
_ERROR_LINE = re.compile(r"(^|\s)E\s|error|fatal|traceback|cannot|could not", re.IGNORECASE)


@record
class Progress:
    """A progress report for the live status line."""

    phase: str  # "launching", "loading", "check clients", ...
    elapsed: float  # seconds since verify started
    log_line: str  # the server log's last line ("" when there is none)
    detail: str = ""


@record
class VerifyOptions:
    """What to verify and how; the CLI fills this from its options."""

    target: Path  # a directory written by `render`, or a spec file
    via: Via = "native"
    url: str | None = None  # check a running server instead of launching one
    timeout: float = 600.0  # seconds to wait for readiness
    keep_running: bool = False
    grace: float = 10.0  # seconds between SIGTERM and SIGKILL
    python: str = field(default_factory=lambda: sys.executable)
    env: Mapping[str, str] | None = None  # for the server and the client; default os.environ
    on_progress: Callable[[Progress], None] | None = None
    # Stop signals as the CLI records them; None: the caller handles signals itself.
    signals: StopRequest | None = None


@record
class Manifest:
    """The fields of manifest.json that verify relies on."""

    name: str
    engine: str
    served_model_name: str
    base_url: str
    health_path: str
    readiness: str
    api_key_env: str | None


@record
class Failure:
    """Why verification stopped before or instead of its checks."""

    kind: FailureKind
    message: str
    hint: str = ""
    log_tail: tuple[str, ...] = ()


@dataclass
class VerifyResult:
    """Everything one verification found; `ok` decides the exit code."""

    directory: Path
    name: str
    engine: str
    mode: str  # "launch.sh", "docker-run.sh" or "url"
    base_url: str
    served_model_name: str
    log_path: Path | None = None
    checks: list[checks.CheckResult] = field(default_factory=list)
    failure: Failure | None = None
    time_to_ready_s: float | None = None
    first_token_s: float | None = None
    tokens_per_second: float | None = None
    peak_rss_bytes: int | None = None
    rss_scope: str = ""  # what the peak covers
    total_s: float = 0.0
    pgid: int | None = None
    teardown: Teardown | None = None
    kept_running: bool = False
    temporary_directory: bool = False
    launched_at: float | None = None  # time.monotonic() values, for benchmarks
    ready_at: float | None = None

    @property
    def ok(self) -> bool:
        """No failure, every check passed, nothing left behind."""
        left = self.teardown is not None and bool(self.teardown.leftover)
        passed = all(c.ok or c.skipped for c in self.checks)  # a skip is reported, not failed
        return self.failure is None and passed and not left

    @property
    def stop_command(self) -> str | None:
        """How to stop a server left running with --keep-running."""
        return f"kill -TERM -- -{self.pgid}" if self.kept_running and self.pgid else None


def load_manifest(directory: Path) -> Manifest:
    """Read the fields verify needs from DIR/manifest.json."""
    path = directory / "manifest.json"
    try:
        data = json.loads(path.read_text("utf-8"))
        return Manifest(
            name=str(data["name"]),
            engine=str(data["engine"]),
            served_model_name=str(data["served_model_name"]),
            base_url=str(data["base_url"]),
            health_path=str(data["health_path"]),
            readiness=str(data["readiness"]),
            api_key_env=str(data["api_key_env"]) if data.get("api_key_env") else None,
        )
    except FileNotFoundError:
        raise VerifyError(
            "bad-directory",
            f"{directory} has no manifest.json, so it was not written by llmgen render",
            f"run `llmgen render SPEC -o {directory}` first, or pass the spec file",
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VerifyError(
            "bad-directory",
            f"{path} is not a manifest llmgen can read ({type(exc).__name__}: {exc})",
            "re-render the directory with llmgen render",
        ) from None


def _render_to_temporary(spec_path: Path) -> Path:
    from llmgen.render.bundle import render
    from llmgen.render.writer import write_bundle
    from llmgen.rules.analysis import validate_file

    validated = validate_file(spec_path)
    bundle = render(validated.spec, validated.plan)
    directory = Path(tempfile.mkdtemp(prefix=f"llmgen-verify-{validated.spec.name}-"))
    write_bundle(bundle.files, directory)
    return directory


@record
class _Secret:
    """The environment for the server and the client, with the API key when the spec has one."""

    env_name: str | None
    value: str | None
    env: dict[str, str]

    @classmethod
    def prepare(cls, env_name: str | None, options: VerifyOptions, launching: bool) -> _Secret:
        env = dict(os.environ if options.env is None else options.env)
        if env_name is None:
            return cls(None, None, env)
        value = env.get(env_name) or None
        if value is None and launching:
            # A one-time key, given to both the server and the client, so check 4 can run.
            value = secrets.token_urlsafe(24)
            env[env_name] = value
        return cls(env_name, value, env)


class _StoppedError(Exception):
    """The main thread has begun the teardown: the worker stops where it is."""


class _Run:
    """State of one verification, shared by the worker thread (launch, readiness, checks) and
    the main thread (waiting, teardown), so teardown can always find what was started."""

    def __init__(self, options: VerifyOptions, signals: StopRequest) -> None:
        self.options = options
        self.signals = signals
        self.started = time.monotonic()
        self.server: ServerProcess | SystemdUnit | None = None
        self.sampler: MemorySampler | None = None
        self.ready = False
        # Set by the main thread under `lock` when teardown begins; after that the worker
        # launches nothing and reports nothing.
        self.stopping = False
        self.lock = threading.Lock()
        self.done = False  # the worker has finished (set last, then signals.wake())
        self.failure: VerifyError | None = None  # what the worker's phases raised
        self.crash: BaseException | None = None  # a bug in the worker, re-raised after teardown
        self.checks: list[checks.CheckResult] = []
        self._progress_lock = threading.Lock()
        self._last_progress = 0.0
        self._phase = ""

    @property
    def interrupted(self) -> bool:
        """Whether a stop signal has arrived (at any point of the run so far)."""
        return self.signals.requested

    def enter(self, phase: str, detail: str = "") -> None:
        """Worker: begin `phase` (progress line, test hold), unless the teardown has begun."""
        self.progress(phase, detail)
        self.signals.hold(phase, detail)
        if self.stopping:
            raise _StoppedError

    def progress(self, phase: str, detail: str = "", *, throttle: bool = False) -> None:
        callback = self.options.on_progress
        if callback is None:
            return
        with self._progress_lock:
            if self.stopping and threading.current_thread() is not threading.main_thread():
                return  # the worker's last words would garble the teardown lines
            now = time.monotonic()
            if throttle and phase == self._phase and now - self._last_progress < PROGRESS_EVERY_S:
                return
            self._phase, self._last_progress = phase, now
            line = ""
            if self.server is not None:
                tail = log_tail(self.server.log_path, lines=1, max_bytes=4096)
                line = tail[-1] if tail else ""
            callback(Progress(phase, now - self.started, line, detail))


INTERRUPTED = "interrupted"


def mark_interrupted(result: VerifyResult) -> None:
    """Record that a stop signal arrived, so the run can never be reported as OK."""
    if result.failure is None or result.failure.kind != "interrupted":
        stopped = "; the server was stopped" if result.teardown is not None else ""
        result.failure = Failure("interrupted", INTERRUPTED + stopped)


def run_verify(options: VerifyOptions) -> VerifyResult:
    """Verify one deployment; deployment problems end up in the result, never as a traceback.

    Launch, readiness and checks run in a worker thread; the calling (main) thread waits for
    it or for a stop signal (`options.signals`), then always tears the server down.
    Raises VerifyError (kind "bad-directory") or SpecError when there is nothing to verify.
    """
    signals = options.signals or StopRequest()  # not installed: nothing is ever requested
    try:
        return _verify(options, signals)
    finally:
        if options.signals is None:
            signals.close()


def _verify(options: VerifyOptions, signals: StopRequest) -> VerifyResult:
    run = _Run(options, signals)
    target = options.target
    temporary = False
    if target.is_dir():
        directory = target
    else:
        run.progress("rendering", str(target))
        signals.hold("rendering", str(target))
        directory = _render_to_temporary(target)
        temporary = True
    manifest = load_manifest(directory)
    try:
        endpoint = Endpoint.from_base_url(options.url or manifest.base_url)
    except ValueError as exc:
        raise VerifyError("bad-url", str(exc), "give a URL like http://host:8000/v1") from None
    mode = "url" if options.url else SCRIPTS[options.via]
    result = VerifyResult(
        directory=directory,
        name=manifest.name,
        engine=manifest.engine,
        mode=mode,
        base_url=endpoint.base_url,
        served_model_name=manifest.served_model_name,
        temporary_directory=temporary,
    )
    secret = _Secret.prepare(manifest.api_key_env, options, launching=options.url is None)
    worker = threading.Thread(
        target=_work,
        args=(run, result, manifest, endpoint, secret),
        name="llmgen-verify",
        daemon=True,  # never keeps verify alive; the main thread joins it after teardown
    )
    try:
        if not run.interrupted:  # a signal during rendering: launch nothing
            worker.start()
            signals.wait(lambda: run.done)
    finally:
        _finish(run, result, worker)
    if temporary and result.ok and not result.kept_running:
        shutil.rmtree(directory, ignore_errors=True)
    result.total_s = time.monotonic() - run.started
    return result


def _work(
    run: _Run, result: VerifyResult, manifest: Manifest, endpoint: Endpoint, secret: _Secret
) -> None:
    """The worker thread: launch, wait for readiness, run the checks."""
    try:
        if run.options.url is None:
            _launch(run, result, endpoint, secret.env)
        _wait_ready(run, result, manifest, endpoint)
        _run_checks(run, result, manifest, endpoint, secret)
    except _StoppedError:
        pass
    except VerifyError as exc:
        run.failure = exc
    except BaseException as exc:  # a bug: the main thread tears down, then re-raises it
        run.crash = exc
    finally:
        run.done = True
        run.signals.wake()


def _launch(run: _Run, result: VerifyResult, endpoint: Endpoint, env: dict[str, str]) -> None:
    if result.mode == "systemd":
        _launch_unit(run, result, endpoint)
        return
    script = result.directory / result.mode
    if not script.is_file():
        raise VerifyError(
            "bad-directory", f"{script} is missing", "re-render the directory with llmgen render"
        )
    if not Path("/proc/self/stat").is_file():
        raise VerifyError(
            "launch-failed",
            "verify launches servers only on Linux (it watches the process group in /proc)",
            "start the server yourself and run llmgen verify DIR --url URL",
        )
    run.enter("checking port", f"{endpoint.host}:{endpoint.port}")
    if port_in_use(endpoint.host, endpoint.port):
        raise VerifyError(
            "port-in-use",
            f"port {endpoint.port} on {endpoint.host} is already in use, so the server could not "
            "listen there (nothing was launched)",
            f"stop whatever listens there (ss -ltnp 'sport = :{endpoint.port}') "
            "or change server.port in the spec",
        )
    result.log_path = result.directory / LOG_NAME
    # Under the lock: once the main thread has begun its teardown nothing new is launched,
    # and a server launched before that is always visible to the teardown.
    with run.lock:
        if run.stopping:
            raise _StoppedError
        try:
            run.server = ServerProcess.spawn([str(script.resolve())], result.log_path, env)
        except OSError as exc:
            raise VerifyError(
                "launch-failed",
                f"could not run {script}: {exc.strerror or exc}",
                f"check that it is executable (chmod +x {script})",
            ) from None
    result.pgid = run.server.pgid
    result.launched_at = run.server.started_at
    if result.mode != "docker-run.sh":
        # In docker mode the engine runs under dockerd, not in this process group: its memory
        # is read from the container's cgroup after the checks (verify/container.py).
        run.sampler = MemorySampler(run.server.pgid)
        run.sampler.start()
        result.rss_scope = "the server's process group"
    run.enter("launched", f"{result.mode} as process group {run.server.pgid}")


def _launch_unit(run: _Run, result: VerifyResult, endpoint: Endpoint) -> None:
    """--via systemd: the rendered unit as a runtime unit of this host's systemd."""
    unit_file = result.directory / f"{result.name}.service"
    if not unit_file.is_file():
        raise VerifyError(
            "bad-directory", f"{unit_file} is missing", "re-render the directory with llmgen render"
        )
    run.enter("checking port", f"{endpoint.host}:{endpoint.port}")
    if port_in_use(endpoint.host, endpoint.port):
        raise VerifyError(
            "port-in-use",
            f"port {endpoint.port} on {endpoint.host} is already in use (nothing was started)",
            f"stop whatever listens there (ss -ltnp 'sport = :{endpoint.port}') "
            "or change server.port in the spec",
        )
    result.log_path = result.directory / LOG_NAME
    unit = SystemdUnit(unit_file, result.log_path)
    with run.lock:  # as for launch.sh: the teardown always sees what was installed
        if run.stopping:
            raise _StoppedError
        run.server = unit
    run.enter("installing", str(unit.installed))
    unit.start()
    result.pgid = unit.pgid
    result.launched_at = unit.started_at
    run.enter("launched", f"{unit.unit} (main PID {unit.pgid})")


def _wait_ready(run: _Run, result: VerifyResult, manifest: Manifest, endpoint: Endpoint) -> None:
    held: set[State] = set()

    def on_poll(state: State, seen: Probe) -> None:
        answer = f"HTTP {seen.status}" if seen.status is not None else seen.detail
        if state != "ready":  # reported once below, with the time it took
            run.progress(state, f"{manifest.health_path}: {answer}", throttle=True)
            if state not in held:
                held.add(state)
                run.signals.hold(state, answer)
        if run.stopping:
            raise _StoppedError

    server = run.server
    ready = wait_until_ready(
        endpoint,
        manifest.health_path,
        manifest.readiness,
        run.options.timeout,
        exited=server.returncode if server is not None else None,
        on_poll=on_poll,
    )
    run.ready = True
    result.ready_at = ready.at
    result.time_to_ready_s = ready.at - server.started_at if server is not None else ready.seconds
    run.progress("ready", f"after {result.time_to_ready_s:.2f} s")


def _run_checks(
    run: _Run, result: VerifyResult, manifest: Manifest, endpoint: Endpoint, secret: _Secret
) -> None:
    client_py = result.directory / "clients" / "client.py"
    client_name = checks.client_model_name(client_py)
    # The name the generated clients really send; the manifest's copy is only a fallback.
    name = client_name or manifest.served_model_name

    run.enter("check models")
    run.checks.append(
        checks.check_models(endpoint, manifest.served_model_name, client_name, secret.value)
    )
    run.enter("check clients")
    run.checks.extend(
        checks.check_clients(
            client_py.parent,
            base_url=endpoint.base_url,
            key_env=secret.env_name,
            api_key=secret.value,
            python=run.options.python,
            env=secret.env,
        )
    )
    run.enter("check stream")
    stream, stats = checks.check_stream(endpoint, name, secret.value)
    run.checks.append(stream)
    if stats is not None:
        result.first_token_s = stats.first_token_s
        result.tokens_per_second = stats.tokens_per_second
    if secret.env_name:
        run.enter("check auth")
        run.checks.append(checks.check_auth(endpoint, name, secret.env_name, secret.value))
    if result.mode == "docker-run.sh":
        from llmgen.verify.container import container_memory

        memory = container_memory(result.name)
        if memory is not None:
            result.peak_rss_bytes, result.rss_scope = memory.bytes, memory.scope


def _failure(exc: VerifyError, run: _Run, result: VerifyResult) -> Failure:
    server = run.server
    tail = log_tail(server.log_path) if server is not None else ()
    if isinstance(exc, ServerExitedError):
        own = _script_diagnostic(tail, result.mode) if exc.returncode != 127 else None
        if own is not None:  # the script refused to start, and said why and how to fix it
            return Failure("launch-failed", own[0], own[1], tail)
        if exc.returncode == 127:
            hint = next(
                (line.split("install it:", 1)[1].strip() for line in tail if "install it:" in line),
                "install the engine or put it on PATH",
            )
            return Failure(
                "engine-missing",
                "the engine is not installed: " + (tail[0] if tail else "command not found"),
                hint,
                tail,
            )
        first_error = next((line for line in tail if _ERROR_LINE.search(line)), "")
        return Failure(
            "server-died",
            f"the server ({result.mode}) exited with {describe_exit(exc.returncode)} "
            "before it was ready" + (f": {first_error}" if first_error else ""),
            "",
            tail,
        )
    return Failure(exc.kind, exc.message, exc.hint, tail if exc.kind != "port-in-use" else ())


def _script_diagnostic(tail: tuple[str, ...], script: str) -> tuple[str, str] | None:
    """(message, fix) from a generated script's own `script: ...` lines and indented follow-ups.

    docker-run.sh checks the daemon and the NVIDIA runtime before `docker run`; its message
    and the fix on the lines after it are worth more than the exit status.
    """
    prefix = f"{script}: "
    for index, line in enumerate(tail):
        if line.startswith(prefix):
            # The fix follows on the script's next lines (indented there; the log tail is
            # stripped), up to its next message.
            fix = []
            for follow in tail[index + 1 : index + 4]:
                if follow.startswith(prefix):
                    break
                fix.append(follow.strip())
            return f"{script} refused to start: {line[len(prefix) :]}", " ".join(fix)
    return None


def _finish(run: _Run, result: VerifyResult, worker: threading.Thread) -> None:
    """Main thread: stop the server whatever happened, then settle the verdict.

    Stop signals only ever increment a counter (see `interrupt`), so nothing can cut this
    short; a signal that lands in here still marks the run interrupted.
    """
    with run.lock:
        run.stopping = True  # from here on the worker launches nothing
    server, sampler = run.server, run.sampler
    if server is not None:
        if sampler is not None:
            sampler.stop()
        keep = run.options.keep_running and run.done and run.ready and run.failure is None
        if keep and not run.interrupted and server.alive():
            result.kept_running = True
        else:
            run.progress("stopping", f"process group {server.pgid}")
            run.signals.hold("stopping", f"process group {server.pgid}")
            result.teardown = server.stop(run.options.grace, run.signals)
            run.progress("stopped")
        if sampler is not None:
            result.peak_rss_bytes = sampler.peak_bytes
    if worker.ident is not None:
        # With the server gone the worker's requests fail fast; a --url server that hangs
        # is not waited for beyond the bound (the thread is a daemon).
        worker.join(WORKER_JOIN_S)
    result.checks = list(run.checks)
    if run.failure is not None:
        result.failure = _failure(run.failure, run, result)
    if run.interrupted:
        mark_interrupted(result)
    if run.crash is not None:
        raise run.crash
