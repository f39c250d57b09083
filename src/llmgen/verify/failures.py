"""The errors verify raises: each one a deployment problem the user can fix."""

from __future__ import annotations

from typing import Literal

from llmgen.errors import LlmgenError

FailureKind = Literal[
    "bad-directory",
    "bad-url",
    "port-in-use",
    "launch-failed",
    "engine-missing",
    "server-died",
    "readiness-timeout",
    "not-ready",
    "interrupted",
]


class VerifyError(LlmgenError):
    """A deployment failed before its checks could run; carries what to show and how to fix it."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        hint: str = "",
        log_tail: tuple[str, ...] = (),
    ) -> None:
        self.kind: FailureKind = kind
        self.message = message
        self.hint = hint
        self.log_tail = log_tail
        super().__init__(message + (f" ({hint})" if hint else ""))


class ServerExitedError(VerifyError):
    """The server process ended before it was ready; the runner adds the log lines."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode
        super().__init__("server-died", f"the server exited ({describe_exit(returncode)})")


def describe_exit(returncode: int) -> str:
    """'status 1' or 'killed by SIGSEGV' for a return code as `subprocess` reports it."""
    if returncode < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"
