"""Second read of 254b9be (multiple-choice rows of up to ten options) and e58346e (`distill train`
on a multiple-choice set trains the prompt eval asks, answered "Answer: C").

1. `train --method onpolicy --reward math` (and --gate-teacher's references) on a multiple-choice
   set given as columns (--prompt-field question --answer-field answer): e58346e trains the
   question with its lettered options, but the reward's gold was still the row's `answer` column
   read as a plain dataset's: MMLU's index ("1" against the student's right "Answer: B": every
   right sample scored 0), ARC's answerKey and GPQA's 'Correct Answer' no gold at all (refused
   as having none). The gold is the letter, as generate, filter and eval read the row.
2. The prompt train computes the loss after is byte for byte the one eval sends, for a ten-option
   and a GPQA row, under --format alpaca and r1, and the trained answer is one eval reads.
3. A ten-option question asked in another wording than simple-evals' (MMLU-Pro's own prompt,
   "Options:\nA. ...\nJ. ...", a set's own prompt column, traces written so) was read for the
   letters A-E only when its gold is one of them (options_of read the instruction or a gold
   past E): "(B). Actually, G also works." judged right, "the answer is (G)" no answer, and
   eval's maj@k gave G no vote (maj@5 1.0 where three of five samples said G). The options its
   prompt lists a line each count too.
"""

from __future__ import annotations

import json

import pytest

from distill.choices import multiple_choice
from distill.data import load_rows

TEN = [f"option {n}" for n in range(10)]
ROWS = {  # (row, --prompt-field, --answer-field)
    "mmlu": (
        {
            "question": "Find the degree.",
            "subject": "a",
            "choices": ["0", "2", "1", "3"],
            "answer": 1,
        },
        "question",
        "answer",
    ),
    "arc": (
        {
            "id": "x",
            "question": "Which organ produces insulin?",
            "choices": {"text": ["heart", "lung", "pancreas", "liver"], "label": list("ABCD")},
            "answerKey": "C",
        },
        "question",
        "answerKey",
    ),
    "mmlu-pro": (
        {
            "question_id": 7,
            "question": "Which is ninth?",
            "options": TEN,
            "answer": "I",
            "answer_index": 8,
        },
        "question",
        "answer",
    ),  # fmt: skip
    "gpqa": (
        {
            "Question": "Which one?",
            "Correct Answer": "yes",
            "Incorrect Answer 1": "no",
            "Incorrect Answer 2": "maybe",
            "Incorrect Answer 3": "never",
        },
        "Question",
        "Correct Answer",
    ),  # fmt: skip
}


def _data(tmp_path, name: str) -> str:
    row, _, _ = ROWS[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return str(path)


# --------------------------------------------------------------------------- 1. --reward's gold


@pytest.mark.parametrize("name", ["mmlu", "arc", "gpqa", "mmlu-pro"])
def test_the_reward_of_a_multiple_choice_row_is_judged_against_its_letter(
    name, tmp_path, tiny_qwen
):
    from transformers import AutoTokenizer

    from distill.train.config import TrainConfig
    from distill.train.kd import reward

    _, prompt_field, answer_field = ROWS[name]
    data = _data(tmp_path, name)
    (row,) = load_rows(data)  # as generate, filter and eval read the row
    assert row.choices is not None and row.gold in "ABCDEFGHIJ"
    cfg = TrainConfig(
        data=data, model=str(tiny_qwen), output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model=str(tiny_qwen), max_length=512, prompt_field=prompt_field,
        answer_field=answer_field, reward="math",
    )  # fmt: skip
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    (ref,) = reward._references(cfg, tok, tok.eos_token_id).values()
    assert ref["gold"] == row.gold
    assert ref["problem"] == row.prompt  # the question with its lettered options
    right, wrong = f"Answer: {row.gold}", "Answer: A" if row.gold != "A" else "Answer: B"
    assert reward.reward_of(right, ref["gold"], {}, "math", problem=ref["problem"]) == 1.0
    assert reward.reward_of(wrong, ref["gold"], {}, "math", problem=ref["problem"]) == 0.0


def test_a_free_form_row_of_a_mixed_set_keeps_its_answer_as_the_gold(tmp_path, tiny_qwen):
    from transformers import AutoTokenizer

    from distill.train.config import TrainConfig
    from distill.train.kd import reward

    free = {"question": "What is 0.6 * 2?", "subject": "m", "choices": None, "answer": "1.2"}
    data = tmp_path / "mixed.jsonl"
    data.write_text(json.dumps(ROWS["mmlu"][0]) + "\n" + json.dumps(free) + "\n")
    cfg = TrainConfig(
        data=str(data), model=str(tiny_qwen), output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model=str(tiny_qwen), max_length=512, prompt_field="question",
        answer_field="answer", reward="math",
    )  # fmt: skip
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    golds = sorted(r["gold"] for r in reward._references(cfg, tok, tok.eos_token_id).values())
    assert golds == ["1.2", "B"]


# --------------------------------------------------------------------------- 2. train = eval


@pytest.mark.parametrize("fmt", ["alpaca", "r1"])
@pytest.mark.parametrize("name", ["mmlu-pro", "gpqa"])
def test_train_on_a_multiple_choice_set_trains_the_prompt_eval_sends(fmt, name, server, tmp_path):
    from distill.eval import EvalConfig
    from distill.eval import run as run_eval
    from distill.examples import Columns, Renderer, load_examples, tokenize_examples
    from distill.filter.verify import judge
    from tests.tiny import make_tokenizer

    tok = make_tokenizer("qwen2")  # no BOS: the decoded prompt is the text itself
    row, prompt_field, answer_field = ROWS[name]
    data = _data(tmp_path, name)
    assert multiple_choice(row) is not None
    (ex,) = load_examples(
        data, columns=Columns(prompt_field=prompt_field, answer_field=answer_field)
    )
    cols, _ = tokenize_examples([ex], Renderer(tok, fmt), 8192)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    trained = tok.decode(ids[: mask.index(1)])
    server.log.clear()
    run_eval(
        EvalConfig(data=data, model="fake-r1", backend="openai", base_url=server.url, format=fmt,
                   verify="choice", out=str(tmp_path / "eval.json"))
    )  # fmt: skip
    (sent,) = [e["messages"] for e in server.log]
    if fmt == "alpaca":
        ((message,),) = [sent]
        asked = message["content"]
    else:
        asked = tok.apply_chat_template(sent, tokenize=False, add_generation_prompt=True)
    assert trained == asked
    # what the student learns to answer is read by eval's verifier as the row's letter
    (gold_row,) = load_rows(data)
    rec = {"messages": sent, "answer": ex.completion, "gold": gold_row.gold}
    assert judge(rec, "choice")[0] == "correct" and judge(rec, "math")[0] == "correct"


# --------------------------------------------------------------------------- 3. listed options

OPTIONS = "\n".join(f"{letter}. option {n}" for n, letter in enumerate("ABCDEFGHIJ"))
MMLU_PRO_PROMPT = (  # MMLU-Pro's own chain-of-thought prompt (TIGER-Lab/MMLU-Pro, evaluate_from_api)
    "The following are multiple choice questions (with answers) about physics. Think step by "
    'step and then finish your answer with "the answer is (X)" where X is the correct letter '
    f"choice.\n\nQuestion: Which one?\nOptions:\n{OPTIONS}\nAnswer: Let's think step by step."
)


def _mc(answer: str, gold: str, prompt: str = MMLU_PRO_PROMPT, sample: int = 0) -> dict:
    msgs = [{"role": "user", "content": prompt}]
    return {"prompt_id": "p", "sample": sample, "messages": msgs, "answer": answer, "gold": gold}


@pytest.mark.parametrize("mode", ["choice", "math"])
@pytest.mark.parametrize(
    "answer,verdict",
    [
        ("the answer is (B)", "correct"),
        ("the answer is (G)", "wrong"),
        ("the answer is (B). Actually, G also works.", "wrong"),
        ("the answer is (B), or maybe (H)", "wrong"),
        ("the answer is (B). Options F through J are all wrong.", "correct"),
    ],
)
def test_a_question_listing_ten_options_is_read_for_its_ten_letters(mode, answer, verdict):
    from distill.filter.verify import judge

    assert judge(_mc(answer, "B"), mode)[0] == verdict


def test_eval_votes_a_letter_past_e_of_a_question_listing_ten_options():
    from distill.eval import score

    said = ["the answer is (G)"] * 3 + ["the answer is (B)"] * 2
    result = score([_mc(a, "B", sample=i) for i, a in enumerate(said)], "choice")
    assert result["pass@1"] == 0.4 and result["maj@5"] == 0.0


def test_a_question_of_four_listed_options_or_a_prompt_listing_none_reads_a_to_e():
    """As before: a capital past E is no option there ("Answer: G" names none)."""
    from distill.filter.verify import judge

    four = MMLU_PRO_PROMPT.replace(OPTIONS, "\n".join(OPTIONS.splitlines()[:4]))
    assert judge(_mc("the answer is (G)", "B", four), "choice")[0] == "no_answer"
    assert judge(_mc("Answer: G", "B", "What is 2 + 3?"), "choice")[0] == "no_answer"
    # letters listed with a gap (a roman "I." heading) are no list of options past the gap
    gap = "A) x\nB) y\nC) z\nD) w\n\nI. Notes\n"
    assert judge(_mc("Answer: B. I is wrong too.", "B", gap), "choice")[0] == "correct"
