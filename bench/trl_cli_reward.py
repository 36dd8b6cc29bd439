"""The RLVR stage's reward as a function `trl grpo` can import by name (`reward_funcs:
[bench.trl_cli_reward.verifiable]`), for bench/bench_stages_vs_trl_cli.py: stages/rl/reward.VerifiableReward built from
the stage's own options (conf/rlvr/grpo.yaml: 10 x the verifier score, -10 for a response cut off without
end-of-turn; its verifier workers and timeout), as the stage builds it. The model whose end-of-turn ids count is
$BENCH_TRL_CLI_MODEL."""

from __future__ import annotations

import atexit
import os

_reward = None


def verifiable(prompts, completions, completion_ids, dataset, ground_truth, **kwargs):
    global _reward
    if _reward is None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from bench.measure import compose
        from rewards import VerifierPool
        from runtime.config import split_section
        from runtime.generation import eos_token_ids
        from stages.rl.reward import VerifiableReward

        options, _ = split_section("rlvr", compose([]).rlvr)
        path = os.environ["BENCH_TRL_CLI_MODEL"]
        model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
        pool = VerifierPool(num_workers=options.verifier_workers, timeout_s=options.verifier_timeout_s)
        atexit.register(pool.close)
        _reward = VerifiableReward(
            pool,
            verification_reward=options.verification_reward,
            nonstop_penalty=options.nonstop_penalty,
            format_reward=options.format_reward,
            process_reward=options.process_reward,
            eos_token_ids=eos_token_ids(model, tokenizer),
        )
    return _reward(prompts, completions, completion_ids, dataset, ground_truth, **kwargs)
