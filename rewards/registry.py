"""The verifiers by name, and what scoring one row means (the pool's workers run `score_item`)."""

from __future__ import annotations

from collections.abc import Sequence

from rewards import code_exec, gsm8k, ifeval, math_equiv, sandbox, string_match, tool_call

# name -> verify(response, ground_truth) -> float in [0, 1]. Pure and in-process: they may be slow or hang on
# adversarial input (and `code` starts a sandbox process), so production callers go through VerifierPool.
VERIFIERS = {
    "gsm8k": gsm8k.verify,
    "math": math_equiv.verify,
    "ifeval": ifeval.verify,
    "ifeval_loose": ifeval.verify_loose,
    "ifeval_strict": ifeval.verify_strict,
    "code": code_exec.verify,
    "string_match": string_match.verify,
}
# `tool_call` judges a tool-using rollout's final answer with one of the verifiers above (its ground truth names it).
VERIFIERS["tool_call"] = lambda response, ground_truth: tool_call.verify(response, ground_truth, VERIFIERS)


def _check_text(ground_truth) -> None:
    if not str(ground_truth).strip():
        raise ValueError("the ground truth is empty")


def _check_tool_call(ground_truth) -> None:
    spec = tool_call.parse_ground_truth(ground_truth, VERIFIERS)
    GROUND_TRUTH_CHECKS[spec.answer_verifier](spec.answer)


def _check_ifeval(ground_truth) -> None:
    ifeval.check_instructions("Some text.", ground_truth)  # unknown ids and unusable arguments raise


# name -> check(ground_truth): raises ValueError when the verifier could never give the row a reward (a gsm8k truth
# that is not a number, IFEval JSON that does not parse, code without tests). Data loading calls it on every row.
GROUND_TRUTH_CHECKS = {
    "gsm8k": gsm8k.check_ground_truth,
    "math": _check_text,
    "ifeval": _check_ifeval,
    "ifeval_loose": _check_ifeval,
    "ifeval_strict": _check_ifeval,
    "code": code_exec.check_ground_truth,
    "string_match": _check_text,
    "tool_call": _check_tool_call,
}


# name -> stated_answer(response) -> the answer where the verifier's format puts it, or None. Verifiers without an
# answer format (ifeval, code) have none.
STATED_ANSWERS = {
    "gsm8k": gsm8k.stated_answer,
    "math": math_equiv.stated_answer,
}


def answer_stated(dataset: str, response: str) -> bool:
    """The response gives its final answer in the verifier's format (whether or not it is right)."""
    return dataset in STATED_ANSWERS and STATED_ANSWERS[dataset](response) is not None


# name -> answer_key(response) -> the final answer as the verifier compares it (normalised, hashable), or None: what
# self-consistency votes on. Verifiers that check properties of the whole response (ifeval, code) have none.
ANSWER_KEYS = {
    "gsm8k": gsm8k.answer_key,
    "math": math_equiv.answer_key,
    "string_match": string_match.answer_key,
}


def ground_truth_error(dataset: str, ground_truth) -> str | None:
    """Why `dataset`'s verifier cannot use this ground truth, or None."""
    try:
        GROUND_TRUTH_CHECKS[dataset](ground_truth)
    except (ValueError, SyntaxError, TypeError, AttributeError, KeyError) as error:
        return str(error) or type(error).__name__
    return None


def row_error(row) -> str | None:
    """Why a row cannot be scored at all, or None."""
    if not isinstance(row, dict):
        return "row is not a JSON object"
    missing = [key for key in ("dataset", "ground_truth", "response") if key not in row]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    if not isinstance(row["response"], str):
        return "response is not a string"
    names = row["dataset"] if isinstance(row["dataset"], list) else [row["dataset"]]
    unknown = [name for name in names if not isinstance(name, str) or name not in VERIFIERS]
    if not names or unknown:
        return f"unknown verifier(s) {unknown or names}; known: {', '.join(VERIFIERS)}"
    if isinstance(row["dataset"], list) and not (
        isinstance(row["ground_truth"], list) and len(row["ground_truth"]) == len(names)
    ):
        return "a list of datasets needs a list of ground truths of the same length"
    return None


# The verifier RL rewards with, where it differs from the one evals report: the reference IFEval is farmable.
REWARD_VERIFIERS = {"ifeval": "ifeval_strict"}


def reward_verifier(dataset):
    """The verifier(s) that reward a row of `dataset` in RL."""
    if isinstance(dataset, list):
        return [REWARD_VERIFIERS.get(name, name) for name in dataset]
    return REWARD_VERIFIERS.get(dataset, dataset)


# Verifiers that also read the row's question (its text, when the row has one): `math` tells the question restated
# from its answer by it, `ifeval_strict` an instruction met by echoing the prompt.
READS_QUESTION = {"math", "ifeval_strict"}


def score_item(dataset, ground_truth, response: str, question: str | None = None) -> float:
    """A dataset list means several verifiers (one ground truth each), averaged."""
    if isinstance(dataset, list):
        scores = [score_item(name, truth, response, question) for name, truth in zip(dataset, ground_truth)]
        return sum(scores) / len(dataset)
    if dataset in READS_QUESTION and isinstance(question, str):
        return VERIFIERS[dataset](response, ground_truth, question=question)
    return VERIFIERS[dataset](response, ground_truth)


def is_truncated(
    token_ids: Sequence[int], eos_token_id: int | Sequence[int] | None, pad_token_id: int | None = None
) -> bool:
    """True when a completion stopped without an end-of-sequence token (it hit the length limit).

    Trailing padding is ignored. Mark such rows `"truncated": true` and the pool scores them 0 without running a
    verifier, so RL can penalise rambling instead of rewarding an answer that happened to come before the cut."""
    if eos_token_id is None:
        return False
    eos_ids = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id)
    ids = list(token_ids)
    while ids and pad_token_id is not None and ids[-1] == pad_token_id and pad_token_id not in eos_ids:
        ids.pop()
    return not ids or ids[-1] not in eos_ids


def row_truncated(row: dict) -> bool:
    return row.get("truncated") is True or row.get("finish_reason") == "length"


def warm_up() -> None:
    """Import and initialise what the verifiers load lazily, so that the pool's workers start warm."""
    sandbox.launcher_process()
    math_equiv.equivalent("2\\sqrt{2}", "\\sqrt{8}")  # needs the LaTeX parser: loads it
    ifeval.verify(
        "This is an English sentence, written to load the language profiles.",
        {"instruction_id_list": ["language:response_language"], "kwargs": [{"language": "en"}]},
    )
