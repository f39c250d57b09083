"""Make SIGTERM stop a test run the way Ctrl-C does, so the servers tests started are stopped.

By default SIGTERM ends Python at once: no `finally`, no fixture teardown, and every engine a
fixture or test started (llama-server, vLLM, a stand-in) is left running, holding its port
and memory. Raising KeyboardInterrupt instead lets pytest unwind as it does on Ctrl-C: the
running test's `finally` blocks run, then every fixture's teardown.
"""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install() -> None:
    """Turn SIGTERM into KeyboardInterrupt for this process (call from pytest_configure)."""
    signal.signal(signal.SIGTERM, _interrupt)
