"""`code` verifier: run the response's Python code in the sandbox; score = fraction of the tests it passes.

Ground truth: `{"tests": ["assert f(1) == 2", ...], "setup": "<code run before the model's>", "timeout_s": 4}`
(a dict or its JSON), or just the list of tests. `"ordered": true` marks tests that depend on the state earlier tests
left (a counter's successive values): they are run in their order only (below).

Data flow: response -> `extract_code` (the fenced blocks that define what the tests use) -> `Sandbox` runs the setup
and that code -> `Session` asks the sandbox which names the code defined -> each test runs here, in the verifier's
process, with the real builtins and modules and the setup's own definitions (a prompt's helpers, such as HumanEval's
`poly`, mean the trusted ones even when the model's code redefines them); the names it uses that the model's code
defined are bound, before builtins, to what the sandbox holds (a function named `max` is the model's `max`). A test
that reaches nothing of the model's code fails: a builtin or the setup cannot pass a test for the model.

What crosses (rewards/_sandbox_child.py, `Codec`): plain data as a copy in exact builtin or standard-library types
(no rigged `__eq__`, `__bool__` or `__hash__` crosses), instances of the setup's classes as their attributes (rebuilt
here with the setup's own class), and the arguments a call changed (copied back into the test's objects: in-place
algorithms work). Other objects of the model's code stay there behind a `Remote`: it can be called, indexed,
iterated, printed, given attributes, and compared or combined with another `Remote`, each answer again data or a
`Remote`; it has no truth value, no hash, no dunder attribute, and no equality, order or arithmetic with the tests'
data, so only data the test itself compares decides it. The tests' own callables and iterators cross the other way as
proxies whose calls run here. Nothing in the sandbox (no expected value, no test, no secret) is worth finding, and
nothing the model's code patches there reaches the tests.

Code whose top level raises (SystemExit included) fails every test; so does code that does not parse. A test the
code answers from a table of the tests' own literals (`if n == 15: return 610`; `rewards.lookup`) fails too. The tests
that pass run again in a second sandbox, on fresh state and in another order (rotated by one), and count only if they
pass there too: an answer given by the count of earlier calls rather than by the input (`next(iter([610, 55]))`)
fails. Each run has the row's `timeout_s`, so a row costs at most twice that.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import importlib
import json
import math
import re
import signal
import sys
import textwrap
import threading
import time
import types
from dataclasses import dataclass

from rewards._sandbox_child import _classes_defined
from rewards._sandbox_codec import Codec
from rewards.lookup import hardcoded_tests
from rewards.sandbox import Sandbox

# Wall clock for one sandbox run. A row runs up to two (class 15): keep twice this below the pool's per-item timeout.
DEFAULT_TIMEOUT_S = 3.0
MAX_TIMEOUT_S = 30.0
_PYTHON_FENCES = {"", "python", "py", "python3"}
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```|~~~)[ \t]*(?P<language>[\w+-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*(?P=fence)|\Z)",
    re.S | re.M,
)
_DEFINES = re.compile(r"^\s*(?:def|class|async\s+def)\s", re.M)
_NAMESPACE = "solution"  # __name__ of the setup's namespace on both sides: its classes are known by their module


def verify(response: str, ground_truth, **sandbox_options) -> float:
    """`sandbox_options` go to Sandbox (the tests use them to check each layer of defence alone)."""
    spec = parse_ground_truth(ground_truth)
    plan = plan_tests(spec["tests"], spec["setup"])
    if not plan.tests:
        return 0.0
    code = extract_code(response, wanted=plan.names)
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0.0  # no need to start a sandbox for code that cannot run
    from_a_table = hardcoded_tests(code, [test.source for test in plan.tests])  # passed from a table: failed
    runnable = [index for index in range(len(plan.tests)) if index not in from_a_table]
    passed = _passing(code, spec, plan, runnable, sandbox_options)
    if passed and len(plan.tests) > 1 and not spec["ordered"]:
        # Again on fresh state with the passed tests rotated: every test now starts at another call. An answer that
        # depends on how many calls came before (`next(iter([610, 55]))`), not on the input, changes; honest code
        # gives the same result in any order.
        passed = _passing(code, spec, plan, passed[1:] + passed[:1], sandbox_options)
    return len(passed) / len(plan.tests)


def _passing(code: str, spec: dict, plan: Plan, order: list[int], sandbox_options: dict) -> list[int]:
    """The tests of `order` (indices into the plan) that pass, in that order, in one sandbox run of the code."""
    with Sandbox(code, setup=spec["setup"], timeout_s=spec["timeout_s"], **sandbox_options) as sandbox:
        if not sandbox.ready:
            return []
        session = Session(sandbox, plan.clean_namespace)
        return [index for index in order if plan.tests[index].passed(session)]


def parse_ground_truth(ground_truth) -> dict:
    if isinstance(ground_truth, str):
        try:
            ground_truth = json.loads(ground_truth)
        except ValueError:
            raise ValueError("code ground truth is not JSON: {'tests': [...]} or a list of tests") from None
    if isinstance(ground_truth, list):
        ground_truth = {"tests": ground_truth}
    if not isinstance(ground_truth, dict):
        raise ValueError("code ground truth must be {'tests': [...]} or a list of tests")
    tests, setup = ground_truth.get("tests"), ground_truth.get("setup") or ""
    if not tests or not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise ValueError("code ground truth needs a non-empty list of test strings under 'tests'")
    if not isinstance(setup, str):
        raise ValueError("code ground truth 'setup' must be a string")
    ordered = ground_truth.get("ordered", False)
    if not isinstance(ordered, bool):
        raise ValueError("code ground truth 'ordered' must be true or false")
    timeout_s = min(float(ground_truth.get("timeout_s") or DEFAULT_TIMEOUT_S), MAX_TIMEOUT_S)
    return {"tests": tests, "setup": setup, "timeout_s": timeout_s, "ordered": ordered}


def check_ground_truth(ground_truth) -> None:
    """Raise ValueError unless the truth has tests (and setup) that parse: checked when data loads, without running
    anything."""
    spec = parse_ground_truth(ground_truth)
    for name, source in [("setup", spec["setup"]), *((f"test {i}", t) for i, t in enumerate(spec["tests"]))]:
        try:
            ast.parse(source)
        except SyntaxError as error:
            raise ValueError(
                f"code ground truth: {name} is not valid Python ({error.msg}, line {error.lineno})"
            ) from None
    if not plan_tests(spec["tests"], spec["setup"]).tests:
        raise ValueError("code ground truth: no test uses a name the model's code could define")


def extract_code(response: str, wanted=()) -> str:
    """The Python code of a response: its fenced blocks (``` or ~~~, indented or not) that define the names the tests
    use, with the blocks those need, in order; else the last block that defines something (later blocks are usually
    example usage), else the whole response. An unclosed fence (a truncated response) runs to the end."""
    blocks = [
        textwrap.dedent(match["body"])
        for match in _FENCE.finditer(response)
        if match["language"].lower() in _PYTHON_FENCES
    ]
    if len(blocks) <= 1:
        return blocks[0] if blocks else response
    chosen = _blocks_defining(blocks, set(wanted))
    if chosen:
        return "\n".join(blocks[index] for index in chosen)
    defining = [block for block in blocks if _DEFINES.search(block)]
    return (defining or blocks)[-1]


def _blocks_defining(blocks: list[str], wanted: set[str]) -> list[int]:
    """Indices of the blocks that define `wanted` (the last definition of each), and of the blocks defining what those
    use, in order."""
    defines, uses = [], []
    for block in blocks:
        try:
            module = ast.parse(block)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            module = ast.Module(body=[], type_ignores=[])
        defines.append(_top_level_names(module))
        uses.append({node.id for node in ast.walk(module) if isinstance(node, ast.Name)})
    chosen, names, done = set(), set(wanted), set()
    while names - done:
        name = next(iter(names - done))
        done.add(name)
        for index in reversed(range(len(blocks))):
            if name in defines[index]:
                if index not in chosen:
                    chosen.add(index)
                    names |= uses[index]
                break
    return sorted(chosen)


def _top_level_names(module: ast.Module) -> set[str]:
    names = set()
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).partition(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


# ---------------------------------------------------------------------------------------------------------------
# Tests, run on this side


@dataclass
class Test:
    compiled: object
    source: str
    names: list[str]  # names the test reads and does not bind: any the model's code defined are bound to its objects
    modules: set[str]  # of those, the ones it only ever takes attributes of (`np.allclose`, `math.isclose`)

    def passed(self, session: Session) -> bool:
        namespace = dict(session.clean_namespace)
        try:
            defined = [name for name in self.names if name in session.model_names() and name not in namespace]
            for name in [name for name in defined if name in self.modules and name in _TRUSTED_MODULES]:
                namespace[name] = importlib.import_module(_TRUSTED_MODULES[name])  # the real module, not the model's
            # A builtin's name means the model's definition only where the test names nothing else of the model's:
            # then it is the function under test (`assert max([1, 2]) == 2`); beside the model's `f` it is a helper
            # the model must not replace (`abs(f(2) - 4) < 1e-9` with a rigged `abs` of its own).
            own = [name for name in defined if name not in namespace and not hasattr(builtins, name)]
            reached = own or [name for name in defined if name not in namespace]
            if not reached:
                return False  # the test would judge builtins or the setup, not the model's code
            for name in reached:
                namespace[name] = session.ask({"name": name})
            with session.time_limit():
                exec(self.compiled, namespace)
        except Exception:  # a failed assert, a name the model's code lacks, a sandbox that timed out or died
            return False
        return True


# Modules a test may use without importing them (the official harness finds them among the solution's imports):
# the verifier's own copies, never the objects the model's code bound to those names.
_TRUSTED_MODULES = {name: name for name in sys.stdlib_module_names if not name.startswith("_")} | {
    "np": "numpy",
    "numpy": "numpy",
}


class RemoteError(Exception):
    """An exception raised inside the sandbox that is neither a builtin one nor the setup's."""


class Session:
    """The verifier's end of one sandbox: requests, the data codec, and the tests' objects lent to the sandbox."""

    def __init__(self, sandbox: Sandbox, clean_namespace: dict):
        self.sandbox, self.clean_namespace = sandbox, clean_namespace
        self.classes = _classes_defined(clean_namespace)
        self.codec = Codec(self.classes, self._outside, self._inside)
        self.lent: list = []  # the tests' callables and iterators the sandbox may call back, by index
        sandbox.on_callback = self._callback

    @contextlib.contextmanager
    def time_limit(self):
        """The sandbox's deadline for the test's own code too (a cyclic list the model returned would make a test's
        walk over it loop forever). Only in the main thread, where signals can interrupt; elsewhere the pool's hard
        timeout stands behind it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        remaining = self.sandbox.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the test ran past the sandbox's deadline")

        def expire(*_):
            raise TimeoutError("the test ran past the sandbox's deadline")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, remaining)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def model_names(self) -> set[str]:
        return self.sandbox.names

    def ask(self, request: dict, values=(), *, call=False):
        """Send `request` with `values` as its data; the answer's value, or its exception raised here. For a call,
        the arguments it changed are copied back into the test's objects."""
        return self._exchange(request, values, call)[0]

    def advance(self, handle: int, count: int) -> tuple[list, bool]:
        """Up to `count` next items of the sandbox iterator `handle`, and whether it is exhausted."""
        items, reply = self._exchange({"next": handle, "n": count}, (), False)
        if type(items) is not list:
            raise TypeError("malformed items")
        return items, reply.get("done") is True

    def iterator(self, handle: int) -> tuple[Remote, bool]:
        """A sandbox iterator over object `handle`, and whether it may be read in batches (it is a fresh iterator of
        a container, not one the code or the test may also advance)."""
        iterator, reply = self._exchange({"iter": handle}, (), False)
        if type(iterator) is not Remote:
            raise TypeError("not an iterator")
        return iterator, reply.get("batch") is True

    def _exchange(self, request: dict, values, call: bool) -> tuple[object, dict]:
        request = {**request, "body": self.codec.encode(list(values))}
        origins = self.codec.last_objects
        reply = self.sandbox.request(request)
        if "raised" in reply:
            raise self._exception(reply["raised"], stop_iteration_allowed=not call)
        try:
            result, *changed = self.codec.decode(reply["value"], origins)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError, OverflowError):
            self.sandbox.abandon()  # a reply the model's code wrote itself, or garbage: nothing more it says counts
            raise
        indices = reply.get("changed")
        if call and type(indices) is list:
            for index, new in zip(indices, changed):
                if type(index) is int and 0 <= index < len(values):
                    _copy_back(values[index], new)
        return result, reply

    def _outside(self, value):
        if type(value) is Remote and object.__getattribute__(value, "_session") is self:
            return {"handle": object.__getattribute__(value, "_handle")}
        if _may_lend(value):
            self.lent.append(value)
            return {"local": len(self.lent) - 1}
        raise TypeError(f"cannot send {type(value).__name__} to the model's code")

    def _inside(self, node: dict):
        if "handle" in node:
            if type(node["handle"]) is not int:
                raise ValueError("malformed handle")
            return Remote(self, node["handle"])
        index = node["local"]
        if type(index) is not int or not 0 <= index < len(self.lent):
            raise ValueError("malformed local")
        return self.lent[index]

    def _callback(self, record: dict) -> dict:
        """The sandbox calls (or advances) one of the tests' objects it was lent."""
        try:
            target = self._inside({"local": record.get("callback")})
            if record.get("next") is True:
                value = next(target)
            else:
                values = self.codec.decode(record.get("body"))
                keywords = record.get("keywords") or []
                if (
                    type(keywords) is not list
                    or not all(type(k) is str for k in keywords)
                    or len(keywords) > len(values)
                ):
                    raise ValueError("malformed call")
                positional = values[: len(values) - len(keywords)]
                value = target(*positional, **dict(zip(keywords, values[len(positional) :])))
            return {"value": self.codec.encode([value])}
        except Exception as error:
            return {"raised": {"base": _builtin_base(type(error)), "message": str(error)[:10_000]}}

    def _exception(self, raised, *, stop_iteration_allowed: bool) -> Exception:
        if type(raised) is not dict:
            return RemoteError("malformed exception")
        base, name, message = raised.get("base"), raised.get("name"), raised.get("message")
        if type(name) is not str or type(message) is not str:
            return RemoteError("malformed exception")
        try:
            arguments = tuple(self.codec.decode(raised["args"])) if raised.get("args") is not None else (message,)
        except (ValueError, TypeError, RecursionError):
            arguments = (message,)
        setup_class = self.classes.get(raised.get("setup"))
        if isinstance(setup_class, type) and issubclass(setup_class, Exception):
            return _made(setup_class, arguments, message)
        kind = getattr(builtins, base, None) if type(base) is str else None
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            return RemoteError(f"{name}: {message}")
        if issubclass(kind, (StopIteration, StopAsyncIteration)) and not stop_iteration_allowed:
            # as PEP 479 does for generators: otherwise `all(map(f, xs))` ends early, on a function that raised
            return RuntimeError(f"{name} raised by the model's code: {message}")
        if name == kind.__name__:
            return _made(kind, arguments, message)
        subclass = type(name, (kind,), {"__module__": _NAMESPACE, "__str__": lambda self: message})
        return _made(subclass, arguments, message)


def _made(kind, arguments, message):
    try:
        return kind(*arguments)
    except Exception:
        return kind(message)


def _builtin_base(kind: type) -> str:
    return next((c.__name__ for c in kind.__mro__ if getattr(builtins, c.__name__, None) is c), "Exception")


def _copy_back(original, new) -> None:
    """Make the test's argument hold what the model's code left in it (in-place algorithms)."""
    if type(original) is list and isinstance(new, list):
        original[:] = new
    elif isinstance(original, dict) and isinstance(new, dict):
        original.clear()
        original.update(new)
    elif isinstance(original, (set, bytearray)) and type(new) is type(original):
        if isinstance(original, set):
            original.clear()
            original.update(new)
        else:
            original[:] = new
    # instances of the setup's classes were updated in place by the decoder (their origins)


_LENDABLE_BUILTINS = frozenset(
    "abs all any ascii bin bool bytes callable chr complex dict divmod enumerate filter float format frozenset hash "
    "hex "
    "int isinstance issubclass iter len list map max min next oct ord pow range repr reversed round set slice sorted "
    "str sum tuple zip".split()
)
_PLAIN_TYPES = (int, float, str, bytes, list, dict, set, frozenset, tuple, bool, bytearray)


def _may_lend(value) -> bool:
    """Whether the sandbox may call (or advance) this object of the tests': the tests' and the setup's own functions
    and classes, pure builtins, math and operator functions, methods of plain data, and iterators. Never eval, exec,
    open, getattr and the like: the model's code chooses the arguments."""
    if isinstance(value, types.FunctionType):
        filename = value.__code__.co_filename
        return filename == "setup.py" or filename.startswith("test")
    if isinstance(value, types.MethodType):
        return _may_lend(value.__func__)
    if isinstance(value, functools.partial):
        return _may_lend(value.func)
    if isinstance(value, type):
        return value in _PLAIN_TYPES or value.__module__ == _NAMESPACE
    if isinstance(value, types.BuiltinFunctionType):
        owner = value.__self__
        if owner is builtins:
            return value.__name__ in _LENDABLE_BUILTINS
        if isinstance(owner, types.ModuleType):
            return owner.__name__ in ("math", "cmath", "operator", "_operator")
        return type(owner) in _PLAIN_TYPES
    if isinstance(value, (types.MethodDescriptorType, types.WrapperDescriptorType, types.MethodWrapperType)):
        return getattr(value, "__objclass__", None) in _PLAIN_TYPES
    return isinstance(value, types.GeneratorType) or (
        type(value).__module__ in ("builtins", "itertools") and hasattr(type(value), "__next__")
    )


# Dunder attributes that only describe an object (a test may check a function's name or docstring): data, which
# crosses typed like any other, never a protocol that C code in this process would act on.
_DESCRIPTIVE_DUNDERS = frozenset({"__name__", "__qualname__", "__module__", "__doc__", "__annotations__", "__dict__"})


class Remote:
    # An object that lives in the sandbox. It has no truth value, no hash, no dunder attribute but descriptive ones,
    # and no equality, order or arithmetic with the tests' data: only data decides a test.

    __slots__ = ("_session", "_handle")
    __hash__ = None

    def __init__(self, session: Session, handle: int):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_handle", handle)

    def _ask(self, verb: str, values=(), *, call=False, **fields):
        """Request `verb` on this object, with `values` as data."""
        request = {verb: object.__getattribute__(self, "_handle"), **fields}
        return object.__getattribute__(self, "_session").ask(request, values, call=call)

    def __call__(self, *args, **kwargs):
        return self._ask("call", [*args, *kwargs.values()], call=True, keywords=list(kwargs))

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in _DESCRIPTIVE_DUNDERS:
            raise AttributeError(name)  # protocols (__array_interface__, __fspath__, ...) never reach the model
        return self._ask("attr", name=name)

    @property
    def __doc__(self):
        return self._ask("attr", name="__doc__")

    def __setattr__(self, name, value):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        self._ask("setattr", [value], name=name)

    def __getitem__(self, key):
        return self._ask("item", [key])

    def __setitem__(self, key, value):
        self._ask("setitem", [key, value])

    def __iter__(self):
        session = object.__getattribute__(self, "_session")
        iterator, batched = session.iterator(object.__getattribute__(self, "_handle"))
        return _items(iterator, batched)

    def __next__(self):
        session = object.__getattribute__(self, "_session")
        items, done = session.advance(object.__getattribute__(self, "_handle"), 1)
        if not items:
            raise StopIteration
        return items[0]

    def __len__(self):
        return self._ask("len")

    def __str__(self):
        return self._text(False)

    def __repr__(self):
        return self._text(True)

    def _text(self, as_repr: bool) -> str:
        text = self._ask("str", repr=as_repr)
        if type(text) is not str:
            raise TypeError("__str__ returned non-string")
        return text

    def __bool__(self):
        raise TypeError("an object of the model's code has no truth value here: compare plain data")

    def __contains__(self, item):
        return self._operate("contains", item) is True

    def _operate(self, operator: str, *others):
        """An operator between objects of the model's code only: with the tests' data it would let the model's code
        choose the verdict (`abs(f(2) - 4) < 1e-6` with a rigged `__sub__`)."""
        if not all(type(other) is Remote for other in others):
            _refuse()
        session = object.__getattribute__(self, "_session")
        return session.ask({"op": operator}, [self, *others])


_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
_ARITHMETIC = (
    "add",
    "sub",
    "mul",
    "matmul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "and",
    "or",
    "xor",
    "lshift",
    "rshift",
)


def _binary(operator: str):
    return lambda self, other: self._operate(operator, other)


def _refuse(*_):
    """A reflected operator (`4 - f(2)`) is reached only with the tests' data on the left."""
    raise TypeError("an object of the model's code has no equality, order or arithmetic with plain data")


for _name in _COMPARISONS + _ARITHMETIC:
    setattr(Remote, f"__{_name}__", _binary(_name + "_" if _name in ("and", "or") else _name))  # operator.and_
for _name in _ARITHMETIC:
    setattr(Remote, f"__r{_name}__", _refuse)
for _name in ("neg", "pos", "abs", "invert"):
    setattr(Remote, f"__{_name}__", lambda self, _operator=_name: self._operate(_operator))


def _items(iterator: Remote, batched: bool):
    """Iterate a sandbox iterator: in batches over a fresh iterator of a container, one at a time over an iterator
    the model's code (or the test) may also advance."""
    session = object.__getattribute__(iterator, "_session")
    handle = object.__getattribute__(iterator, "_handle")
    while True:
        items, done = session.advance(handle, 256 if batched else 1)
        yield from items
        if done or not items:
            return


@dataclass
class Plan:
    tests: list[Test]
    clean_namespace: dict

    @property
    def names(self) -> set[str]:
        return {name for test in self.tests for name in test.names}


def plan_tests(tests: list[str], setup: str) -> Plan:
    """The tests compiled, with the names each reads (cached: a prompt's tests come back for each of its samples)."""
    return _plan(tuple(tests), setup)


@functools.lru_cache(maxsize=512)
def _plan(tests: tuple[str, ...], setup: str) -> Plan:
    clean_namespace = _clean_namespace(setup)
    plan = Plan(tests=[], clean_namespace=clean_namespace)
    for index, source in enumerate(tests):
        try:
            module = ast.parse(source)
        except SyntaxError as error:
            raise ValueError(f"test {index} is not valid Python: {error}") from None
        names = _test_names(module)
        if all(name in clean_namespace for name in names):
            continue  # `assert True, "..."`: it names nothing the model's code could define, so it tests nothing
        plan.tests.append(Test(compile(module, f"test{index}", "exec"), source, names, _used_as_modules(module)))
    return plan


def _test_names(module: ast.Module) -> list[str]:
    """Names a test reads and does not bind itself, and identifiers it spells as strings (`eval("f")`,
    `globals()["f"]`)."""
    loaded, bound = [], set()
    for node in ast.walk(module):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Call, ast.Subscript)):
            loaded += _names_spelled_out(node)
    return list(dict.fromkeys(name for name in loaded if name not in bound))


def _used_as_modules(module: ast.Module) -> set[str]:
    """Names every use of which takes an attribute (`np.allclose(...)`): used as a module, not called or compared."""
    bases = {
        id(node.value)
        for node in ast.walk(module)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }
    as_module, otherwise = set(), set()
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            (as_module if id(node) in bases else otherwise).add(node.id)
    return as_module - otherwise


_EVALUATORS = ("eval", "exec")
_NAMESPACES = ("globals", "locals", "vars")


def _names_spelled_out(node: ast.Call | ast.Subscript) -> list[str]:
    """Names a test reaches through a string: the code given to eval/exec (`eval("f(4)")`), and a key of
    globals()/locals()/vars() (`globals()["f"]`). Other strings (messages, data) name nothing: a model's code that
    defines names found in them must not count as reached."""
    if isinstance(node, ast.Call):
        called = node.func.id if isinstance(node.func, ast.Name) else None
        if called not in _EVALUATORS or not node.args:
            return []
        text = node.args[0]
        if not (isinstance(text, ast.Constant) and isinstance(text.value, str) and len(text.value) < 10_000):
            return []
        try:
            module = ast.parse(text.value)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []
        return [n.id for n in ast.walk(module) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    namespace, key = node.value, node.slice
    if (
        isinstance(namespace, ast.Call)
        and isinstance(namespace.func, ast.Name)
        and namespace.func.id in _NAMESPACES
        and isinstance(key, ast.Constant)
        and isinstance(key.value, str)
    ):
        return [key.value]
    return []


@functools.lru_cache(maxsize=256)
def _clean_setup_namespace(setup: str) -> dict:
    namespace = {"__builtins__": builtins, "__name__": _NAMESPACE, "math": math}
    try:
        exec(compile(setup, "setup.py", "exec"), namespace)  # trusted: it comes with the ground truth
    except Exception:
        namespace = {"__builtins__": builtins, "__name__": _NAMESPACE, "math": math}
    return namespace


def _clean_namespace(setup: str) -> dict:
    return dict(_clean_setup_namespace(setup))
