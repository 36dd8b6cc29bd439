"""Best-of-N scorers: rank a prompt's sampled answers without the ground truth.

    process   the step checker (rewards/process.py): the share of the answer's equations that are true, grounded
              in the problem, new and on the way to its stated answer
    rm        the run's reward model (`make rm`; runtime/reward_model.py)

eval.scorers=null (the default) uses `process`, and `rm` when the run has a trained reward model; a list names them,
and a named `rm` without a reward model is an error before any generation. A scorer is handed the prompt turns and
the response, nothing else: `score(prompts, responses) -> scores`.
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from rewards.process import problem_text, process_score
from runtime import layout, reward_model
from runtime.lineage import checkpoint_id

SCORER_NAMES = ("process", "rm")

Scorer = Callable[[list[list[dict]], list[str]], list[float]]


def resolve(cfg: DictConfig) -> dict[str, str | None]:
    """name -> what it depends on (the reward model's checkpoint id; None for process), for the scorers this eval
    uses. Raises SystemExit naming the expected checkpoint when `rm` is asked for and there is none."""
    if cfg.eval.num_samples < 2:
        return {}
    names = cfg.eval.scorers
    if names is None:
        names = ["process"] + (["rm"] if layout.is_complete(layout.stage_dir(cfg, "rm")) else [])
    resolved = {}
    for name in names:
        if name == "rm":
            path = reward_model.resolve_reward_model(cfg, cfg.eval.reward_model)
            resolved[name] = checkpoint_id(path, None)
        else:
            resolved[name] = None
    return resolved


def build(cfg: DictConfig, names) -> dict[str, Scorer]:
    scorers: dict[str, Scorer] = {}
    for name in names:
        if name == "process":
            scorers[name] = score_process
        else:
            model, tokenizer = reward_model.load_reward_model(
                cfg, reward_model.resolve_reward_model(cfg, cfg.eval.reward_model), trainable=False
            )
            scorers[name] = lambda prompts, responses, m=model, t=tokenizer: reward_model.score_conversations(
                m, t, [[*prompt, {"role": "assistant", "content": r}] for prompt, r in zip(prompts, responses)]
            )
    return scorers


def score_process(prompts: list[list[dict]], responses: list[str]) -> list[float]:
    return [process_score(problem_text(prompt), response) for prompt, response in zip(prompts, responses)]
