"""Dynamic sampling: groups whose completions all got the same reward teach nothing and are replaced by groups from
further prompts; what is merged keeps TRL's padded layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import QUICK_RLVR, compose
from hypothesis import given
from hypothesis import strategies as st

from stages.rl.sampling import SpareOrder, informative_groups, merge_batches, take_groups

PAD = 0


@pytest.fixture(scope="module")
def pool():
    from rewards import VerifierPool

    with VerifierPool(num_workers=1, timeout_s=3.0) as verifier_pool:
        yield verifier_pool


def batch(prompts: list[list[int]], completions: list[list[int]], advantages: list[float]) -> dict:
    """A generation batch in TRL's layout: prompts left-padded, completions right-padded."""
    p_width, c_width = max(map(len, prompts)), max(map(len, completions))
    return {
        "prompt_ids": torch.tensor([[PAD] * (p_width - len(p)) + p for p in prompts]),
        "prompt_mask": torch.tensor([[0] * (p_width - len(p)) + [1] * len(p) for p in prompts]),
        "completion_ids": torch.tensor([c + [PAD] * (c_width - len(c)) for c in completions]),
        "completion_mask": torch.tensor([[1] * len(c) + [0] * (c_width - len(c)) for c in completions]),
        "ref_per_token_logps": torch.tensor([[-0.5] * len(c) + [0.0] * (c_width - len(c)) for c in completions]),
        "advantages": torch.tensor(advantages),
        "num_items_in_batch": torch.tensor(sum(map(len, completions))),
    }


def test_only_groups_whose_rewards_differ_are_informative():
    advantages = torch.tensor([0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1e-9, -1e-9])
    assert informative_groups(advantages, 2) == [1]
    assert informative_groups(advantages, 4) == [0]


def test_merged_batches_keep_prompts_left_and_completions_right_padded_and_recount_the_loss_tokens():
    first = batch([[5, 6], [7]], [[8, 9, 10], [11]], [1.0, -1.0])
    second = batch([[12, 13, 14], [15, 16, 17]], [[18], [19, 20]], [0.5, -0.5])
    merged = merge_batches([first, second], PAD)
    assert merged["prompt_ids"].tolist() == [[0, 5, 6], [0, 0, 7], [12, 13, 14], [15, 16, 17]]
    assert merged["prompt_mask"].tolist() == [[0, 1, 1], [0, 0, 1], [1, 1, 1], [1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[8, 9, 10], [11, 0, 0], [18, 0, 0], [19, 20, 0]]
    assert merged["completion_mask"].sum(dim=1).tolist() == [3, 1, 1, 2]
    assert merged["ref_per_token_logps"][3].tolist() == [-0.5, -0.5, 0.0]
    assert merged["advantages"].tolist() == [1.0, -1.0, 0.5, -0.5]
    assert int(merged["num_items_in_batch"]) == 7  # not the 4 + 3 of the parts' own counts summed by accident
    assert int(take_groups(merged, [1], 2)["completion_mask"].sum()) == 3


def test_a_batch_with_fields_it_cannot_merge_fails_clearly():
    images = {**batch([[5]], [[6]], [1.0]), "pixel_values": torch.zeros(1, 3)}
    with pytest.raises(RuntimeError, match="pixel_values"):
        merge_batches([images, images], PAD)


def half_constant(completions, kind, **_):  # half the prompts 0, 1, 0, 1 within each group; the other half 1
    return [float(i % 2) if k == 0 else 1.0 for i, k in enumerate(kind)]


def trainer_with_reward(sft_run, reward, dynamic: bool, overrides: tuple[str, ...] = (), run_name: str = "shared"):
    from datasets import Dataset

    from runtime import layout, models, training
    from stages import rlvr

    cfg = compose([f"runs_dir={sft_run.runs_dir}", f"run_name={run_name}", *QUICK_RLVR, "rlvr.max_steps=3", *overrides])
    _, args = training.trainer_args(cfg, "rlvr")
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(sft_run, "sft"), trainable=True)
    prompts = [{"prompt": [{"role": "user", "content": f"What is {i} + {i}?"}], "kind": i % 2} for i in range(32)]
    return rlvr.GRPOWithTimes(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_list(prompts),
        processing_class=tokenizer,
        dynamic_sampling=dynamic,
        dynamic_sampling_max_rounds=8,
    )


@pytest.mark.parametrize("dynamic", [False, True])
def test_with_dynamic_sampling_every_trained_group_carries_a_learning_signal(sft_run, dynamic):
    """Half the prompts get a constant reward: without dynamic sampling (the naive version) trained groups have zero
    advantage; with it none has, the extra generations are counted, and training runs."""

    trainer = trainer_with_reward(sft_run, half_constant, dynamic)
    trained = []
    compute_loss = trainer.compute_loss

    def watching(model, inputs, *args, **kwargs):
        trained.append(inputs["advantages"].detach().clone())
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = watching
    trainer.train()
    # TRL shuffles the rows of a generation batch before training on them; in an informative group (0, 1, 0, 1) no
    # completion's advantage is 0, in a constant one every completion's is
    rows = torch.cat(trained).abs()
    if not dynamic:
        assert (rows == 0).any()
        return
    totals = trainer.dynamic_totals
    assert totals["batches"] == 3 and totals["filtered_groups"] > 0 and totals["extra_generations"] > 0
    assert (rows > 0).all()
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {"dynamic/filtered_share", "dynamic/extra_generations", "dynamic/filled_share"} <= logged


@given(
    takes=st.lists(st.integers(0, 70), min_size=1, max_size=12),
    size=st.integers(1, 40),
    cut=st.integers(0, 12),
)
def test_a_spare_order_restored_from_its_count_hands_out_what_the_uninterrupted_one_does(takes, size, cut):
    whole = SpareOrder(size, seed=3)
    expected = [whole.take(count) for count in takes]
    before = SpareOrder(size, seed=3)
    handed = [before.take(count) for count in takes[:cut]]
    resumed = SpareOrder(size, seed=3, taken=before.taken)  # all a checkpoint keeps of it
    handed += [resumed.take(count) for count in takes[cut:]]
    assert handed == expected and resumed.taken == whole.taken == sum(takes)


def test_a_resumed_run_refills_from_where_its_checkpoint_left_off(sft_run, tmp_path):
    """An uninterrupted 3-step run against one resumed from its step-1 checkpoint: the same refill prompts taken and
    the same totals at step 3. Resumed from a copy without the state file (what the naive version kept), the order
    restarts and the totals forget step 1."""
    import shutil

    from stages.rl.sampling import STATE_FILE

    saving = ("rlvr.save_strategy=steps", "rlvr.save_steps=1")
    whole = trainer_with_reward(sft_run, half_constant, True, saving, run_name="resume-whole")
    whole.train()
    saved = Path(whole.args.output_dir)
    state = {step: json.loads((saved / f"checkpoint-{step}" / STATE_FILE).read_text()) for step in (1, 3)}
    assert state[1]["totals"]["batches"] == 1 and state[3]["totals"]["batches"] == 3
    assert 0 < state[1]["spare_taken"] < state[3]["spare_taken"]

    def resumed_from(checkpoint, name):
        trainer = trainer_with_reward(sft_run, half_constant, True, saving, run_name=name)
        trainer.train(resume_from_checkpoint=str(checkpoint))
        return json.loads((Path(trainer.args.output_dir) / "checkpoint-3" / STATE_FILE).read_text())

    def without_time(saved):
        return {**saved, "totals": {k: v for k, v in saved["totals"].items() if k != "seconds"}}

    assert without_time(resumed_from(saved / "checkpoint-1", "resume-restored")) == without_time(state[3])
    bare = tmp_path / "bare-checkpoint-1"
    shutil.copytree(saved / "checkpoint-1", bare)
    (bare / STATE_FILE).unlink()
    naive = resumed_from(bare, "resume-naive")
    assert naive["totals"]["batches"] == 2 and naive["spare_taken"] < state[3]["spare_taken"]


# --------------------------------------------------------------------------------------------------------------
# The pass-rate curriculum


def test_the_curriculum_keeps_only_prompts_solved_sometimes_and_caches_the_rates(tmp_path):
    from datasets import Dataset

    from stages.rl import curriculum

    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": f"q{i}"}], "i": i} for i in range(8)])
    identity = {"parent": "p", "data": "d", "samples": 4, "prompts": 0, "seed": 1}
    measured = []

    def measure(rows):
        measured.append(len(rows))
        return [[0.0, 0.25, 1.0, 0.5][row["i"] % 4] for row in rows]

    kept, summary = curriculum.select(dataset, tmp_path, identity, measure)
    assert kept["i"] == [1, 3, 5, 7]  # never (0) and always (1) solved are out
    assert (summary["never_solved"], summary["always_solved"], summary["kept"], summary["cached"]) == (2, 2, 4, False)
    again, summary = curriculum.select(dataset, tmp_path, identity, measure)
    assert again["i"] == kept["i"] and summary["cached"] and measured == [8]  # measured once
    _, summary = curriculum.select(dataset, tmp_path, {**identity, "parent": "other"}, measure)
    assert not summary["cached"] and measured == [8, 8]  # another parent is measured again
    with pytest.raises(ValueError, match="solved sometimes but not always"):
        curriculum.select(dataset, tmp_path / "x", identity, lambda rows: [1.0] * len(rows))


def test_probed_prompts_are_a_seeded_sample():
    from stages.rl.curriculum import probe_rows

    assert probe_rows(10, 0, 1) == list(range(10)) and probe_rows(10, 20, 1) == list(range(10))
    picked = probe_rows(100, 10, 1)
    assert len(set(picked)) == 10 and picked == probe_rows(100, 10, 1) and picked != probe_rows(100, 10, 2)


def test_pass_rates_are_the_share_of_samples_the_verifier_accepts(sft_run, pool):
    from data.loading import load_rlvr
    from runtime import layout, models
    from stages.rl.curriculum import pass_rates

    cfg = compose([f"runs_dir={sft_run.runs_dir}", "run_name=shared", "data.rlvr.0.max_rows=6"])
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), trainable=False)
    rows = list(load_rlvr(cfg.data.rlvr))
    rates = pass_rates(model, tokenizer, rows, pool, samples=3, temperature=1.0, max_new_tokens=16)
    assert len(rates) == 6 and all(rate in (0.0, 1 / 3, 2 / 3, 1.0) for rate in rates)


def test_an_rlvr_run_with_curriculum_and_overlong_penalty_records_both(sft_run, monkeypatch):
    from runtime import layout
    from stages import rlvr
    from stages.rl import curriculum

    monkeypatch.setattr(curriculum, "pass_rates", lambda model, tok, rows, pool, **_: [0.5, 0.0] * (len(rows) // 2))
    cfg = compose(
        [
            f"runs_dir={sft_run.runs_dir}",
            "run_name=curriculum",
            *QUICK_RLVR,
            f"rlvr.parent={layout.stage_dir(sft_run, 'sft')}",
            "data.rlvr.0.max_rows=32",
            "rlvr.curriculum_samples=2",
            "rlvr.curriculum_prompts=16",
            "rlvr.overlong_buffer=8",
        ]
    )
    rlvr.run(cfg)
    metrics = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))["metrics"]
    assert (metrics["curriculum"]["probed"], metrics["curriculum"]["kept"]) == (16, 8)
    assert -1.0 <= metrics["rewards/soft_overlong_punishment_reward/mean"] <= 0.0
    assert layout.read_manifest(layout.stage_dir(cfg, "rlvr"))["config"]["rlvr"]["reward_weights"] == [1.0, 10.0]
