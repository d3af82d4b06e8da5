"""Multiple-choice sets asked as such: the question with lettered options, the letter as gold.

    distill eval --model runs/smoke/student --data cais/mmlu:all --split test --out mmlu.json

MMLU (`question`, `choices`: the options, `answer`: an index 0-3), ARC and CommonsenseQA
(`choices`: {"text": [...], "label": [...]}, `answerKey`: a label), MMLU-Pro (`options`,
`answer_index` / `answer`: a letter) and GPQA (`Question`, `Correct Answer`, `Incorrect Answer
1`-`3`) keep the options in a column of their own. Read as a plain prompt field, the question
was asked without its options and the reply judged against "2" (an index): a pass@1 that
measured nothing. `data.load_rows` asks each such row here for its prompt and gold.

The prompt is OpenAI simple-evals' (QUERY_TEMPLATE_MULTICHOICE, common.py; the MMLU and GPQA
prompt DeepSeek-R1 and lighteval's gpqa:diamond report with), the options as "A) ...", its
"ABCD" the row's own letters. The gold is the letter, which the verifiers read as the choice it
is (filter.verify: `--verify choice`, and `math`'s stated choice): "Answer: B" right, another
letter or a hedge ("B. But C also works.") wrong. A row whose options are null or empty in
such a set (MathVista's and MMMU's free-form questions) is asked as its question, its answer
the gold. `distill train --prompt-field question --answer-field answerKey` trains the prompt
eval asks, answered "Answer: C" (examples.train_choices).
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass
from typing import Any

from distill.errors import DistillError
from distill.records import stable_hash

INSTRUCTION = (
    "Answer the following multiple choice question. The last line of your response should be "
    "of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of "
    "{letters}. Think step by step before answering."
)
# MMLU-Pro and SuperGPQA offer up to ten options, A-J. The verifiers read a reply for as many
# letters as its question's instruction names (filter.verify.options_of), the pronoun "I" in
# prose never as option I; past J a capital is too often a unit, a symbol or a variable in a
# reply ("R^2", "P(X)", "O-H"), which would be read there as an option.
MAX_OPTIONS = 10
GPQA_WRONG = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


@dataclass(frozen=True)
class Layout:
    """The columns of one multiple-choice layout, as the first row of a set names them."""

    name: str
    question: str  # the question column: the prompt field
    options: str  # the options column (GPQA: the correct answer's, the others beside it)
    answer: str  # the column the gold is read from: the answer field

    @property
    def option_columns(self) -> tuple[str, ...]:
        """The columns that hold the options (GPQA: its four answers' columns)."""
        return (self.options, *GPQA_WRONG) if self.name == "gpqa" else (self.options,)

    def parts(self, row: dict[str, Any], where: str) -> tuple[str, list[str], int | None]:
        """(the question, its options, the right one's index or None) of a row; one that cannot
        be read as this layout refused in one line naming `where` (file:LINE)."""
        question = row.get(self.question)
        if not isinstance(question, str) or not question.strip():
            raise DistillError(f"{where}: field '{self.question}' holds no question text")
        if self.name == "gpqa":
            options, index = _gpqa(row, where)
        else:
            options, labels = _options(row.get(self.options), self.options, where)
            index = _index(row.get(self.answer), options, labels, self.answer, where)
        return question, options, index

    def free_form(self, row: dict[str, Any]) -> bool:
        """Whether a row of this set asks no multiple choice: its options column null or empty
        (MathVista's and MMMU's free-form questions beside their multiple-choice ones). It is
        asked as its question alone, its answer column's text the gold (a plain prompt row)."""
        if self.name == "gpqa":
            return False
        value = _listed(row.get(self.options))
        if isinstance(value, dict) and "text" in value:
            value = _listed(value.get("text"))
        if isinstance(value, str):
            return not value.strip()
        return value is None or value != value or value == []  # (NaN: pandas' missing cell)

    def read(self, row: dict[str, Any], where: str) -> tuple[str, str | None] | None:
        """(the prompt, the gold letter or None where the row has no answer) of a row, None for
        a free-form row (`free_form`); one that cannot be read as this layout refused in one
        line naming `where` (file:LINE)."""
        if self.free_form(row):
            return None
        question, options, index = self.parts(row, where)
        if len(options) > MAX_OPTIONS:
            raise DistillError(
                f"{where}: {len(options)} options in '{self.options}' ({_letters(len(options))}), "
                "but the verifiers read option "
                f"letters A-{string.ascii_uppercase[MAX_OPTIONS - 1]} only: keep the rows of up "
                f"to {MAX_OPTIONS} options"
            )
        return prompt(question, options), None if index is None else string.ascii_uppercase[index]


# (question, options, answer columns in the order read): the first that a row has all of
LAYOUTS = (
    ("gpqa", "Question", "Correct Answer", ("Correct Answer",)),
    # SuperGPQA: `answer_letter` (its `answer` is the option's text)
    ("mmlu-pro", "question", "options", ("answer_index", "answer_letter", "answer")),
    ("mmlu", "question", "choices", ("answer", "answerKey")),  # ARC, CommonsenseQA: answerKey
)


def multiple_choice(
    row: dict[str, Any], prompt_field: str | None = None, answer_field: str | None = None
) -> Layout | None:
    """The multiple-choice layout of a set's first row, None for any other set. A --prompt-field
    or --answer-field naming another column asks for that column, not the options. Columns of
    these names that do not read as options and the answer naming one of them in the first row
    are another set's (a chat log's `choices` of replies, MedQA's {"A": ...} `options`,
    MathVista's free-form first row with `choices` null): read as before, as a prompt field."""
    for name, question, options, answers in LAYOUTS:
        answer = answer_field or next((a for a in answers if a in row), None)
        if question not in row or options not in row or answer not in answers or answer not in row:
            continue
        if name == "gpqa" and GPQA_WRONG[0] not in row:
            continue
        if prompt_field not in (None, question):
            return None
        layout = Layout(name, question, options, answer)
        try:
            layout.parts(row, "row 1")
        except DistillError:
            return None
        return layout
    return None


def answer_line(letter: str) -> str:
    """The line the prompt asks the answer in: what `distill train` trains a multiple-choice
    row's letter as (its answer column, read as generate and eval ask the row)."""
    return f"Answer: {letter}"


def prompt(question: str, options: list[str]) -> str:
    """The text a multiple-choice row is asked in: simple-evals' instruction, the question, its
    options lettered "A) ..."."""
    letters = string.ascii_uppercase[: len(options)]
    lines = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, options))
    return f"{INSTRUCTION.format(letters=letters)}\n\n{question.strip()}\n\n{lines}"


# The instruction with the letters it names: how many options the question offers
_ASKED = re.compile(
    re.escape(INSTRUCTION).replace(re.escape("{letters}"), f"(A[B-Z]{{1,{MAX_OPTIONS - 1}}})")
)


def options_asked(text: str) -> int | None:
    """How many options a prompt asks a letter of, as `prompt` words it ("...where LETTER is one
    of ABCDEFGHIJ."); None for a text without that instruction."""
    m = _ASKED.search(text) if "multiple choice" in text else None
    if m is None or m.group(1) != string.ascii_uppercase[: len(m.group(1))]:
        return None
    return len(m.group(1))


def _letters(n: int) -> str:
    """The letters `n` options would take, for a refusal: 'letters A-M', or past Z
    'more than the 26 letters A-Z'."""
    if n > len(string.ascii_uppercase):
        return f"more than the {len(string.ascii_uppercase)} letters A-Z"
    return f"letters A-{string.ascii_uppercase[n - 1]}"


def _text(value: Any) -> str | None:
    """An option as text: a string, or a number the dataset wrote as one; None for no option."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return str(value)
    return None


def _listed(value: Any) -> Any:
    """A column as a list: a numpy array (pandas' rows) or its JSON text (a CSV export) too."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _options(value: Any, column: str, where: str) -> tuple[list[str], list[str] | None]:
    """(the options' texts, their labels or None) of an options column: a list of texts
    (MMLU, MMLU-Pro), ARC's {"text": [...], "label": [...]}, or a list of {"text", "label"}."""
    value = _listed(value)
    labels = None
    if isinstance(value, dict) and "text" in value:
        texts, labels = _listed(value.get("text")), _listed(value.get("label"))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        texts = [v.get("text") for v in value]
        labels = [v.get("label") for v in value]
    else:
        texts = value
    if isinstance(labels, list) and isinstance(texts, list) and len(labels) != len(texts):
        labels = "mismatch"
    options = [_text(t) for t in texts] if isinstance(texts, list) else []
    if len(options) < 2 or any(o is None for o in options) or labels == "mismatch":
        raise DistillError(
            f"{where}: field '{column}' holds no list of options (a list of at least 2 texts, or "
            '{"text": [...], "label": [...]} of one length); fix or drop the row'
        )
    return options, [str(x).strip() for x in labels] if isinstance(labels, list) else None


def _index(
    value: Any, options: list[str], labels: list[str] | None, column: str, where: str
) -> int | None:
    """The index of the right option a row's answer names: a label among the options' (ARC's
    answerKey, "1" where the labels are digits), an index (MMLU's 0-3), a letter (MMLU-Pro's
    `answer`), or an option's own text. None: the row has no answer (a test split's "")."""
    value = _listed(value)
    if value is None or value != value or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # pandas' int column holding a missing cell: 2.0
    text = str(value).strip()
    found: int | None = None
    if labels is not None:
        found = labels.index(text) if text in labels else None
    elif (isinstance(value, int) and not isinstance(value, bool)) or text.isdigit():
        found = int(text) if 0 <= int(text) < len(options) else None
    elif len(text) == 1 and text.upper() in string.ascii_uppercase[: len(options)]:
        found = string.ascii_uppercase.index(text.upper())
    elif options.count(text) == 1:
        found = options.index(text)
    if found is None:
        named = f"labels {', '.join(labels)}" if labels is not None else f"{len(options)} options"
        raise DistillError(
            f"{where}: field '{column}' is {value!r}, which names none of the row's {named}; "
            "fix or drop the row"
        )
    return found


def _gpqa(row: dict[str, Any], where: str) -> tuple[list[str], int]:
    """GPQA's four answers in a deterministic order of the row's own, and where the correct one
    landed. simple-evals shuffles them with one Random(0) over the set in order (another
    --limit, another order) and lighteval with the unseeded `random`: here the row's text
    seeds it, so generate, eval and on-policy ask each question alike, however the set is cut."""
    answers = []
    for column in ("Correct Answer", *GPQA_WRONG):
        text = _text(row.get(column))
        if not text:
            raise DistillError(
                f"{where}: field '{column}' holds no answer text; fix or drop the row"
            )
        answers.append(text)
    order = list(range(len(answers)))
    random.Random(stable_hash([row.get("Question"), answers])).shuffle(order)
    return [answers[i] for i in order], order.index(0)
