"""`code` verifier: run the response's Python code in the sandbox; score = fraction of the tests it passes.

Ground truth: `{"tests": ["assert f(1) == 2", ...], "setup": "<code run before the model's>", "timeout_s": 4}`
(a dict or its JSON), or just the list of tests.

The tests never run where the model's code runs. The sandbox executes `setup` and the model's code and then only
answers requests; each test runs here, in the verifier's process, with the real builtins and modules and the
setup's own definitions (helpers a prompt supplies, such as HumanEval's `poly`, mean the trusted ones even when the
model's code redefines them). Every other name a test uses that the model's code defined is looked up in the sandbox:
plain data comes back as a copy (exact builtin types: no rigged `__eq__`, `__bool__` or `__hash__` can cross);
functions, classes and other objects stay there behind a `Remote` that can only be called, indexed, iterated,
measured and asked for attributes — each answer again plain data or another `Remote`. A `Remote` has no truth value
and no equality, so a test can only pass on plain data its own code compares. Nothing in the sandbox — no expected
value, no test, no secret — is worth finding, and nothing the model's code patches there reaches the tests.

Code whose top level raises (SystemExit included) fails every test; so does code that does not parse.
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import math
import re
from dataclasses import dataclass

from rewards.sandbox import Sandbox

DEFAULT_TIMEOUT_S = 3.0  # wall clock for the whole sandbox run; keep it below the pool's per-item timeout
MAX_TIMEOUT_S = 30.0
_PYTHON_FENCES = {"", "python", "py", "python3"}
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.S | re.M)
_DEFINES = re.compile(r"^\s*(?:def|class|async\s+def)\s", re.M)


def verify(response: str, ground_truth, **sandbox_options) -> float:
    """`sandbox_options` go to Sandbox (the tests use them to check each layer of defence alone)."""
    spec = parse_ground_truth(ground_truth)
    plan = plan_tests(spec["tests"], spec["setup"])
    code = extract_code(response)
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0.0  # no need to start a sandbox for code that cannot run
    with Sandbox(code, setup=spec["setup"], timeout_s=spec["timeout_s"], **sandbox_options) as sandbox:
        if not sandbox.ready:
            return 0.0
        passed = sum(test.passed(sandbox, plan.clean_namespace) for test in plan.tests)
    return passed / len(plan.tests)


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
    timeout_s = min(float(ground_truth.get("timeout_s") or DEFAULT_TIMEOUT_S), MAX_TIMEOUT_S)
    return {"tests": tests, "setup": setup, "timeout_s": timeout_s}


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


def extract_code(response: str) -> str:
    """The Python code of a response: a fenced block, else the whole response.

    With several Python blocks we take the last one that defines something (later blocks are usually example
    usage); an unclosed fence (a truncated response) runs to the end.
    """
    blocks = [body for language, body in _FENCE.findall(response) if language.lower() in _PYTHON_FENCES]
    if not blocks:
        return response
    defining = [block for block in blocks if _DEFINES.search(block)]
    return (defining or blocks)[-1]


# ---------------------------------------------------------------------------------------------------------------
# Tests, run on this side


@dataclass
class Test:
    compiled: object
    model_names: list[str]  # names the test uses that neither it, the setup nor the builtins define

    def passed(self, sandbox: Sandbox, clean_namespace: dict) -> bool:
        namespace = dict(clean_namespace)
        try:
            for name in self.model_names:
                namespace[name] = _wrap(sandbox, sandbox.request({"name": name}))
            exec(self.compiled, namespace)
        except Exception:  # a failed assert, a name the model's code lacks, a sandbox that timed out or died
            return False
        return True


class RemoteError(Exception):
    """An exception raised inside the sandbox that is not a builtin one (or not an Exception at all)."""


class Remote:
    """An object that lives in the sandbox. It has no truth value and no equality of its own: only plain data
    decides a test."""

    __slots__ = ("_sandbox", "_handle")
    __hash__ = None

    def __init__(self, sandbox: Sandbox, handle: int):
        object.__setattr__(self, "_sandbox", sandbox)
        object.__setattr__(self, "_handle", handle)

    def _ask(self, **request):
        return _wrap(self._sandbox, self._sandbox.request(request))

    def __call__(self, *args, **kwargs):
        return self._ask(
            call=self._handle, args=[_argument(a) for a in args], kwargs=[[k, _argument(v)] for k, v in kwargs.items()]
        )

    def __getattr__(self, name):
        return self._ask(attr=self._handle, name=name)

    def __getitem__(self, key):
        return self._ask(item=self._handle, key=_argument(key))

    def __iter__(self):
        return iter(self._ask(iter=self._handle))

    def __len__(self):
        return self._ask(len=self._handle)

    def __bool__(self):
        raise TypeError("an object of the model's code has no truth value here: compare plain data")

    def __eq__(self, other):
        raise TypeError("an object of the model's code has no equality here: compare plain data")

    __ne__ = __eq__

    def __repr__(self):
        return f"<object {self._handle} in the sandbox>"


def _argument(value) -> dict:
    if isinstance(value, Remote):
        return {"handle": object.__getattribute__(value, "_handle")}
    return Sandbox.plain_argument(value)


def _wrap(sandbox: Sandbox, reply: dict):
    if "value" in reply:
        return reply["value"]
    if "handle" in reply:
        return Remote(sandbox, reply["handle"])
    raised = getattr(builtins, reply["raised"], None)
    if isinstance(raised, type) and issubclass(raised, Exception):
        raise raised("raised by the model's code")
    raise RemoteError(reply["raised"])


@dataclass
class Plan:
    tests: list[Test]
    clean_namespace: dict


def plan_tests(tests: list[str], setup: str) -> Plan:
    clean_namespace = _clean_namespace(setup)
    plan = Plan(tests=[], clean_namespace=clean_namespace)
    for index, source in enumerate(tests):
        try:
            module = ast.parse(source)
        except SyntaxError as error:
            raise ValueError(f"test {index} is not valid Python: {error}") from None
        plan.tests.append(Test(compile(module, f"test{index}", "exec"), _model_names(module, clean_namespace)))
    return plan


def _model_names(module: ast.Module, clean_namespace: dict) -> list[str]:
    """Names a test reads but does not bind itself, that are neither the setup's nor builtins."""
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
    names = dict.fromkeys(n for n in loaded if n not in bound and n not in clean_namespace and not hasattr(builtins, n))
    return list(names)


@functools.lru_cache(maxsize=256)
def _clean_setup_namespace(setup: str) -> dict:
    namespace = {"__builtins__": builtins, "math": math}
    try:
        exec(compile(setup, "setup.py", "exec"), namespace)  # trusted: it comes with the ground truth
    except Exception:
        namespace = {"__builtins__": builtins, "math": math}
    return namespace


def _clean_namespace(setup: str) -> dict:
    return dict(_clean_setup_namespace(setup))
