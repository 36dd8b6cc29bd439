"""`tool_call` verifier: the final answer of a tool-using rollout, and whether the right tool was called for it.

The response is the rollout's transcript as JSON, written by the runtime (RLVR's reward, the eval's tool loop), never
the model's text itself: `[{"role": "assistant", "content": ..., "tool_calls": [...]}, {"role": "tool", "name": ...,
"content": ...}, ..., {"role": "assistant", "content": "... The answer is 4."}]`. The model's text only ever sits in
`content`, so a response that writes a tool-response marker ("<|tool|>4") or a whole fake transcript has made no call
and gets no tool credit: only `tool` messages, which the runtime appends after running a call, count as results.

Ground truth (an object or its JSON; docs/interfaces.md): `{"answer": "4", "answer_verifier": "gsm8k", "calls":
[{"name": "calculator", "arguments": {"expression": "8 - 1 - 3"}}], "max_calls": 4}`; `calls` and `max_calls` are
optional.

Score, with 0 for a wrong final answer (the last assistant message, judged by `answer_verifier`):
- more than `max_calls` calls: 0 -- a policy that calls until it is cut off earns nothing, whatever it then says;
- with an expected trace: 0.5 + 0.5 x matched / max(expected calls, calls made). A call matches an expected one when
  it is the same tool with equivalent arguments (calculator: same exact value from the same numbers, so "5 + 7"
  matches "7 + 5" but "12" does not), it did not fail, and its result is *used* (it appears in a later assistant
  message). Each call is counted once, so extra calls, repeats and calls whose results go unused dilute the score
  instead of adding to it; a right answer worked in the head keeps 0.5.
- without one: 1, times 0.5 + 0.5 x the share of used calls when calls were made.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from rewards.arithmetic import evaluate
from rewards.numbers import numbers_in

MAX_CALLS = 4
MAX_TRANSCRIPT_MESSAGES = 64


@dataclass
class Call:
    name: str
    arguments: dict
    result: str | None  # the content of the tool message that answered it; None when none did
    failed: bool
    used: bool = False


@dataclass
class Spec:
    answer_verifier: str
    answer: object
    calls: list[dict] = field(default_factory=list)
    max_calls: int = MAX_CALLS


def verify(response: str, ground_truth, verifiers: Mapping[str, Callable]) -> float:
    spec = parse_ground_truth(ground_truth, verifiers)
    messages = parse_transcript(response)
    final = final_answer(messages)
    if final is None or verifiers[spec.answer_verifier](final, spec.answer) < 1.0:
        return 0.0
    calls = tool_calls(messages)
    if len(calls) > spec.max_calls:
        return 0.0
    if spec.calls:
        return 0.5 + 0.5 * matched_calls(spec.calls, calls) / max(len(spec.calls), len(calls))
    if not calls:
        return 1.0
    return 0.5 + 0.5 * sum(call.used for call in calls) / len(calls)


def parse_ground_truth(ground_truth, verifiers: Mapping[str, Callable]) -> Spec:
    spec = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    if not isinstance(spec, Mapping):
        raise ValueError("a tool_call ground truth is an object with 'answer' and 'answer_verifier'")
    verifier = spec.get("answer_verifier")
    if verifier not in verifiers or verifier == "tool_call":
        raise ValueError(f"tool_call: unknown answer_verifier {verifier!r}")
    if "answer" not in spec:
        raise ValueError("tool_call: no 'answer' (the final answer's ground truth)")
    calls = spec.get("calls") or []
    if not isinstance(calls, list) or not all(_is_call(call) for call in calls):
        raise ValueError("tool_call: 'calls' must be a list of {name, arguments} objects")
    max_calls = spec.get("max_calls", MAX_CALLS)
    if not isinstance(max_calls, int) or max_calls < len(calls):
        raise ValueError("tool_call: 'max_calls' must be a whole number no smaller than the expected calls")
    return Spec(verifier, spec["answer"], calls, max_calls)


def parse_transcript(response: str) -> list[dict]:
    """The runtime's JSON transcript -> its messages; ValueError when it is not one."""
    messages = json.loads(response)
    if not isinstance(messages, list) or not messages or len(messages) > MAX_TRANSCRIPT_MESSAGES:
        raise ValueError("a tool_call response is the rollout's transcript: a JSON list of messages")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("assistant", "tool"):
            raise ValueError("a transcript holds assistant and tool messages only")
        if not isinstance(message.get("content") or "", str):
            raise ValueError("a transcript message's content must be text")
    return messages


def final_answer(messages: list[dict]) -> str | None:
    """The last assistant message's text, when the rollout ended with an answer: not with a tool message, nor with a
    turn whose calls were never answered (cut off at the call limit)."""
    last = messages[-1]
    return (last.get("content") or "") if last["role"] == "assistant" and not last.get("tool_calls") else None


def tool_calls(messages: list[dict]) -> list[Call]:
    """Every call the assistant made, each with the tool message that answered it and whether its result is used."""
    calls: list[Call] = []
    pending: list[Call] = []
    for index, message in enumerate(messages):
        if message["role"] == "assistant":
            pending = []
            for raw in message.get("tool_calls") or []:
                function = raw.get("function") if isinstance(raw, dict) else None
                name = function.get("name") if isinstance(function, dict) else None
                arguments = _arguments(function.get("arguments") if isinstance(function, dict) else None)
                call = Call(str(name), arguments, None, True)
                calls.append(call)
                pending.append(call)
        elif pending:  # tool messages answer the pending calls in order
            call = pending.pop(0)
            call.result = str(message.get("content") or "")
            call.failed = is_error(call.result)
            later = " ".join(m.get("content") or "" for m in messages[index + 1 :] if m["role"] == "assistant")
            call.used = not call.failed and _mentions(later, call.result)
    return calls


def answer_uses_a_result(messages: list[dict]) -> bool:
    """The rollout ended with an answer that states a result one of its calls returned (the tool's result was used)."""
    return final_answer(messages) is not None and any(call.used for call in tool_calls(messages))


def is_error(tool_content: str) -> bool:
    """A tool message that reports a failed call (TRL's and the eval's `{"error": ...}`)."""
    return tool_content.lstrip().startswith(("{'error'", '{"error"'))


def matched_calls(expected: list[dict], calls: list[Call]) -> int:
    """Expected calls matched one to one by calls that succeeded, used their result and had equivalent arguments."""
    free = [call for call in calls if call.used]
    matched = 0
    for want in expected:
        hit = next((call for call in free if _equivalent(want, call)), None)
        if hit is not None:
            free.remove(hit)
            matched += 1
    return matched


def _arguments(raw) -> dict:
    """A call's arguments: an object, or (OpenAI's wire format) the JSON text of one."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _equivalent(want: dict, call: Call) -> bool:
    if want["name"] != call.name:
        return False
    if call.name == "calculator":
        return _same_arithmetic(want["arguments"].get("expression"), call.arguments.get("expression"))
    if call.name == "python":
        return _same_program(want["arguments"].get("code"), call.arguments.get("code"))
    return _same_value(want["arguments"], call.arguments)


def _same_arithmetic(expected, given) -> bool:
    """Same exact value, computed from the same numbers (8 and 8.0 are one number): reordered, re-spaced or
    re-bracketed, not precomputed."""
    try:
        same_value = evaluate(expected) == evaluate(given)
    except ValueError:
        return False
    return same_value and _operands(expected) == _operands(given)


def _operands(expression: str) -> list[Fraction]:
    return sorted(abs(value) for _, _, value in numbers_in(expression))


def _same_program(expected, given) -> bool:
    """The same Python program up to layout and comments: their syntax trees are equal."""
    if not isinstance(expected, str) or not isinstance(given, str):
        return False
    try:
        return ast.dump(ast.parse(expected)) == ast.dump(ast.parse(given))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return expected == given


def _same_value(want, given) -> bool:
    """JSON values equal as values: numbers by exact value (8 is 8.0; a boolean is no number), strings by text."""
    if isinstance(want, bool) or isinstance(given, bool):
        return want is given
    if isinstance(want, (int, float)) and isinstance(given, (int, float)):
        return Fraction(want) == Fraction(given) if all(map(math.isfinite, (want, given))) else want == given
    if isinstance(want, dict) and isinstance(given, dict):
        return want.keys() == given.keys() and all(_same_value(want[k], given[k]) for k in want)
    if isinstance(want, list) and isinstance(given, list):
        return len(want) == len(given) and all(_same_value(w, g) for w, g in zip(want, given))
    return type(want) is type(given) and want == given


def _mentions(text: str, result: str) -> bool:
    result = result.strip()
    return bool(result) and re.search(rf"(?<![\d.]){re.escape(result)}(?![\d])", text) is not None


def _is_call(call) -> bool:
    return (
        isinstance(call, Mapping) and isinstance(call.get("name"), str) and isinstance(call.get("arguments"), Mapping)
    )
