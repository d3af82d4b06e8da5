"""Public QA sets read as their authors meant, each row here in its set's own layout (the
dataset cards' features and instances):

- AQuA-RAT (deepmind/aqua_rat: question, options ["A)125", ...], rationale, correct "A"): no
  layout matched, so the question was asked without its options and `correct` was no gold
  (`--answer-field correct`: the gold "A" of options never shown). Now the question with its
  five options (their own "A)" left out), the gold the letter; train's `--reasoning-field
  rationale` trains the worked solution before "Answer: A".
- SciQ (allenai/sciq: question, distractor1-3, correct_answer, support): the question alone,
  no options, no passage, no gold. Now asked as multiple choice after its support, the four
  answers in the row's own seeded order (GPQA's), the gold the letter the right one landed on.
- SQuAD (rajpurkar/squad, squad_v2: id, title, context, question, answers {"text",
  "answer_start"}): the question asked without its passage, `answers` (a dict) no gold, train
  refused it. Now the passage, then the question, the gold the span's text (a validation row's
  three equal spans one gold); SQuAD 2.0's unanswerable question (no span) no gold.
- A BoolQ copy whose `answer` is the text "yes"/"no": read as a plain question, its passage
  lost, the gold "yes". Now BoolQ (its passage, options no/yes, the gold the letter) where the
  set's rows answer "yes" and "no" and nothing else; a question/passage set of free-form answers
  stays plain (tests/test_datasets_review_s17.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.eval import EvalConfig, score
from distill.eval import run as run_eval
from distill.examples import Columns, load_examples
from distill.generate import GenerateConfig, prompt_messages
from distill.generate import run as run_generate


def head(letters: str) -> str:
    return (
        "Answer the following multiple choice question. The last line of your response should "
        "be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of "
        f"{letters}. Think step by step before answering.\n\n"
    )


def lettered(options: list[str]) -> str:
    return "\n".join(f"{letter}) {text}" for letter, text in zip("ABCDEFGHIJ", options))


def _write(tmp_path: Path, *rows: dict, name: str = "data.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _asked(data: str, **kw) -> list[tuple[str | None, str]]:
    return [(r.gold, msgs[-1]["content"]) for r, msgs in prompt_messages(data, **kw)]


def _trained(data: str, **columns) -> list[tuple[str, str]]:
    exs = load_examples(data, columns=Columns(**columns))
    return [(ex.prompt[-1]["content"], ex.completion) for ex in exs]


# deepmind/aqua_rat (raw): the card's instance
AQUA = {
    "question": "A grocery sells a bag of ice for $1.25, and makes 20% profit. If it sells 500 "
    "bags of ice, how much total profit does it make?",
    "options": ["A)125", "B)150", "C)225", "D)250", "E)275"],
    "rationale": "Profit per bag = 1.25 * 0.20 = 0.25\nTotal profit = 500 * 0.25 = 125\nAnswer is A.",
    "correct": "A",
}
AQUA_2 = {
    "question": "Three birds are flying at a fast rate of 900 kilometers per hour. What is their "
    "speed in miles per minute? [1km = 0.6 miles]",
    "options": ["A)32400", "B)6000", "C)600", "D)60000", "E)10"],
    "rationale": "To calculate the equivalent of miles in a kilometer\n0.6 kilometers = 1 mile\n"
    "900 kilometers = (0.6)*900 = 540 miles\nIn 1 hour there are 60 minutes\n"
    "Speed in miles/minutes = 60 * 540 = 32400\nCorrect answer - A",
    "correct": "A",
}
AQUA_ASKED = (
    head("ABCDE") + AQUA["question"] + "\n\n" + lettered(["125", "150", "225", "250", "275"])
)


def test_aqua_rat_is_asked_its_options_without_their_letters_gold_the_letter(tmp_path):
    data = _write(tmp_path, AQUA, {**AQUA_2, "correct": "E"})
    asked_2 = (
        head("ABCDE")
        + AQUA_2["question"]
        + "\n\n"
        + lettered(["32400", "6000", "600", "60000", "10"])
    )
    assert _asked(data) == [("A", AQUA_ASKED), ("E", asked_2)]
    # the flags a user types name the same columns
    assert _asked(data, prompt_field="question", answer_field="correct") == [
        ("A", AQUA_ASKED),
        ("E", asked_2),
    ]
    # train: the prompt eval asks, answered with the letter; the rationale as the reasoning
    assert _trained(data, prompt_field="question", answer_field="correct") == [
        (AQUA_ASKED, "Answer: A"),
        (asked_2, "Answer: E"),
    ]
    trained = _trained(
        data, prompt_field="question", reasoning_field="rationale", answer_field="correct"
    )
    assert trained[0] == (
        AQUA_ASKED,
        "<think>\n" + AQUA["rationale"] + "\n</think>\n\nAnswer: A",
    )


def test_aqua_rat_tokenized_options_and_a_wrong_letter_is_one_line(tmp_path):
    # the tokenized config writes "A ) 125"
    tokenized = {**AQUA, "options": ["A ) 125", "B ) 150", "C ) 225", "D ) 250", "E ) 275"]}
    assert _asked(_write(tmp_path, tokenized)) == [("A", AQUA_ASKED)]
    bad = _write(tmp_path, AQUA, {**AQUA, "correct": "F"}, name="bad.jsonl")
    with pytest.raises(DistillError, match=r"bad.jsonl:2: field 'correct' is 'F', which names"):
        list(load_rows(bad))


# allenai/sciq: the card's instance (its key order)
SCIQ = {
    "question": "What type of organism is commonly used in preparation of foods such as cheese "
    "and yogurt?",
    "distractor3": "viruses",
    "distractor1": "protozoa",
    "distractor2": "gymnosperms",
    "correct_answer": "mesophilic organisms",
    "support": "Mesophiles grow best in moderate temperature, typically between 25°C and 40°C "
    "(77°F and 104°F). Mesophiles are often found living in or on the bodies of humans or other "
    "animals. Mesophilic organisms have important uses in food preparation, including cheese, "
    "yogurt, beer and wine.",
}
SCIQ_ANSWERS = ["mesophilic organisms", "protozoa", "gymnosperms", "viruses"]


def _options_of(asked: str) -> dict[str, str]:
    return dict(line.split(") ", 1) for line in asked.split("\n\n")[-1].splitlines())


def test_sciq_is_asked_after_its_support_its_four_answers_in_the_rows_own_order(tmp_path):
    data = _write(tmp_path, SCIQ)
    ((gold, asked),) = _asked(data)
    assert asked.startswith(head("ABCD") + SCIQ["support"] + "\n\n" + SCIQ["question"] + "\n\nA) ")
    options = _options_of(asked)
    assert asked == (
        head("ABCD") + SCIQ["support"] + "\n\n" + SCIQ["question"] + "\n\n"
        + lettered(list(options.values()))
    )  # fmt: skip
    assert sorted(options.values()) == sorted(SCIQ_ANSWERS)
    assert options[gold] == "mesophilic organisms"
    assert _asked(data, prompt_field="question", answer_field="correct_answer") == [(gold, asked)]
    assert _trained(data, prompt_field="question", answer_field="correct_answer") == [
        (asked, f"Answer: {gold}")
    ]
    # a row without support (the set has such rows) is asked its question and options alone
    ((_, bare),) = _asked(_write(tmp_path, {**SCIQ, "support": ""}, name="bare.jsonl"))
    assert bare == head("ABCD") + SCIQ["question"] + "\n\n" + lettered(list(options.values()))


def test_sciqs_order_is_seeded_by_the_row_stable_under_limit_and_not_always_one_place(tmp_path):
    rows = [
        {**SCIQ, "question": f"Which organism {i}?", "correct_answer": f"right {i}"}
        for i in range(12)
    ]
    data = _write(tmp_path, *rows)
    first = _asked(data)
    assert _asked(data) == first  # a rerun
    assert _asked(data, limit=3) == first[:3]
    assert _asked(_write(tmp_path, rows[7], name="one.jsonl")) == [first[7]]
    for i, (gold, asked) in enumerate(first):
        assert asked.startswith(head("ABCD") + SCIQ["support"]), asked
        assert _options_of(asked)[gold] == f"right {i}"
    assert len({gold for gold, _ in first}) >= 3  # (lm-eval's: the right one always last)


# rajpurkar/squad: the card's train instance; its validation split's three annotators
SQUAD = {
    "id": "5733be284776f41900661182",
    "title": "University_of_Notre_Dame",
    "context": "Architecturally, the school has a Catholic character. Atop the Main Building's "
    "gold dome is a golden statue of the Virgin Mary. Next to the Main Building is the Basilica "
    "of the Sacred Heart. Immediately behind the basilica is the Grotto, a Marian place of "
    "prayer and reflection. It is a replica of the grotto at Lourdes, France where the Virgin "
    "Mary reputedly appeared to Saint Bernadette Soubirous in 1858.",
    "question": "To whom did the Virgin Mary allegedly appear in 1858 in Lourdes France?",
    "answers": {"text": ["Saint Bernadette Soubirous"], "answer_start": [515]},
}
SQUAD_DEV = {
    "id": "56be4db0acb8001400a502ec",
    "title": "Super_Bowl_50",
    "context": "Super Bowl 50 was an American football game to determine the champion of the "
    "National Football League (NFL) for the 2015 season. The American Football Conference (AFC) "
    "champion Denver Broncos defeated the National Football Conference (NFC) champion Carolina "
    "Panthers 24–10 to earn their third Super Bowl title.",
    "question": "Which NFL team represented the AFC at Super Bowl 50?",
    "answers": {
        "text": ["Denver Broncos", "Denver Broncos", "Denver Broncos"],
        "answer_start": [177, 177, 177],
    },
}
# rajpurkar/squad_v2: a question the passage does not answer
SQUAD_V2_NONE = {
    "id": "5a8d7bf7df8bba001a0f9ab1",
    "title": "The_Legend_of_Zelda:_Twilight_Princess",
    "context": "The Legend of Zelda: Twilight Princess is an action-adventure game developed "
    "and published by Nintendo for the GameCube and Wii home video game consoles.",
    "question": "What category of game is Legend of Zelda: Australia Twilight?",
    "answers": {"text": [], "answer_start": []},
}


def _passage_first(row: dict) -> str:
    return row["context"] + "\n\n" + row["question"]


def test_squad_is_asked_its_passage_then_question_gold_the_span(tmp_path):
    data = _write(tmp_path, SQUAD, SQUAD_DEV, SQUAD_V2_NONE)
    assert _asked(data) == [
        ("Saint Bernadette Soubirous", _passage_first(SQUAD)),
        ("Denver Broncos", _passage_first(SQUAD_DEV)),  # (three equal spans: one gold)
        (None, _passage_first(SQUAD_V2_NONE)),  # (SQuAD 2.0: no span, no gold)
    ]
    rows = list(load_rows(data))
    assert [r.row_id for r in rows] == [SQUAD["id"], SQUAD_DEV["id"], SQUAD_V2_NONE["id"]]
    assert _asked(data, prompt_field="question", answer_field="answers")[0] == (
        "Saint Bernadette Soubirous",
        _passage_first(SQUAD),
    )
    # train: the same prompt, the span as the answer
    assert _trained(
        _write(tmp_path, SQUAD, SQUAD_DEV, name="train.jsonl"),
        prompt_field="question",
        answer_field="answers",
    ) == [
        (_passage_first(SQUAD), "Saint Bernadette Soubirous"),
        (_passage_first(SQUAD_DEV), "Denver Broncos"),
    ]


def test_squad_rows_without_one_gold_and_the_flags_that_would_show_the_passage_twice(tmp_path):
    # annotators who marked different spans: no one gold (as any list of answers), said once
    differ = {**SQUAD_DEV, "answers": {"text": ["Denver Broncos", "The Denver Broncos"],
                                       "answer_start": [177, 173]}}  # fmt: skip
    (row,) = load_rows(_write(tmp_path, differ))
    assert row.gold is None and row.prompt == _passage_first(SQUAD_DEV)
    # train: an unanswerable question has no reply to train, refused by its row
    v2 = _write(tmp_path, SQUAD, SQUAD_V2_NONE, name="v2.jsonl")
    with pytest.raises(DistillError, match=r"row 2: column 'answers' \(--answer-field\) holds no"):
        _trained(v2, prompt_field="question", answer_field="answers")
    # --context-field context (the way to the passage before) would show it twice
    with pytest.raises(DistillError, match="--context-field context adds column 'context'"):
        _asked(v2, context_field="context")
    with pytest.raises(DistillError, match="--context-field context adds column 'context'"):
        _trained(v2, prompt_field="question", answer_field="answers", context_field="context")


# a BoolQ copy whose answers are the words (google/boolq's, its bool written as text)
BOOLQ_TEXT = [
    {"question": "do iran and afghanistan speak the same language", "answer": "yes",
     "passage": "Persian, also known by its endonym Farsi, is spoken in Iran and Afghanistan."},
    {"question": "is elder scrolls online the same as skyrim", "answer": "no",
     "passage": "As with other games in The Elder Scrolls series, the game is set on the "
     "continent of Tamriel; it is not a sequel to Skyrim."},
]  # fmt: skip


def test_a_boolq_copy_with_yes_no_text_is_asked_its_passage_and_options(tmp_path):
    data = _write(tmp_path, *BOOLQ_TEXT)
    want = [
        head("AB") + r["passage"] + "\n\n" + r["question"] + "\n\nA) no\nB) yes" for r in BOOLQ_TEXT
    ]
    assert _asked(data) == [("B", want[0]), ("A", want[1])]
    # a --limit reads ahead the rows that settle it, as the whole set reads
    assert _asked(data, limit=1) == [("B", want[0])]
    assert _trained(data, prompt_field="question", answer_field="answer") == [
        (want[0], "Answer: B"),
        (want[1], "Answer: A"),
    ]
    capital = [{**r, "answer": r["answer"].capitalize()} for r in BOOLQ_TEXT]
    assert _asked(_write(tmp_path, *capital, name="caps.jsonl")) == [("B", want[0]), ("A", want[1])]


def test_a_question_passage_set_whose_answers_are_not_all_yes_or_no_stays_plain(tmp_path):
    # "yes" first, then free-form answers: another set's, read as before
    rows = [*BOOLQ_TEXT, {**BOOLQ_TEXT[0], "answer": "Persian"}]
    read = [(r.prompt, r.gold) for r in load_rows(_write(tmp_path, *rows))]
    assert read == [(r["question"], r["answer"]) for r in rows]
    # "yes" alone settles nothing: a set of one answer is no yes/no set
    only_yes = [BOOLQ_TEXT[0], {**BOOLQ_TEXT[1], "answer": "yes"}]
    read = [(r.prompt, r.gold) for r in load_rows(_write(tmp_path, *only_yes, name="y.jsonl"))]
    assert read == [(r["question"], "yes") for r in only_yes]


@pytest.fixture
def student():
    """A served model whose reply to each question is scripted (`replies`: a piece of the
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


# the rows of each set, the golds generate writes and eval judges against (SciQ's: the letter
# its right answer landed on, in the row's own order)
E2E = {
    "aqua_rat": ([AQUA], ["A"]),
    "sciq": ([SCIQ], None),
    "squad": ([SQUAD], ["Saint Bernadette Soubirous"]),
    "boolq_text": (BOOLQ_TEXT, ["B", "A"]),
}


@pytest.mark.parametrize("name", list(E2E))
def test_generate_sends_the_prompt_its_traces_carry_the_gold_eval_scores(name, student, tmp_path):
    rows, golds = E2E[name]
    data = _write(tmp_path, *rows)
    want = _asked(data)
    if golds is None:
        assert want[0][1].startswith(head("ABCD") + SCIQ["support"] + "\n\n")
        options = _options_of(want[0][1])
        golds = [next(k for k, v in options.items() if v == SCIQ["correct_answer"])]
    assert [g for g, _ in want] == golds
    student.replies = {
        r["question"]: (
            f"Answer: {gold}" if len(gold) == 1 else f"The answer is $\\boxed{{\\text{{{gold}}}}}$."
        )  # (SQuAD's gold a span)
        for r, gold in zip(rows, golds)
    }
    traces = tmp_path / "traces.jsonl"
    run_generate(
        GenerateConfig(
            data=data, teacher="openai", model="fake-r1", base_url=student.url, out=str(traces)
        ),
        progress=False,
    )
    assert sorted(e["messages"][-1]["content"] for e in student.log) == sorted(a for _, a in want)
    written = [json.loads(line) for line in traces.read_text().splitlines()]
    golds = {r["messages"][-1]["content"]: r["gold"] for r in written}
    assert [golds[a] for _, a in want] == [g for g, _ in want]
    assert score(written, "math")["pass@1"] == 1.0  # (the filter's judge of the same gold)
    out = tmp_path / "eval.json"
    run_eval(
        EvalConfig(data=data, model="fake-r1", backend="openai", base_url=student.url, out=str(out))
    )
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0
