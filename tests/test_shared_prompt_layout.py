"""The shared-prompt layout of the RL log-prob passes (stages/rl/logps.shared_prompt_layout), as a property: whatever
the prompts, their padding and the completions' lengths (a one-token prompt, an empty completion, holes), every
completion token is predicted at a position that sees exactly what it sees in its own row -- the prompt's tokens and
the completion's earlier ones, at the same positions -- and nothing of the other completions."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.rl.logps import shared_prompt_layout


@st.composite
def batches(draw):
    prompts = draw(st.lists(st.lists(st.integers(5, 50), min_size=1, max_size=6), min_size=1, max_size=3))
    rows = draw(st.lists(st.integers(0, len(prompts) - 1), min_size=1, max_size=7))
    width = draw(st.integers(1, 6))
    prompt_width = max(len(p) for p in prompts) + draw(st.integers(0, 2))
    ids, keep = [], []
    for prompt in (prompts[r] for r in rows):
        completion = draw(st.lists(st.integers(5, 50), min_size=0, max_size=width))
        holes = draw(st.lists(st.booleans(), min_size=len(completion), max_size=len(completion)))
        pad, tail = prompt_width - len(prompt), width - len(completion)
        ids.append([0] * pad + prompt + completion + [0] * tail)
        keep.append([False] * pad + [True] * len(prompt) + [not hole for hole in holes] + [False] * tail)
    return torch.tensor(ids), torch.tensor(keep), width


@settings(max_examples=200, deadline=None)
@given(batches())
def test_every_completion_token_is_predicted_from_exactly_its_own_context(batch):
    input_ids, keep, width = batch
    layout = shared_prompt_layout(input_ids, keep, width)
    prompts = {tuple(row[:-width][k[:-width]].tolist()) for row, k in zip(input_ids, keep, strict=True)}
    assert layout.input_ids.shape[0] == len(prompts)  # one row a distinct prompt
    for b in range(input_ids.size(0)):
        prompt = input_ids[b, :-width][keep[b, :-width]].tolist()
        completion = input_ids[b, -width:][keep[b, -width:]].tolist()
        kept_columns = keep[b, -width:].nonzero().flatten().tolist()
        assert layout.scored[b].nonzero().flatten().tolist() == kept_columns
        for j, column in enumerate(kept_columns):
            row, at = layout.group_row[b, column], layout.column[b, column]
            assert layout.shift_labels[row, at] == completion[j]
            seen = layout.attention_mask[row, 0, at].nonzero().flatten()
            context = sorted(zip(layout.position_ids[row, seen].tolist(), layout.input_ids[row, seen].tolist()))
            assert context == list(enumerate(prompt + completion[:j]))
    # nothing else is scored: one label per kept completion token
    assert (layout.shift_labels != -100).sum() == keep[:, -width:].sum()
