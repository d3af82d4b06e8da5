"""Public QA sets whose columns were misread without a word, each row here in its set's own
layout (the dataset cards' features):

- SWAG's layout (GBaker/MedQA-USMLE-4-options-hf: id, sent1, sent2, ending0-3, label; swag's
  regular config; HellaSwag's ctx, endings, label "3"): no prompt field found, and with
  --prompt-field sent1 --answer-field label the question was asked without its options, the
  gold "3" (an index); train refused the int label. Now the question with its lettered
  options (SWAG: sent1 then the sent2 its endings complete), the gold the letter.
- QuAIL (context, question, answers, correct_answer_id), Cosmos QA (context, question,
  answer0-3, label), DREAM (dialogue: its turns, question, choice, answer: the option's text):
  the question alone, no passage, no options, the gold None, "1" or the option's text. Now the
  passage, the question and its options, as RACE's article is shown.
- Social IQa (label "1"-"3", counted from 1), PIQA (goal, sol1, sol2), WinoGrande (sentence,
  option1, option2, answer "1"/"2"), MedMCQA (opa-opd, cop), BoolQ (question, passage, answer
  true: the gold "True" of a question asked without its passage): the same.
- bigbio's QA schema, a free-form row (BioASQ: choices [], context the snippets): its context
  was dropped; train refused its `answer` list. Now the context, then the question.
- --format alpaca trained the text after the LAST </think> of a reply whose answer names the
  tag: '<think>r</think>Use the `</think>` tag to end.' trained '` tag to end.'.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.eval import score
from distill.examples import Columns, Example, load_examples
from distill.generate import prompt_messages
from tests.inproc import distill


def head(letters: str) -> str:
    return (
        "Answer the following multiple choice question. The last line of your response should "
        "be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of "
        f"{letters}. Think step by step before answering.\n\n"
    )


def _write(tmp_path: Path, *rows: dict, name: str = "data.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _asked(data: str, **kw) -> list[tuple[str | None, str]]:
    return [(r.gold, msgs[-1]["content"]) for r, msgs in prompt_messages(data, **kw)]


def _trained(data: str, prompt_field: str, answer_field: str) -> list[tuple[str, str]]:
    columns = Columns(prompt_field=prompt_field, answer_field=answer_field)
    return [
        (ex.prompt[-1]["content"], ex.completion) for ex in load_examples(data, columns=columns)
    ]


QUESTION = (
    "A 23-year-old pregnant woman at 22 weeks gestation presents with burning upon urination. "
    "Which of the following is the best treatment for this patient?"
)
MEDQA_HF = {  # GBaker/MedQA-USMLE-4-options-hf (lm-eval's medqa_4options reads sent1, ending0-3)
    "id": "train-00000",
    "sent1": QUESTION,
    "sent2": "",
    "ending0": "Ampicillin",
    "ending1": "Ceftriaxone",
    "ending2": "Doxycycline",
    "ending3": "Nitrofurantoin",
    "label": 3,
}
MEDQA_ASKED = (
    head("ABCD") + QUESTION + "\n\nA) Ampicillin\nB) Ceftriaxone\nC) Doxycycline\nD) Nitrofurantoin"
)


def test_medqa_in_swag_layout_is_asked_its_options_and_trained_its_letter(tmp_path):
    data = _write(tmp_path, MEDQA_HF, {**MEDQA_HF, "id": "train-00001", "label": 0})
    assert _asked(data) == [("D", MEDQA_ASKED), ("A", MEDQA_ASKED)]
    # the flags a user types name the same columns
    assert _asked(data, prompt_field="sent1", answer_field="label")[0] == ("D", MEDQA_ASKED)
    assert _trained(data, "sent1", "label") == [
        (MEDQA_ASKED, "Answer: D"),
        (MEDQA_ASKED, "Answer: A"),
    ]
    rec = {"id": "x", "prompt_id": "p", "sample": 0, "answer": "Answer: D", "gold": "D",
           "messages": [{"role": "user", "content": MEDQA_ASKED}], "finish_reason": "stop",
           "usage": {"completion_tokens": 5}}  # fmt: skip
    assert score([rec], "choice")["pass@1"] == 1.0
    out = tmp_path / "export.jsonl"
    res = distill(
        "export", data, "--prompt-field", "sent1", "--answer-field", "label", "--out", out
    )
    assert res.returncode == 0, res.stderr
    first = json.loads(out.read_text().splitlines()[0])
    assert first["messages"] == [
        {"role": "user", "content": MEDQA_ASKED},
        {"role": "assistant", "content": "Answer: D"},
    ]


SWAG = {  # swag, regular config: startphrase = sent1 + " " + sent2, the endings complete sent2
    "video-id": "anetv_jkn6uvmqwh4",
    "fold-ind": "3416",
    "startphrase": "Members of the procession walk down the street holding small horn brass "
    "instruments. A drum line",
    "sent1": "Members of the procession walk down the street holding small horn brass instruments.",
    "sent2": "A drum line",
    "gold-source": "gold",
    "ending0": "passes by walking down the street playing their instruments.",
    "ending1": "has heard approaching them.",
    "ending2": "arrives and they're outside dancing and asleep.",
    "ending3": "turns the lead singer watches the performance.",
    "label": 0,
}
HELLASWAG = {  # Rowan/hellaswag: label a string, "" in the test split
    "ind": 4,
    "activity_label": "Removing ice from car",
    "ctx_a": "Then, the man writes over the snow covering the window of a car, and a woman "
    "wearing winter clothes smiles.",
    "ctx_b": "then",
    "ctx": "Then, the man writes over the snow covering the window of a car, and a woman "
    "wearing winter clothes smiles. then",
    "endings": [
        ", the man adds wax to the windshield and cuts it.",
        ", a person board a ski lift.",
        ", the man puts on a christmas coat, knitted with netting.",
        ", the man continues removing the snow on his car.",
    ],
    "source_id": "activitynet~v_-1IBHYS3L-Y",
    "split": "train",
    "split_type": "indomain",
    "label": "3",
}


def test_swag_asks_its_startphrase_and_endings_a_test_rows_minus_one_no_gold(tmp_path):
    data = _write(tmp_path, SWAG, {**SWAG, "fold-ind": "9", "label": -1})
    (gold, asked), (test_gold, _) = _asked(data)
    endings = [SWAG[f"ending{i}"] for i in range(4)]
    assert asked == head("ABCD") + SWAG["startphrase"] + "\n\n" + "\n".join(
        f"{letter}) {text}" for letter, text in zip("ABCD", endings)
    )
    assert (gold, test_gold) == ("A", None)


def test_hellaswag_asks_its_context_and_endings_its_label_text_an_index(tmp_path):
    data = _write(tmp_path, HELLASWAG, {**HELLASWAG, "ind": 5, "label": ""})
    (gold, asked), (test_gold, _) = _asked(data)
    assert asked == head("ABCD") + HELLASWAG["ctx"] + "\n\n" + "\n".join(
        f"{letter}) {text}" for letter, text in zip("ABCD", HELLASWAG["endings"])
    )
    assert (gold, test_gold) == ("D", None)
    assert _trained(_write(tmp_path, HELLASWAG, name="h.jsonl"), "ctx", "label") == [
        (asked, "Answer: D")
    ]


PASSAGE = "That fall came and I went back to Michigan and the school year went by."
QUAIL = {  # quail: metadata a struct, answers a list, correct_answer_id an int
    "id": "f001_0",
    "context_id": "f001",
    "question_id": "0",
    "domain": "fiction",
    "metadata": {"author": "Joseph Devon", "title": "Black Eyed Susan", "url": "http://x"},
    "context": PASSAGE,
    "question": "Why was this character sad?",
    "question_type": "Causality",
    "answers": ["not enough information", "He never thought about it", "Summer came", "School"],
    "correct_answer_id": 2,
}
COSMOS = {  # cosmos_qa
    "id": "3Q9SPIIRWJKVQ8244310E8TUS6YWAC##q1_a1",
    "context": PASSAGE,
    "question": "In the future , will this person go back to Michigan ?",
    "answer0": "None of the above choices .",
    "answer1": "Yes , for school .",
    "answer2": "No , never .",
    "answer3": "Only in summer .",
    "label": 1,
}
DREAM = {  # dream: the dialogue a list of turns, the answer the right option's text
    "id": 0,
    "dialogue_id": "5-510",
    "dialogue": [
        "M: I am considering dropping my dancing class. I am not making any progress.",
        "W: If I were you, I stick with it. It's definitely worth time and effort.",
    ],
    "question": "What does the man suggest the woman do?",
    "choice": [
        "Consult her dancing teacher.",
        "Take a more interesting class.",
        "Continue her dancing class.",
    ],
    "answer": "Continue her dancing class.",
}


@pytest.mark.parametrize(
    "row,passage,options,letter,answer_field",
    [
        (QUAIL, PASSAGE, QUAIL["answers"], "C", "correct_answer_id"),
        (COSMOS, PASSAGE, [COSMOS[f"answer{i}"] for i in range(4)], "B", "label"),
        (DREAM, "\n".join(DREAM["dialogue"]), DREAM["choice"], "C", "answer"),
    ],
    ids=["quail", "cosmos_qa", "dream"],
)
def test_reading_comprehension_asks_its_passage_question_and_options(
    row, passage, options, letter, answer_field, tmp_path
):
    data = _write(tmp_path, row)
    letters = "ABCD"[: len(options)]
    want = (
        head(letters) + passage + "\n\n" + row["question"] + "\n\n"
        + "\n".join(f"{x}) {text}" for x, text in zip(letters, options))
    )  # fmt: skip
    assert _asked(data) == [(letter, want)]
    assert _trained(data, "question", answer_field) == [(want, f"Answer: {letter}")]


@pytest.mark.parametrize(
    "row,question,options,letter,fields",
    [
        (  # social_i_qa: label "1"-"3", counted from 1
            {"context": "Cameron had a barbecue and gathered her friends together.",
             "question": "How would Others feel as a result?", "answerA": "like attending",
             "answerB": "like staying home", "answerC": "a good friend to have", "label": "2"},
            "Cameron had a barbecue and gathered her friends together.\n\n"
            "How would Others feel as a result?",
            ["like attending", "like staying home", "a good friend to have"], "B",
            ("question", "label"),
        ),
        (  # piqa: label 0 or 1
            {"goal": "When boiling butter, when it's ready, you can", "sol1": "Pour it onto a "
             "plate", "sol2": "Pour it into a jar", "label": 1},
            "When boiling butter, when it's ready, you can",
            ["Pour it onto a plate", "Pour it into a jar"], "B", ("goal", "label"),
        ),
        (  # winogrande: answer "1" or "2"
            {"sentence": "John moved the couch from the garage to the backyard to create space. "
             "The _ is small.", "option1": "garage", "option2": "backyard", "answer": "1"},
            "John moved the couch from the garage to the backyard to create space. The _ is "
            "small.",
            ["garage", "backyard"], "A", ("sentence", "answer"),
        ),
        (  # medmcqa (openlifescienceai's): cop 0-3; a lone row's 1-3 would read either way,
            # 0-3 or the release's 1-4 (tests/test_datasets_review_s17.py)
            {"id": "e9ad821a", "question": "Chronic urethral obstruction can lead to which "
             "change in kidney parenchyma?", "opa": "Atrophy", "opb": "Hypertrophy",
             "opc": "Hyperplasia", "opd": "Dysplasia", "cop": 0, "choice_type": "single",
             "exp": "...", "subject_name": "Anatomy", "topic_name": "Urinary tract"},
            "Chronic urethral obstruction can lead to which change in kidney parenchyma?",
            ["Atrophy", "Hypertrophy", "Hyperplasia", "Dysplasia"], "A", ("question", "cop"),
        ),
        (  # google/boolq: answer a bool, asked as lm-eval asks it: no, yes
            {"question": "do iran and afghanistan speak the same language", "answer": True,
             "passage": "Persian, also known by its endonym Farsi, is spoken in Iran and "
             "Afghanistan."},
            "Persian, also known by its endonym Farsi, is spoken in Iran and Afghanistan.\n\n"
            "do iran and afghanistan speak the same language",
            ["no", "yes"], "B", ("question", "answer"),
        ),
    ],
    ids=["social_i_qa", "piqa", "winogrande", "medmcqa", "boolq"],
)  # fmt: skip
def test_options_one_to_a_column_are_asked_and_the_right_one_is_the_gold(
    row, question, options, letter, fields, tmp_path
):
    data = _write(tmp_path, row)
    letters = "ABCD"[: len(options)]
    want = (
        head(letters)
        + question
        + "\n\n"
        + "\n".join(f"{x}) {text}" for x, text in zip(letters, options))
    )
    assert _asked(data) == [(letter, want)]
    assert _trained(data, *fields) == [(want, f"Answer: {letter}")]


def test_boolq_false_and_super_glue_label_read_as_no_a_text_answer_stays_plain(tmp_path):
    base = {"question": "is the sky green", "passage": "The sky is blue."}
    ((gold, asked),) = _asked(_write(tmp_path, {**base, "answer": False}))
    assert gold == "A" and asked.endswith("The sky is blue.\n\nis the sky green\n\nA) no\nB) yes")
    ((gold, _),) = _asked(_write(tmp_path, {**base, "idx": 0, "label": 0}, name="sg.jsonl"))
    assert gold == "A"
    # a question/passage set with a text answer is no yes/no set: read as before
    ((gold, asked),) = _asked(_write(tmp_path, {**base, "answer": "blue"}, name="text.jsonl"))
    assert (gold, asked) == ("blue", "is the sky green")


BIOASQ = {  # bigbio/bioasq_task_b, bioasq_blurb_bigbio_qa: a summary question, no choices
    "id": "0",
    "question_id": "55031181e9bde69634000014",
    "document_id": "55031181e9bde69634000014",
    "question": "Is Hirschsprung disease a mendelian or a multifactorial disorder?",
    "type": "summary",
    "choices": [],
    "context": "Coding sequence mutations in RET, GDNF, EDN3 and PHOX2B genes have been "
    "reported in Hirschsprung disease.",
    "answer": ["Hirschsprung disease is a multifactorial disorder."],
}


def test_a_bigbio_free_form_row_is_asked_its_context_then_its_question(tmp_path):
    data = _write(tmp_path, BIOASQ)
    want = BIOASQ["context"] + "\n\n" + BIOASQ["question"]
    assert _asked(data) == [(BIOASQ["answer"][0], want)]
    assert _trained(data, "question", "answer") == [(want, BIOASQ["answer"][0])]
    # a template's {question} is that prompt too; one that shows {context} itself is refused
    mine = tmp_path / "mine.txt"
    mine.write_text("Answer briefly.\n\n{question}")
    assert _asked(data, template=str(mine)) == [(BIOASQ["answer"][0], "Answer briefly.\n\n" + want)]
    mine.write_text("{context}\n\n{question}")
    with pytest.raises(DistillError, match="shows column 'context' itself"):
        _asked(data, template=str(mine))
    # bigbio's MedQA writes context "": the question alone, as before
    (row,) = load_rows(_write(tmp_path, {**BIOASQ, "context": ""}, name="no_context.jsonl"))
    assert row.prompt == BIOASQ["question"]


def test_alpaca_answer_of_a_reply_that_names_the_close_tag_is_kept_whole(tmp_path):
    answer = "Use the `</think>` tag to end."
    ex = Example(
        prompt=[{"role": "user", "content": "How?"}], completion="<think>r</think>" + answer
    )
    assert ex.answer == answer
    prefilled = Example(prompt=ex.prompt, completion="r\n</think>\n\nIt is </think>.")
    assert prefilled.answer == "It is </think>."  # (the template opened the block)
    rec = {
        "id": "s1", "prompt_id": "p1", "sample": 0,
        "messages": [{"role": "user", "content": "How do I end a think block?"}],
        "reasoning": "The tag closes it.", "answer": answer, "gold": None,
        "teacher": {"backend": "openai", "model": "m", "params": {}},
        "finish_reason": "stop", "usage": {"completion_tokens": 9},
    }  # fmt: skip
    kept = _write(tmp_path, rec, name="kept.jsonl")
    out = tmp_path / "alpaca.jsonl"
    res = distill("export", kept, "--format", "alpaca", "--out", out)
    assert res.returncode == 0, res.stderr
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["output"] == answer


def test_a_row_of_these_layouts_that_cannot_be_read_is_refused_by_its_column(tmp_path):
    data = _write(tmp_path, SWAG, {**SWAG, "fold-ind": "9", "ending2": None})
    with pytest.raises(DistillError, match=r":2: field 'ending2' holds no option text"):
        list(load_rows(data))
    data = _write(tmp_path, COSMOS, {**COSMOS, "id": "2", "label": 7}, name="cosmos.jsonl")
    with pytest.raises(DistillError, match=r":2: field 'label' is 7, which names none"):
        list(load_rows(data))
