"""Second read of session 19's dataset commits (c3c39e0 AQuA-RAT by its own letters, d48a395
SQuAD's answers as any copy saves them, `_python_literal`):

- AQuA-RAT: a set whose FIRST row writes its options with their letters but one without
  ("A)125", "150", ...) was read whole as plain questions (no options shown, no gold in eval;
  train trained the bare letter as the answer to the question alone), though the same row
  later in the set is refused: the first row is refused by its row now.
- AQuA-RAT: a gold letter no option bears (C of A, B, D, E) was read as the option whose TEXT
  is that letter ("D)C", asked as C), a gold that named the wrong option: refused now, as a
  skipped letter is where no option reads "C".
- An options (or SQuAD `answers`) cell of JSON text nested past Python's recursion limit
  ("[[[[...") ended the run with a RecursionError traceback (choices._listed): it reads as
  text now (an MMLU row's refused in one line; a SQuAD cell no SQuAD answer).
- Pinned: `_python_literal` never runs what a cell names, and any cell reads without raising.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from distill.choices import _python_literal, _span_texts
from distill.data import load_rows
from distill.errors import DistillError
from tests.test_datasets_s18 import AQUA, _asked, _trained, _write, head, lettered

ASKED = head("ABCDE") + AQUA["question"] + "\n\n" + lettered(["125", "150", "225", "250", "275"])


def test_aqua_first_row_with_an_option_missing_its_letter_is_refused_not_read_plain(tmp_path):
    bare = {**AQUA, "options": ["A)125", "150", "C)225", "D)250", "E)275"]}
    data = _write(tmp_path, bare, AQUA)
    # was: both rows asked as the question alone, no options, no gold (eval); train trained
    # "A" as the answer to a question whose options it never showed
    line = r"data.jsonl:1: field 'options' writes its options with their own letters .* not '150'"
    with pytest.raises(DistillError, match=line) as e:
        list(load_rows(data))
    assert "\n" not in str(e.value)
    with pytest.raises(DistillError, match=r"data.jsonl row 1: field 'options' .* not '150'"):
        _trained(data, prompt_field="question", answer_field="correct")
    # a first row whose options are read is unchanged, a later such row refused as before
    later = _write(tmp_path, AQUA, bare, name="later.jsonl")
    with pytest.raises(DistillError, match=r"later.jsonl:2: field 'options' .* not '150'"):
        list(load_rows(later))
    assert _asked(_write(tmp_path, AQUA, name="ok.jsonl")) == [("A", ASKED)]


def test_aqua_gold_letter_no_option_bears_is_refused_even_where_an_option_reads_that_letter(
    tmp_path,
):
    # C is skipped; the option lettered D reads "C" (asked as C): the gold C names no option
    row = {**AQUA, "options": ["A)A", "B)B", "D)C", "E)D"], "correct": "C"}
    data = _write(tmp_path, AQUA, row)
    # was: gold C, the option "D)C", asked as C: another option than the row's gold letter
    with pytest.raises(DistillError, match=r"data.jsonl:2: field 'correct' is 'C', which names"):
        list(load_rows(data))
    with pytest.raises(DistillError, match=r"data.jsonl row 2: field 'correct' is 'C'"):
        _trained(data, prompt_field="question", answer_field="correct")
    # the gold D (borne by "E)D", asked as D) and an option's own text as the gold still read
    four = head("ABCD") + AQUA["question"] + "\n\n" + lettered(["A", "B", "C", "D"])
    assert _asked(_write(tmp_path, {**row, "correct": "E"}, name="e.jsonl")) == [("D", four)]
    text = _write(tmp_path, {**AQUA, "correct": "150"}, name="text.jsonl")
    assert _asked(text) == [("B", ASKED)]


DEEP = "[" * 50_000 + "]" * 50_000


def _csv(path: Path, fields: list[str], *rows: dict) -> str:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_a_cell_nested_past_the_recursion_limit_is_one_line_never_a_traceback(tmp_path):
    mmlu = _csv(
        tmp_path / "mmlu.csv",
        ["question", "choices", "answer"],
        {"question": "2 + 2?", "choices": json.dumps(["3", "4"]), "answer": "1"},
        {"question": "2 + 3?", "choices": DEEP, "answer": "1"},
    )
    # was: RecursionError (json.loads in choices._listed), a traceback
    with pytest.raises(DistillError, match=r"mmlu.csv row 2: field 'choices' holds no list of"):
        list(load_rows(mmlu))
    squad = _csv(
        tmp_path / "squad.csv",
        ["id", "context", "question", "answers"],
        {"id": "1", "context": "It is blue.", "question": "Which colour?", "answers": DEEP},
    )
    ((prompt, gold),) = [(r.prompt, r.gold) for r in load_rows(squad)]
    assert (prompt, gold) == ("Which colour?", None)  # (no SQuAD answer: a plain question)


def test_python_literal_never_runs_a_cell_and_reads_any_cell_without_raising(tmp_path):
    mark = tmp_path / "ran"
    calls = [
        f"{{'text': open({str(mark)!r}, 'w'), 'answer_start': [1]}}",
        f"{{'text': array([open({str(mark)!r}, 'w')], dtype=object), 'answer_start': [1]}}",
        f"[__import__('pathlib').Path({str(mark)!r}).touch()]",
        f"[(lambda: open({str(mark)!r}, 'w'))()]",
    ]
    odd = [
        DEEP,
        "[" + "-" * 100_000 + "1]",  # (a unary chain deeper than the parser goes)
        "[" + "9" * 5000 + "]",  # (past int's digit limit)
        "['a\x00b']",
        "['\ud800']",
        "{[1]: 2}",
        "{{}}",
        "{'text': array(['a'], **{'dtype': 1}), 'answer_start': [1]}",
    ]
    for cell in calls + odd:
        assert _python_literal(cell) == cell.strip()
        assert _span_texts(cell) is None
    assert not mark.exists()
    numpy = "{'text': array(['x', 'y'],\n      dtype=object), 'answer_start': array([1, 2])}"
    assert _span_texts(numpy) == ["x", "y"]  # (numpy's repr wraps its line: read all the same)


def test_an_aqua_row_relettered_reads_one_gold_in_eval_train_and_the_reward(tmp_path, tiny_qwen):
    from transformers import AutoTokenizer

    from distill.train.config import TrainConfig
    from distill.train.kd import reward

    # out of order, and D of A, B, D, E (asked as C): one prompt, one gold letter everywhere
    shuffled = {**AQUA, "options": ["B)150", "A)125", "D)250", "C)225", "E)275"], "correct": "A"}
    skipped = {**AQUA, "question": "Same, fewer options?", "correct": "D"}
    skipped["options"] = ["A)125", "B)150", "D)250", "E)275"]
    data = _write(tmp_path, shuffled, skipped)
    four = head("ABCD") + skipped["question"] + "\n\n" + lettered(["125", "150", "250", "275"])
    read = [("A", ASKED), ("C", four)]
    assert _asked(data) == read
    assert _trained(data, prompt_field="question", answer_field="correct") == [
        (p, f"Answer: {g}") for g, p in read
    ]
    cfg = TrainConfig(
        data=data, model=str(tiny_qwen), output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model=str(tiny_qwen), max_length=512, reward="math",
        prompt_field="question", answer_field="correct",
    )  # fmt: skip
    refs = reward._references(cfg, AutoTokenizer.from_pretrained(tiny_qwen), None)
    assert sorted(r["gold"] for r in refs.values()) == ["A", "C"]
    assert sorted(r["problem"] for r in refs.values()) == sorted(p for _, p in read)


def test_a_set_read_as_squad_whose_later_csv_row_lists_its_answer_texts_has_that_text_as_gold(
    tmp_path,
):
    # a question/context/answers set whose first row answers [] (SQuAD 2.0's unanswerable, as
    # SQuAD's own JSON writes it: read as SQuAD since d48a395) and whose later rows list their
    # answers' texts: the CSV's JSON text '["Paris"]' was the gold itself (every reply wrong);
    # it reads as the same set's JSONL does now
    fields = ["id", "context", "question", "answers"]
    rows = [
        {"id": "1", "context": "France is big.", "question": "Is it?", "answers": []},
        {
            "id": "2",
            "context": "France's capital.",
            "question": "Which city?",
            "answers": ["Paris"],
        },
    ]
    as_csv = _csv(
        tmp_path / "qa.csv", fields, *({**r, "answers": json.dumps(r["answers"])} for r in rows)
    )
    want = [(None, "France is big.\n\nIs it?"), ("Paris", "France's capital.\n\nWhich city?")]
    assert _asked(_write(tmp_path, *rows)) == want  # (the JSONL copy)
    assert _asked(as_csv) == want
    assert [r.row_id for r in load_rows(as_csv)] == ["1", "2"]
