"""Exact arithmetic on untrusted text: the step checker's sides and the calculator tool's expressions.

    evaluate("3 * 18 - 52") -> Fraction(2)        ArithmeticError-free: bad input raises ValueError, saying why

Nothing is `eval`ed: the text is parsed with `ast` (expression mode) and reduced over `fractions.Fraction`, node by
node, accepting only numbers, + - * / ** (^ means **), unary signs and parentheses. The work is bounded whatever the
text: at most MAX_LENGTH characters, exponents up to MAX_EXPONENT, and no intermediate value over MAX_DIGITS digits
(`9 ** 9 ** 9` is refused before it is computed, not after).
"""

from __future__ import annotations

import ast
from fractions import Fraction

MAX_LENGTH = 200
MAX_EXPONENT = 10
MAX_DIGITS = 60

_OPERATIONS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def evaluate(text: str) -> Fraction:
    """The exact value of an arithmetic expression; ValueError (with the reason) for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"expected an expression as text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        raise ValueError(f"not an arithmetic expression: {text!r}") from None
    try:
        return _reduce(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except RecursionError:
        raise ValueError("expression nested too deeply") from None


def format_value(value: Fraction) -> str:
    """12, -3, 7/4: an integer when it is one, else the reduced fraction."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _reduce(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _bounded(Fraction(str(node.value)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _reduce(node.operand)
        return value if isinstance(node.op, ast.UAdd) else -value
    if isinstance(node, ast.BinOp):
        left, right = _reduce(node.left), _reduce(node.right)
        if isinstance(node.op, ast.Pow):
            if right.denominator != 1 or abs(right) > MAX_EXPONENT:
                raise ValueError(f"exponents must be whole numbers up to {MAX_EXPONENT}")
            return _bounded(left ** int(right))
        operation = _OPERATIONS.get(type(node.op))
        if operation is None:
            raise ValueError(f"unsupported operator {type(node.op).__name__}")
        return _bounded(operation(left, right))
    raise ValueError(f"not arithmetic: {type(node).__name__}")


def _bounded(value: Fraction) -> Fraction:
    if max(abs(value.numerator), value.denominator).bit_length() > MAX_DIGITS * 3.33:
        raise ValueError(f"number larger than {MAX_DIGITS} digits")
    return value
