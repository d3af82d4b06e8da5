"""Verdicts that must not depend on which stage asks (s13): a stated choice letter followed by
another option is a hedge only when that option is offered as an answer, not when it is named to
be dismissed; `train --reward math` judges a sample with its problem's text, as `distill filter`
judges the same answer in a trace record."""

import json

import pytest

from distill.filter.verify import judge, math_answer_key, verify_choice, verify_math

# ---------------------------------------------------------------- another option dismissed


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nActually, option A ignores the friction term, so it is wrong.",
        "The answer is B.\nWait, (A) ignores friction, so it is wrong.",
        "**Answer:** B\n\nNo, C is wrong because it double counts.",
        "The answer is B.\n\nHmm, (C) would need x < 0, which it is not.",
        "The answer is B.\n\nWait, let me check each option.\nOption A: 3 + 4 = 8, so no.",
        "\\boxed{B}\n\nActually, option A ignores the friction term, so it is wrong.",
    ],
)
def test_another_option_named_after_a_walk_back_word_to_be_dismissed_is_no_hedge(answer):
    """Any other letter after "Actually"/"Wait"/"No," made the stated letter a hedge: the right
    answer B, followed by why option A fails, was judged wrong (and gave no vote for B)."""
    assert verify_math(answer, "B") == "correct"
    assert verify_choice(answer, "B") == "correct"
    assert math_answer_key(answer) == "B"


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\nBut C also works.",
        "Answer: B\n\nOption D fits too.",
        "The answer is B.\n\n(C) could be correct as well.",
        "The answer is B.\n\nA also works.",
        "The answer is $\\boxed{B}$. But C also works.",
        "\\boxed{B}\n\nWait... option C works, so C.",
        "The answer is B.\n\nActually C, not B.",
    ],
)
def test_another_option_asserted_as_an_answer_is_a_hedge(answer):
    """Without a walk-back word (or after a box) a second option asserted was not looked at:
    "The answer is B. But C also works." names two answers and was accepted as B."""
    assert verify_math(answer, "B") == "wrong"
    assert verify_math(answer, "C") == "wrong"
    assert verify_choice(answer, "B") == "wrong"
    assert math_answer_key(answer) != "B"


def test_one_line_stated_letter_then_a_second_option_is_not_accepted():
    answer = "The answer is B. But C also works."
    assert verify_choice(answer, "B") == "wrong"
    assert verify_math(answer, "B") != "correct"


@pytest.mark.parametrize(
    "answer, verdict",
    [
        ("The answer is B.\n\nOption A fails because x must be positive.", "correct"),
        ("The answer is B.\n\nWhy not C? Because C counts the corner twice.", "correct"),
        ("Answer: B\n\nA quick check confirms it.", "correct"),
        ("Answer: B\n\nOption C gives 4, so B.", "correct"),
        ("The answer is B.\n\nWait... option C works, so C.", "wrong"),
        ("Answer: B\n\nActually C.", "wrong"),
        ("The answer is B.\n\nOr C.", "wrong"),
        ("The answer is B.\n\nWait, option C works.\n\nThe answer is C.", "wrong"),
    ],
)
def test_the_earlier_cases_keep_their_verdicts(answer, verdict):
    assert verify_math(answer, "B") == verdict


# ---------------------------------------------------------------- train --reward, with the problem

PAIR_PROBLEM = "Find the ordered pair $(a, b)$ of integers with $a + b = 8$ and $b - a = 2$."
PAIR_ANSWER = "So $a = 3$ and $b = 5$: \\boxed{3}, \\boxed{5}"


def test_reward_of_judges_with_the_problem_as_the_filter_does():
    from distill.train.kd.reward import reward_of

    trace = {
        "messages": [{"role": "user", "content": PAIR_PROBLEM}],
        "answer": PAIR_ANSWER,
        "gold": "(3,5)",
    }
    assert judge(trace, "math")[0] == "correct"  # the filter keeps it
    assert reward_of(PAIR_ANSWER, "(3,5)", "{}", "math", problem=PAIR_PROBLEM) == 1.0
    # without a problem asking for a pair, the two boxes are two values (as before)
    assert reward_of(PAIR_ANSWER, "(3,5)", "{}", "math") == 0.0


def test_train_reward_math_scores_the_ordered_pair_the_filter_keeps(
    tmp_path, tiny_qwen, monkeypatch
):
    """`train --reward math` called verify_math without the problem text: boxes "3" and "5" for
    a problem asking for the ordered pair (3, 5) scored 0 in training while the filter kept the
    same answer."""
    from distill.train import build_trainer
    from tests.test_kd_reward import cfg_of, fake_samples

    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"problem": PAIR_PROBLEM, "answer": "(3,5)"}) + "\n")
    trainer, tok = build_trainer(
        cfg_of(
            tmp_path,
            tiny_qwen,
            tiny_qwen,
            data=str(data),
            per_device_train_batch_size=1,
            rollouts_per_prompt=2,
            max_steps=1,
        )
    )
    assert PAIR_PROBLEM in trainer.train_dataset[0]["problem"]
    fake_samples(monkeypatch, tok, lambda i, g: PAIR_ANSWER)
    trainer.train()
    row = json.loads((tmp_path / "out" / "loss.jsonl").read_text().splitlines()[0])
    assert row["reward"] == 1.0


# ---------------------------------------------------------------- train --reward, the think block


def _rollouts(tok, prompts, completions):
    """(prompt ids left-padded, labels: each completion + EOS, -100 after) as the trainer has
    them after sampling."""
    import torch

    p_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    c_ids = [
        tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for c in completions
    ]
    pw, cw = max(map(len, p_ids)), max(map(len, c_ids))
    prompt = torch.full((len(p_ids), pw), tok.pad_token_id)
    labels = torch.full((len(c_ids), cw), -100)
    for i, (p, c) in enumerate(zip(p_ids, c_ids, strict=True)):
        prompt[i, pw - len(p) :] = torch.tensor(p)
        labels[i, : len(c)] = torch.tensor(c)
    return prompt, labels


def test_train_reward_reads_the_think_block_as_generate_and_filter_do(tiny_qwen):
    """score_rollouts decoded a sample skipping special tokens (the tiny Qwen's and some real
    tokenizers' `</think>`) and split it without knowing the prompt opened `<think>`: a
    \\boxed{} drafted in the reasoning scored 1 where generate's trace had no answer (filter:
    no_answer)."""
    from distill.models import load_tokenizer
    from distill.reasoning import split
    from distill.train.kd.reward import score_rollouts

    tok = load_tokenizer(str(tiny_qwen))
    plain = "<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n"
    cases = [  # (prompt, completion, what generate's split + the filter say)
        (plain, "<think>Maybe \\boxed{7}?</think> I am not sure.", False),
        (plain + "<think>\n", "So far 3 + 4 = \\boxed{7}, but let me", True),
        (plain + "<think>\n", "3 + 4 is 7.</think> The answer is \\boxed{7}.", True),
        (plain, "The answer is \\boxed{7}.", False),
    ]
    prompts, labels = _rollouts(tok, [c[0] for c in cases], [c[1] for c in cases])
    _, rewards = score_rollouts(
        tok, labels, ["7"] * 4, ["{}"] * 4, 4, "math", None, prompts=prompts
    )
    filter_says = [
        judge({"answer": split(c, in_think=t)[1], "gold": "7"}, "math")[0] for _, c, t in cases
    ]
    assert filter_says == ["no_answer", "no_answer", "correct", "correct"]
    assert rewards == [0.0, 0.0, 1.0, 1.0]
