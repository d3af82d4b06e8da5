"""Multiple-choice sets are asked as multiple choice (distill/choices.py). MMLU, ARC,
CommonsenseQA, MMLU-Pro and GPQA rows were read as free-text prompts: the question asked without
its options, the reply judged against the index "1" (MMLU) or no gold at all (ARC's answerKey,
GPQA's columns): a silently wrong pass@1. Now the prompt is simple-evals' multiple-choice
wording with lettered options, the gold the letter, the same in generate, eval and on-policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.eval import EvalConfig, score
from distill.eval import run as run_eval
from distill.generate import GenerateConfig, prompt_messages
from distill.generate import run as run_generate
from distill.train.config import TrainConfig
from tests.inproc import distill

HEAD = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of {}. "
    "Think step by step before answering.\n\n"
)

# the real column layouts (their Hub cards), one row each; the exact text the model is sent
MMLU = {
    "question": "Find the degree for the given field extension Q(sqrt(2)) over Q.",
    "subject": "abstract_algebra",
    "choices": ["0", "2", "1", "3"],
    "answer": 1,
}
ARC = {
    "id": "Mercury_7175875",
    "question": "An astronomer observes that a planet rotates faster after a meteorite impact. "
    "Which is the most likely effect of this increase in rotation?",
    "choices": {
        "text": [
            "Planetary density will decrease.",
            "Planetary years will become longer.",
            "Planetary days will become shorter.",
            "Planetary gravity will become stronger.",
        ],
        "label": ["A", "B", "C", "D"],
    },
    "answerKey": "C",
}
ARC_DIGITS = {  # ~1% of ARC labels its options 1-4: re-lettered, answerKey "4" is D
    "id": "NYSEDREGENTS_2015_8_28",
    "question": "Which organ produces insulin?",
    "choices": {"text": ["heart", "lung", "liver", "pancreas"], "label": ["1", "2", "3", "4"]},
    "answerKey": "4",
}
CSQA = {
    "id": "075e483d21c29a511267ef62bedc0461",
    "question": "The sanctions against the school were a punishing blow, and they seemed to what "
    "the efforts the school had made to change?",
    "question_concept": "punishing",
    "choices": {
        "label": ["A", "B", "C", "D", "E"],
        "text": ["ignore", "enforce", "authoritarian", "yell at", "avoid"],
    },
    "answerKey": "A",
}
MMLU_PRO = {
    "question_id": 70,
    "question": "Typical advertising regulatory bodies suggest that adverts must not: encourage "
    "_________, cause unnecessary ________ or _____, and must not cause _______ offence.",
    "options": [
        "Safe practices, Fear, Jealousy, Trivial",
        "Unsafe practices, Distress, Joy, Trivial",
        "Safe practices, Wants, Jealousy, Trivial",
        "Unsafe practices, Distress, Fear, Serious",
    ],
    "answer": "D",
    "answer_index": 3,
    "cot_content": "",
    "category": "business",
    "src": "ori_mmlu-business_ethics",
}
GPQA = {
    "Record ID": "recV5pAQIv0iLo0Ma",
    "Question": "Two quantum states with energies E1 and E2 have a lifetime of 10^-9 sec and "
    "10^-8 sec, respectively. Which energy difference lets them be clearly resolved?\n",
    "Correct Answer": "10^-4 eV",
    "Incorrect Answer 1": "10^-11 eV",
    "Incorrect Answer 2": "10^-8 eV\n",
    "Incorrect Answer 3": "10^-9 eV",
}


def _lettered(question: str, options: list[str]) -> str:
    letters = "ABCDE"[: len(options)]
    listed = "\n".join(f"{x}) {o}" for x, o in zip(letters, options))
    return HEAD.format(letters) + question.strip() + "\n\n" + listed


CASES = {
    "mmlu": (MMLU, _lettered(MMLU["question"], MMLU["choices"]), "B"),
    "arc": (ARC, _lettered(ARC["question"], ARC["choices"]["text"]), "C"),
    "arc-digits": (
        ARC_DIGITS,
        _lettered(ARC_DIGITS["question"], ARC_DIGITS["choices"]["text"]),
        "D",
    ),
    "csqa": (CSQA, _lettered(CSQA["question"], CSQA["choices"]["text"]), "A"),
    "mmlu-pro": (MMLU_PRO, _lettered(MMLU_PRO["question"], MMLU_PRO["options"]), "D"),
}


def _write(tmp_path: Path, *rows: dict, name: str = "set.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _gpqa_prompt(tmp_path: Path, row: dict) -> tuple[str, str]:
    ((r, msgs),) = list(prompt_messages(str(_write(tmp_path, row, name="gpqa.jsonl"))))
    return msgs[-1]["content"], r.gold


@pytest.mark.parametrize("name", list(CASES))
def test_the_model_is_asked_the_question_with_its_lettered_options(name, tmp_path):
    row, asked, gold = CASES[name]
    ((r, msgs),) = list(prompt_messages(str(_write(tmp_path, row))))
    assert msgs == [{"role": "user", "content": asked}]
    assert r.gold == gold
    assert r.row_id == row.get("id")  # the set's own id, as before


def test_gpqa_is_asked_its_four_answers_shuffled_the_gold_where_the_right_one_landed(tmp_path):
    asked, gold = _gpqa_prompt(tmp_path, GPQA)
    options = dict(line.split(") ", 1) for line in asked.split("\n\n")[-1].splitlines())
    assert asked.startswith(HEAD.format("ABCD") + GPQA["Question"].strip() + "\n\nA) ")
    assert sorted(options.values()) == sorted(
        GPQA[c].strip() for c in ("Correct Answer", *(f"Incorrect Answer {i}" for i in (1, 2, 3)))
    )
    assert options[gold] == "10^-4 eV"


def test_gpqas_shuffle_is_the_rows_own_and_not_always_the_right_answer_first(tmp_path):
    rows = [
        {**GPQA, "Question": f"Question {i}?", "Correct Answer": f"right {i}"} for i in range(12)
    ]
    data = str(_write(tmp_path, *rows))
    first = [(m[-1]["content"], r.gold) for r, m in prompt_messages(data)]
    assert [(m[-1]["content"], r.gold) for r, m in prompt_messages(data)] == first  # rerun
    # the order is the row's, not its place: a row read alone (or under --limit) is asked alike
    assert _gpqa_prompt(tmp_path, rows[7]) == first[7]
    assert [(m[-1]["content"], r.gold) for r, m in prompt_messages(data, limit=3)] == first[:3]
    golds = [g for _, g in first]
    assert len(set(golds)) >= 3, golds  # the right answer is not always A (nor always one place)


@pytest.mark.parametrize("name", [*CASES, "gpqa"])
@pytest.mark.parametrize("verify", ["math", "choice"])  # math: eval's default
def test_the_right_letter_passes_a_wrong_letter_or_a_hedge_fails(name, verify, tmp_path):
    row = GPQA if name == "gpqa" else CASES[name][0]
    ((r, _),) = list(prompt_messages(str(_write(tmp_path, row))))
    other = "A" if r.gold != "A" else "B"
    replies = {
        "right": f"Checking each option in turn.\n\nAnswer: {r.gold}",
        "wrong": f"Checking each option in turn.\n\nAnswer: {other}",
        "hedge": f"The answer is {r.gold}. But {other} also works.",
    }
    for what, reply in replies.items():
        rec = {"id": what, "prompt_id": what, "sample": 0, "answer": reply, "gold": r.gold}
        rec |= {"finish_reason": "stop", "usage": {"completion_tokens": 9}}
        assert score([rec], verify)["pass@1"] == (1.0 if what == "right" else 0.0), (what, verify)


@pytest.fixture
def student():
    """A served student whose reply to each question is scripted (`replies`: a piece of the
    question -> the reply); every request is logged (`log`)."""
    from tests.fakeserver import FakeServer

    s = FakeServer().start()
    s.replies = {}

    def choice(i: int, prompt: str, max_tokens: int) -> dict:
        text = next((v for k, v in s.replies.items() if k in prompt), "I do not know.")
        msg = {"role": "assistant", "content": text}
        return {"index": i, "message": msg, "finish_reason": "stop", "_tokens": 10}

    s._choice = choice
    yield s
    s.stop()


def test_generate_eval_and_onpolicy_ask_one_prompt_and_eval_scores_the_letters(student, tmp_path):
    from distill.train.kd.data import prompt_chats

    data = str(_write(tmp_path, MMLU, {**MMLU, "question": "Is 7 prime?", "answer": 0},
                      {**MMLU, "question": "Is 9 prime?", "answer": 3}))  # fmt: skip
    asked = [m[-1]["content"] for _, m in prompt_messages(data)]
    # generate: the teacher is sent that text
    student.replies = {"Q(sqrt(2))": "Answer: B", "Is 7": "Answer: C", "Is 9": "Answer: D. Or A."}
    traces = tmp_path / "traces.jsonl"
    run_generate(
        GenerateConfig(
            data=data, teacher="openai", model="fake-r1", base_url=student.url, out=str(traces)
        ),
        progress=False,
    )
    # (requests run concurrently: they may reach the server in any order)
    assert sorted(e["messages"][-1]["content"] for e in student.log) == sorted(asked)
    written = [json.loads(line) for line in traces.read_text().splitlines()]
    golds = {r["messages"][-1]["content"]: r["gold"] for r in written}  # (in the order answered)
    assert [golds[a] for a in asked] == ["B", "A", "D"]
    # eval: the same text, and pass@1 over the letters: B right; C against A wrong; a hedge wrong
    for verify in ("math", "choice"):
        student.log.clear()
        out = tmp_path / f"eval-{verify}.json"
        run_eval(
            EvalConfig(
                data=data,
                model="fake-r1",
                backend="openai",
                base_url=student.url,
                verify=verify,
                out=str(out),
            )
        )
        assert sorted(e["messages"][-1]["content"] for e in student.log) == sorted(asked)
        result = json.loads(out.read_text())["student"]
        assert result["pass@1"] == 0.3333 and result["problems"] == 3, (verify, result)
    # on-policy samples the student after the same text
    cfg = TrainConfig(
        data=data,
        model="fake-r1",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        lmbda=1.0,
    )
    assert [m[-1]["content"] for m, _ in prompt_chats(cfg)] == asked


@pytest.mark.parametrize(
    "first,bad,says",
    [
        (MMLU, {**MMLU, "answer": 4}, "field 'answer' is 4, which names none of the row's 4 options"),
        (MMLU, {**MMLU, "choices": "0, 2, 1 or 3"}, "field 'choices' holds no list of options"),
        (MMLU, {**MMLU, "choices": ["only one"]}, "field 'choices' holds no list of options"),
        (ARC, {**ARC, "answerKey": "E"},
         "field 'answerKey' is 'E', which names none of the row's labels A, B, C, D"),
        (GPQA, {**GPQA, "Incorrect Answer 2": None}, "field 'Incorrect Answer 2' holds no answer text"),
        (MMLU_PRO, {**MMLU_PRO, "options": [str(i) for i in range(11)], "answer_index": 8},
         "11 options in 'options' (letters A-K), but the verifiers read option letters A-J only"),
    ],
)  # fmt: skip
def test_a_row_that_cannot_be_read_as_multiple_choice_is_one_line_naming_it(
    first, bad, says, tmp_path
):
    data = _write(tmp_path, first, bad)
    with pytest.raises(DistillError) as err:
        list(load_rows(str(data)))
    assert str(err.value).startswith(f"{data}:2: ") and says in str(err.value), str(err.value)
    res = distill("generate", "--data", data, "--teacher", "openai", "--model", "m",
                  "--base-url", "http://127.0.0.1:9/v1", "--out", tmp_path / "t.jsonl")  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert f"{data}:2: " in line and says in line, line


def test_a_test_split_without_answers_is_asked_with_no_gold(tmp_path):
    ((r, msgs),) = list(prompt_messages(str(_write(tmp_path, {**CSQA, "answerKey": ""}))))
    assert msgs[-1]["content"] == CASES["csqa"][1] and r.gold is None


def test_other_sets_and_other_fields_are_read_as_before(tmp_path):
    gsm = {"id": "gsm-1", "question": "What is 2 + 3?", "answer": "5"}
    (r,) = list(load_rows(str(_write(tmp_path, gsm))))
    assert (r.prompt, r.gold, r.row_id) == ("What is 2 + 3?", "5", "gsm-1")
    # a --prompt-field or --answer-field of another column asks for that column
    (r,) = list(load_rows(str(_write(tmp_path, MMLU)), prompt_field="subject"))
    assert (r.prompt, r.gold) == ("abstract_algebra", "1")
    (r,) = list(load_rows(str(_write(tmp_path, MMLU_PRO)), answer_field="cot_content"))
    assert r.prompt == MMLU_PRO["question"]
    # a --decontam benchmark is read for its question's words, never the instruction's: every
    # multiple-choice prompt would share them
    from distill.filter.decontam import Decontaminator

    index = Decontaminator([str(_write(tmp_path, MMLU, name="mmlu.jsonl"))], n=8)
    assert index.hit(CASES["csqa"][1]) is None
    assert index.hit(CASES["mmlu"][1]) == "mmlu"
