"""A verifier worker process, `python -m rewards.worker <socket fd> <parent pid>`, started by
VerifierPool.

It warms the verifiers up, says "ready", then answers batches of (index, dataset, ground_truth, response) with one
(index, score, error) reply per item, in order, until it is told to stop or its parent goes away.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import sys
from multiprocessing.connection import Connection

from rewards.registry import score_item, warm_up

MEMORY_MB = 4096  # address-space cap: a runaway sympy computation gets MemoryError instead of the OOM killer
_MAX_ERROR_CHARS = 500
_PR_SET_PDEATHSIG = 1


def main(fd: int, parent_pid: int) -> None:
    # A hung verification never reads the socket: make sure the worker still dies with its parent.
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_MB << 20, MEMORY_MB << 20))
    conn = Connection(socket.socket(fileno=fd).detach())
    warm_up()
    conn.send("ready")
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        for index, dataset, ground_truth, response, question in batch:
            try:
                score = score_item(dataset, ground_truth, response, question=question)
                reply = (index, min(1.0, max(0.0, float(score))), None)
            except Exception as error:  # malformed ground truth, or a verifier bug: this row's problem only
                reply = (index, 0.0, f"{type(error).__name__}: {error}"[:_MAX_ERROR_CHARS])
            conn.send(reply)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
