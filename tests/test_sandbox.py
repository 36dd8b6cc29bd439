"""The code sandbox against a model trying to cheat or to damage the machine.

Every attack really runs. Each must score 0 on tests it does not truly pass, finish within its time limit, and leave
no process of the sandbox user and no file behind. The attacks are run against each layer: all defences; the
kernel-level ones alone (namespaces and fresh root, the unprivileged user, seccomp, rlimits: no audit hook); the path
a non-root trainer takes (namespaces inside a user namespace); and process isolation (no namespaces: the audit hook
and seccomp), where the attack must still do no harm.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers import assert_within

from rewards import code_exec
from rewards import sandbox as sandbox_module
from rewards._sandbox_child import NOBODY, _audit_hook
from rewards.sandbox import Sandbox, SandboxUnavailable

IS_ROOT = os.geteuid() == 0
FULL = {}  # all defences
KERNEL_ONLY = {"audit_hook": False}
USER_NAMESPACE = {"user_namespace": True}  # the path a non-root trainer takes: namespaces through a user namespace
HOOK_ONLY = {"namespaces": False}
LAYERS = [
    pytest.param(FULL, id="all-defences"),
    pytest.param(KERNEL_ONLY, id="kernel-only"),
    pytest.param(USER_NAMESPACE, id="user-namespace"),
    pytest.param(HOOK_ONLY, id="no-namespaces"),
]
NAMESPACED = [
    pytest.param(FULL, id="all-defences"),
    pytest.param(KERNEL_ONLY, id="kernel-only"),
    pytest.param(USER_NAMESPACE, id="user-namespace"),
]


def _sandbox_user_processes() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            if int(uid_line.split()[1]) == NOBODY:
                pids.append(int(entry.name))
    return pids


def _sandbox_dirs() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("sandbox-")}


def _lingering(appeared: set, current, grace_s: float = 10.0) -> set:
    """What appeared during a test and is still there after a grace period. Sandboxes that other tests run at the
    same time (pytest-xdist) are short-lived and go; a leaked process or directory stays."""
    deadline = time.monotonic() + grace_s
    while appeared & current() and time.monotonic() < deadline:
        time.sleep(0.05)
    return appeared & current()


@pytest.fixture
def public_dir():
    """A world-readable directory whose every ancestor others may enter (pytest's tmp_path sits under a 0700 one:
    there, file permissions alone would keep the nobody user out and an attack test would prove nothing)."""
    path = Path(tempfile.mkdtemp(prefix="public-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def leaves_machine_clean():
    processes_before, dirs_before = set(_sandbox_user_processes()), _sandbox_dirs()
    yield
    new_processes = set(_sandbox_user_processes()) - processes_before
    assert not _lingering(new_processes, lambda: set(_sandbox_user_processes())), "a sandboxed process outlived its run"
    assert not _lingering(_sandbox_dirs() - dirs_before, _sandbox_dirs), "a sandbox directory was left behind"


def score(code: str, tests: list[str], timeout_s: float = 2.0, setup: str = "", **options) -> tuple[float, float]:
    """(score, seconds) of `code` as a response."""
    compile(code, "attack", "exec")  # an attack that does not even parse would "fail" for the wrong reason
    truth = {"tests": tests, "timeout_s": timeout_s, "setup": setup}
    start = time.monotonic()
    result = code_exec.verify(f"```python\n{code}\n```", truth, **options)
    return result, time.monotonic() - start


def code_of(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def naive_score(code: str, tests: list[str]) -> float:
    """What a naive grader gives: run code + test as one script, a test passes if the script exits with 0. The
    cheating tests below check that their cheat works there, so that a 0 from our sandbox means something."""
    passed = 0
    for test in tests:
        run = subprocess.run([sys.executable, "-c", code + "\n" + test], capture_output=True, timeout=30)
        passed += run.returncode == 0
    return passed / len(tests)


DOUBLE = "def f(x):\n    return 2 * x\n"
DOUBLE_TESTS = ["assert f(1) == 2", "assert f(21) == 42", "assert f(-3) == -6"]


# ---------------------------------------------------------------------------------------------------------------
# Honest code scores what it earns


def test_correct_code_passes_every_test():
    assert score(DOUBLE, DOUBLE_TESTS)[0] == 1.0


def test_partly_correct_code_gets_the_fraction_it_passes():
    code = "def f(x):\n    return 2 * x if x > 0 else 0\n"
    assert score(code, DOUBLE_TESTS)[0] == pytest.approx(2 / 3)


def test_wrong_code_scores_zero():
    assert score("def f(x):\n    return x * 3\n", DOUBLE_TESTS)[0] == 0.0


@pytest.mark.parametrize("options", LAYERS)
def test_each_isolation_mode_runs_honest_code(options):
    if options in (FULL, KERNEL_ONLY) and not IS_ROOT:
        pytest.skip("the nobody user needs root")
    with Sandbox(DOUBLE + "DATA = (1, 2.5, {'k': {3}}, None)\n", **options) as sandbox:
        assert sandbox.ready
        session = code_exec.Session(sandbox, code_exec.plan_tests(["f"], "").clean_namespace)
        f = session.ask({"name": "f"})
        assert f(4) == 8
        assert f(x="ab") == "abab"
        with pytest.raises(TypeError):
            f()
        assert session.ask({"name": "DATA"}) == (1, 2.5, {"k": {3}}, None)
        with pytest.raises(NameError):
            session.ask({"name": "print"})  # builtins are never the model's
    expected = {id(HOOK_ONLY): "process", id(USER_NAMESPACE): "user-namespace"}.get(id(options), "namespaces")
    assert sandbox.isolation == expected


def test_code_may_use_its_own_scratch_directory():
    code = code_of("""
    with open("scratch.txt", "w") as handle:
        handle.write("hello")
    def f():
        return open("scratch.txt").read()
    """)
    assert score(code, ["assert f() == 'hello'"])[0] == 1.0


def test_setup_and_statement_tests_and_classes():
    code = code_of("""
    class Stack:
        def __init__(self):
            self.items = []
        def push(self, x):
            self.items.append(x)
        def pop(self):
            return self.items.pop()
    """)
    tests = [
        "s = Stack()\ns.push(1)\ns.push(2)\nassert s.pop() == 2",
        "assert all(Stack().items == [] for _ in range(2))",
        "s = Stack()\ns.push(3)\nassert s.pop() == 4",
    ]
    assert score(code, tests, setup="from typing import List")[0] == pytest.approx(2 / 3)


@pytest.mark.timing
def test_tests_that_hang_after_others_passed_keep_the_passes():
    code = "def f(x):\n    while x > 5:\n        pass\n    return 2 * x\n"
    result, seconds = score(code, ["assert f(1) == 2", "assert f(9) == 18"], timeout_s=1.0)
    assert result == 0.5
    assert_within(seconds, 3)


# ---------------------------------------------------------------------------------------------------------------
# The attacks


@pytest.mark.timing
def test_infinite_loop_times_out():
    result, seconds = score("while True:\n    pass\n" + DOUBLE, DOUBLE_TESTS, timeout_s=1.0)
    assert result == 0.0
    assert_within(seconds, 3)


@pytest.mark.timing
def test_sleeping_forever_times_out():
    result, seconds = score("import time\ntime.sleep(3600)\n" + DOUBLE, DOUBLE_TESTS, timeout_s=1.0)
    assert result == 0.0
    assert_within(seconds, 3)


@pytest.mark.timing
@pytest.mark.parametrize("options", [FULL, KERNEL_ONLY], ids=["all-defences", "kernel-only"])
def test_fork_bomb(options):
    if not IS_ROOT:
        pytest.skip("the kernel-level defences need root")
    code = (
        code_of("""
    import os
    while True:
        try:
            os.fork()
        except Exception:
            pass
    """)
        + DOUBLE
    )
    result, seconds = score(code, DOUBLE_TESTS, timeout_s=1.5, **options)
    assert result == 0.0
    assert_within(seconds, 4)


@pytest.mark.timing
@pytest.mark.parametrize("options", LAYERS)
def test_daemonised_process_does_not_survive(options):
    """Correct code that leaves a detached process behind: the tests pass, the process must still die."""
    if options is not HOOK_ONLY and not IS_ROOT:
        pytest.skip("namespaces need root")
    code = (
        code_of("""
    import os, time
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(3600)
            os._exit(0)
    except PermissionError:
        pass
    """)
        + DOUBLE
    )
    result, seconds = score(code, DOUBLE_TESTS, **options)
    assert result == 1.0
    assert_within(seconds, 3)


@pytest.mark.timing
@pytest.mark.parametrize("options", [FULL, KERNEL_ONLY], ids=["all-defences", "kernel-only"])
@pytest.mark.parametrize("bomb", ["x = bytearray(50 * 2**30)", "x = []\nwhile True:\n    x.append(' ' * 2**24)"])
def test_memory_bomb(bomb, options):
    result, seconds = score(bomb + "\n" + DOUBLE, DOUBLE_TESTS, timeout_s=3.0, **options)
    assert result == 0.0
    assert_within(seconds, 5)


def test_memory_is_capped():
    # A 256 MiB cap, not the default 1 GiB: the same rlimit, a quarter of the memory to fill beside the other tests
    # (test_memory_bomb fills the default cap in the timing tier, one test at a time). The clock is generous: filling
    # memory on a loaded machine is slow, and the cap is what is checked here.
    code = code_of("""
    held = []
    try:
        while True:
            held.append(bytearray(2**24))
    except MemoryError:
        reached_mib = 16 * len(held)
        held.clear()
    def f():
        return reached_mib
    """)
    assert score(code, ["assert 0 < f() <= 256"], timeout_s=20.0, memory_mb=256)[0] == 1.0


# --- Faults of the machine, not of the code: a sandbox that fails before the code runs is started again ---


def launcher_that(monkeypatch, act, times: int) -> None:
    """The launcher's next `times` sandboxes meet `act(pid)` as soon as they are forked: before they have read their
    job, so before any of the model's code exists in them."""
    original = sandbox_module._Launcher.start
    remaining = [times]

    def start(self, request_fd, reply_fd):
        pid = original(self, request_fd, reply_fd)
        if remaining[0] > 0:
            remaining[0] -= 1
            act(pid)
        return pid

    monkeypatch.setattr(sandbox_module._Launcher, "start", start)


def killed(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer or an operator would


def test_a_sandbox_killed_before_its_code_ran_is_started_again(monkeypatch, caplog):
    launcher_that(monkeypatch, killed, times=sandbox_module.START_ATTEMPTS - 1)
    assert score(DOUBLE, DOUBLE_TESTS)[0] == 1.0
    assert caplog.text.count("failed: the sandbox ended before its code ran") == 3 - 1


def test_a_slow_start_does_not_spend_the_codes_time(monkeypatch):
    def stalled(pid):  # a machine too busy to schedule it for a while
        os.kill(pid, signal.SIGSTOP)
        threading.Timer(3.0, os.kill, (pid, signal.SIGCONT)).start()

    launcher_that(monkeypatch, stalled, times=1)
    result, seconds = score(DOUBLE, DOUBLE_TESTS, timeout_s=2.0)
    assert result == 1.0
    assert seconds >= 3.0


@pytest.mark.parametrize("options", NAMESPACED)
def test_honest_code_scores_in_full_when_pid_1s_pid_is_reported_late(options):
    """The sandbox's outer process reports PID 1's pid after forking it. On a loaded machine it was descheduled
    there: PID 1's own reports went first, the late record answered the verifier's first request, and every test
    failed (HumanEval's canonical solutions scored 0 now and then under `make test`). PID 1 now waits for the report."""
    if options is not USER_NAMESPACE and not IS_ROOT:
        pytest.skip("namespaces need root")
    slow_double = "import time\n\ndef f(x):\n    time.sleep(0.2)\n    return 2 * x\n"  # the report lands mid-test
    assert score(slow_double, DOUBLE_TESTS, timeout_s=5.0, init_report_delay_s=0.3, **options)[0] == 1.0


def test_a_sandbox_stalled_at_start_is_killed_and_another_started(monkeypatch, caplog):
    monkeypatch.setattr(sandbox_module, "STARTUP_TIMEOUT_S", 2.0)
    launcher_that(monkeypatch, lambda pid: os.kill(pid, signal.SIGSTOP), times=1)  # before it made its process group
    assert score(DOUBLE, DOUBLE_TESTS, timeout_s=5.0)[0] == 1.0
    assert "failed: start-up took over 2 s before its code ran" in caplog.text


def test_a_sandbox_that_never_starts_is_an_error_not_a_score_of_zero(monkeypatch):
    launcher_that(monkeypatch, killed, times=sandbox_module.START_ATTEMPTS)
    with pytest.raises(SandboxUnavailable, match="ended before its code ran"):
        score(DOUBLE, DOUBLE_TESTS)


def test_a_sandbox_says_why_it_could_not_start():
    with pytest.raises(SandboxUnavailable, match=r"could not start: ValueError: .*limit"):
        Sandbox(DOUBLE, max_processes=-5)  # the runner cannot set this rlimit, before the code would run


def test_a_record_the_code_writes_cannot_fake_a_failed_start():
    code = code_of("""
    import os
    for fd in range(3, 64):
        try:
            os.write(fd, b'{"start_failed": "fake"}\\n')
        except OSError:
            pass
    def f(x):
        return 0
    """)
    with Sandbox(code) as sandbox:  # read as a start failure, it would end the conversation and start it again
        assert sandbox.ready and "f" in sandbox.names
        assert not sandbox.startup_failures


@pytest.mark.timing
@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit"])
def test_exiting_before_the_tests(exit_call):
    code = "def f(x):\n    return 0\n" + exit_call + "\n"
    assert naive_score(code, DOUBLE_TESTS) == 1.0
    result, seconds = score(code, DOUBLE_TESTS)
    assert result == 0.0
    assert_within(seconds, 3)


def test_exiting_from_inside_the_tested_function():
    assert score("import os\ndef f(x):\n    os._exit(0)\n", DOUBLE_TESTS)[0] == 0.0


def test_overriding_builtins_and_assertion_error():
    code = code_of("""
    import builtins
    class Never(Exception):
        pass
    builtins.AssertionError = Never
    builtins.abs = lambda x: 0
    builtins.len = lambda x: 3
    builtins.all = lambda x: True
    builtins.sorted = lambda x: [1, 2]
    isinstance = lambda *args: True
    def f(x):
        return 0
    """)
    tests = [
        "assert abs(f(2) - 4) < 1e-9",
        "assert len(f(1)) == 3",
        "assert sorted(f(3)) == [1, 2]",
        "assert isinstance(f(1), list)",
        "x = f(2)\nassert abs(x - 4) < 1e-9",
        "assert all(f(i) == 2 * i for i in range(3))",
    ]
    assert naive_score(code, tests) == 1.0
    assert score(code, tests)[0] == 0.0


def test_rigged_equality_cannot_cross():
    code = code_of("""
    class Anything:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        def __bool__(self):
            return True
        def __sub__(self, other):
            return 0.0
        __hash__ = object.__hash__
    def f(x):
        return Anything()
    class int_(int):
        def __eq__(self, other):
            return True
    def g(x):
        return int_(0)
    """)
    tests = [
        "assert f(1) == 2",
        "assert abs(f(2) - 4) < 1e-6",
        "r = f(1)\nassert r == 2",
        "assert all(f(x) == 2 * x for x in range(3))",
        "assert g(1) == 2",
        "r = g(1)\nassert r == 2",
    ]
    assert naive_score(code, tests) == 1.0
    assert score(code, tests)[0] == 0.0


def test_printing_fake_success_and_forging_reports():
    """The code prints success and writes fake replies on every descriptor it can find: at most they claim values
    of its own function, and the tests compare those with what they expect."""
    code = code_of("""
    import os, sys
    print("All tests passed!")
    sys.stderr.write("OK\\n")
    fake = b'{"ready": true}\\n{"value": 0}\\n{"value": true}\\n'
    for fd in range(64):
        try:
            os.write(fd, fake)
        except OSError:
            pass
    def f(x):
        return 0
    """)
    assert score(code, ["y = f(1)\nassert y == 2", "assert f(1) == 2"])[0] == 0.0


@pytest.mark.parametrize("options", LAYERS)
def test_writing_and_deleting_files_outside_the_sandbox(public_dir, options):
    if options is not HOOK_ONLY and not IS_ROOT:
        pytest.skip("namespaces need root")
    tmp_path = public_dir
    tmp_path.chmod(0o777)  # only the sandbox stands between the code and this directory
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o666)
    code = (
        code_of(f"""
    import os, shutil
    for action in (lambda: os.remove({str(victim)!r}), lambda: open({str(victim)!r}, "w").write("pwned"),
                   lambda: open({str(tmp_path / "new.txt")!r}, "w").write("pwned"),
                   lambda: shutil.rmtree({str(tmp_path)!r}), lambda: open("/etc/pwned", "w"),
                   lambda: open({str(Path.cwd() / "pwned")!r}, "w")):
        try:
            action()
        except Exception:
            pass
    """)
        + DOUBLE
    )
    score(code, DOUBLE_TESTS, **options)
    assert victim.read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["victim.txt"]
    assert not Path("/etc/pwned").exists() and not (Path.cwd() / "pwned").exists()


@contextlib.contextmanager
def _listener(wait_s: float):
    """A TCP listener on 127.0.0.1 that accepts one connection for `wait_s` seconds: (its port, what it accepted)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(wait_s)
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        thread.join()
        server.close()


@pytest.mark.parametrize("options", [FULL, KERNEL_ONLY], ids=["all-defences", "kernel-only"])
def test_no_network(options):
    if not IS_ROOT:
        pytest.skip("namespaces need root")
    with _listener(0.5) as (port, accepted):
        code = code_of(f"""
        import socket
        def f():
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
                return "connected"
            except OSError:
                return "blocked"
        """)
        result, _ = score(code, ["assert f() == 'connected'", "assert f() == 'blocked'"], **options)
    assert result == 0.5  # the code ran, its connection was refused
    assert accepted == []


def test_audit_hook_policy(tmp_path):
    """The hook is the only defence of these kinds without namespaces (not root); checked on its own here."""
    hook = _audit_hook(str(tmp_path), ("/opt/python/lib",))
    for event, args in [
        ("socket.__new__", (None, 2, 1, 0)),
        ("socket.connect", (None, ("1.1.1.1", 80))),
        ("os.fork", ()),
        ("subprocess.Popen", ("sh", [], None, None)),
        ("os.kill", (1, 9)),
        ("ctypes.dlopen", ("libc.so.6",)),
        ("import", ("_ctypes", None, [], [], [])),
        ("open", ("/etc/passwd", "w", 0)),
        ("open", ("../escape", "a", 0)),
        ("open", ("/tmp/x", None, os.O_WRONLY | os.O_CREAT)),
        ("os.remove", ("/etc/hosts", -1)),
        ("open", (str(tmp_path / "sub" / ".." / ".." / "x"), "w", 0)),
        ("open", ("/etc", None, os.O_RDONLY)),  # a directory descriptor would serve dir_fd calls
        ("open", ("/etc/passwd", "r", 0)),
        ("open", ("/data/rlvr_train.jsonl", None, os.O_RDONLY)),
        ("open", ("/opt/python/lib/../../answers.jsonl", "r", 0)),
        ("open", ("/opt/python/library/answers.jsonl", "r", 0)),
        ("os.rename", ("inside", "/outside", -1, -1)),
        ("shutil.rmtree", ("/work", None)),
        ("os.chdir", ("/",)),
        ("os.chdir", (3,)),  # fchdir: a descriptor cannot be judged
        ("object.__setattr__", (hook, "__code__", None)),
        ("object.__setattr__", (hook, "__defaults__", ())),
        ("object.__setattr__", (code_exec.verify, "__code__", None)),
    ]:
        with pytest.raises((PermissionError, ImportError)):
            hook(event, args)
    for event, args in [
        ("open", ("/opt/python/lib/json/__init__.py", "rb", 0)),
        ("open", (str(tmp_path / "x"), "w", 0)),
        ("open", (str(tmp_path / "x"), "r", 0)),
        ("open", ("relative.txt", "r", 0)),
        ("open", ("relative.txt", "w", 0)),
        ("os.remove", (str(tmp_path / "x"), -1)),
        ("import", ("json", None, [], [], [])),
        ("open", (3, "w", 0)),
        ("os.mkdir", ("x", 0o777, -1)),
        ("object.__setattr__", (code_exec.verify, "__defaults__", ())),
    ]:  # namedtuple does this
        hook(event, args)


def test_the_sandbox_never_sees_expected_values():
    """The code searches everything it can reach for the expected value (memory, files, fds, /proc, environment)."""
    secret = "9182736455"
    code = code_of(f"""
    import gc, os, re, stat, sys
    def search():
        haystacks = [repr(o) for o in gc.get_objects() if isinstance(o, (dict, list, tuple))]
        haystacks += [repr(sys.argv), repr(dict(os.environ))]
        paths = ["/proc/self/cmdline", "/proc/self/environ", "/proc/1/cmdline", "/proc/1/environ"]
        for root in (".", "/tmp", "/dev/shm", "/var/tmp"):
            paths += [os.path.join(path, name) for path, _, files in os.walk(root) for name in files]
        for path in paths:
            try:
                if stat.S_ISREG(os.stat(path).st_mode):
                    with open(path, "rb") as handle:
                        haystacks.append(handle.read(1 << 20).decode("latin-1"))
            except Exception:
                pass
        for fd in range(3, 64):  # whatever descriptors were inherited
            try:
                os.set_blocking(fd, False)
                haystacks.append(os.read(fd, 1 << 20).decode("latin-1"))
            except Exception:
                pass
            try:
                os.set_blocking(fd, True)
            except Exception:
                pass
        for text in haystacks:
            match = re.search(r"{secret[:4]}\\d{{{len(secret) - 4}}}", text)
            if match:
                return int(match.group(0))
        return 0
    found = search()
    def f(x):
        return found
    """)
    tests = [
        f"assert f(0) == {secret}",
        f"x = f(0)\nassert x == {secret}",
        f"def check(candidate):\n    for i in range(2):\n        assert candidate(i) == {secret}\ncheck(f)",
    ]
    assert score(code, tests)[0] == 0.0
    # The search itself works: where the value does sit in the sandbox's memory, it finds it.
    assert score(f"planted = [{secret}]\n" + code, tests)[0] == 1.0


def test_exceptions_in_finalizers_and_atexit():
    noisy = code_of("""
    import atexit, os
    atexit.register(lambda: os._exit(0))
    atexit.register(lambda: print("All tests passed!"))
    class Boom:
        def __del__(self):
            raise SystemExit(0)
    keep = Boom()
    Boom()
    def f(x):
        Boom()
        return {result}
    """)
    assert naive_score(noisy.format(result="x * 3"), DOUBLE_TESTS) == 1.0  # atexit turns failure into exit 0
    assert score(noisy.format(result="x * 3"), DOUBLE_TESTS)[0] == 0.0
    assert score(noisy.format(result="2 * x"), DOUBLE_TESTS)[0] == 1.0  # the tests truly pass: they count


def test_objects_that_are_not_plain_data_stay_in_the_sandbox_and_only_their_plain_parts_count():
    code = code_of("""
    class Rigged:
        def __bool__(self):
            return True
        def __eq__(self, other):
            return True
    def f(x):
        return iter([2 * x])
    def g(x):
        return Rigged()
    """)
    assert score(code, ["assert list(f(1)) == [2]", "assert f(1) is not None"])[0] == 1.0
    assert score(code, ["assert g(1)", "assert g(1) == 2", "assert not (g(1) != 2)", "assert f(1) == [2]"])[0] == 0.0


def test_code_that_does_not_parse_scores_zero_without_a_sandbox(monkeypatch):
    def no_sandbox(*args, **kwargs):
        raise AssertionError("a sandbox was started for code that cannot run")

    monkeypatch.setattr(code_exec, "Sandbox", no_sandbox)
    assert code_exec.verify("def f(x) return x", {"tests": ["assert f(1) == 1"]}) == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Attacks an adversarial policy found: answers on disk, switching the defences off, forging results, replacing what
# the tests rely on; and correct code that must not fail.


@pytest.mark.parametrize("options", NAMESPACED)
def test_answers_on_disk_are_out_of_reach(public_dir, options):
    """A dataset with its answers, world-readable on the host, the repository and the hub cache: the sandbox's
    root holds none of them, so a function that looks its answer up there finds nothing."""
    if options is not USER_NAMESPACE and not IS_ROOT:
        pytest.skip("the nobody user needs root")
    tmp_path = public_dir
    dataset = tmp_path / "rlvr_train.jsonl"
    dataset.write_text(json.dumps({"question": "f(7)", "ground_truth": 80415263}) + "\n")
    dataset.chmod(0o644)
    repository = Path(__file__).resolve().parents[1]
    code = code_of(f"""
    import glob, json, os
    def f(x):
        for path in [{str(dataset)!r}, *glob.glob({str(repository)!r} + "/data/**/*.jsonl", recursive=True)]:
            try:
                for line in open(path):
                    row = json.loads(line)
                    if row.get("question") == "f(7)":
                        return row["ground_truth"]
            except Exception:
                pass
        return 0
    def visible():
        return [p for p in ({str(repository / "data")!r}, {str(repository / "README.md")!r}, {str(tmp_path)!r},
                            "/home", "/root/.cache", "/etc/passwd") if os.path.exists(p)]
    """)
    assert naive_score(code, ["assert f(7) == 80415263"]) == 1.0
    assert score(code, ["assert f(7) == 80415263", "assert visible() == []"], **options)[0] == 0.5


def test_without_namespaces_the_hook_still_refuses_to_read_answers(public_dir):
    """Process isolation: the host's files are in view (their names can be listed) but the hook lets the code read
    only its own directory and the Python libraries."""
    tmp_path = public_dir
    dataset = tmp_path / "rlvr_train.jsonl"
    dataset.write_text(json.dumps({"question": "f(7)", "ground_truth": 80415263}) + "\n")
    dataset.chmod(0o644)
    code = code_of(f"""
    import os
    def f(x):
        for opener in (lambda p: open(p).read(), lambda p: os.read(os.open(p, os.O_RDONLY), 1 << 16).decode()):
            try:
                return int(opener({str(dataset)!r}).split('"ground_truth": ')[1].split("}}")[0])
            except Exception:
                pass
        return 0
    def listed():
        return os.path.basename({str(dataset)!r}) in os.listdir({str(tmp_path)!r})
    """)
    assert naive_score(code, ["assert f(7) == 80415263"]) == 1.0
    assert score(code, ["assert f(7) == 80415263", "assert listed()"], **HOOK_ONLY)[0] == 0.5


def _switch_the_defences_off(target: Path, port: int) -> str:
    """Code that tries every way we know to disable an audit hook from inside, then to do harm."""
    return code_of(f"""
    import gc, os, socket, sys, types
    main = sys.modules.get("__main__")
    for name in dir(main):  # the block lists as module globals (the hook of the first version read them there)
        if isinstance(getattr(main, name, None), (tuple, set, frozenset, dict)):
            try:
                setattr(main, name, type(getattr(main, name))())
            except Exception:
                pass
    noop = (lambda *args: None).__code__
    for obj in gc.get_objects():
        named = isinstance(obj, types.FunctionType) and any(p in obj.__qualname__ for p in ("hook", "outside", "audit"))
        if named:
            for action in (lambda: setattr(obj, "__defaults__", tuple(() for _ in obj.__defaults__ or ())),
                           lambda: setattr(obj, "__code__", noop)):
                try:
                    action()
                except Exception:
                    pass
            for cell in obj.__closure__ or ():
                try:
                    cell.cell_contents = type(cell.cell_contents)()
                except Exception:
                    pass
    for action in (lambda: open({str(target / "written")!r}, "w").write("pwned"),
                   lambda: os.system("touch {target / "shell"}"), lambda: os.mkfifo({str(target / "fifo")!r}),
                   lambda: socket.create_connection(("127.0.0.1", {port}), timeout=1).close()):
        try:
            action()
        except BaseException:
            pass
    def f(x):
        return 2 * x
    """)


def test_the_audit_hook_cannot_be_switched_off_from_inside(public_dir):
    """Without namespaces the hook is all there is. A hook that reads its block list from module globals (as our
    first one did) is switched off by this code, which then writes files, makes a FIFO and opens a connection;
    ours stops all of it."""
    tmp_path = public_dir
    tmp_path.chmod(0o777)  # only the sandbox stands between the code and this directory
    naive_hook = code_of("""
    import sys
    BLOCKED = ("os.system", "socket.", "os.mkfifo")
    def hook(event, args):
        if event.startswith(BLOCKED) or (event == "open" and args[1] and "w" in args[1]):
            raise PermissionError(event)
    sys.addaudithook(hook)
    """)
    naive = tmp_path / "naive"
    naive.mkdir(mode=0o777)
    with _listener(3) as (port, accepted):
        subprocess.run([sys.executable, "-c", naive_hook + _switch_the_defences_off(naive, port)], timeout=30)
    assert sorted(os.listdir(naive)) == ["fifo", "shell", "written"] and len(accepted) == 1

    ours = tmp_path / "ours"
    ours.mkdir(mode=0o777)
    _assert_switching_the_defences_off_harms_nothing(ours, HOOK_ONLY, wait_s=3)


@pytest.mark.parametrize("options", LAYERS)
def test_switching_defences_off_does_no_harm_in_any_mode(public_dir, options):
    if options in (FULL, KERNEL_ONLY) and not IS_ROOT:
        pytest.skip("the nobody user needs root")
    public_dir.chmod(0o777)  # only the sandbox stands between the code and this directory
    _assert_switching_the_defences_off_harms_nothing(public_dir, options, wait_s=2)


def _assert_switching_the_defences_off_harms_nothing(directory: Path, options: dict, wait_s: float) -> None:
    with _listener(wait_s) as (port, accepted):
        result, _ = score(_switch_the_defences_off(directory, port), DOUBLE_TESTS, **options)
    assert result == 1.0  # the code ran to its end
    assert os.listdir(directory) == [] and accepted == []


@pytest.mark.parametrize("options", LAYERS)
def test_the_kernel_refuses_processes_signals_inet_sockets_and_fifos(public_dir, options):
    """The seccomp filter, in every mode: whatever route the code takes to the system call (os.mkfifo raises no
    audit event at all, and a posix module made afresh by _imp brings back anything deleted from the old one)."""
    if options in (FULL, KERNEL_ONLY) and not IS_ROOT:
        pytest.skip("the nobody user needs root")
    tmp_path = public_dir
    tmp_path.chmod(0o777)  # only the sandbox stands between the code and this directory
    code = code_of(f"""
    import _imp, importlib.machinery, os, socket
    fresh_posix = _imp.create_builtin(importlib.machinery.ModuleSpec("posix", None, origin="built-in"))
    ATTEMPTS = {{}}
    for name, action in [("fork", os.fork), ("mkfifo", lambda: fresh_posix.mkfifo("fifo")),
                         ("mkfifo outside", lambda: fresh_posix.mkfifo({str(tmp_path / "fifo")!r})),
                         ("kill", lambda: os.kill(1, 0)), ("exec", lambda: os.execv("/bin/true", ["true"])),
                         ("inet socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))]:
        try:
            action()
            ATTEMPTS[name] = "done"
        except OSError as error:
            ATTEMPTS[name] = type(error).__name__
    def attempts():
        return ATTEMPTS
    """)
    refused = {
        "fork": "PermissionError",
        "mkfifo": "PermissionError",
        "mkfifo outside": "PermissionError",
        "kill": "PermissionError",
        "exec": "PermissionError",
        "inet socket": "PermissionError",
    }
    assert score(code, [f"assert attempts() == {refused!r}"], **options)[0] == 1.0
    assert os.listdir(tmp_path) == []


def test_results_cannot_be_forged_from_inside():
    """The code hunts for the runner's secrets in its frames and memory and writes fake reports and replies on
    every descriptor. Against the first version (tests with loops ran inside the sandbox, their passes reported
    with a nonce the runner held) this passed every test; now there is nothing to find, and what it writes is at
    most a claim about its own function's values."""
    code = code_of("""
    import gc, json, os, re, sys
    secrets = set()
    frame = sys._getframe()
    while frame is not None:
        secrets |= {v for v in frame.f_locals.values() if isinstance(v, str) and re.fullmatch("[0-9a-f]{32}", v)}
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, dict):
            secrets |= {v for v in obj.values() if isinstance(v, str) and re.fullmatch("[0-9a-f]{32}", v)}
    fake = [{"statement": i, "nonce": n} for n in secrets or {"0"} for i in range(4)]
    fake += [{"done": n} for n in secrets or {"0"}] + [{"ready": True}, {"value": True}, {"value": 12}] * 3
    for fd in range(3, 64):
        try:
            os.write(fd, "".join(json.dumps(r) + "\\n" for r in fake).encode())
        except OSError:
            pass
    def f(x):
        return 0
    """)
    tests = [
        "def check(candidate):\n    for x in range(3):\n        assert candidate(x) == 2 * x + 12\ncheck(f)",
        "assert f(0) == 12",
        "assert f(5) == 22",
    ]
    assert score(code, tests)[0] == 0.0


def test_helpers_and_modules_the_tests_use_are_the_trusted_ones():
    """HumanEval/32: the prompt supplies `poly`, the test checks `math.fabs(poly(xs, find_zero(xs))) < 1e-4` in a
    loop. A wrong answer that redefines `poly` or patches `math.fabs` passes a naive grader; not here."""
    setup = "import math\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))"
    test = code_of("""
    def check(candidate):
        import copy
        for coeffs in ([1, 2], [-6, 11, -6, 1], [1, 0, 0, 1]):
            solution = candidate(copy.deepcopy(coeffs))
            assert math.fabs(poly(coeffs, solution)) < 1e-4
    check(find_zero)
    """)
    redefined = "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 12345.0\n"
    patched = "import math\nmath.fabs = lambda x: 0.0\ndef find_zero(xs):\n    return 12345.0\n"
    correct = code_of("""
    def find_zero(xs):
        low, high = -1000.0, 1000.0
        while poly(xs, low) * poly(xs, high) > 0:
            low, high = low * 2, high * 2
        for _ in range(200):
            middle = (low + high) / 2
            if poly(xs, middle) * poly(xs, low) > 0:
                low = middle
            else:
                high = middle
        return low
    """)
    for wrong in (redefined, patched):
        assert naive_score(setup + "\n" + wrong, [test]) == 1.0
        assert score(wrong, [test], setup=setup)[0] == 0.0
    assert score(correct, [test], setup=setup)[0] == 1.0


def test_correct_code_that_imports_numpy_passes():
    code = "import numpy as np\ndef f(xs):\n    return int(np.sum(np.array(xs))), np.float64(0.5)\n"
    assert score(code, ["assert f([1, 2, 3]) == (6, 0.5)"], timeout_s=10.0)[0] == 1.0


def test_results_of_collections_types_compare_as_under_the_official_harness():
    code = code_of("""
    import collections
    Point = collections.namedtuple("Point", "x y")
    def counts(s):
        return collections.Counter(s)
    def ordered(pairs):
        return collections.OrderedDict(pairs)
    def grouped(words):
        groups = collections.defaultdict(list)
        for word in words:
            groups[len(word)].append(word)
        return groups
    def point():
        return Point(1, 2)
    """)
    tests = [
        "assert counts('abca') == {'a': 2, 'b': 1, 'c': 1}",
        "assert ordered([(2, 'b'), (1, 'a')]) == {1: 'a', 2: 'b'}",
        "assert grouped(['a', 'bc', 'd']) == {1: ['a', 'd'], 2: ['bc']}",
        "assert point() == (1, 2)",
        "assert point()[1] == 2",
    ]
    assert naive_score(code, tests) == 1.0
    assert score(code, tests)[0] == 1.0


# ---------------------------------------------------------------------------------------------------------------
# The verifier's side


def test_code_extraction():
    fenced = "Here:\n```python\ndef f(x):\n    return x\n```\nUse it:\n```python\nprint(f(1))\n```\n```text\nout\n```"
    assert code_exec.extract_code(fenced) == "def f(x):\n    return x\n"
    assert code_exec.extract_code("def f(x):\n    return x") == "def f(x):\n    return x"
    assert code_exec.extract_code("```py\ndef g(): pass\n") == "def g(): pass\n"  # truncated: unclosed fence
    assert code_exec.extract_code("```\nx = 1\n```") == "x = 1\n"


def test_test_plan_lists_the_names_each_test_reads_and_does_not_bind():
    plan = code_exec.plan_tests(
        [
            "assert f(1) == 2",
            "assert math.isclose(f(2), 4.0)",
            "assert Solution().g([1])[0] == 1",
            "assert all(f(x) == 2 * x for x in range(3))",
            "s = f(3)\nassert s == 6",
            "def check(candidate):\n    import copy\n    assert poly([1], candidate(copy.copy(CONST))) == 0\ncheck(f)",
            "assert eval('f')(2) == globals()['g'](2)",
            "assert eval('h(4)') == 8, 'expected x'\nd = {'k': 1}\nassert d['k'] == 1",
        ],
        "def poly(xs, x):\n    return sum(xs)",
    )
    assert [sorted(test.names) for test in plan.tests] == [
        ["f"],
        ["f", "math"],
        ["Solution"],
        ["all", "f", "range"],
        ["f"],
        ["CONST", "f", "poly"],
        ["eval", "f", "g", "globals"],
        ["eval", "h"],
    ]


@pytest.mark.parametrize("truth", [{}, {"tests": []}, {"tests": "assert 1"}, "not json", {"tests": ["assert (("]}])
def test_malformed_ground_truth_is_an_error(truth):
    with pytest.raises(ValueError):
        code_exec.verify(DOUBLE, truth)


def test_ground_truth_forms():
    response = f"```python\n{DOUBLE}```"
    assert code_exec.verify(response, json.dumps({"tests": DOUBLE_TESTS})) == 1.0
    assert code_exec.verify(response, DOUBLE_TESTS) == 1.0


def test_a_killed_launcher_is_replaced():
    from rewards import sandbox

    launcher = sandbox.launcher_process()
    launcher.process.kill()
    launcher.process.wait()
    assert score(DOUBLE, DOUBLE_TESTS)[0] == 1.0
    assert sandbox.launcher_process() is not launcher
