"""A second read of afdbb9e (tests/test_datasets_s17.py), each row in its set's own layout:

- MedMCQA's `cop` counts from 0 in openlifescienceai/medmcqa (its loader took 1 off) and from
  1 in the release's JSON, which lighteval/med_mcqa and awinml/medmcqa hold (lighteval's task
  reads `cop - 1`): read as an index in both, the release's gold was the next option ('Atrophy',
  cop 3, judged against D), its cop 4 refused. The set's rows now settle it (a 0, or a 4), read
  ahead past a --limit, in generate and train alike; a set that settles nothing is refused by
  the row that reads either way. The release's test split has no `cop`: its question was asked
  without its options.
- BoolQ's layout took any question/passage set whose first answer was "yes": a set of
  free-form answers was asked as a yes/no question and refused at its first other answer
  ('Paris'), a set that read before. Now BoolQ's `answer` is a bool (super_glue's `label` has
  its `idx`), any other read as before.
- A CSV of a test split (SWAG's, PIQA's): "-1", no label, refused the first row, so the set was
  not read as multiple choice at all ('no prompt field found').
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.examples import Columns, load_examples


def _write(tmp_path: Path, *rows: dict, name: str = "data.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _golds(data: str, **kw) -> list[str | None]:
    return [row.gold for row in load_rows(data, **kw)]


def _trained(data: str, **kw) -> list[str]:
    columns = Columns(prompt_field="question", answer_field="cop")
    return [ex.completion for ex in load_examples(data, columns=columns, **kw)]


OPTIONS = {"opa": "Hyperplasia", "opb": "Hyperophy", "opc": "Atrophy", "opd": "Dyplasia"}
# the release's train.json (lighteval/med_mcqa): key order its own, cop 1-4 (3: opc, Atrophy)
RELEASE = {
    "question": "Chronic urethral obstruction due to benign prismatic hyperplasia can lead to "
    "the following change in kidney parenchyma",
    "exp": "Chronic urethral obstruction ... progressive atrophy of the kidney",
    "cop": 3,
    **OPTIONS,
    "subject_name": "Anatomy",
    "topic_name": "Urinary tract",
    "id": "e9ad821a-c438-4965-9f77-760819dfa155",
    "choice_type": "single",
}
SECOND = {"question": "Which vitamin is fat soluble?", "opa": "B1", "opb": "C", "opc": "B12",
          "opd": "K"}  # fmt: skip


def test_medmcqa_release_counts_cop_from_one_openlifescienceai_from_zero(tmp_path):
    release = _write(
        tmp_path, RELEASE, {**RELEASE, **SECOND, "id": "2", "cop": 4}, name="release.jsonl"
    )
    assert _golds(release) == ["C", "D"]
    assert _trained(release) == ["Answer: C", "Answer: D"]
    # a --limit reads the rows past it that settle the count, as the whole set reads
    assert _golds(release, limit=1) == ["C"]
    assert _trained(release, limit=1) == ["Answer: C"]
    # openlifescienceai/medmcqa: the same columns, cop 0-3 (2: opc)
    hub = _write(
        tmp_path, {**RELEASE, "cop": 2}, {**RELEASE, **SECOND, "id": "2", "cop": 0}, name="hf.jsonl"
    )
    assert _golds(hub) == ["C", "A"]
    assert _trained(hub) == ["Answer: C", "Answer: A"]


def test_medmcqa_set_that_settles_no_count_is_refused_by_its_row_a_letter_reads(tmp_path):
    one = _write(tmp_path, RELEASE)
    with pytest.raises(DistillError, match=r":1: field 'cop' is 3: MedMCQA's copies count it"):
        list(load_rows(one))
    with pytest.raises(DistillError, match=r"row 1: field 'cop' is 3: MedMCQA's copies count"):
        list(load_examples(one, columns=Columns(prompt_field="question", answer_field="cop")))
    # the first option and the last read one way only; a letter names its option
    rows = [{**RELEASE, "cop": 0}, {**RELEASE, "id": "2", "cop": "c"}]
    assert _golds(_write(tmp_path, *rows, name="letters.jsonl")) == ["A", "C"]


def test_medmcqa_release_test_split_without_cop_is_asked_its_options(tmp_path):
    test = {k: v for k, v in RELEASE.items() if k not in ("cop", "exp")}
    (row,) = load_rows(_write(tmp_path, test))
    assert row.gold is None
    assert row.prompt.endswith(
        RELEASE["question"] + "\n\nA) Hyperplasia\nB) Hyperophy\nC) Atrophy\nD) Dyplasia"
    )


def test_question_passage_set_of_free_form_answers_is_no_boolq(tmp_path):
    rows = [
        {"question": "is the museum open on mondays", "passage": "It opens daily.",
         "answer": "yes"},
        {"question": "where is the museum", "passage": "It is in Paris.", "answer": "Paris"},
    ]  # fmt: skip
    read = [(r.prompt, r.gold) for r in load_rows(_write(tmp_path, *rows))]
    assert read == [(rows[0]["question"], "yes"), (rows[1]["question"], "Paris")]
    # a 0/1 label of a set's own (a passage's relevance), not super_glue's BoolQ (its idx)
    mine = [{"question": "museum hours", "passage": "It opens daily.", "label": 1}]
    (row,) = load_rows(_write(tmp_path, *mine, name="mine.jsonl"))
    assert row.prompt == "museum hours"
    # BoolQ's own rows read as before: the bool, super_glue's label beside its idx
    boolq = {"question": "is the sky green", "passage": "The sky is blue.", "answer": False}
    assert _golds(_write(tmp_path, boolq, name="b.jsonl")) == ["A"]
    glue = {"question": "is the sky blue", "passage": "The sky is blue.", "idx": 0, "label": 1}
    assert _golds(_write(tmp_path, glue, name="g.jsonl")) == ["B"]


def test_a_csv_of_a_test_split_reads_minus_one_as_no_label(tmp_path):
    csv = tmp_path / "piqa_test.csv"
    csv.write_text("goal,sol1,sol2,label\nOpen a jar,Twist the lid,Shake it,-1\n")
    (row,) = load_rows(str(csv))
    assert row.gold is None
    assert row.prompt.endswith("Open a jar\n\nA) Twist the lid\nB) Shake it")
