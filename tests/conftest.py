"""Shared fixtures: the repository's examples and a render helper."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmgen.render.bundle import Bundle, render
from llmgen.rules.analysis import validate_file
from tests.support import sigterm_guard

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM to the test run tears down what the tests started, like Ctrl-C does."""
    sigterm_guard.install()


def render_file(path: Path) -> Bundle:
    """Validate and render one spec file."""
    return render(validate_file(path).spec)


@pytest.fixture(params=EXAMPLES, ids=[p.stem for p in EXAMPLES])
def example(request: pytest.FixtureRequest) -> Path:
    """Each file in examples/."""
    path: Path = request.param
    return path


@pytest.fixture(autouse=True)
def _restore_stop_signal_handlers() -> Iterator[None]:
    """`llmgen verify` keeps its SIGINT/SIGTERM recorder until the process exits; in-process
    CLI tests run in pytest's process, so put pytest's own handlers back after each test."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
