"""Ctrl-C and SIGTERM during verify: recorded, never raised, so no phase can skip the teardown.

The CLI installs the handler once, before anything is launched, and leaves it in place until
the process exits. The handler only counts the signal and writes a byte to a self-pipe that
wakes verify's main loop; it never raises. Whatever verify is doing when a signal lands
(starting, loading, a check, printing "stopping", inside the stop routine), the main thread
still reaches its teardown, and the run is reported as interrupted (exit 130).

A test hook, `LLMGEN_VERIFY_HOLD=PHASE[,PHASE...]:FD`, makes verify write `PHASE DETAIL` to
the inherited file descriptor FD when it reaches each named phase and then hold that phase
until one more signal has arrived, so a test can land a signal in every phase in turn
without racing the clock.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable

HOLD_ENV = "LLMGEN_VERIFY_HOLD"
HOLD_LIMIT_S = 120.0  # a hold never outlives a test that forgot to signal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Counts SIGINT/SIGTERM and wakes whoever waits in `wait`; never raises from a handler."""

    def __init__(self, hold: str | None = None) -> None:
        self.count = 0
        self.first = ""  # the name of the first signal received
        read, write = os.pipe()  # non-inheritable: the server never gets these
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._read, self._write = read, write
        self._holds: tuple[str, ...] = ()
        self._hold_fd = -1
        if hold:
            phases, _, fd = hold.rpartition(":")
            self._holds = tuple(p.strip() for p in phases.split(",") if p.strip())
            self._hold_fd = int(fd)
            os.set_inheritable(self._hold_fd, False)  # the server must not hold it open

    @classmethod
    def from_environment(cls) -> StopRequest:
        """A StopRequest with the test hook of `LLMGEN_VERIFY_HOLD`, when it is set."""
        return cls(os.environ.get(HOLD_ENV) or None)

    def install(self) -> None:
        """Route SIGINT and SIGTERM to this request (for the rest of the process's life)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._record)

    @property
    def requested(self) -> bool:
        """Whether a stop signal has arrived."""
        return self.count > 0

    def _record(self, signum: int, frame: object) -> None:
        self.count += 1
        if not self.first:
            self.first = signal.Signals(signum).name
        self.wake()

    def wake(self) -> None:
        """Wake `wait` (from the handler, or from a thread that has finished)."""
        # A full pipe already holds a wake-up; after close() (-1) there is no waiter left.
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")

    def wait(self, done: Callable[[], bool]) -> None:
        """Sleep until `done()` is true or a stop signal has arrived."""
        while not (self.requested or done()):
            # The timeout is only a safety net: every wake-up comes through the pipe.
            select.select([self._read], [], [], 1.0)
            with contextlib.suppress(BlockingIOError):
                os.read(self._read, 4096)

    def hold(self, phase: str, detail: str = "") -> None:
        """Test hook: at a phase named in LLMGEN_VERIFY_HOLD, say so, then await a signal."""
        if phase not in self._holds:
            return
        seen = self.count
        with contextlib.suppress(OSError):
            os.write(self._hold_fd, f"{phase} {detail}".rstrip().encode() + b"\n")
        deadline = time.monotonic() + HOLD_LIMIT_S
        while self.count == seen and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        """Close the self-pipe; a late signal is still counted, it just wakes nobody."""
        read, write = self._read, self._write
        self._read = self._write = -1  # first: a signal handled from here on writes nowhere
        for fd in (read, write):
            with contextlib.suppress(OSError):  # already closed
                os.close(fd)
