"""Run a pure function over many items in forked worker processes, results in input order.

`llmgen validate` over hundreds of spec files spends about 1 ms a file after start-up, all of
it CPU; a CI runner with several cores can share that work. Forking (rather than starting
new interpreters) keeps the imports and caches the parent already paid for. A worker's
results come back pickled through a pipe; a worker that fails in any way (an exception, a
signal, output that does not unpickle) has its share done again in this process, so the
results are always the ones a sequential run gives. The parent does one share itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable
from functools import partial
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_forks(
    work: Callable[[list[Item]], list[Result]], items: list[Item], workers: int
) -> list[Result]:
    """`work(items)`, computed in `workers` processes (this one included), in input order."""
    # Every worker takes every n-th item, so slow and fast files spread evenly.
    shares = [items[index::workers] for index in range(workers)]
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for share in shares[1:]:
            children.append(_fork(work, share))
        done = [work(shares[0])]
        for index, (pid, reader) in enumerate(children, start=1):
            done.append(_collect(pid, reader, partial(work, shares[index])))
        children.clear()
    finally:
        for pid, reader in children:  # interrupted: stop and reap the workers this call made
            os.close(reader)
            _stop(pid)
    results: list[Result] = [None] * len(items)  # type: ignore[list-item]
    for index, share_results in enumerate(done):
        results[index::workers] = share_results
    return results


def _fork(work: Callable[[list[Item]], list[Result]], share: list[Item]) -> tuple[int, int]:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: compute, send, and leave without running the parent's cleanup
        status = 1
        try:
            os.close(reader)
            with os.fdopen(writer, "wb") as stream:
                pickle.dump(work(share), stream, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return pid, reader


def _collect(pid: int, reader: int, again: Callable[[], list[Result]]) -> list[Result]:
    """The worker's results, or its share computed here when the worker did not deliver."""
    with os.fdopen(reader, "rb") as stream:
        payload = stream.read()  # read to the end before waiting: a full pipe blocks the worker
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            results: list[Result] = pickle.loads(payload)  # our own child's output
            return results
        except Exception:  # any damage means: do it here
            pass
    return again()


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
