"""The RLVR stage's reward as a function `trl grpo` can import by name (`reward_funcs:
[bench.trl_cli_reward.verifiable]`), for bench/bench_stages_vs_trl_cli.py: stages/rlvr.VerifiableReward with
conf/rlvr/grpo.yaml's values (10 x the verifier score, -10 for a response cut off without end-of-turn), its verifiers in
one worker process, as the stage runs them. The model whose end-of-turn ids count is $BENCH_TRL_CLI_MODEL."""

from __future__ import annotations

import atexit
import os

_reward = None


def verifiable(prompts, completions, completion_ids, dataset, ground_truth, **kwargs):
    global _reward
    if _reward is None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from rewards import VerifierPool
        from runtime.generation import eos_token_ids
        from stages.rlvr import VerifiableReward

        path = os.environ["BENCH_TRL_CLI_MODEL"]
        model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
        pool = VerifierPool(num_workers=1, timeout_s=5.0)
        atexit.register(pool.close)
        _reward = VerifiableReward(
            pool,
            verification_reward=10.0,
            nonstop_penalty=-10.0,
            format_reward=0.0,
            eos_token_ids=eos_token_ids(model, tokenizer),
        )
    return _reward(prompts, completions, completion_ids, dataset, ground_truth, **kwargs)
