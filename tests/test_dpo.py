"""The DPO stage: TRL's length-normalised loss against the formula, the reference log-probs cache, a few-step run from
the shared tiny SFT checkpoint, on-policy pair construction, and bad input refused before a model loads."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import compose

from data.loading import DataError, load_preference
from runtime import layout, models, training
from runtime.lineage import checkpoint_id
from stages import dpo, sampled_pairs

PAIRS = [  # completions of different lengths, so the length normalisation changes the loss
    {
        "prompt": [{"role": "user", "content": "Tom has 3 apples. He buys 4 more. How many apples does Tom have now?"}],
        "chosen": [{"role": "assistant", "content": "3 + 4 = 7. The answer is 7."}],
        "rejected": [{"role": "assistant", "content": "Tom has 3 apples and buys 4 more. 3 + 4 = 8. The answer is 8."}],
    },
    {
        "prompt": [{"role": "user", "content": "Solve for $x$: $2x + 1 = 7$."}],
        "chosen": [{"role": "assistant", "content": "$2x = 6$, so $x = 3$. The final answer is $\\boxed{3}$."}],
        "rejected": [{"role": "assistant", "content": "The final answer is $\\boxed{4}$."}],
    },
]


def dpo_cfg(sft_run, *overrides):
    return compose([f"runs_dir={sft_run.runs_dir}", f"run_name={sft_run.run_name}", "logging=none", *overrides])


def completion_logps(model, tokenizer, prompt, completion) -> tuple[float, int]:
    """Sum of the completion tokens' log-probs and their count, from a plain forward pass (no TRL code)."""

    def render(messages, **kw):
        return tokenizer(
            tokenizer.apply_chat_template(messages, tokenize=False, **kw), add_special_tokens=False
        ).input_ids

    prompt_ids, full_ids = render(prompt, add_generation_prompt=True), render(prompt + completion)
    assert full_ids[: len(prompt_ids)] == prompt_ids
    with torch.no_grad():
        logits = model(torch.tensor([full_ids])).logits[0, :-1]
    token_logps = torch.log_softmax(logits.float(), dim=-1).gather(1, torch.tensor(full_ids[1:])[:, None])[:, 0]
    completion_part = token_logps[len(prompt_ids) - 1 :]
    return completion_part.sum().item(), len(completion_part)


def preference_accuracy(model, tokenizer, pairs) -> float:
    """Fraction of pairs where the model gives the chosen completion a higher mean token log-prob."""
    wins = 0
    for row in pairs:
        chosen, n_chosen = completion_logps(model, tokenizer, row["prompt"], row["chosen"])
        rejected, n_rejected = completion_logps(model, tokenizer, row["prompt"], row["rejected"])
        wins += chosen / n_chosen > rejected / n_rejected
    return wins / len(pairs)


def test_sigmoid_norm_loss_matches_the_formula(sft_run):
    """TRL's sigmoid_norm (Tülu 3's dpo_norm): mean over pairs of -log σ(β (Δc/|c| − Δr/|r|)), Δ = log π − log π_ref."""
    from datasets import Dataset
    from trl import DPOTrainer

    beta = 2.0
    cfg = dpo_cfg(sft_run, "dpo.precompute_ref_log_probs=false", f"dpo.beta={beta}", "dpo.loss_type=[sigmoid_norm]")
    _, args = training.trainer_args(cfg, "dpo")
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), trainable=False)
    reference = copy.deepcopy(model)
    torch.manual_seed(0)
    with torch.no_grad():  # a reference that differs from the policy, so the log-ratios are not all zero
        for p in reference.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trainer = DPOTrainer(
        model=model, ref_model=reference, args=args, train_dataset=Dataset.from_list(PAIRS), processing_class=tokenizer
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch).item()

    normalised, summed = [], []
    for row in PAIRS:
        (pc, nc), (pr, nr) = (completion_logps(model, tokenizer, row["prompt"], row[k]) for k in ("chosen", "rejected"))
        (rc, _), (rr, _) = (
            completion_logps(reference, tokenizer, row["prompt"], row[k]) for k in ("chosen", "rejected")
        )
        normalised.append(-F.logsigmoid(torch.tensor(beta * ((pc - rc) / nc - (pr - rr) / nr))).item())
        summed.append(-F.logsigmoid(torch.tensor(beta * ((pc - rc) - (pr - rr)))).item())
    expected = sum(normalised) / len(normalised)
    assert trl_loss == pytest.approx(expected, abs=1e-4)
    # the example discriminates: plain (summed) DPO and the zero-margin loss log 2 give other values
    assert abs(sum(summed) / len(summed) - expected) > 1e-3
    assert abs(expected - math.log(2)) > 1e-3


def test_ref_logps_cache_hits_on_rerun_and_misses_on_new_data_or_checkpoint(sft_run, tmp_path):
    cache = tmp_path / "cache"
    cfg = dpo_cfg(sft_run, "dpo.pairs=offline", "data.preference.0.max_rows=24", f"dpo.ref_logps_cache={cache}")
    options, args = training.trainer_args(cfg, "dpo")
    assert args.precompute_ref_log_probs is True  # the default of conf/dpo/default.yaml
    pairs = load_preference(cfg.data.preference)
    sft_checkpoint = layout.stage_dir(cfg, "sft")

    def build(dataset, parent=sft_checkpoint):
        model, tokenizer = models.load_model_and_tokenizer(cfg, parent, trainable=True)
        forwards = []
        model.get_decoder().register_forward_hook(lambda *_: forwards.append(1))
        trainer = dpo.build_trainer(cfg, options, args, model, tokenizer, dataset, checkpoint_id(parent))
        return trainer, len(forwards)

    cold, cold_forwards = build(pairs)
    assert cold.ref_logps_cache_info["ref_logps_cache"] == "miss" and cold_forwards > 0
    warm, warm_forwards = build(pairs)
    assert warm.ref_logps_cache_info["ref_logps_cache"] == "hit"
    assert warm_forwards == 0  # no reference forward pass at all
    assert warm.ref_model is None  # and no reference model in memory
    assert warm.train_dataset["ref_chosen_logps"] == cold.train_dataset["ref_chosen_logps"]
    assert warm.train_dataset["ref_rejected_logps"] == cold.train_dataset["ref_rejected_logps"]

    other_data, _ = build(pairs.select(range(12)))
    assert other_data.ref_logps_cache_info["ref_logps_cache"] == "miss"
    retrained = copy_with_one_weight_changed(sft_checkpoint, tmp_path / "retrained_sft")
    other_checkpoint, _ = build(pairs, parent=retrained)
    assert other_checkpoint.ref_logps_cache_info["ref_logps_cache"] == "miss"
    assert len(list(cache.iterdir())) == 3


def copy_with_one_weight_changed(checkpoint, target):
    """A re-trained parent: the same files but one weight."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(checkpoint, target)
    (target / "manifest.json").unlink()  # a directory of weights: named by its content
    weights = load_file(target / "model.safetensors")
    next(iter(weights.values())).view(-1)[0] += 1e-3
    save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    return target


def test_ref_logps_cache_key_is_the_parent_by_content_not_the_ranks_weights():
    """Under ZeRO-3 each rank's state_dict holds empty placeholders: TRL's hash of it is the same for every parent, so
    a re-trained SFT would reuse stale reference log-probs. The key is the parent's content id instead."""
    from trl.trainer.utils import hash_module

    def zero3_placeholders(seed):
        torch.manual_seed(seed)
        model = torch.nn.Linear(4, 4)
        for parameter in model.parameters():
            parameter.data = torch.empty(0)  # what deepspeed.zero.Init leaves in the module on every rank
        return model

    assert hash_module(zero3_placeholders(0)) == hash_module(zero3_placeholders(1))  # the old key: one for all


def test_ref_logps_are_computed_only_for_the_rows_training_draws_and_train_as_if_all_were(sft_run, tmp_path):
    """3 steps of 4 draw 12 of 64 pairs: only those get a reference pass, and training is the same as with TRL's pass
    over every pair (max_steps=-1 computes them all)."""
    common = [
        "dpo.pairs=offline",
        "data.preference.0.max_rows=64",
        "dpo.per_device_train_batch_size=4",
        "dpo.precompute_ref_batch_size=8",
        "dpo.logging_steps=1",
        "dpo.learning_rate=5e-4",
        f"dpo.ref_logps_cache={tmp_path}",
    ]
    pairs = load_preference(dpo_cfg(sft_run, *common).data.preference)

    def build(*overrides):
        cfg = dpo_cfg(sft_run, *common, *overrides)
        options, args = training.trainer_args(cfg, "dpo")
        model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), trainable=True)
        return dpo.build_trainer(cfg, options, args, model, tokenizer, pairs, "sft-id")

    every = build("dpo.max_steps=-1", "dpo.num_train_epochs=1")
    assert every.ref_logps_cache_info["ref_logps_rows"] == 64
    drawn = build("dpo.max_steps=3")
    assert drawn.ref_logps_cache_info["ref_logps_rows"] == 12
    computed = [i for i, value in enumerate(drawn.train_dataset["ref_chosen_logps"]) if not math.isnan(value)]
    assert len(computed) == 12
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        assert [drawn.train_dataset[column][i] for i in computed] == pytest.approx(
            [every.train_dataset[column][i] for i in computed], rel=1e-6
        )  # sums of ~100 fp32 log-probs near -200, where one ulp is 1.5e-5: batched differently, they differ by it

    # the same three steps as with every reference computed: no batch met a missing reference
    drawn.train()
    full = build("dpo.max_steps=3", "dpo.ref_logps_cache=" + str(tmp_path / "other"))
    full.train_dataset = every.train_dataset
    full.train()
    losses = [[entry["loss"] for entry in t.state.log_history if "loss" in entry] for t in (drawn, full)]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], abs=1e-5)


def test_a_batch_with_a_pair_never_given_a_reference_fails_instead_of_training(sft_run, tmp_path, monkeypatch):
    """A wrong prediction of the drawn rows (here: the first 12, not the shuffled ones) must stop training, not feed a
    NaN reference into the loss."""
    cfg = dpo_cfg(
        sft_run,
        "dpo.pairs=offline",
        "data.preference.0.max_rows=64",
        "dpo.per_device_train_batch_size=4",
        "dpo.max_steps=3",
        f"dpo.ref_logps_cache={tmp_path}",
    )
    monkeypatch.setattr(dpo, "rows_training_draws", lambda trainer: list(range(12)))
    options, args = training.trainer_args(cfg, "dpo")
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), trainable=True)
    pairs = load_preference(cfg.data.preference)
    trainer = dpo.build_trainer(cfg, options, args, model, tokenizer, pairs, "sft-id")
    assert trainer.ref_logps_cache_info["ref_logps_rows"] == 12
    with pytest.raises(RuntimeError, match="reference log-prob was never computed"):
        trainer.train()
    # without the check, TRL's loss takes such a batch and returns NaN: the update would wreck the weights
    from trl import DPOTrainer

    batch = trainer.data_collator([trainer.train_dataset[i] for i in (0, 40)])  # row 40 has no reference
    with torch.no_grad():
        assert torch.isnan(DPOTrainer.compute_loss(trainer, trainer.model, batch))


def test_few_step_dpo_run_raises_preference_accuracy_and_publishes(sft_run):
    cfg = dpo_cfg(
        sft_run,
        "dpo.pairs=offline",
        "data.preference.0.max_rows=64",
        "dpo.max_steps=8",
        "dpo.per_device_train_batch_size=16",
        "dpo.learning_rate=5e-4",
        "dpo.warmup_steps=0",
        "dpo.logging_steps=1",
    )
    pairs = list(load_preference(cfg.data.preference))
    sft_model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), trainable=False)
    before = preference_accuracy(sft_model, tokenizer, pairs)

    dpo.run(cfg)

    checkpoint = layout.stage_dir(cfg, "dpo")
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["stage"] == "dpo"
    assert manifest["parent"] == str(layout.stage_dir(cfg, "sft"))
    assert (checkpoint / "model.safetensors").exists() and (checkpoint / "tokenizer_config.json").exists()
    assert manifest["data"]["pairs"] == "offline" and manifest["data"]["rows"] == 64
    metrics = manifest["metrics"]
    assert metrics["global_step"] == 8 and metrics["ref_logps_cache"] in ("hit", "miss")
    # one logged batch of 16 is noisy (margins swing either way); the mean loss over training must beat chance (ln 2),
    # and the preference accuracy on all 64 pairs is checked below
    assert metrics["train_loss"] < math.log(2), metrics["train_loss"]

    dpo_model, _ = models.load_model_and_tokenizer(cfg, checkpoint, trainable=False)
    after = preference_accuracy(dpo_model, tokenizer, pairs)
    assert after > before, (before, after)


def test_onpolicy_pairs_pick_best_and_worst_and_skip_ties():
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    samples = [
        ["wrong 1", "right", "wrong 2", "right again"],  # chosen = first best, rejected = first worst
        ["right", "right", "right", "right"],  # all correct: tie
        ["nope", "nope", "nope", "nope"],  # all wrong: tie
        ["half", "full", "none", "half"],  # graded scores (IFEval-style fractions)
    ]
    fake_score = {"right": 1.0, "right again": 1.0, "full": 1.0, "half": 0.5}
    scores = [[fake_score.get(text, 0.0) for text in group] for group in samples]

    pairs, stats = sampled_pairs.build_onpolicy_pairs(prompts, samples, scores)

    chosen_rejected = [
        (p["prompt"][0]["content"], p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs
    ]
    assert chosen_rejected == [("q0", "right", "wrong 1"), ("q3", "full", "none")]
    assert pairs[0]["chosen"][0]["role"] == "assistant"
    assert stats["onpolicy_pairs"] == 2 and stats["onpolicy_ties"] == 2
    assert stats["onpolicy_chosen_score"] == 1.0 and stats["onpolicy_rejected_score"] == 0.0
    assert stats["onpolicy_sample_score"] == pytest.approx(sum(map(sum, scores)) / 16)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}, "missing field"),
        (
            {
                "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
                "rejected": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "5"}],
            },
            "different prompts",
        ),
    ],
)
def test_bad_preference_rows_fail_before_a_model_loads(tmp_path, monkeypatch, row, message):
    good = {
        "chosen": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}],
        "rejected": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "3"}],
    }
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (good, row)) + "\n")
    cfg = compose([f"runs_dir={tmp_path}", "logging=none", "dpo.pairs=offline", f"data.preference=[{{path: {path}}}]"])

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the data was checked")

    monkeypatch.setattr(models, "load_model_and_tokenizer", no_model)
    with pytest.raises(DataError, match=message) as error:
        dpo.run(cfg)
    assert "line 2:" in str(error.value)
