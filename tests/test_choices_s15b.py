"""Follow-ups of distill/choices.py (d07c8f7, 0d426ce):

1. MMLU-Pro's and SuperGPQA's rows of up to ten options (A-J) were refused: the verifiers read
   A-E only. The letters are read up to the row's own last one (its prompt names them; a gold
   letter past E says so too), the pronoun "I" never as option I.
2. A --template with {question} (the question column) asked a multiple-choice row without its
   options: {question} renders the question with its lettered options, as {prompt} does.
3. A free-form row (options null) after a multiple-choice first row was refused: it is asked
   as its question, its answer's text the gold (MathVista, MMMU).
4. distill run: eval asked the student with its default max_tokens 512 while generate's traces
   ran to 4096: eval takes generate's max_tokens when its section sets none.
5. `distill train --prompt-field question --answer-field answerKey` trained the question alone
   -> the letter: it trains the multiple-choice prompt generate and eval ask, "Answer: C".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from distill.data import load_rows
from distill.errors import DistillError
from distill.eval import score
from distill.examples import Columns, load_examples
from distill.filter.verify import choice_key, judge, verify_choice, verify_math
from distill.generate import prompt_messages
from distill.pipeline import run as pipeline_run
from tests.inproc import distill

TEN = [f"option {n}" for n in range(10)]
MMLU_PRO = {  # a ten-option row, its answer the ninth: I
    "question_id": 7,
    "question": "Which option is the ninth?",
    "options": TEN,
    "answer": "I",
    "answer_index": 8,
    "category": "other",
}
SUPERGPQA = {  # SuperGPQA's columns: `answer` is the option's text, `answer_letter` its letter
    "uuid": "a1",
    "question": "Which option is the eighth?",
    "options": TEN,
    "answer": "option 7",
    "answer_letter": "H",
    "discipline": "Science",
}
MMLU = {
    "question": "Find the degree of Q(sqrt(2)) over Q.",
    "subject": "abstract_algebra",
    "choices": ["0", "2", "1", "3"],
    "answer": 1,
}
ARC = {
    "id": "Mercury_7175875",
    "question": "Which organ produces insulin?",
    "choices": {"text": ["heart", "lung", "pancreas", "liver"], "label": ["A", "B", "C", "D"]},
    "answerKey": "C",
}


def _write(tmp_path: Path, *rows: dict, name: str = "set.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _asked(data: str, **kw) -> list[tuple]:
    return [(row, msgs[-1]["content"]) for row, msgs in prompt_messages(data, **kw)]


def _record(prompt: str, answer: str, gold: str, sample: int = 0) -> dict:
    return {
        "prompt_id": "p",
        "sample": sample,
        "messages": [{"role": "user", "content": prompt}],
        "answer": answer,
        "gold": gold,
    }


# --------------------------------------------------------------------------- 1. up to ten letters


def test_a_ten_option_row_is_asked_with_its_ten_letters_and_its_letter_as_gold(tmp_path):
    ((row, prompt),) = _asked(_write(tmp_path, MMLU_PRO))
    assert "where LETTER is one of ABCDEFGHIJ." in prompt
    assert "\nI) option 8\nJ) option 9" in prompt
    assert row.gold == "I"
    ((row, _),) = _asked(_write(tmp_path, SUPERGPQA, name="super.jsonl"))
    assert row.gold == "H"


@pytest.mark.parametrize("mode", ["choice", "math"])
@pytest.mark.parametrize(
    "answer,gold,verdict",
    [
        ("I think the answer is (I).", "I", "correct"),
        ("Answer: I", "I", "correct"),
        ("**Answer: J**", "I", "wrong"),
        ("The answer is H.", "H", "correct"),
        ("Answer: B", "I", "wrong"),
        # the pronoun: no option I
        ("I think it is B.\n\nAnswer: B", "B", "correct"),
        ("The answer I got is B.\nAnswer: B", "B", "correct"),
        ("Answer: B. I think that is correct.", "B", "correct"),
        ("Answer: B\nI'm fairly confident.", "B", "correct"),
        ("Answer: I think it is B", "I", "no_answer"),
        # another option past E offered after the stated one: a hedge, wrong
        ("The answer is B. I think H also works.", "B", "wrong"),
        ("Answer: B. Actually, I think it might be G.", "B", "wrong"),
        ("Answer: B. Actually I is also correct.", "B", "wrong"),
    ],
)
def test_a_reply_to_a_ten_option_question_is_read_for_its_letters(
    mode, answer, gold, verdict, tmp_path
):
    ((row, prompt),) = _asked(_write(tmp_path, MMLU_PRO))
    assert judge(_record(prompt, answer, gold), mode)[0] == verdict


def test_a_five_option_question_reads_no_letter_past_e(tmp_path):
    """The letters of a question of five options or fewer are read as before: 'Answer: I' there
    names no option."""
    ((_, prompt),) = _asked(_write(tmp_path, MMLU))
    assert judge(_record(prompt, "Answer: I", "B"), "choice")[0] == "no_answer"
    assert verify_choice("Answer: F", "B") == "no_answer"


def test_a_gold_letter_past_e_says_the_letters_go_that_far():
    """A set of its own prompts (no simple-evals instruction): its gold letter H is read."""
    assert verify_choice("Answer: H", "H") == "correct"
    assert verify_math("The answer is (H).", "H") == "correct"
    assert verify_choice("Answer: G", "H") == "wrong"


def test_eval_votes_and_scores_a_ten_option_question_by_its_letters(tmp_path):
    ((_, prompt),) = _asked(_write(tmp_path, MMLU_PRO))
    records = [
        _record(prompt, a, "I", i)
        for i, a in enumerate(["Answer: I", "(I)\n\nAnswer: I", "Answer: C"])
    ]
    result = score(records, "choice")
    assert result["pass@1"] == 0.6667 and result["maj@3"] == 1.0
    assert choice_key("Answer: I", 10) == "I" and choice_key("Answer: I") is None


# --------------------------------------------------------------------------- 2. --template


def test_a_template_of_the_question_column_asks_it_with_its_options(tmp_path):
    data = _write(tmp_path, MMLU, ARC)
    mine = tmp_path / "mine.txt"
    mine.write_text("Take your time.\n\n{question}\n")
    plain = [p for _, p in _asked(data)]
    worded = [p for _, p in _asked(data, template=str(mine))]
    assert worded == [f"Take your time.\n\n{p}" for p in plain]
    assert "B) 2" in worded[0] and "C) pancreas" in worded[1]


def test_a_template_that_shows_the_options_column_too_is_one_line(tmp_path):
    data = _write(tmp_path, MMLU)
    mine = tmp_path / "mine.txt"
    mine.write_text("{question}\nOptions: {choices}\n")
    with pytest.raises(DistillError, match="shows column 'choices' itself"):
        _asked(data, template=str(mine))
    res = distill("generate", "--data", data, "--teacher", "openai", "--model", "m",
                  "--base-url", "http://127.0.0.1:9/v1", "--template", mine,
                  "--out", tmp_path / "t.jsonl")  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "drop {choices} from the template" in line, line


# --------------------------------------------------------------------------- 3. mixed sets


@pytest.mark.parametrize("none", [None, [], ""])
def test_a_free_form_row_of_a_multiple_choice_set_is_asked_as_its_question(none, tmp_path):
    free = {"question": "What is 0.6 * 2?", "subject": "math", "choices": none, "answer": "1.2"}
    data = _write(tmp_path, MMLU, free, {**MMLU, "answer": 2})
    rows = list(load_rows(data))
    assert [r.gold for r in rows] == ["B", "1.2", "C"]
    assert rows[1].prompt == "What is 0.6 * 2?"
    mine = tmp_path / "mine.txt"
    mine.write_text("Q: {question}")
    asked = [p for _, p in _asked(data, template=str(mine))]
    assert asked[1] == "Q: What is 0.6 * 2?" and "A) 0" in asked[0]


# --------------------------------------------------------------------------- 4. distill run


def _planned_eval(tmp_path: Path, monkeypatch, gen: dict, ev: dict):
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))
        return Path(cfg.out)

    monkeypatch.setattr(eval_stage, "run", fake_run)
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "r1", "base_url": "http://127.0.0.1:9/v1",
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl", **gen},
        "eval": {"model": "student", "baseline": "base", "backend": "openai",
                 "base_url": "http://127.0.0.1:9/v1", "data": "builtin:arithmetic?start=100&n=2",
                 "out": "{run_dir}/eval.json", **ev},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    pipeline_run(path, only=["eval"])
    return seen[0]


@pytest.mark.parametrize("gen,taken", [({"max_tokens": 8192}, 8192), ({}, 4096)])
def test_run_asks_the_student_and_baseline_with_generates_max_tokens(
    gen, taken, tmp_path, monkeypatch
):
    """generate's own, or its default (4096): not eval's default (512)."""
    assert _planned_eval(tmp_path, monkeypatch, gen, {}).max_tokens == taken


def test_an_eval_sections_own_max_tokens_is_kept_with_a_note(tmp_path, monkeypatch, capsys):
    cfg = _planned_eval(tmp_path, monkeypatch, {"max_tokens": 8192}, {"max_tokens": 1024})
    assert cfg.max_tokens == 1024
    out = capsys.readouterr().out
    assert "note: eval.max_tokens 1024 is below generate.max_tokens (8192)" in out


# --------------------------------------------------------------------------- 5. train


@pytest.mark.parametrize(
    "row,answer_field,letter", [(ARC, "answerKey", "C"), (MMLU, "answer", "B")]
)
def test_train_on_a_multiple_choice_set_trains_the_prompt_eval_asks(
    row, answer_field, letter, tmp_path
):
    data = _write(tmp_path, row)
    ((_, asked),) = _asked(data)
    columns = Columns(prompt_field="question", answer_field=answer_field)
    (ex,) = list(load_examples(data, columns=columns))
    assert ex.prompt == [{"role": "user", "content": asked}]
    assert ex.completion == f"Answer: {letter}"
    out = tmp_path / "export.jsonl"
    res = distill("export", data, "--prompt-field", "question", "--answer-field", answer_field,
                  "--out", out)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (exported,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported["messages"][0]["content"] == asked


def test_train_on_a_mixed_set_trains_a_free_form_row_as_it_is(tmp_path):
    free = {"question": "What is 0.6 * 2?", "subject": "math", "choices": None, "answer": "1.2"}
    data = _write(tmp_path, MMLU, free)
    columns = Columns(prompt_field="question", answer_field="answer")
    first, second = load_examples(data, columns=columns)
    assert first.completion == "Answer: B" and "A) 0" in first.prompt[-1]["content"]
    assert second.prompt[-1]["content"] == "What is 0.6 * 2?" and second.completion == "1.2"
