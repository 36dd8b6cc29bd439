"""The tools a policy may call during RLVR rollouts and tool-using evals, and the rules a tool must follow.

    calculator(expression) -> "12"            exact arithmetic (rewards/arithmetic.py: parsed, never `eval`ed)
    python(code) -> what the code printed     run in the verifier sandbox (rewards/sandbox.py), bounded
    resolve_tools(["calculator", "pkg.mod:fn"]) -> [functions]     names or import paths, checked as TRL needs them

A tool is a plain function with type hints and a Google-style docstring: TRL (and transformers' chat templates) turn
its signature into the JSON schema the model is shown. A tool signals a bad call by raising ToolError (or any
exception): TRL's rollout loop and the eval's (runtime/generation.py) return `{"error": "<message>"}` to the model as
the tool's message and count it as a failed call, so a malformed expression, a timeout or an unknown tool never
stops a run. The model's own text is never executed here: the calculator reads it with `ast`, and python code runs
in a sandbox process without the host's files, the network or other processes, for at most PYTHON_TIMEOUT_S.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rewards._sandbox_codec import Codec
from rewards.arithmetic import evaluate, format_value
from rewards.sandbox import Sandbox, SandboxError

PYTHON_TIMEOUT_S = 3.0
PYTHON_MEMORY_MB = 512
MAX_TOOL_OUTPUT = 500  # characters of a tool result shown to the model (output past it is cut, and says so)


class ToolError(ValueError):
    """A call the tool cannot answer; the message is what the model reads."""


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly.

    Args:
        expression: Numbers with + - * / ** and parentheses, for example "3 * 18 - 52".

    Returns:
        The exact value: an integer, or a reduced fraction such as 7/4.
    """
    try:
        return format_value(evaluate(expression))
    except ValueError as error:
        raise ToolError(f"calculator: {error}") from None


# Runs inside the sandbox: the model's code gets a fresh namespace, and what it prints (or the exception that ended
# it, SystemExit included) is collected for the one request the tool makes afterwards.
_RUNNER = """
import io, sys
_tool_output = io.StringIO()
sys.stdout = sys.stderr = _tool_output
try:
    exec(compile(_tool_source, "<tool>", "exec"), {"__name__": "__main__"})
except BaseException as _error:
    print(f"{type(_error).__name__}: {_error}")
_tool_output = _tool_output.getvalue()[:LIMIT]
"""


def python(code: str) -> str:
    """Run Python code in a sandbox and return what it prints.

    Args:
        code: A Python program; use print() to show results.

    Returns:
        The program's printed output (and the error that stopped it, if any).
    """
    if not isinstance(code, str):
        raise ToolError(f"python: code must be text, got {type(code).__name__}")
    runner = _RUNNER.replace("LIMIT", str(MAX_TOOL_OUTPUT + 1))
    try:
        with Sandbox(
            runner, setup=f"_tool_source = {code!r}", timeout_s=PYTHON_TIMEOUT_S, memory_mb=PYTHON_MEMORY_MB
        ) as sandbox:
            if sandbox.timed_out:
                raise SandboxError("timed out")
            if not sandbox.ready:
                raise ToolError("python: the sandbox could not run the code")
            reply = sandbox.request({"name": "_tool_output"})
            try:
                output = Codec().decode(reply["value"])[0] if "value" in reply else None
            except (ValueError, TypeError, KeyError, RecursionError):
                output = None  # a reply the code wrote itself
    except SandboxError as error:
        if "timed out" in str(error):
            raise ToolError(f"python: timed out after {PYTHON_TIMEOUT_S:g} s") from None
        raise ToolError(f"python: {error}") from None
    if not isinstance(output, str):
        raise ToolError("python: the sandbox returned no output")
    return output if len(output) <= MAX_TOOL_OUTPUT else output[:MAX_TOOL_OUTPUT] + " [output cut]"


TOOLS: dict[str, Callable[..., str]] = {"calculator": calculator, "python": python}


def resolve_tools(names) -> list[Callable]:
    """The functions for `names` (a name in TOOLS, or "package.module:function"), each checked to be usable as a
    tool; ValueError naming the tool otherwise."""
    tools = []
    for name in names or []:
        tool = TOOLS.get(name) if ":" not in str(name) else _import(str(name))
        if tool is None:
            raise ValueError(f"unknown tool {name!r}: known tools are {', '.join(TOOLS)}, or give 'module:function'")
        check_tool(tool, str(name))
        tools.append(tool)
    return tools


def tool_schemas(names) -> list[dict]:
    """The JSON schemas of the named tools (resolve_tools' names), as chat templates render them."""
    return [check_tool(tool, str(name)) for name, tool in zip(names, resolve_tools(names))]


def _import(path: str) -> Callable | None:
    module, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute, None)
    except ImportError as error:
        raise ValueError(f"tool {path!r}: cannot import {module}: {error}") from None


def check_tool(tool: Callable, name: str) -> dict:
    """The tool's JSON schema, as the chat template will render it; ValueError when it has none to give (no
    docstring, an argument without a type hint or a description)."""
    from transformers.utils import get_json_schema

    if not callable(tool):
        raise ValueError(f"tool {name!r} is not a function")
    try:
        return get_json_schema(tool)
    except Exception as error:  # transformers' DocstringParsingException / TypeHintParsingException
        raise ValueError(f"tool {name!r} cannot be offered to a model: {error}") from None


def call_tool(tools: dict[str, Callable], call: dict) -> tuple[str, bool]:
    """Run one parsed tool call ({"type": "function", "function": {"name", "arguments"}}) as TRL's rollout loop
    does: (the tool message's content, whether it failed). Never raises."""
    function = call.get("function") if isinstance(call, dict) else None
    if call.get("type") != "function" or not isinstance(function, dict):
        return str({"error": "malformed tool call"}), False
    name, arguments = function.get("name"), function.get("arguments")
    try:
        if name not in tools:
            raise ValueError(f"Tool {name} not found.")
        if not isinstance(arguments, dict):
            raise ValueError("tool arguments must be an object")
        return str(tools[name](**arguments)), True
    except Exception as error:
        return str({"error": str(error)}), False
