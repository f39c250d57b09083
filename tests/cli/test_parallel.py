"""Validating many files in forked workers: the same results as one process, whatever happens.

Failures are made inside the real worker processes (an exception, a SIGKILL) and the
interruption of the parent is raised by the parent's own share, so no test waits on a clock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from llmgen.cli import validate as validate_many
from llmgen.cli.parallel import map_in_forks
from tests.conftest import REPO

PARENT = os.getpid()


def _doubled(items: list[int]) -> list[int]:
    return [item * 2 for item in items]


def test_results_come_back_in_input_order() -> None:
    items = list(range(103))
    assert map_in_forks(_doubled, items, 3) == [item * 2 for item in items]
    assert map_in_forks(_doubled, items[:2], 4) == [0, 2]  # more workers than items


@pytest.mark.parametrize("failure", ["exception", "sigkill"])
def test_a_worker_that_fails_has_its_share_done_by_the_parent(failure: str) -> None:
    def fragile(items: list[int]) -> list[int]:
        if os.getpid() != PARENT and 7 in items:  # only the worker holding item 7 fails
            if failure == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("worker broke")
        return _doubled(items)

    items = list(range(40))
    assert map_in_forks(fragile, items, 4) == [item * 2 for item in items]


def test_an_interrupted_parent_stops_and_reaps_its_workers(tmp_path: Path) -> None:
    def stuck_workers(items: list[int]) -> list[int]:
        if os.getpid() == PARENT:
            # Ctrl-C while the parent does its own share, once both workers are running.
            deadline = time.monotonic() + 60
            while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt
        (tmp_path / str(os.getpid())).touch()
        signal.pause()  # a worker that would never finish by itself
        return items

    reaped = False
    try:
        with pytest.raises(KeyboardInterrupt):
            map_in_forks(stuck_workers, list(range(30)), 3)
        pids = [int(pid_file.name) for pid_file in tmp_path.iterdir()]
        assert len(pids) == 2  # the handshake happened: both workers were running
        for pid in pids:  # killed and reaped: gone, not zombies
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        reaped = True
    finally:  # should map_in_forks leave a worker behind, the test does not
        for pid_file in [] if reaped else tmp_path.iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.name), signal.SIGKILL)


def _many_specs(folder: Path) -> Path:
    """Every example, warning and invalid case file, twice: over the parallel threshold."""
    sources = [
        *sorted((REPO / "examples").glob("*.yaml")),
        *sorted((REPO / "tests" / "cases").glob("*/*.yaml")),
    ]
    for copy in range(2):
        for source in sources:
            shutil.copy(source, folder / f"{copy}-{source.parent.name}-{source.name}")
    return folder


def test_many_files_are_checked_in_workers_with_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _many_specs(tmp_path)
    count = len(list(specs.iterdir()))
    assert count >= validate_many.PARALLEL_FROM
    used: list[int] = []
    real = map_in_forks

    def counting(work, items, workers):  # type: ignore[no-untyped-def]
        used.append(workers)
        return real(work, items, workers)

    monkeypatch.setattr("llmgen.cli.parallel.map_in_forks", counting)
    monkeypatch.setattr(validate_many, "_workers", lambda count: 2)
    parallel = validate_many.check_files([str(specs)])
    monkeypatch.setattr(validate_many, "_workers", lambda count: 1)
    sequential = validate_many.check_files([str(specs)])
    assert used == [2]  # the first run really went through the workers
    assert parallel == sequential and len(parallel) == count
    assert {result.valid for result in parallel} == {True, False}  # both kinds were in play


def test_worker_count_follows_the_cpus_and_the_amount_of_work() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert validate_many._workers(validate_many.PARALLEL_FROM - 1) == 1
    assert validate_many._workers(10_000) == min(cpus, 8)
    assert validate_many._workers(validate_many.PARALLEL_FROM) == min(
        cpus, validate_many.PARALLEL_FROM // validate_many.FILES_PER_WORKER
    )
