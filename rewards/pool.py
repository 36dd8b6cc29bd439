"""VerifierPool: scores rows in long-lived worker processes, each verification under a hard timeout.

Work goes to the workers in batches (one message per batch, a reply per item), so the per-item cost is a few tens
of microseconds of IPC. The parent knows which item of a batch each worker is on (replies come in order) and gives
every item its own deadline; a worker that overruns is killed (whatever it runs, from any thread: no signals in
workers, no cooperation needed), its item scores 0 as timed out, the rest of its batch is resubmitted, and a fresh
worker replaces it. A worker that dies marks its item as an error the same way.

Workers are fresh interpreters (`python -m rewards.worker`), not forks: nothing of the caller (a training
process's threads, CUDA state, its __main__) is copied or re-imported. They start warming up when the pool is made.
"""

from __future__ import annotations

import atexit
import collections
import math
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from rewards.registry import row_error, row_truncated

DEFAULT_TIMEOUT_S = 10.0
START_TIMEOUT_S = 120.0  # importing sympy & co. on a loaded machine
_ROOT = str(Path(__file__).resolve().parents[1])  # the repository root, which holds the `rewards` package


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    ready: bool = False  # warmed up and said so
    batch: collections.deque = field(default_factory=collections.deque)  # indices sent and not answered, in order
    deadline: float = 0.0  # of the current item; while starting, of the start


def default_workers() -> int:
    """One verifier process per CPU this process may use, shared among the training processes of this node: under
    `accelerate launch` every local rank starts a pool, and 8 ranks x 96 CPUs of workers would overcommit the node."""
    ranks_on_this_node = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    return max(1, len(os.sched_getaffinity(0)) // ranks_on_this_node)


class VerifierPool:
    """Long-lived pool of verifier processes. Use as a context manager or call close().

    `score_rows(rows)` returns new dicts: each row plus `score` (0..1) and, when relevant, `error` (malformed row or
    verifier failure) or `timed_out: true`. Rows marked `truncated` (or `finish_reason: "length"`) score 0 without
    being verified. `stats` counts rows, timeouts, errors, truncated rows and worker restarts over the pool's life.
    Calls may come from any thread (they are serialised).
    """

    def __init__(self, num_workers: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, max_batch: int = 32):
        self.num_workers = num_workers or default_workers()
        self.timeout_s = timeout_s
        self.max_batch = max_batch
        self.stats = collections.Counter(rows=0, timeouts=0, errors=0, truncated=0, worker_restarts=0)
        self._lock = threading.Lock()
        self._workers = [self._spawn() for _ in range(self.num_workers)]

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for worker in self._workers:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
            for worker in self._workers:
                try:
                    worker.process.wait(timeout=2 if worker.ready else 0)
                except subprocess.TimeoutExpired:  # still warming up, or stuck
                    worker.process.kill()
                    worker.process.wait()
                worker.conn.close()
            self._workers = []

    def score_rows(self, rows, on_result=None) -> list[dict]:
        """Score rows (in order). `on_result(index, result_row)` is called as each one completes (progress bars)."""
        rows = list(rows)
        results: list[dict | None] = [None] * len(rows)

        def finish(index, score, error=None, timed_out=False, truncated=False):
            row = rows[index]
            result = dict(row) if isinstance(row, dict) else {"input": row}
            result["score"] = score
            if error is not None:
                result["error"] = error
                self.stats["errors"] += 1
            if timed_out:
                result["timed_out"] = True
                self.stats["timeouts"] += 1
            self.stats["truncated"] += truncated
            self.stats["rows"] += 1
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        pending = collections.deque()
        for index, row in enumerate(rows):
            error = row_error(row)
            if error is not None:
                finish(index, 0.0, error=error)
            elif row_truncated(row):
                finish(index, 0.0, truncated=True)
            else:
                pending.append(index)
        if pending:
            with self._lock:
                if not self._workers:
                    raise RuntimeError("this VerifierPool is closed")
                self._run(rows, pending, finish)
        return results

    def _run(self, rows, pending: collections.deque, finish) -> None:
        idle = [worker for worker in self._workers if worker.ready]
        starting = [worker for worker in self._workers if not worker.ready]
        busy: list[_Worker] = []
        while pending or busy:
            while idle and pending:
                worker = idle.pop()
                size = min(self.max_batch, len(pending), math.ceil(len(pending) / (2 * self.num_workers)))
                batch = [pending.popleft() for _ in range(size)]
                items = [
                    (i, rows[i]["dataset"], rows[i]["ground_truth"], rows[i]["response"], rows[i].get("question"))
                    for i in batch
                ]
                try:
                    worker.conn.send(items)
                except OSError:  # a dead worker: the batch goes back, a new worker starts
                    pending.extendleft(reversed(batch))
                    starting.append(self._replace(worker))
                    continue
                worker.batch = collections.deque(batch)
                worker.deadline = time.monotonic() + self.timeout_s
                busy.append(worker)
            deadline = min(worker.deadline for worker in busy + starting)
            ready = wait([worker.conn for worker in busy + starting], timeout=max(0.0, deadline - time.monotonic()))
            for worker in list(starting):
                if worker.conn in ready:
                    self._check_started(worker)
                    starting.remove(worker)
                    idle.append(worker)
                elif time.monotonic() >= worker.deadline:
                    raise RuntimeError(f"a verifier worker did not start within {START_TIMEOUT_S:.0f}s")
            for worker in list(busy):
                alive = worker.conn not in ready or self._receive(worker, finish)
                if alive and not worker.batch:
                    busy.remove(worker)
                    idle.append(worker)
                    continue
                if alive and time.monotonic() < worker.deadline:
                    continue
                if alive:  # overran its item's deadline
                    finish(worker.batch.popleft(), 0.0, timed_out=True)
                else:
                    finish(worker.batch.popleft(), 0.0, error="verifier worker died")
                pending.extendleft(reversed(worker.batch))  # the rest of its batch is done by others
                busy.remove(worker)
                starting.append(self._replace(worker))

    def _receive(self, worker: _Worker, finish) -> bool:
        """Take every reply the worker has sent; False if it died."""
        try:
            while worker.batch and worker.conn.poll():
                index, score, error = worker.conn.recv()
                if index != worker.batch[0]:
                    raise RuntimeError(f"verifier worker answered item {index}, expected {worker.batch[0]}")
                worker.batch.popleft()
                finish(index, score, error=error)
                worker.deadline = time.monotonic() + self.timeout_s
        except (EOFError, OSError):
            return False
        return True

    def _check_started(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            message = None
        if message != "ready":  # an import error or the like: every replacement would fail the same way
            raise RuntimeError("a verifier worker failed to start (its error is on stderr)")
        worker.ready = True

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        python_path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _ROOT + (os.pathsep + python_path if python_path else "")}
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "rewards.worker", str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        return _Worker(process, Connection(ours.detach()), deadline=time.monotonic() + START_TIMEOUT_S)

    def _replace(self, worker: _Worker) -> _Worker:
        worker.process.kill()
        worker.process.wait()
        worker.conn.close()
        replacement = self._spawn()
        self._workers[self._workers.index(worker)] = replacement
        self.stats["worker_restarts"] += 1
        return replacement


_default_pool: VerifierPool | None = None
_default_lock = threading.Lock()


def default_pool() -> VerifierPool:
    """The process-wide pool behind score_row, started on first use and closed at exit."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = VerifierPool()
            atexit.register(_default_pool.close)
        return _default_pool


def score_row(row: dict) -> dict:
    """Score one row with the default pool (for many rows, call score_rows on a VerifierPool: it batches)."""
    return default_pool().score_rows([row])[0]
