"""Tests a response answers from a table instead of computing: the code holds a test's input and its expected output as
literals (`if n == 15: return 610`, `{15: 610}[n]`, `match n: case 15: return 610`). A policy shown a problem's examples
(HumanEval's docstrings, MBPP's listed asserts) earns the share of the tests they cover by copying them into the
code, and the code verifier scores a fraction of the tests: a test passed from such a table counts as failed.

Data flow: the response's code and the tests' sources -> the code's literals (constant expressions folded: `10 + 5`
is 15, `"ab" + "c"` is "abc"), whole and per entry of a possible table (an `if` or `case` and its body, a dict's key
and value), and per test the literal arguments of the calls it makes and the literal it compares their result with
-> the indices of the tests whose argument and expected value stand in one entry, one of them distinctive
(`distinctive`: not a boolean, None, a small integer or a one-character string, which honest code holds anyway), or
anywhere in the code, both distinctive and the answer not the input repeated.

Pure syntax: nothing here runs the model's code, and the cost is linear in the code and the tests.
"""

from __future__ import annotations

import ast

_MAX_LITERAL_REPR = 2000  # longer literals are compared by nothing: a table entry is short
_SMALL_INTEGERS = range(-10, 11)


def hardcoded_tests(code: str, tests: list[str]) -> set[int]:
    """Indices of the tests the code answers from a table: a test's literal argument and its expected literal in one
    entry of it (the test and body of an `if`, a conditional expression or a `case`; a dict's key and value), one of
    them distinctive; or, anywhere in the code, both distinctive and different (parallel lists:
    `outputs[inputs.index(n)]`)."""
    try:
        tree = ast.parse(code)
        memo: dict[int, object] = {}
        held = literal_values(tree, memo)
        leads_to = _table(tree, memo)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    found = set()
    for index, source in enumerate(tests):
        try:
            cases = _cases(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for arguments, expected in cases:
            if _in_one_entry(arguments, expected, leads_to) or _in_parallel(arguments, expected, held):
                found.add(index)
    return found


def _in_one_entry(arguments: list, expected, leads_to: dict) -> bool:
    return any(
        expected in leads_to.get(argument, ()) and (distinctive(expected) or distinctive(argument))
        for argument in arguments
    )


def _in_parallel(arguments: list, expected, held: set) -> bool:
    if not distinctive(expected) or expected not in held or expected in arguments:
        return False  # an answer that repeats its input proves nothing held ("three" sorted is "three")
    return any(distinctive(argument) and argument in held for argument in arguments)


_MAX_ENTRY_LITERALS = 64  # an entry of a table is small; a larger `if` is code, not a row of a table


def _table(tree: ast.AST, memo: dict) -> dict:
    """Each literal of a condition or key -> the literals of what it leads to, over the entries of a possible table:
    the test and body of an `if`, a conditional expression or a `case`, a dict's key and value."""
    leads_to: dict = {}
    for keys, values in _entries(tree, memo):
        if len(keys) <= _MAX_ENTRY_LITERALS and len(values) <= _MAX_ENTRY_LITERALS:
            for key in keys:
                leads_to.setdefault(key, set()).update(values)
    return leads_to


def _entries(tree: ast.AST, memo: dict):
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.IfExp)):
            body = node.body if isinstance(node.body, list) else [node.body]
            yield literal_values(node.test, memo), set().union(*(literal_values(part, memo) for part in body))
        elif isinstance(node, ast.match_case):
            yield literal_values(node.pattern, memo), set().union(*(literal_values(part, memo) for part in node.body))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None:
                    yield literal_values(key, memo), literal_values(value, memo)


def literal_values(tree: ast.AST, memo: dict | None = None) -> set:
    """Every literal of the tree as a comparable key (`_key`), constant expressions folded, containers whole and item
    by item. Each node is folded once per `memo` (a long chain `1 + 1 + ...` costs no more than its length)."""
    memo = {} if memo is None else memo
    values = set()
    for node in ast.walk(tree):
        value = _folded(node, memo)
        if value is not _NOT_LITERAL:
            values.add(_key(value))
    values.discard(_NOT_LITERAL)
    return values


def distinctive(key) -> bool:
    """A value honest code would not hold by coincidence."""
    kind, value = key
    if kind in ("bool", "none"):
        return False
    if kind == "number":
        return value not in _SMALL_INTEGERS
    if kind == "str":
        return len(value) > 1
    return len(value) > 1  # a container: two or more items


def _cases(test: ast.Module) -> list[tuple[list, object]]:
    """(literal arguments, expected literal) of each `call(...) == literal` (either side) in the test."""
    cases = []
    for node in ast.walk(test):
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.Is))):
            continue
        for call, other in ((node.left, node.comparators[0]), (node.comparators[0], node.left)):
            expected = _folded(other)
            if isinstance(call, ast.Call) and expected is not _NOT_LITERAL:
                arguments = [_folded(argument) for argument in call.args]
                arguments += [_folded(keyword.value) for keyword in call.keywords]
                literal = [_key(argument) for argument in arguments if argument is not _NOT_LITERAL]
                cases.append(([key for key in literal if key is not _NOT_LITERAL], _key(expected)))
    return cases


class _NotLiteral:
    pass


_NOT_LITERAL = _NotLiteral()
_FOLDABLE = (ast.Add, ast.Sub, ast.Mult, ast.USub, ast.UAdd)


def _folded(node: ast.AST, memo: dict | None = None):
    """The value of a literal or of a constant expression of literals (`10 + 5`, `-3`, `"ab" + "c"`, `[1, 2 * 3]`),
    else `_NOT_LITERAL`. Products are folded only where they stay small (no `"x" * 10**9`)."""
    if memo is None:
        memo = {}
    if id(node) not in memo:
        memo[id(node)] = _fold(node, memo)
    return memo[id(node)]


def _fold(node: ast.AST, memo: dict):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_folded(item, memo) for item in node.elts]
        if any(item is _NOT_LITERAL for item in items):
            return _NOT_LITERAL
        if not isinstance(node, ast.Set):
            return tuple(items)
        try:
            return frozenset(items)
        except TypeError:  # a set of lists does not build
            return _NOT_LITERAL
    if isinstance(node, ast.Dict):
        keys, values = (
            [_folded(key, memo) if key else _NOT_LITERAL for key in node.keys],
            [_folded(v, memo) for v in node.values],
        )
        if any(item is _NOT_LITERAL for item in keys + values):
            return _NOT_LITERAL
        return tuple(zip(keys, values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, _FOLDABLE):
        operand = _folded(node.operand, memo)
        if isinstance(operand, (int, float, complex)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
        return _NOT_LITERAL
    if isinstance(node, ast.BinOp) and isinstance(node.op, _FOLDABLE):
        left, right = _folded(node.left, memo), _folded(node.right, memo)
        if _NOT_LITERAL in (left, right) or isinstance(left, bool) or isinstance(right, bool):
            return _NOT_LITERAL
        try:
            if isinstance(node.op, ast.Mult) and _too_large(left, right):
                return _NOT_LITERAL
            value = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right}[
                type(node.op)
            ]()
        except Exception:  # mismatched types ("a" - 1): not a constant
            return _NOT_LITERAL
        return value
    return _NOT_LITERAL


def _too_large(left, right) -> bool:
    """A product whose result would be large: a sequence repeated past `_MAX_LITERAL_REPR`, or numbers of over 128
    bits together."""
    sequences = [value for value in (left, right) if isinstance(value, (str, bytes, tuple))]
    if sequences:
        times = [value for value in (left, right) if isinstance(value, int)]
        return not times or len(sequences[0]) * abs(times[0]) > _MAX_LITERAL_REPR
    return sum(abs(int(value)).bit_length() for value in (left, right) if isinstance(value, (int, float))) > 128


def _key(value):
    """A value as a table key: numbers by value (15 and 15.0 are one), booleans and None apart from numbers, lists and
    tuples alike, too long a value as nothing."""
    if value is _NOT_LITERAL:
        return _NOT_LITERAL
    if isinstance(value, bool):
        return ("bool", value)
    if value is None:
        return ("none", None)
    if isinstance(value, (int, float, complex)):
        return ("number", value)
    if isinstance(value, (str, bytes)):
        return ("str", value) if len(value) <= _MAX_LITERAL_REPR else _NOT_LITERAL
    if isinstance(value, (tuple, frozenset)):
        try:
            return (
                ("container", value)
                if len(repr(value)) <= _MAX_LITERAL_REPR and hash(value) is not None
                else _NOT_LITERAL
            )
        except TypeError:
            return _NOT_LITERAL
    return _NOT_LITERAL
