"""Run untrusted Python code in a throwaway sandbox process and talk to it.

The inside is `_sandbox_child.py`; sandboxes are forked by a small launcher process started once per process.
`Sandbox` starts one, runs the model's code in it, then lets the verifier look up the names that code defined, call
them and read their results, one request at a time; only plain data comes back (other objects stay inside, known
by a handle). Everything the code must not see — the tests, the expected values — stays on this side. Closing the
sandbox kills its process group and waits until it is gone: with namespaces, until its PID 1 has exited (the kernel
has then killed everything in the namespace, and its private /tmp is gone); without, the directory it worked in is
removed here.

Two clocks: start-up (the launcher's fork, the namespaces, the fresh root) has STARTUP_TIMEOUT_S, and the model's
`timeout_s` starts when the sandbox reports its isolation, just before the code runs, so a slow machine does not spend
the code's time. A sandbox that fails before that report (it died, timed out starting, or said why it could not start)
never ran the model's code: it is started again, up to START_ATTEMPTS times, then SandboxUnavailable is raised — a
fault of this machine, never a score of 0 for the code.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHILD = str(Path(__file__).with_name("_sandbox_child.py"))
STARTUP_TIMEOUT_S = 30.0  # a healthy machine takes ~0.01 s (median of 200 here), a loaded one can take seconds
START_ATTEMPTS = 3
MAX_REPLY_BYTES = 16 << 20  # a reply longer than this cuts the sandbox off (its remaining tests fail)
ISOLATION_VARIABLE = "SANDBOX_ISOLATION"  # "process" forces process isolation (tests; machines that refuse namespaces)
PROCESS_ISOLATION_WARNING = (
    "code sandbox: process isolation ({reason}): the model's code runs as this user with the host's files in view; "
    "only a Python audit hook stands between it and reading them (datasets and their answers included) or writing "
    "outside its directory (processes, signals and sockets stay refused by the kernel). Enable unprivileged user "
    "namespaces (sysctl kernel.unprivileged_userns_clone=1) or run as root."
)


logger = logging.getLogger(__name__)


class SandboxError(Exception):
    """The sandbox cannot answer: it timed out, died, sent too much or something malformed."""


class SandboxUnavailable(SandboxError):
    """No sandbox could be started, START_ATTEMPTS times: the model's code never ran."""


class Sandbox:
    """One sandboxed run of `setup` then `code`. Use as a context manager; `ready` tells whether the code ran.

    `namespaces`/`audit_hook` exist so the tests can check each layer of defence on its own, `user_namespace`
    so that they can take, as root, the path a non-root trainer takes (namespaces inside a user namespace), and
    `init_report_delay_s` so that they can delay the report of PID 1's pid as a loaded machine does."""

    def __init__(
        self,
        code: str,
        *,
        setup: str = "",
        timeout_s: float = 3.0,
        memory_mb: int = 1024,
        max_processes: int = 16,
        namespaces: bool = True,
        audit_hook: bool = True,
        user_namespace: bool = False,
        init_report_delay_s: float = 0.0,
    ):
        self._forced = _isolation_wanted() == "process"  # read once: the environment may change meanwhile
        namespaces = namespaces and not self._forced
        self._timeout_s = timeout_s
        self._namespaces_wanted = namespaces
        self.on_callback = None  # answers the sandbox's callbacks (calls of the tests' own objects) while it works
        self.startup_failures: list[str] = []  # why each earlier start failed (the code had not run)
        self.pid: int | None = None
        job = {
            "code": code,
            "setup": setup,
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "max_processes": max_processes,
            "namespaces": namespaces,
            "audit_hook": audit_hook,
            "user_namespace": user_namespace,
            "init_report_delay_s": init_report_delay_s,
        }
        for attempt in range(1, START_ATTEMPTS + 1):
            self._launch(job)
            self._start()
            if self.started:
                return
            self.startup_failures.append(self.startup_failure)
            logger.warning("code sandbox: start %d of %d failed: %s", attempt, START_ATTEMPTS, self.startup_failure)
            self.close()
            time.sleep(0.1 * attempt)  # a passing shortage (memory, processes) may be over by then
        reasons = "; ".join(dict.fromkeys(self.startup_failures))
        raise SandboxUnavailable(f"no sandbox started in {START_ATTEMPTS} attempts: {reasons}")

    def _launch(self, job: dict) -> None:
        """Fork a sandbox through the launcher and send it the job; its start-up clock starts now."""
        self._launched_at = time.monotonic()
        self.deadline = self._launched_at + STARTUP_TIMEOUT_S  # until `started`; then the code's own deadline
        self.started = False  # the sandbox reported its isolation: what follows is the model's code
        self.startup_failure = ""
        self.isolation: str | None = None  # "namespaces", "user-namespace" or "process"
        self.workdir: str | None = None  # the host directory a "process" sandbox worked in (removed afterwards)
        self.code_raised: str | None = None  # exception type name when the model code itself failed
        self.names: set[str] = set()  # the names the setup and the model's code defined (once ready)
        self.ready = False
        self.timed_out = False
        self._buffer = b""
        self._init_pidfd: int | None = None  # the sandbox's PID 1, when it has its own pid namespace
        self._broken = False
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            launcher = launcher_process()
            try:
                self.pid = launcher.start(request_read, reply_write)
            except (OSError, ValueError):  # the launcher died or hangs: start another once
                launcher = launcher_process(restart=True)
                self.pid = launcher.start(request_read, reply_write)
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._launcher = launcher
        self._requests = request_write
        self._replies = reply_read
        try:
            self._send(job)
        except SandboxError:
            pass  # it died at once: _start reads the end of its output and leaves `ready` false

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        """Read the reports that come before the first request: PID 1, isolation, and whether the code ran; or,
        before the code ran, why the sandbox could not start (`startup_failure`)."""
        try:
            while not self.ready and self.code_raised is None:
                record = self._receive()
                if not self.started and "start_failed" in record:
                    self.startup_failure = f"the sandbox could not start: {str(record['start_failed'])[:500]}"
                    return
                if "init" in record and self._init_pidfd is None and self.isolation is None:
                    # Written by the launcher's child before any model code exists. The launcher is alive and has
                    # not reaped it yet, so the pid cannot have been reused.
                    self._init_pidfd = os.pidfd_open(int(record["init"]))
                elif "isolation" in record and self.isolation is None:
                    self.started = True
                    self._started_at = time.monotonic()
                    self.deadline = self._started_at + self._timeout_s
                    self.isolation = str(record["isolation"])
                    workdir = os.path.realpath(str(record["workdir"]))
                    if self.isolation == "process":
                        if self._namespaces_wanted or self._forced:
                            _warn_once(self._forced)
                        if _is_sandbox_dir(workdir):
                            self.workdir = workdir
                elif "code_raised" in record:
                    self.code_raised = str(record["code_raised"])
                elif record.get("ready") is True:
                    self.ready = True
                    names = record.get("names")
                    self.names = {n for n in names if type(n) is str} if type(names) is list else set()
        except SandboxError as error:
            self.ready = False
            if not self.started:
                self.startup_failure = f"{error} before its code ran"

    def request(self, request: dict) -> dict:
        """Send one request (see _sandbox_child.py) and return its reply record ({"value": ...} or {"raised": ...}).
        Callbacks the sandbox makes meanwhile go to `on_callback`, whose answers go back to it. Raises SandboxError
        when the sandbox cannot answer."""
        if not self.ready or self._broken:
            raise SandboxError("the sandbox is not running")
        try:
            self._send(request)
            while True:
                reply = self._receive()
                if "callback" in reply and self.on_callback is not None:
                    self._send(self.on_callback(reply))
                    continue
                if "value" in reply or "raised" in reply:
                    return reply
                raise SandboxError("malformed reply")
        except BaseException:
            self._broken = True  # interrupted halfway (a time limit, an error): its reply would answer the next
            raise

    def abandon(self) -> None:
        """Answer no further request: the last reply made no sense, so the conversation can no longer be trusted."""
        self._broken = True

    def _send(self, message: dict) -> None:
        try:
            os.write(self._requests, (json.dumps(message) + "\n").encode())
        except OSError:
            self._broken = True
            raise SandboxError("the sandbox is gone") from None

    def _receive(self) -> dict:
        """The next reply line, as a dict; SandboxError at the deadline, at end of file or past the length cap."""
        chunks, size = [self._buffer], len(self._buffer)
        while b"\n" not in chunks[-1]:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self._broken = True
                self.timed_out = self.started
                raise SandboxError("timed out" if self.started else f"start-up took over {STARTUP_TIMEOUT_S:g} s")
            ready, _, _ = select.select([self._replies], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 16)
            size += len(chunk)
            if not chunk or size > MAX_REPLY_BYTES:
                self._broken = True
                raise SandboxError("the sandbox ended" if not chunk else "the sandbox sent too long a reply")
            chunks.append(chunk)
        line, _, self._buffer = b"".join(chunks).partition(b"\n")
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            self._broken = True
            raise SandboxError("malformed reply")
        return record

    def close(self) -> None:
        """Kill the sandbox and return once every process of it is gone."""
        if self.pid is None:
            return
        if logger.isEnabledFor(logging.DEBUG):  # the account a failed test shows: which phase took the time
            started = f"started in {self._started_at - self._launched_at:.2f} s" if self.started else "never started"
            logger.debug(
                "sandbox %d (%s): %s, closed %.2f s after that; ready=%s, timed out=%s, code raised=%s",
                self.pid,
                self.isolation,
                started,
                time.monotonic() - (self._started_at if self.started else self._launched_at),
                self.ready,
                self.timed_out,
                self.code_raised,
            )
        for kill in (os.killpg, os.kill):  # its group; and itself, stopped before it could make that group
            try:
                kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._init_pidfd is not None:
            try:
                select.select([self._init_pidfd], [], [], 10.0)
            finally:
                os.close(self._init_pidfd)
        self._launcher.reap(self.pid)
        os.close(self._requests)
        os.close(self._replies)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.pid = None


def _isolation_wanted() -> str:
    value = os.environ.get(ISOLATION_VARIABLE, "") or "auto"
    if value not in ("auto", "process"):
        raise ValueError(f"{ISOLATION_VARIABLE}={value!r}: expected 'process' (or unset: namespaces when possible)")
    return value


_warned = False


def _warn_once(forced: bool) -> None:
    """Once per process, on stderr: not a `warnings` warning, which filters may hide."""
    global _warned
    if not _warned:
        _warned = True
        reason = f"{ISOLATION_VARIABLE}=process" if forced else "not root, and user namespaces are refused here"
        print(f"WARNING: {PROCESS_ISOLATION_WARNING.format(reason=reason)}", file=sys.stderr, flush=True)


class _Launcher:
    """The process that forks the sandboxes (see _sandbox_child.py): started once, it spares each sandbox a Python
    start-up. It never holds test data: requests reach the sandbox through a pipe only the sandbox reads."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-I", CHILD, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd="/",
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": tempfile.gettempdir()},
            )
        self.control = ours
        self.lock = threading.Lock()

    def start(self, request_fd: int, reply_fd: int) -> int:
        """Fork a sandbox that reads requests from `request_fd` and replies on `reply_fd`; its pid (= process group)."""
        with self.lock:
            self.control.settimeout(STARTUP_TIMEOUT_S)
            socket.send_fds(self.control, [b"run"], [request_fd, reply_fd])
            return int(self.control.recv(64))  # a hung launcher: socket.timeout, and another is started

    def reap(self, pid: int) -> None:
        """Let the launcher collect the (killed) sandbox: until then its pid cannot be reused."""
        with self.lock:
            try:
                self.control.send(f"reap {pid}".encode())
                self.control.recv(64)
            except OSError:
                pass  # the launcher is gone, and its sandboxes died with it


_launcher_instance: _Launcher | None = None
_launcher_lock = threading.Lock()


def launcher_process(restart: bool = False) -> _Launcher:
    """This process's launcher, started on first use (the pool's workers start it while warming up)."""
    global _launcher_instance
    with _launcher_lock:
        if restart or _launcher_instance is None or _launcher_instance.process.poll() is not None:
            if _launcher_instance is not None:
                _launcher_instance.process.kill()
                _launcher_instance.process.wait()
                _launcher_instance.control.close()
            _launcher_instance = _Launcher()
        return _launcher_instance


def _is_sandbox_dir(path: str) -> bool:
    """Only ever delete what the child created: a direct sandbox-* child of the temporary directory."""
    parent, name = os.path.split(path)
    return parent == os.path.realpath(tempfile.gettempdir()) and name.startswith("sandbox-")
