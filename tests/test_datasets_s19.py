"""Public sets' rows as their copies save them, read as their authors meant (session 19):

- AQuA-RAT (deepmind/aqua_rat: question, options ["A)125", ...], rationale, correct): its options
  were lettered by their place in the list, so a row listing them out of order ("B)150" first)
  or skipping a letter (A, B, D, E) was asked "A) B)150" and the gold `correct` named another
  option. Each option's own letter is read now (asked in their letters' order); a letter two
  options bear, a gold letter no option bears, is refused in one line (the first row too).
- SciQ (allenai/sciq) copied without its `support` column was read as a plain question (no
  options, no gold); it is SciQ all the same now.
- SQuAD (rajpurkar/squad) saved otherwise than `datasets` holds it: SQuAD's own JSON's
  `answers` list of {"text", "answer_start"} ([] for SQuAD 2.0's unanswerable question), and a
  CSV whose `answers` is the dict's repr (`Dataset.to_csv` writes numpy arrays: "{'text':
  array([...], dtype=object), ...}") or its JSON text: each was a plain question with no
  passage and no gold; each reads as the datasets layout does now.
- A set read as BoolQ from its first rows (yes/no answers) whose later row answers "Paris" was
  refused as if the row had mistyped one of options the user never gave; the line says how the
  set was read now.
- Renderer: a DeepSeek-R1 trace stored without its opening `<think>` with CRLF line ends
  ("R\\r\\n</think>\\r\\n\\r\\nA") under Qwen3's and GLM's templates trained an empty think
  block, then R (and a stray `</think>`) as the answer; it reads as its LF twin now.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Example, Renderer
from tests.test_datasets_s18 import (
    AQUA,
    SCIQ,
    SQUAD,
    SQUAD_DEV,
    SQUAD_V2_NONE,
    _asked,
    _options_of,
    _passage_first,
    _trained,
    _write,
    head,
    lettered,
)
from tests.test_reply_ids_s18 import USER, qwen_like

# ================================================================================== AQuA-RAT


def test_aqua_options_out_of_order_or_skipping_a_letter_are_read_by_their_own_letter(tmp_path):
    shuffled = {**AQUA, "options": ["B)150", "A)125", "D)250", "C)225", "E)275"], "correct": "A"}
    skipped = {**AQUA, "options": ["A)125", "B)150", "D)250", "E)275"], "correct": "D"}
    data = _write(tmp_path, shuffled, skipped)
    in_order = (
        head("ABCDE") + AQUA["question"] + "\n\n" + lettered(["125", "150", "225", "250", "275"])
    )
    four = head("ABCD") + AQUA["question"] + "\n\n" + lettered(["125", "150", "250", "275"])
    # was: "A) B)150 / B) A)125 / ...", gold A the option "B)150"; "C) D)250", gold D "E)275"
    assert _asked(data) == [("A", in_order), ("C", four)]  # (C: the option D bears, 250)
    assert _trained(data, prompt_field="question", answer_field="correct") == [
        (in_order, "Answer: A"),
        (four, "Answer: C"),
    ]
    # a lower-case gold names the same option; a CSV's options are JSON text
    lower = _write(tmp_path, {**skipped, "correct": "d"}, name="lower.jsonl")
    assert _asked(lower) == [("C", four)]
    path = tmp_path / "aqua.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(AQUA))
        w.writeheader()
        w.writerow({**skipped, "options": json.dumps(skipped["options"])})
    assert _asked(str(path)) == [("C", four)]


def test_aqua_rows_whose_letters_do_not_name_one_option_are_refused_by_row(tmp_path):
    twice = {**AQUA, "options": ["A)125", "A)150", "C)225", "D)250", "E)275"]}
    with pytest.raises(DistillError, match=r"bad.jsonl:2: field 'options' letters 2 options A "):
        list(load_rows(_write(tmp_path, AQUA, twice, name="bad.jsonl")))
    # the first row too: refused by its row, never the whole set read as plain questions
    with pytest.raises(DistillError, match=r"first.jsonl:1: field 'options' letters 2 options A"):
        list(load_rows(_write(tmp_path, twice, AQUA, name="first.jsonl")))
    with pytest.raises(DistillError, match=r"row 1: field 'options' letters 2 options A"):
        _trained(_write(tmp_path, twice, name="t.jsonl"), prompt_field="question",
                 answer_field="correct")  # fmt: skip
    # a gold letter no option bears (C skipped): was the option in place C ("D)250")
    gone = {**AQUA, "options": ["A)125", "B)150", "D)250", "E)275"], "correct": "C"}
    with pytest.raises(DistillError, match=r"gone.jsonl:1: field 'correct' is 'C', which names"):
        list(load_rows(_write(tmp_path, gone, name="gone.jsonl")))
    # options some of which bear no letter: which letter that one is, is unknown
    bare = {**AQUA, "options": ["A)125", "150", "C)225", "D)250", "E)275"]}
    with pytest.raises(DistillError, match=r"bare.jsonl:2: field 'options' .* not '150'"):
        list(load_rows(_write(tmp_path, AQUA, bare, name="bare.jsonl")))


# ====================================================================================== SciQ


def test_sciq_without_its_support_column_is_still_sciq(tmp_path):
    ((gold, full),) = _asked(_write(tmp_path, SCIQ))
    options = list(_options_of(full).values())
    bare = head("ABCD") + SCIQ["question"] + "\n\n" + lettered(options)
    no_support = {k: v for k, v in SCIQ.items() if k != "support"}
    data = _write(tmp_path, no_support, name="no_support.jsonl")
    # was: the question alone, no options, no gold
    assert _asked(data) == [(gold, bare)]
    assert _trained(data, prompt_field="question", answer_field="correct_answer") == [
        (bare, f"Answer: {gold}")
    ]
    # an empty support reads alike
    assert _asked(_write(tmp_path, {**SCIQ, "support": ""}, name="empty.jsonl")) == [(gold, bare)]


# ===================================================================================== SQuAD


def _squad_json(row: dict) -> dict:
    """A row as SQuAD's own JSON writes its answers: a list of {"text", "answer_start"}."""
    spans = row["answers"]
    listed = [{"text": t, "answer_start": s} for t, s in zip(spans["text"], spans["answer_start"])]
    return {**row, "answers": listed}


WANT = [
    ("Saint Bernadette Soubirous", _passage_first(SQUAD)),
    ("Denver Broncos", _passage_first(SQUAD_DEV)),  # (three equal spans: one gold)
    (None, _passage_first(SQUAD_V2_NONE)),  # (unanswerable: no gold)
]


def test_squad_as_its_own_json_writes_answers_reads_as_the_datasets_layout(tmp_path):
    # the unanswerable row first: its [] is what the set's first row shows
    rows = [_squad_json(r) for r in (SQUAD_V2_NONE, SQUAD, SQUAD_DEV)]
    data = _write(tmp_path, *rows)
    assert _asked(data) == [WANT[2], WANT[0], WANT[1]]
    assert [r.row_id for r in load_rows(data)] == [r["id"] for r in rows]
    train = _write(tmp_path, *rows[1:], name="train.jsonl")
    assert _trained(train, prompt_field="question", answer_field="answers") == [
        (_passage_first(SQUAD), "Saint Bernadette Soubirous"),
        (_passage_first(SQUAD_DEV), "Denver Broncos"),
    ]


def _csv(path: Path, rows: list[dict], answers: list[str]) -> str:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "title", "context", "question", "answers"])
        w.writeheader()
        for row, cell in zip(rows, answers):
            w.writerow({**row, "answers": cell})
    return str(path)


def test_squad_in_a_csv_reads_its_answers_repr_as_the_datasets_layout(tmp_path):
    rows = [SQUAD, SQUAD_DEV, SQUAD_V2_NONE]
    # what datasets' Dataset.to_csv (and pandas' to_csv of its rows) writes: numpy arrays
    numpy = [
        "{'text': array(['Saint Bernadette Soubirous'], dtype=object), "
        "'answer_start': array([515])}",
        "{'text': array(['Denver Broncos', 'Denver Broncos', 'Denver Broncos'], dtype=object), "
        "'answer_start': array([177, 177, 177])}",
        "{'text': array([], dtype=object), 'answer_start': array([], dtype=int64)}",
    ]
    assert _asked(_csv(tmp_path / "numpy.csv", rows, numpy)) == WANT
    # Python's repr of the dict (str(row["answers"])), and its JSON text
    python = _csv(tmp_path / "python.csv", rows, [str(r["answers"]) for r in rows])
    assert _asked(python) == WANT
    as_json = _csv(tmp_path / "json.csv", rows, [json.dumps(r["answers"]) for r in rows])
    assert _asked(as_json) == WANT
    # SQuAD's own list, as its repr
    listed = [str(_squad_json(r)["answers"]) for r in rows]
    assert _asked(_csv(tmp_path / "listed.csv", rows, listed)) == WANT
    assert _trained(
        _csv(tmp_path / "train.csv", rows[:2], numpy[:2]),
        prompt_field="question",
        answer_field="answers",
    ) == [
        (_passage_first(SQUAD), "Saint Bernadette Soubirous"),
        (_passage_first(SQUAD_DEV), "Denver Broncos"),
    ]


def test_a_repr_that_is_no_literal_is_never_run(tmp_path):
    # an `answers` cell that calls anything but numpy's array is no SQuAD answer (run, it
    # would be one: {"text": ["x"], ...}): read plain, as before
    cell = "{'text': list(['x']), 'answer_start': [1]}"
    (row,) = load_rows(_csv(tmp_path / "odd.csv", [SQUAD], [cell]))
    assert (row.prompt, row.gold) == (SQUAD["question"], None)


# ===================================================================================== BoolQ


def test_a_later_free_form_answer_of_a_set_read_as_boolq_says_how_it_was_read(tmp_path):
    rows = [
        {"question": f"is it {i}", "answer": "yes" if i % 2 else "no", "passage": f"It is {i}."}
        for i in range(1001)
    ]
    rows.append({"question": "what is the capital", "answer": "Paris", "passage": "France."})
    data = _write(tmp_path, *rows)
    read = r"data.jsonl:1002: field 'answer' is 'Paris', not yes or no .*read as BoolQ .*first rows"
    with pytest.raises(DistillError, match=read) as e:
        list(load_rows(data))
    assert "\n" not in str(e.value)
    with pytest.raises(DistillError, match="row 1002: field 'answer' is 'Paris'.*read as BoolQ"):
        _trained(data, prompt_field="question", answer_field="answer")
    # google/boolq's bool answers, a JSONL whose later row writes a free-form one
    typed = [{"question": "is it", "answer": True, "passage": "It is."}] * 2
    typed.append({"question": "what is it", "answer": "Paris", "passage": "France."})
    with pytest.raises(DistillError, match=r"typed.jsonl:3: .*'Paris'.*read as BoolQ"):
        list(load_rows(_write(tmp_path, *typed, name="typed.jsonl")))
    # super_glue's boolq: `label` 0 or 1
    glue = [{"question": "is it", "passage": "It is.", "idx": 0, "label": 1},
            {"question": "is it", "passage": "It is.", "idx": 1, "label": 7}]  # fmt: skip
    with pytest.raises(DistillError, match=r"glue.jsonl:2: field 'label' is 7, not 0 \(no\) or 1"):
        list(load_rows(_write(tmp_path, *glue, name="glue.jsonl")))


# ================================================================= Renderer: an R1 trace, CRLF


@pytest.mark.parametrize("name", ["qwen3", "qwen3-thinking-2507", "glm-4.6"])
def test_an_r1_trace_stored_without_its_think_with_crlf_trains_as_its_lf_twin(name):
    tok = qwen_like(name)
    renderer = Renderer(tok, "r1")

    def trained(completion: str) -> str:
        ex = Example(prompt=[USER], completion=completion)
        return renderer.completion_text(ex, renderer.prompt_text(ex))

    lf = trained("six and six\n</think>\n\n12")
    crlf = trained("six and six\r\n</think>\r\n\r\n12")
    # was: an empty think block, then "six and six\r\n</think>\r\n\r\n12" as the answer
    assert crlf == lf
    assert crlf.count("</think>") == 1 and "six and six" in crlf.split("</think>")[0]


def test_an_r1_crlf_turn_in_a_qwen3_chats_history_reads_as_its_lf_twin():
    tok = qwen_like("qwen3")
    renderer = Renderer(tok, "r1")

    def rows(trace: str) -> list[str]:
        chat = [USER, {"role": "assistant", "content": trace}, {"role": "user", "content": "y?"}]
        ex = Example(prompt=chat, completion="<think>\nR\n</think>\n\nA")
        return [tok.decode(ids) for ids, _ in renderer.sequences(ex)]

    crlf = rows("six and six\r\n</think>\r\n\r\n12")
    assert crlf == rows("six and six\n</think>\n\n12")
    assert "<think>\nsix and six\n</think>\n\n12" in crlf[0]
