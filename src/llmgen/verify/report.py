"""Turn a VerifyResult into text for people or JSON for machines; draw the live progress line."""

from __future__ import annotations

import json
import shutil
from typing import Any, TextIO

from llmgen.verify.runner import Progress, VerifyResult


def as_dict(result: VerifyResult) -> dict[str, Any]:
    """A JSON-ready form of the result (`--format json`)."""
    teardown = result.teardown
    return {
        "ok": result.ok,
        "name": result.name,
        "engine": result.engine,
        "directory": str(result.directory),
        "mode": result.mode,
        "base_url": result.base_url,
        "served_model_name": result.served_model_name,
        "log": str(result.log_path) if result.log_path else None,
        "failure": None
        if result.failure is None
        else {
            "kind": result.failure.kind,
            "message": result.failure.message,
            "hint": result.failure.hint,
            "log_tail": list(result.failure.log_tail),
        },
        "checks": [
            {
                "name": check.name,
                "status": check.status,
                "ok": check.ok,
                "seconds": round(check.seconds, 6),
                "detail": check.detail,
                "hint": check.hint,
            }
            for check in result.checks
        ],
        "metrics": {
            "time_to_ready_s": _round(result.time_to_ready_s),
            "first_token_s": _round(result.first_token_s),
            "tokens_per_second": _round(result.tokens_per_second, 1),
            "peak_rss_bytes": result.peak_rss_bytes,
            "peak_rss_scope": result.rss_scope or None,
            "memory_label": memory_label(result) if result.peak_rss_bytes else None,
            "total_s": _round(result.total_s),
        },
        "pgid": result.pgid,
        "kept_running": result.kept_running,
        "stop_command": result.stop_command,
        "teardown": None
        if teardown is None
        else {
            "signals": list(teardown.signals),
            "seconds": _round(teardown.seconds),
            "returncode": teardown.returncode,
            "leftover_pids": list(teardown.leftover),
        },
    }


def format_json(result: VerifyResult) -> str:
    """The result as one JSON object."""
    return json.dumps(as_dict(result), indent=2)


def format_text(result: VerifyResult) -> str:
    """A short human report: one line per check, the figures, teardown, verdict."""
    where = result.base_url if result.mode == "url" else f"{result.mode} in {result.directory}"
    lines = [f"verify {result.name} ({result.engine}): {where}"]
    if result.time_to_ready_s is not None:
        lines.append(f"  ready{_seconds(result.time_to_ready_s):>18}  {result.base_url}")
    for check in result.checks:
        mark = check.status.upper()
        lines.append(f"  {mark} {check.name:<10} {_seconds(check.seconds):>7}  {check.detail}")
        if check.hint and not check.ok:
            lines.append(f"{'':25}fix: {check.hint}")
    figures = _figures(result)
    if figures:
        lines.append("  " + ", ".join(figures))
    failure = result.failure
    if failure is not None:
        lines.append(f"FAILED ({failure.kind}): {failure.message}")
        if failure.hint:
            lines.append(f"  fix: {failure.hint}")
        if failure.log_tail:
            lines.append(f"  last lines of {result.log_path}:")
            lines += [f"  | {line}" for line in failure.log_tail]
    lines += _teardown_lines(result)
    skipped = [c.name for c in result.checks if c.skipped]
    if result.ok:
        passed = len(result.checks) - len(skipped)
        lines.append(
            f"OK: {passed} checks passed"
            + (f", {len(skipped)} skipped ({', '.join(skipped)})" if skipped else "")
        )
    elif failure is None:
        failed = [c.name for c in result.checks if c.status == "fail"]
        if failed:
            lines.append(
                f"FAILED: {len(failed)} of {len(result.checks)} checks: {', '.join(failed)}"
            )
        else:
            lines.append("FAILED: processes survived the teardown")
    # A temporary directory is removed after a passing run, so its log is gone too.
    if result.log_path is not None and result.log_path.exists() and not result.kept_running:
        lines.append(f"log: {result.log_path}")
    return "\n".join(lines)


def _figures(result: VerifyResult) -> list[str]:
    figures = []
    if result.time_to_ready_s is not None:
        figures.append(f"time to ready {_seconds(result.time_to_ready_s)}")
    if result.first_token_s is not None:
        figures.append(f"first token {_seconds(result.first_token_s)}")
    if result.tokens_per_second is not None:
        figures.append(f"{result.tokens_per_second:.0f} tokens/s")
    if result.peak_rss_bytes:
        figures.append(f"{memory_label(result)} {result.peak_rss_bytes / 2**20:.1f} MiB")
    return figures


def memory_label(result: VerifyResult) -> str:
    """What the memory figure is: a process group's RSS, or a container's cgroup charge."""
    if result.mode == "docker-run.sh":
        # The cgroup counts the container's own pages; the model file is mapped from a host
        # path, and its pages already in the host's page cache are charged elsewhere.
        return "container memory (cgroup peak, leaves out the mapped model file)"
    return "peak RSS"


def _teardown_lines(result: VerifyResult) -> list[str]:
    if result.kept_running:
        return [
            f"still running as process group {result.pgid}; stop it with: {result.stop_command}",
            f"  log: {result.log_path}",
        ]
    teardown = result.teardown
    if teardown is None:
        return []
    how = " then ".join(teardown.signals) or "no signal (it had already exited)"
    line = f"stopped process group {teardown.pgid}: {how}, {_seconds(teardown.seconds)}"
    if teardown.leftover:
        pids = " ".join(str(p) for p in teardown.leftover)
        return [f"{line}; STILL RUNNING: {pids} (kill -KILL {pids})"]
    return [f"{line}; no process left"]


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class ProgressLine:
    """Live progress: one rewritten line on a terminal, plain lines on phase changes otherwise."""

    def __init__(self, stream: TextIO, is_terminal: bool) -> None:
        self.stream = stream
        self.is_terminal = is_terminal
        self._phase = ""
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        """Show one progress report."""
        text = f"[{progress.elapsed:6.1f} s] {progress.phase}"
        if progress.detail:
            text += f" ({progress.detail})"
        if self.is_terminal:
            if progress.log_line:
                text += f" | {progress.log_line}"
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r\x1b[2K" + text[:width])
            self._drawn = True
        elif progress.phase != self._phase:
            self.stream.write(text + "\n")
        self._phase = progress.phase
        self.stream.flush()

    def close(self) -> None:
        """End the live line so the report starts on a fresh line."""
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
