"""Run llmgen on a real pseudo-terminal, as a person would; waits on output, never sleeps."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path


class Terminal:
    """`python -m llmgen ARGS` on a real pseudo-terminal; waits for text, never sleeps."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        main_fd, child_fd = pty.openpty()
        if env is None:
            env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llmgen", *args],
            stdin=child_fd,
            stdout=child_fd,
            stderr=child_fd,
            cwd=cwd,
            env=env,
            close_fds=True,
        )
        os.close(child_fd)
        self.fd = main_fd
        self.seen = ""

    def expect(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; saw {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the program ended before {text!r}; saw {self.seen!r}"
                self.seen += chunk.decode("utf-8", "replace")

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def read_to_end(self, timeout: float = 60.0) -> str:
        """Everything the program writes until it closes the terminal."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the program did not end; saw {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                return self.seen
            if not chunk:
                return self.seen
            self.seen += chunk.decode("utf-8", "replace")

    def close(self) -> int:
        code = self.process.wait(timeout=60)
        os.close(self.fd)
        return code
