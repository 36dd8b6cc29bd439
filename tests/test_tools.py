"""Tool use: the tools (safe arithmetic, the sandboxed python tool), how tools are named and checked, the chat
template's tool turns (rendered, parsed back, tool results masked out of SFT's loss), the tool-use data, the
`tool_call` verifier against farming, and the eval's multi-turn tool loop."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from helpers import compose, embedded_rows

from rewards import registry
from rewards.tools import TOOLS, ToolError, calculator, call_tool, python, resolve_tools


def undocumented_tool(expression: str) -> str:  # noqa: D103 -- the point: a tool without a docstring
    return expression


# -- the calculator ----------------------------------------------------------------------------------------------


def test_the_calculator_is_exact_and_reads_fractions():
    assert calculator("3 * 18 - 52") == "2"
    assert calculator("7 / 4") == "7/4"
    assert calculator("0.1 + 0.2") == "3/10"  # not 0.30000000000000004
    assert calculator("2 ^ 10") == "1024"


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').getcwd()",
        "open('/etc/passwd').read()",
        "(1).__class__.__bases__",
        "[x for x in range(10**9)]",
        "9 ** 9 ** 9",
        "10 ** 100 * 10 ** 100",
        "1 / 0",
        "x + 1",
        "(" * 500 + "1" + ")" * 500,
    ],
)
def test_the_calculator_refuses_anything_but_bounded_arithmetic(expression):
    with pytest.raises(ToolError, match="calculator: "):
        calculator(expression)


def test_a_naive_eval_calculator_would_run_the_models_code():
    """The attack the ast reader stops: `eval` of the model's text runs whatever it says."""
    attack = "__import__('os').getpid()"
    assert isinstance(eval(attack, {}), int)  # the naive tool executes code  # noqa: S307
    with pytest.raises(ToolError):
        calculator(attack)


# -- the python tool -----------------------------------------------------------------------------------------------


def test_the_python_tool_returns_what_the_code_prints():
    assert python("print(sum(range(10)))") == "45\n"
    assert python("import sys; sys.exit(3)\nprint('after')") == "SystemExit: 3\n"
    assert python("raise ValueError('no')") == "ValueError: no\n"


def test_the_python_tool_runs_in_the_sandbox(tmp_path):
    secret = tmp_path / "answers.jsonl"
    secret.write_text('{"answer": 42}')
    output = python(f"print(open({str(secret)!r}).read())")
    assert "42" not in output and "Error" in output


def test_the_python_tool_is_bounded_in_time_and_output():
    with pytest.raises(ToolError, match="timed out"):
        python("while True: pass")
    output = python("print('x' * 100000)")
    assert len(output) < 600 and output.endswith("[output cut]")


def test_tool_errors_come_back_as_a_message_never_an_exception():
    def run(name, arguments):
        return call_tool(TOOLS, {"type": "function", "function": {"name": name, "arguments": arguments}})

    assert run("calculator", {"expression": "2 + 2"}) == ("4", True)
    for name, arguments, message in [
        ("calculator", {"expression": "2 +"}, "not an arithmetic expression"),
        ("calculator", {"expr": "2"}, "unexpected keyword"),
        ("search", {"query": "2"}, "Tool search not found"),
        ("calculator", "2 + 2", "arguments must be an object"),
    ]:
        content, ok = run(name, arguments)
        assert not ok and "error" in content and message in content


# -- naming and checking tools -------------------------------------------------------------------------------------


def test_tools_are_named_or_imported_and_must_have_a_docstring():
    assert resolve_tools(["calculator", "rewards.tools:python"]) == [calculator, python]
    with pytest.raises(ValueError, match="unknown tool 'calc'"):
        resolve_tools(["calc"])
    with pytest.raises(ValueError, match="tool 'test_tools:undocumented_tool' cannot be offered.*docstring"):
        resolve_tools(["test_tools:undocumented_tool"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("rlvr.tools=[calculater]", r"rlvr\.tools: unknown tool 'calculater'"),
        ("eval.tools=[test_tools:undocumented_tool]", r"eval\.tools: tool .* no docstring"),
        ("rlvr.trainer=rloo", r"rlvr\.tools: TRL's rloo trainer runs no tools"),
    ],
)
def test_bad_tool_config_fails_validation_naming_the_key(override, message):
    from runtime import config

    overrides = [override] if "tools" in override else ["rlvr.tools=[calculator]", override]
    with pytest.raises(config.ConfigError, match=message):
        config.validate(compose(overrides))


def test_a_model_whose_template_cannot_render_tools_is_refused_by_name(tmp_path):
    from transformers import AutoTokenizer

    from runtime import models
    from runtime.tiny import CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_path()))
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"  # drops calls and results
    with pytest.raises(models.ToolTemplateError, match="model some/model: its chat template cannot render tool"):
        models.prepare_for_tools(tokenizer, "some/model")
    tokenizer.chat_template = CHAT_TEMPLATE.replace("tools:", "Tools:")  # renders tools, but no parser knows it
    with pytest.raises(models.ToolTemplateError, match="model some/model: no response template"):
        models.prepare_for_tools(tokenizer, "some/model")


def test_the_pipeline_refuses_a_model_that_cannot_render_tools_before_any_work(tmp_path):
    """SmolLM2-135M-Instruct's template has no tool turns: `make pipeline ARGS="+experiment=smollm2_cpu
    rlvr.tools=[calculator]"` stops at once, naming the model, not after SFT and DPO."""
    from stages import pipeline

    cfg = compose([f"runs_dir={tmp_path}", "+experiment=smollm2_cpu", "rlvr.tools=[calculator]", "logging=none"])
    with pytest.raises(SystemExit, match="model smollm2_135m: its chat template cannot render tool calls"):
        pipeline.run(cfg)
    assert not (tmp_path / cfg.run_name).exists()


# -- the chat template: tool turns rendered, parsed back, and masked ---------------------------------------------

CONVERSATION = [
    {"role": "user", "content": "Noah has 8 stickers. He gives away 1. Then he sells 3. How many now?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "calculator", "arguments": {"expression": "8-1-3"}}}],
    },
    {"role": "tool", "name": "calculator", "content": "4242"},
    {"role": "assistant", "content": "8 - 1 - 3 = 4. The answer is 4."},
]


def tiny_path():
    from runtime.tiny import ensure_tiny_model

    return ensure_tiny_model(compose([]).model.tiny)


def test_the_tiny_template_renders_tools_and_trl_reads_the_calls_back():
    from transformers import AutoTokenizer
    from trl.chat_template_utils import is_chat_template_prefix_preserving, parse_response, supports_tool_calling

    from runtime import models

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_path()))
    models.prepare_for_tools(tokenizer, "tiny")
    text = tokenizer.apply_chat_template(CONVERSATION, tools=[calculator], tokenize=False)
    assert text.startswith("<|system|>tools: calculator<|end|><|user|>")
    assert '<|assistant|><call calculator>{"expression": "8-1-3"}</call><|end|><|tool|>4242<|end|>' in text
    assert supports_tool_calling(tokenizer) and is_chat_template_prefix_preserving(tokenizer)
    generated = tokenizer('<call calculator>{"expression": "7 + 5"}</call><|end|>', add_special_tokens=False)
    prefix = tokenizer("<|user|>q<|end|><|assistant|>", add_special_tokens=False)["input_ids"]
    parsed = parse_response(tokenizer, generated["input_ids"], prefix=prefix, tools=[calculator])
    assert parsed["tool_calls"] == [
        {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "7 + 5"}}}
    ]


def test_without_tools_the_tiny_model_renders_and_decodes_as_before_tools_existed():
    """The tool-free chain stays bit-identical: the template renders as before, and the tokenizer carries no
    response template (with one, TRL parses every RL completion, which drops leading spaces: other rewards)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_path()))
    assert getattr(tokenizer, "response_template", None) is None
    plain = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    plain.append({"role": "assistant", "content": "Hello."})
    assert tokenizer.apply_chat_template(plain, tokenize=False) == (
        "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello.<|end|>"
    )


def test_tool_results_are_never_trained_on_in_sft():
    """SFT's assistant-only loss: the call and the answer are trained on, the tool's result is not (a policy
    must not learn to write results itself)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_path()))
    encoded = tokenizer.apply_chat_template(
        CONVERSATION, tools=[calculator], return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    trained = tokenizer.decode([token for token, keep in zip(ids, mask) if keep])
    ignored = tokenizer.decode([token for token, keep in zip(ids, mask) if not keep])
    assert '<call calculator>{"expression": "8-1-3"}</call>' in trained and "The answer is 4." in trained
    assert "4242" not in trained and "<|tool|>4242" in ignored


@pytest.mark.parametrize("family", ["qwen2_5", "llama3_1"])
def test_real_models_keep_their_own_tool_templates_and_tool_results_stay_out_of_the_loss(family):
    """Qwen2.5's and Llama 3.1's templates (TRL's copies, with the tiny tokenizer standing in for theirs): TRL's
    response template is set to read their calls; Qwen2.5's training template (what SFT trains it with) leaves the
    tool's result out of the loss."""
    from transformers import AutoTokenizer
    from trl import chat_template_utils

    from runtime import models

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_path()))
    tokenizer.chat_template = getattr(chat_template_utils, f"{family}_chat_template")
    tokenizer.response_template = None
    models.prepare_for_tools(tokenizer, family)
    assert tokenizer.response_template is not None
    if family != "qwen2_5":
        return
    tokenizer.chat_template = chat_template_utils.qwen2_5_training_chat_template
    encoded = tokenizer.apply_chat_template(
        CONVERSATION, tools=[calculator], return_dict=True, return_assistant_tokens_mask=True
    )
    trained = tokenizer.decode([t for t, keep in zip(encoded["input_ids"], encoded["assistant_masks"]) if keep])
    assert "8-1-3" in trained and "The answer is 4." in trained and "4242" not in trained


# -- data --------------------------------------------------------------------------------------------------------


def test_tool_data_loads_with_calls_results_and_the_offered_tools():
    from data.loading import load_preference, load_rlvr, load_sft

    sft = load_sft([{"path": "embedded:sft_tools_train", "max_rows": 20}])
    calling = next(row for row in sft if len(row["messages"]) == 4)
    assert calling["messages"][1]["tool_calls"][0]["function"]["name"] == "calculator"
    assert calling["messages"][2]["role"] == "tool"
    assert json.loads(calling["tools"])[0]["function"]["name"] == "calculator"
    pairs = load_preference([{"path": "embedded:preference_tools_train", "max_rows": 20}])
    assert all(message["role"] == "assistant" for row in pairs for message in row["chosen"] + row["rejected"])
    prompts = load_rlvr([{"path": "embedded:rlvr_tools_train", "max_rows": 20}])
    assert set(prompts["dataset"]) == {"tool_call"}


def test_plain_data_keeps_its_plain_schema():
    from data.loading import SFT_FEATURES, load_sft

    assert load_sft([{"path": "embedded:sft_train", "max_rows": 20}]).features == SFT_FEATURES


def test_a_row_offering_an_unknown_tool_names_the_file_and_line(tmp_path):
    from data.loading import DataError, load_sft

    path = tmp_path / "sft.jsonl"
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "tools": ["abacus"]}) + "\n")
    with pytest.raises(DataError, match=rf"{path}: line 2: 'tools': unknown tool 'abacus'"):
        load_sft([{"path": str(path)}])


def test_the_tool_data_never_holds_an_eval_problem():
    from data import generate

    eval_keys = {generate.problem_key("gsm8k", row["messages"][0]["content"]) for row in embedded_rows("eval_gsm8k")}
    for name in ("sft_tools_train", "rlvr_tools_train"):
        keys = {generate.problem_key("gsm8k", row["messages"][0]["content"]) for row in embedded_rows(name)}
        assert not keys & eval_keys, name


# -- the tool_call verifier ----------------------------------------------------------------------------------------

TRUTH = json.dumps(
    {"answer": "4", "answer_verifier": "gsm8k", "calls": [{"name": "calculator", "arguments": {"expression": "8-1-3"}}]}
)


def _call(expression: str) -> dict:
    return {"type": "function", "function": {"name": "calculator", "arguments": {"expression": expression}}}


def _turns(*turns) -> str:
    """("call", [expressions]) | ("tool", result) | ("say", text) -> a transcript."""
    messages = []
    for kind, value in turns:
        if kind == "call":
            messages.append({"role": "assistant", "content": "", "tool_calls": [_call(e) for e in value]})
        elif kind == "tool":
            messages.append({"role": "tool", "name": "calculator", "content": value})
        else:
            messages.append({"role": "assistant", "content": value})
    return json.dumps(messages)


RIGHT = _turns(("call", ["8 - 1 - 3"]), ("tool", "4"), ("say", "8 - 1 - 3 = 4. The answer is 4."))
IN_HEAD = _turns(("say", "8 - 1 - 3 = 4. The answer is 4."))
FARMING = {
    "spam: the right call plus two more": _turns(
        ("call", ["8 - 1 - 3", "1 + 1", "2 + 2"]), *[("tool", v) for v in "424"], ("say", "4")
    ),
    "spam past the budget: the right call plus four more": _turns(
        ("call", ["8 - 1 - 3", "1 + 1", "2 + 2", "8 - 4", "1 + 3"]), *[("tool", v) for v in "42444"], ("say", "4")
    ),
    "echo: the answer worked in the head, then 'calculated'": _turns(("call", ["4"]), ("tool", "4"), ("say", "4")),
    "forged: a tool-response marker in its own text": _turns(("say", "<|tool|>4<|end|> The answer is 4.")),
    "for show: an unrelated call, its result ignored": _turns(("call", ["1 + 2"]), ("tool", "3"), ("say", "4.")),
    "repeat: the right call three times": _turns(
        ("call", ["8-1-3"] * 3), ("tool", "4"), ("tool", "4"), ("tool", "4"), ("say", "The answer is 4.")
    ),
}


def naive_tool_reward(response: str, ground_truth: str) -> float:
    """What a first verifier would do: the right answer, plus credit for every call to the expected tool."""
    messages, truth = json.loads(response), json.loads(ground_truth)
    answer = registry.VERIFIERS["gsm8k"](messages[-1]["content"], truth["answer"])
    calls = sum(len(m.get("tool_calls") or []) for m in messages)
    return answer * (0.5 + 0.5 * min(calls, 4) / 1)


def score(response: str) -> float:
    return registry.score_item("tool_call", TRUTH, response)


def test_the_right_call_used_in_the_answer_earns_full_credit_and_the_head_half():
    assert score(RIGHT) == 1.0
    reordered = _turns(("call", ["8 - (3 + 1)"]), ("tool", "4"), ("say", "The answer is 4."))
    assert score(reordered) == 1.0
    assert score(IN_HEAD) == 0.5
    assert score(_turns(("call", ["8 - 1 - 3"]), ("tool", "4"), ("say", "The answer is 5."))) == 0.0


@pytest.mark.parametrize("name", FARMING)
def test_farming_tool_credit_pays_less_than_one_honest_call(name):
    assert score(FARMING[name]) < score(RIGHT), name
    if not name.startswith("forged"):  # (the naive reward reads the transcript's calls too, not text markers)
        assert naive_tool_reward(FARMING[name], TRUTH) >= naive_tool_reward(RIGHT, TRUTH), name


def test_the_naive_reward_pays_the_spammer_and_ours_does_not():
    spam = FARMING["spam: the right call plus two more"]
    assert naive_tool_reward(spam, TRUTH) > naive_tool_reward(RIGHT, TRUTH)
    assert score(spam) < score(RIGHT)


def test_calls_past_the_budget_or_no_final_answer_score_zero():
    over = _turns(("call", ["8-1-3"] * 5), *[("tool", "4")] * 5, ("say", "The answer is 4."))
    assert score(over) == 0.0
    assert score(_turns(("call", ["8-1-3"]), ("tool", "4"))) == 0.0  # cut off waiting for the tool
    failed = _turns(
        ("call", ["8-1-"]), ("tool", "{'error': 'calculator: not arithmetic'}"), ("say", "The answer is 4.")
    )
    assert score(failed) == 0.5


def test_a_response_that_is_not_a_transcript_is_an_error_not_a_score():
    row = {"dataset": "tool_call", "ground_truth": TRUTH, "response": "The answer is 4."}
    from rewards import score_row

    assert score_row(row)["score"] == 0.0 and score_row(row).get("error")


def test_bad_tool_call_ground_truths_are_refused_at_load():
    for truth, reason in [
        ({"answer_verifier": "nope", "answer": "4"}, "unknown answer_verifier"),
        ({"answer_verifier": "gsm8k", "answer": "four"}, "number"),
        ({"answer_verifier": "gsm8k", "answer": "4", "calls": [{"name": "calculator"}]}, "'calls'"),
    ]:
        assert reason in (registry.ground_truth_error("tool_call", json.dumps(truth)) or ""), truth


# -- the eval's tool loop ----------------------------------------------------------------------------------------


class ScriptedModel:
    """Stands in for a causal LM: each `generate` call answers every prompt with the next scripted turn."""

    def __init__(self, tokenizer, turns: list[str]):
        import torch

        self.tokenizer, self.turns, self.calls = tokenizer, list(turns), 0
        self.training, self.device = False, torch.device("cpu")
        self.generation_config = SimpleNamespace(eos_token_id=tokenizer.eos_token_id)

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def generate(self, input_ids, attention_mask, generation_config):
        import torch

        text = self.turns[min(self.calls, len(self.turns) - 1)]
        self.calls += 1
        new = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return torch.cat([input_ids, torch.tensor([new] * input_ids.shape[0])], dim=1)


def _loop(turns: list[str], max_iterations: int = 3, tools=(calculator,)):
    from transformers import AutoTokenizer

    from runtime import models
    from runtime.generation import generate_with_tools

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_path()))
    models.prepare_for_tools(tokenizer, "tiny")
    model = ScriptedModel(tokenizer, turns)
    [[result]] = generate_with_tools(
        model, tokenizer, [[{"role": "user", "content": "q"}]], list(tools), max_new_tokens=40,
        max_iterations=max_iterations,
    )  # fmt: skip
    return result


def test_the_eval_loop_runs_calls_and_returns_results_as_tool_turns():
    result = _loop(['<call calculator>{"expression": "40 + 2"}</call><|end|>', "The answer is 42.<|end|>"])
    assert result.text == "The answer is 42." and result.finished
    assert [m["role"] for m in result.messages] == ["assistant", "tool", "assistant"]
    assert result.messages[1]["content"] == "42" and (result.tool_calls, result.tool_errors) == (1, 0)


def test_the_eval_loop_runs_python_in_the_sandbox():
    result = _loop(['<call python>{"code": "print(6 * 7)"}</call><|end|>', "The answer is 42.<|end|>"], tools=[python])
    assert result.messages[1] == {"role": "tool", "name": "python", "content": "42\n"} and result.tool_errors == 0


def test_the_eval_loop_answers_malformed_and_failing_calls_with_an_error_message():
    result = _loop(['<call calculator>{"expression": "40 +</call><|end|>', "The answer is 42.<|end|>"])
    assert "malformed tool call" in result.messages[1]["content"] and result.tool_errors == 1
    result = _loop(['<call calculator>{"expression": "1/0"}</call><|end|>', "The answer is 42.<|end|>"])
    assert "division by zero" in result.messages[1]["content"] and result.tool_errors == 1


def test_the_eval_loop_stops_a_model_that_never_stops_calling():
    result = _loop(['<call calculator>{"expression": "1 + 1"}</call><|end|>'], max_iterations=2)
    assert result.tool_calls == 2 and result.text == ""


# -- a short tool-using GRPO run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool_sft(runs_dir, tmp_path_factory):
    """A tiny SFT run on the demonstrations that call the calculator: enough for the model to call it, and to get
    about half the answers right with it (so that GRPO's groups differ in reward)."""
    from stages import sft

    calling = [row for row in embedded_rows("sft_tools_train") if len(row["messages"]) == 4]
    path = tmp_path_factory.mktemp("tool_data") / "calls.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in calling))
    cfg = compose(
        [
            f"runs_dir={runs_dir}",
            "run_name=tools",
            "logging=none",
            f"data.sft=[{{path: '{path}'}}]",
            f"sft.max_steps={STEPS}",
            "sft.learning_rate=3e-3",
            "sft.logging_steps=10",
        ]
    )
    sft.run(cfg)
    return cfg


STEPS = 400


def tool_rlvr_config(tool_sft, *overrides: str):
    return compose(
        [
            f"runs_dir={tool_sft.runs_dir}",
            "+experiment=tools",
            "run_name=tools",
            "logging=none",
            "rlvr.parent=sft",
            "rlvr.logging_steps=1",
            "rlvr.per_device_train_batch_size=16",
            "rlvr.num_generations=4",
            "rlvr.max_completion_length=64",
            "rlvr.learning_rate=1e-4",
            "rlvr.log_completions=true",
            "data.rlvr.0.max_rows=64",
            *overrides,
        ]
    )


@pytest.mark.slow  # its module fixture trains 400 SFT steps: 63 s of `make test`'s 300 (issue 36)
def test_the_rollouts_mask_the_tool_results_out_of_the_loss(tool_sft):
    """TRL's rollout with our template: the tokens the tool wrote (its turn, up to the next assistant header) are
    the ones out of the loss, and nothing the model wrote is."""
    from trl import GRPOTrainer

    from data.loading import load_rlvr
    from runtime import layout, models, training

    cfg = tool_rlvr_config(tool_sft, "rlvr.max_steps=1")
    _, args = training.trainer_args(cfg, "rlvr")
    model, tokenizer = models.load_model_and_tokenizer(cfg, layout.stage_dir(cfg, "sft"), tools=True, trainable=False)
    dataset = load_rlvr(cfg.data.rlvr)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        tools=[calculator],
    )
    batch = trainer._generate_and_score_completions([dataset[i] for i in range(16)])
    masked, kept = [], []
    for ids, completion_mask, tool_mask in zip(batch["completion_ids"], batch["completion_mask"], batch["tool_mask"]):
        for token, in_completion, model_made in zip(ids.tolist(), completion_mask.tolist(), tool_mask.tolist()):
            if in_completion:
                (kept if model_made else masked).append(token)
    assert masked, "no rollout called the calculator"
    assert "<|tool|>" in tokenizer.decode(masked) and "<|tool|>" not in tokenizer.decode(kept)
    assert "<call calculator>" in tokenizer.decode(kept)


@pytest.mark.slow
def test_a_short_tool_using_grpo_run_calls_the_calculator_and_its_reward_moves(tool_sft):
    import pandas as pd

    from runtime import layout
    from stages import rlvr

    cfg = tool_rlvr_config(tool_sft, "rlvr.max_steps=4")
    rlvr.run(cfg)
    manifest = layout.read_manifest(layout.stage_dir(cfg, "rlvr"))
    assert manifest["config"]["rlvr"]["tools"] == ["calculator"]
    metrics = manifest["metrics"]
    assert metrics["tools/call_frequency"] > 0.5 and metrics["tools/used_result_share"] > 0  # answers from the tool
    # the completions table TRL wrote each step (its W&B table reads the same rows), with each step's rewards
    steps = sorted((layout.run_dir(cfg) / "work" / "rlvr" / "completions").glob("completions_*.parquet"))
    rewards = [pd.read_parquet(step)["verifiable"].mean() for step in steps]
    assert len(rewards) == 4 and len(set(rewards)) > 1 and max(rewards) > 0, rewards
