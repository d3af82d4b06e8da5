"""Multiple-choice sets asked as such: the question with lettered options, the letter as gold.

    distill eval --model runs/smoke/student --data cais/mmlu:all --split test --out mmlu.json

MMLU (`question`, `choices`: the options, `answer`: an index 0-3), ARC and CommonsenseQA
(`choices`: {"text": [...], "label": [...]}, `answerKey`: a label), OpenBookQA (the same, its
question in `question_stem`), MMLU-Pro (`options`, `answer_index` / `answer`: a letter), MMMU
(the same, its `options` a Python list's repr "['$6', '$7']", "[]" for an open question), RACE
(`article`, `question`, `options`, `answer`: a letter), MedQA (`options`: {"A": ..., ...} or
bigbio's [{"key", "value"}], `answer_idx`: the letter; bigbio's QA schema `choices` and
`answer`: [the option's text]), GPQA (`Question`, `Correct Answer`, `Incorrect Answer
1`-`3`), QuAIL (`context`, `question`, `answers`, `correct_answer_id`), DREAM (`dialogue`: its
turns, `question`, `choice`, `answer`: the option's text) and HellaSwag (`ctx`, `endings`,
`label`: "3") keep the options in a column of their own; SWAG and the sets in its layout
(GBaker/MedQA-USMLE-4-options-hf: `sent1` the question, `sent2` the start of the sentence
the endings complete, `ending0`-`ending3`, `label`), Cosmos QA (`context`, `question`,
`answer0`-`answer3`, `label`), Social IQa (`context`, `question`, `answerA`-`answerC`, `label`:
"1"-"3"), PIQA (`goal`, `sol1`, `sol2`, `label`), WinoGrande (`sentence`, `option1`, `option2`,
`answer`: "1" or "2") and MedMCQA (`opa`-`opd`, `cop`) one to a column; BoolQ (`question`,
`passage`, `answer`: true or false; a copy's "yes"/"no" text where its rows answer both and
nothing else, `read_ahead`) implies its options, "no" and "yes", as lm-eval asks it. AQuA-RAT
(`question`, `options` written with their letters: "A)125", `correct`: the letter) is asked its
options without their letters, in their letters' order, the gold the option that bears it;
SciQ (`question`, `distractor1`-`3`, `correct_answer`, `support` its passage where a copy keeps
it) its four answers in GPQA's per-row order. SQuAD (`context`, `question`, `answers`:
{"text": [...], "answer_start": [...]}; SQuAD's own JSON's list of {"text", "answer_start"}; a
CSV's repr of either) has no options: each row is asked as its passage, then its question, the
gold the span's text (`Layout.free_answer`; SQuAD 2.0's unanswerable: none).
Read as a plain prompt field, the question was asked without its options (or its passage) and
the reply judged against "2" (an index): a pass@1 that measured nothing. `data.load_rows` asks
each such row here for its prompt and gold.

The prompt is OpenAI simple-evals' (QUERY_TEMPLATE_MULTICHOICE, common.py; the MMLU and GPQA
prompt DeepSeek-R1 and lighteval's gpqa:diamond report with), the options as "A) ...", its
"ABCD" the row's own letters. A set whose question is about a passage (RACE's `article`,
bigbio's, Cosmos QA's and QuAIL's `context`, DREAM's `dialogue`, BoolQ's `passage`) shows the
passage before the question; a free-form row of such a set (bigbio's BioASQ questions) too.
The gold is the letter, which the verifiers read as the choice it is (filter.verify:
`--verify choice`, and `math`'s stated choice): "Answer: B" right, another letter or a hedge
("B. But C also works.") wrong.

Which option an answer names (`_index`), by the set's known layout: a label of the options' own
(ARC's answerKey, MedQA's dict keys) first; an integer is an index (MMLU's `answer`, MMLU-Pro's
`answer_index`), counted from 1 where the set counts so (Social IQa, WinoGrande), from 0 or
from 1 as the set's own rows settle it where its copies differ (MedMCQA's `cop`: `read_ahead`),
-1 (a ClassLabel's "no label": a test split's) no answer. A text answer of a letter column
(`answer_letter`, `answer_idx`, RACE's and MMLU-Pro's `answer`) is read as a letter first; one
of a text column (MMLU's layout's `answer`: MathVista writes the option itself, "97" of ["97",
"102", ...]) as an option's own text first, so "3" of ["3", "5", "7", "9"] is A, never the
index 3; a digit text no option is, is an index. A row whose options are JSON text (a CSV's:
every value is text there, MMLU's integer index too) reads a digit answer as an index first, as
before.

Each row decides for itself: a row whose options are null or empty in such a set (MathVista's
and MMMU's free-form questions, the first row too) is asked as its question, its answer the
gold; so is one whose column holds no options at all (a chat log's `choices`, its replies: no
multiple-choice set, read plain as before); one shaped as options that cannot be read is
refused by name. A --template words the request: on such a set its {question} (GPQA's {Question}) is the
question with its lettered options, as {prompt} is, so a template that shows both, or the
options' (or the passage's) column itself, would ask them twice and is refused by name.
`distill train --prompt-field question --answer-field answerKey` trains the prompt eval asks,
answered "Answer: C" (examples.train_choices).
"""

from __future__ import annotations

import ast
import itertools
import json
import random
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

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
T = TypeVar("T")
GPQA_WRONG = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


@dataclass(frozen=True)
class Layout:
    """The columns of one multiple-choice layout, as the first row of a set names them."""

    name: str
    question: str  # the question column: the prompt field
    options: str  # the options column (GPQA: the correct answer's, the others beside it)
    answer: str  # the column the gold is read from: the answer field
    # how a text answer reads first (`_index`): "letter" (RACE's `answer`, `answer_idx`),
    # "index" (`answer_index`), "text", the option itself (MathVista's `answer`), "number" (an
    # index counted from 1: Social IQa's `label`), "count" (an index the set's copies count from
    # 0 or from 1: MedMCQA's `cop`, settled over its rows, `read_ahead`) or "yesno" (BoolQ's true
    # or false)
    reads: str = "text"
    # the passage the question is about (RACE's `article`; DREAM's `dialogue`, a list of lines)
    context: str | None = None
    # a passage column a copy of the set may leave out (SciQ's `support`: a copy without it is
    # SciQ all the same, each row asked its question and four answers)
    context_optional: bool = False
    # options one to a column, in order (SWAG's ending0-3, PIQA's sol1 and sol2): the first row's
    # columns of `spread` (their name's head, the marks that follow it: "ending", "0123456789")
    columns: tuple[str, ...] = ()
    spread: tuple[str, str] | None = None
    # the start of the sentence the options complete, after the question's (SWAG's `sent2`)
    lead: str | None = None
    # the options a yes/no question implies (BoolQ's), lm-eval's ["no", "yes"]: label 0 is no
    fixed: tuple[str, ...] = ()
    # the answer columns a set writes, (column, how it reads), in the order tried
    answers: tuple[tuple[str, str], ...] = ()
    # a set whose unlabelled split leaves its answer column out (MedMCQA's release: test.json has
    # no `cop`): such a row is asked its options all the same, no gold
    answerless: bool = False
    # the wrong answers' columns beside the right one's (`options`), the four shuffled per row by
    # its own text (GPQA's 'Incorrect Answer 1'-'3', SciQ's distractor1-3)
    wrong: tuple[str, ...] = ()
    # options written with their own letter (AQuA-RAT's "A)21", "B)21.5"): asked without it
    marked: bool = False
    # no options: the answer is a span of the passage (SQuAD's `answers` {"text": [...],
    # "answer_start": [...]}), each row asked as the passage, then the question, its gold the
    # span's text (several different spans: no one gold; none, SQuAD 2.0's unanswerable: none)
    spans: bool = False

    @property
    def option_columns(self) -> tuple[str, ...]:
        """The columns that hold the options (GPQA, SciQ: its four answers' columns; none for a
        yes/no question's or a passage's span)."""
        if self.wrong:
            return (self.options, *self.wrong)
        if self.fixed or self.spans:
            return ()
        return self.columns or (self.options,)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """The columns a row's prompt shows besides its question: the options', the passage's,
        the start of the sentence the options complete."""
        more = tuple(c for c in (self.context, self.lead) if c)
        return (*self.option_columns, *more)

    @property
    def _offered(self) -> str:
        """Where a row offers its options, for a refusal."""
        columns = self.option_columns
        if not columns:
            return f"'{self.answer}' (the answer to a yes/no question)"
        return f"'{columns[0]}'" if len(columns) == 1 else f"'{columns[0]}'-'{columns[-1]}'"

    def parts(self, row: dict[str, Any], where: str) -> tuple[str, list[str], int | None]:
        """(the question, its options, the right one's index or None) of a row; one that cannot
        be read as this layout refused in one line naming `where` (file:LINE)."""
        question = row.get(self.question)
        if isinstance(question, str) and not question.strip():
            raise DistillError(
                f"{where}: field '{self.question}' (the question) is empty, but the row offers "
                f"options in {self._offered}: there is no question to ask them of; fill the "
                "field with the question, or drop the row"
            )
        if not isinstance(question, str):
            raise DistillError(f"{where}: field '{self.question}' holds no question text")
        lead = row.get(self.lead) if self.lead else None
        if isinstance(lead, str) and lead.strip():
            # SWAG's startphrase: sent1, then the start of the sentence its endings complete
            question = f"{question.rstrip()} {lead.strip()}"
        if self.wrong:
            options, index = _shuffled(row, self.question, (self.options, *self.wrong), where)
        elif self.columns:
            options = _spread(row, self.columns, where)
            index = _index(row.get(self.answer), options, None, self.answer, where, self.reads)
        elif self.fixed:
            options = list(self.fixed)
            try:
                index = _index(row.get(self.answer), options, None, self.answer, where, self.reads)
            except DistillError:
                raise self._not_yes_no(row, where) from None
        else:
            options, labels = _options(row.get(self.options), self.options, where)
            reads = self.reads
            if reads == "text" and isinstance(row.get(self.options), str):
                # options kept as their JSON text (a CSV): the row's types are gone, so a digit
                # answer is as likely MMLU's integer index written out ("2" of ["8", "2", "24",
                # "120"] is C): read as an index first, as a CSV's MMLU always was
                reads = "index"
            value = row.get(self.answer)
            marks = _marked(options, self.options, where) if self.marked else None
            if marks is not None:  # AQuA-RAT's "A)21": the option is "21", its letter its label
                options, labels = marks
                if isinstance(value, str) and len(value.strip()) == 1:
                    value = value.strip().upper()  # (a letter: "a" names option A)
                    if value.isalpha() and value not in labels:
                        # a letter no option bears (C of A, B, D, E) names none, though an
                        # option's text be that letter ("D)C": asked as C, never the gold)
                        raise DistillError(
                            f"{where}: field '{self.answer}' is {value!r}, which names none of "
                            f"the row's labels {', '.join(labels)}; fix or drop the row"
                        )
            index = _index(value, options, labels, self.answer, where, reads)
        return question, options, index

    def _not_yes_no(self, row: dict[str, Any], where: str) -> DistillError:
        """The refusal of a row of a set read as BoolQ whose answer is no yes/no answer (a
        free-form answer past the rows read ahead, `read_ahead`): it says how the set was read,
        or 'Paris' would read as a misspelt option of a set the user never called BoolQ."""
        value = row.get(self.answer)
        said = "0 (no) or 1 (yes)" if self.reads == "index" else "yes or no (true or false)"
        return DistillError(
            f"{where}: field '{self.answer}' is {value!r}, not {said}: the set was read as BoolQ "
            f"(a yes/no question about its '{self.context}', options no and yes) from its first "
            f"rows, whose '{self.answer}' was {said} in each; fix or drop the row"
        )

    def passage(self, row: dict[str, Any], where: str) -> str | None:
        """The passage a row's question is about (RACE's article), None where the set has none
        (or the row's is empty: bigbio's MedQA writes "")."""
        if self.context is None or row.get(self.context) is None:
            return None
        text = row[self.context]
        if hasattr(text, "tolist") and not isinstance(text, (str, bytes)):
            text = text.tolist()  # (a numpy array: pandas' rows)
        if isinstance(text, list) and all(isinstance(line, str) for line in text):
            text = "\n".join(line.strip() for line in text)  # DREAM's dialogue: its turns
        if not isinstance(text, str):
            raise DistillError(
                f"{where}: field '{self.context}' (the passage the question is about) is a "
                f"{type(text).__name__}, not text (or a list of its lines); fix or drop the row"
            )
        return text if text.strip() else None

    def counting(self, start: int | None) -> Layout:
        """This layout with its answer's count settled (`read_ahead`): from 0 an index, from 1 a
        number; None leaves it open (a row whose index reads either way is refused)."""
        if self.reads != "count" or start is None:
            return self
        return replace(self, reads="index" if start == 0 else "number")

    def free_prompt(self, row: dict[str, Any], where: str) -> str | None:
        """The prompt of a free-form row (`free_form`) of a set whose questions are about a
        passage (bigbio's QA schema: BioASQ's factoid and summary questions, their snippets in
        `context`): the passage, a blank line, the question, as a multiple-choice row of the
        set shows it; None where the row has no passage (bigbio's MedQA writes "") or no
        question (its own refusal says so)."""
        passage = self.passage(row, where)
        question = row.get(self.question)
        if passage is None or not isinstance(question, str) or not question.strip():
            return None
        return f"{passage.strip()}\n\n{question.strip()}"

    def free_form(self, row: dict[str, Any]) -> bool:
        """Whether a row of this set asks no multiple choice: its options column null or empty
        (MathVista's and MMMU's free-form questions beside their multiple-choice ones), or not
        options at all (a chat log's `choices`, its replies: another set's column of the name).
        It is asked as its question alone, its answer column's text the gold (a plain prompt
        row). A column shaped as options that cannot be read is refused by its row (`parts`)."""
        if self.spans:
            return True  # (SQuAD's: a span of the passage, no options)
        if self.wrong or self.columns or self.fixed:
            return False  # (options in columns of their own, or implied: always asked so)
        value = row.get(self.options)
        return _no_options(value) or not _option_shaped(value)

    def free_answer(self, row: dict[str, Any]) -> Any:
        """A free-form row's answer as its column holds it (`free_form`: bigbio's [the text]),
        or, in SQuAD's layout, its spans' texts, each once: [the text]; [] for a question the
        passage does not answer (SQuAD 2.0's); several where the annotators marked different
        spans (its validation split's), no one gold (data.gold_text)."""
        value = row.get(self.answer)
        if not self.spans:
            return value
        texts = _span_texts(value)
        if texts is None:
            # another shape (a set read as SQuAD from its first row's [] whose later rows list
            # their answers' texts): as its JSONL copy holds it, a CSV's JSON text '["Paris"]'
            # never the gold itself
            return _listed(value)
        return list(dict.fromkeys(t.strip() for t in texts if isinstance(t, str) and t.strip()))

    def read(self, row: dict[str, Any], where: str) -> tuple[str, str | None] | None:
        """(the prompt, the gold letter or None where the row has no answer) of a row, None for
        a free-form row (`free_form`); one that cannot be read as this layout refused in one
        line naming `where` (file:LINE)."""
        if self.free_form(row):
            return None
        question, options, index = self.parts(row, where)
        if len(options) > MAX_OPTIONS:
            raise DistillError(
                f"{where}: {len(options)} options in {self._offered} ({_letters(len(options))}), "
                "but the verifiers read option "
                f"letters A-{string.ascii_uppercase[MAX_OPTIONS - 1]} only: keep the rows of up "
                f"to {MAX_OPTIONS} options"
            )
        asked = prompt(question, options, self.passage(row, where))
        return asked, None if index is None else string.ascii_uppercase[index]

    def check_template(self, template: str, placeholders: list[str], where: str) -> None:
        """Refuse a --template that would ask a row's options twice: its {question} (GPQA's
        {Question}) is the question with its lettered options, as {prompt} is, so a template
        that shows both, or the options' or the passage's column itself, would show them twice
        (a list as its repr)."""
        q = self.question
        if q in placeholders and "prompt" in placeholders:
            what = (
                f"reading set each is its {self.context} and the question: the {self.context} "
                "would be shown twice"
                if self.spans
                else "multiple-choice set each is the question with its lettered options: the "
                "options would be asked twice"
            )
            raise DistillError(
                f"{where}: --template {template} shows both {{{q}}} and {{prompt}}, and on this "
                f"{what}; keep one of them"
            )
        shown = [c for c in self.shown_columns if c in placeholders]
        if shown:
            what = (
                f"reading set {{{q}}} (as {{prompt}}) is its {self.context} and the question"
                if self.spans
                else f"multiple-choice set {{{q}}} (as {{prompt}}) is the question with its "
                f"lettered options{' and its ' + self.context if self.context else ''}"
            )
            raise DistillError(
                f"{where}: --template {template} shows column '{shown[0]}' itself, and on this "
                f"{what} already: drop {{{shown[0]}}} from the template"
            )

    def check_context(self, column: str | None, where: str) -> None:
        """Refuse a --context-field naming a column the prompt shows already (RACE's article:
        asked before its question, it would follow the options a second time)."""
        if column is not None and column in self.shown_columns:
            shows = (
                "reading set the prompt shows it already, before the question"
                if self.spans
                else "multiple-choice set the prompt shows it already (the question with its "
                f"{'passage and ' if column == self.context else ''}lettered options)"
            )
            raise DistillError(
                f"{where}: --context-field {column} adds column '{column}' after the prompt, and "
                f"on this {shows}: drop --context-field"
            )


def _known(name: str, question: str, answers: Any, options: str = "", **more: Any) -> Layout:
    """A known layout: its answer columns (column, how it reads) in the order tried."""
    return Layout(name, question, options, answers[0][0], answers[0][1], answers=answers, **more)


DIGITS, LETTERS = "0123456789", "ABCDEFGHIJ"
# The layouts known, tried in order: the first whose columns a row has all of (its passage's too)
LAYOUTS: tuple[Layout, ...] = (
    _known("gpqa", "Question", (("Correct Answer", "text"),), "Correct Answer", wrong=GPQA_WRONG),
    # SciQ: the question about its `support`, the right answer and distractor1-3 shuffled as
    # GPQA's (lm-eval asks it the right one always last: a letter's gold always D)
    _known(
        "sciq",
        "question",
        (("correct_answer", "text"),),
        "correct_answer",
        wrong=("distractor1", "distractor2", "distractor3"),
        context="support",
        context_optional=True,
    ),
    # RACE: the question is about its article, the answer a letter
    _known("race", "question", (("answer", "letter"),), "options", context="article"),
    # MMLU-Pro; SuperGPQA's `answer_letter` (its `answer` is the option's text); MedQA's
    # `answer_idx` (its `answer` is the option's text, its `options` {"A": ...} or bigbio's
    # [{"key": "A", "value": ...}])
    _known(
        "mmlu-pro",
        "question",
        (
            ("answer_index", "index"),
            ("answer_letter", "letter"),
            ("answer_idx", "letter"),
            ("answer", "letter"),
        ),
        "options",
    ),
    # AQuA-RAT: `options` ["A)21", "B)21.5", ...] written with their letters, `correct` the
    # letter (its `rationale` the worked solution: train's --reasoning-field rationale)
    _known("aqua-rat", "question", (("correct", "letter"),), "options", marked=True),
    # SQuAD (squad, squad_v2, and the sets in its layout): the question about its `context`,
    # `answers` {"text": [...], "answer_start": [...]} the spans that answer it
    _known("squad", "question", (("answers", "spans"),), context="context", spans=True),
    # bigbio's QA schema (MedQA's bigbio_qa, PubMedQA's): `answer` [the option's text], the
    # passage in `context`
    _known("bigbio-qa", "question", (("answer", "text"),), "choices", context="context"),
    # MMLU's integer answer, MathVista's option text; ARC, CommonsenseQA: answerKey
    _known("mmlu", "question", (("answer", "text"), ("answerKey", "letter")), "choices"),
    _known("openbookqa", "question_stem", (("answerKey", "letter"),), "choices"),
    # QuAIL: the question about its `context`, the options in `answers`, the right one's index
    _known("quail", "question", (("correct_answer_id", "index"),), "answers", context="context"),
    # DREAM: the question about its `dialogue` (its turns), the options in `choice`, the answer
    # the right option's text
    _known("dream", "question", (("answer", "text"),), "choice", context="dialogue"),
    # HellaSwag: the context `ctx` its endings complete, the right one's index as text ("3")
    _known("hellaswag", "ctx", (("label", "index"),), "endings"),
    # SWAG, and the sets written in its layout for AutoModelForMultipleChoice (MedQA-USMLE-4-
    # options-hf, whose sent1 is the question, sent2 ""): sent1, then the sent2 its endings
    # complete (SWAG's startphrase), `label` the right ending's index
    _known("swag", "sent1", (("label", "index"),), lead="sent2", spread=("ending", DIGITS)),
    # Cosmos QA: the question about its `context`, answer0-answer3, `label` the right one's index
    _known(
        "cosmos-qa", "question", (("label", "index"),), context="context", spread=("answer", DIGITS)
    ),
    # Social IQa: the question about its `context`, answerA-answerC, `label` "1"-"3"
    _known(
        "social-iqa",
        "question",
        (("label", "number"),),
        context="context",
        spread=("answer", LETTERS),
    ),
    # PIQA: the `goal`, sol1 and sol2, `label` 0 or 1
    _known("piqa", "goal", (("label", "index"),), spread=("sol", DIGITS[1:])),
    # WinoGrande: the `sentence` with a blank, option1 and option2 to fill it, `answer` "1" or "2"
    _known("winogrande", "sentence", (("answer", "number"),), spread=("option", DIGITS[1:])),
    # MedMCQA: opa-opd, `cop` the right one's index: 0-3 in openlifescienceai/medmcqa (its
    # loader took 1 off), 1-4 in the release's JSON (lighteval/med_mcqa, awinml/medmcqa: lighteval
    # reads cop - 1), whose test split has no `cop`
    _known(
        "medmcqa",
        "question",
        (("cop", "count"),),
        spread=("op", LETTERS.lower()),
        answerless=True,
    ),
    # BoolQ: a yes/no question about its `passage`, `answer` true or false (super_glue's boolq:
    # `label` 1 or 0), asked as lm-eval asks it: its options "no" and "yes"
    _known(
        "boolq",
        "question",
        (("answer", "yesno"), ("label", "index")),
        context="passage",
        fixed=("no", "yes"),
    ),
)


def _boolq(row: dict[str, Any], answer: str) -> str | None:
    """Whether a first row in BoolQ's columns is BoolQ's: "yes" where its `answer` is a bool (or
    the text "True" or "False", as a CSV writes one), or super_glue's `label` beside its `idx`;
    "maybe" where it is the text "yes" or "no" (a copy that writes its answers so, or a
    question/passage set of free-form answers whose first is "yes": its rows settle which,
    `read_ahead`); None for any other. A question/passage set of free-form answers ("yes" its
    first row's, "Paris" the next's; a 0/1 `label` of its own) is another set's, read as
    before: a prompt field, its answer as it is."""
    if answer == "label":
        return "yes" if "idx" in row else None
    value = row.get(answer)
    text = value.strip().lower() if isinstance(value, str) else None
    if isinstance(value, bool) or text in ("true", "false"):
        return "yes"
    return "maybe" if text in ("yes", "no") else None


def _spread_columns(row: dict[str, Any], head: str, marks: str) -> tuple[str, ...]:
    """The columns of options one to a column a row has: `head` followed by each mark in turn
    (ending0, ending1, ...; answerA, answerB, ...), up to the first it lacks."""
    found = []
    for mark in marks:
        if f"{head}{mark}" not in row:
            break
        found.append(f"{head}{mark}")
    return tuple(found)


def multiple_choice(
    row: dict[str, Any], prompt_field: str | None = None, answer_field: str | None = None
) -> Layout | None:
    """The multiple-choice layout of a set's first row, None for any other set. A --prompt-field
    or --answer-field naming another column asks for that column, not the options. Columns of
    these names that do not read as options in the first row are another set's (a chat log's
    `choices` of replies; a `question`, `passage` and text `answer`, no yes/no question): read as
    before, as a prompt field. A first row whose options are null or empty (MathVista's
    free-form first row, `choices` null) names the layout all the same: each row decides whether
    it is asked as multiple choice (Layout.free_form)."""
    for spec in LAYOUTS:
        reads = dict(spec.answers)
        answer = answer_field or next((a for a in reads if a in row), None)
        if answer is None and spec.answerless:
            answer = spec.answer  # (MedMCQA's release test.json: no `cop`, asked with no gold)
        elif answer not in row:
            continue
        if answer not in reads or spec.question not in row:
            continue
        boolq = _boolq(row, answer) if spec.fixed else None
        if spec.fixed and boolq is None:
            continue  # (a question/passage set's free-form answers: "blue" is no BoolQ)
        if spec.spans and _span_texts(row.get(answer)) is None:
            continue  # (another set's `answers`: QuAIL's options)
        columns = _spread_columns(row, *spec.spread) if spec.spread else ()
        if spec.spread and len(columns) < 2:
            continue
        layout = replace(
            spec,
            options=columns[0] if columns else spec.options,
            answer=answer,
            # ("yes" or "no" text: BoolQ's only where the set's rows settle it, read_ahead)
            reads=YESNO_UNSETTLED if boolq == "maybe" else reads[answer],
            columns=columns,
        )
        passage = (layout.context,) if layout.context and not layout.context_optional else ()
        if any(c not in row for c in (*layout.option_columns, *passage)):
            continue  # (GPQA's: its four answers' columns)
        if spec.name == "bigbio-qa" and not {"type", "document_id"} <= set(row):
            continue
        if prompt_field not in (None, spec.question):
            return None
        if spec.spans:
            return layout  # (no options: each row asked as its passage and question)
        if layout.marked and _letter_marked(row.get(layout.options)):
            # (AQuA-RAT's options bear their own letters: a row whose letters or gold do not
            # read is refused by its row, the first too, never read as a plain prompt)
            return layout
        if not (layout.columns or layout.fixed or layout.wrong):
            if _no_options(row.get(layout.options)):
                return layout
        if layout.free_form(row):
            return None  # (no options: a chat log's `choices`)
        return layout if _reads(layout, row) else None
    return None


def _reads(layout: Layout, row: dict[str, Any]) -> bool:
    """Whether a first row reads as `layout`: its question, its options, an answer that names one
    (counted from 0 or from 1 where the set's count is not settled yet: `read_ahead`)."""
    counts = (0, 1) if layout.reads == "count" else (None,)
    for start in counts:
        try:
            layout.counting(start).parts(row, "row 1")
        except DistillError:
            continue
        return True
    return False


# How far a set is read ahead for a row that settles its count (`read_ahead`): a copy's rows
# name each option about as often, so one within the first few; an unlabelled split's none
READ_AHEAD = 1000


def read_ahead(
    rows: Iterator[T],
    row_of: Callable[[T], dict[str, Any]],
    layout_of: Callable[[dict[str, Any]], Layout | None],
) -> tuple[Layout | None, Iterator[T]]:
    """(the set's multiple-choice layout, its rows as they were) from the first row's layout
    (`layout_of`). Where copies of the set count the answer's index differently (MedMCQA's
    `cop`: 0-3 in openlifescienceai/medmcqa, 1-4 in the release's JSON that lighteval/med_mcqa
    holds), a row's 1-3 reads either way, one option off in the other copy: the rows are read
    ahead (past a --limit too) to the first that settles it, a 0 (from 0) or the last option's
    number (from 1). Unsettled (an unlabelled split: -1, no `cop`), a row whose index reads
    either way is refused by its row. A first row in BoolQ's columns whose answer is the text
    "yes" or "no" is BoolQ's where the rows read ahead answer both and nothing else, else
    another set's (None: read as before)."""
    first = next(rows, None)
    if first is None:
        return None, rows
    layout = layout_of(row_of(first))
    ahead = [first]
    if layout is not None and layout.reads == YESNO_UNSETTLED:
        # a first answer "yes" or "no" as text: a BoolQ copy that writes its answers so where the
        # rows read ahead (READ_AHEAD, or the whole set) answer "yes" and "no" and nothing else
        # (a null: no answer); a question/passage set of free-form answers ("yes", "no", then
        # "Paris") read as before
        said = {_yes_no(row_of(first).get(layout.answer))}
        while "other" not in said:
            item = next(rows, None) if len(ahead) < READ_AHEAD else None
            if item is None:
                break
            ahead.append(item)
            said.add(_yes_no(row_of(item).get(layout.answer)))
        settled = {"yes", "no"} <= said <= {"yes", "no", None}
        layout = replace(layout, reads="yesno") if settled else None
    if layout is not None and layout.reads == "count":
        options = len(layout.option_columns)
        start = _start(row_of(first).get(layout.answer), options)
        while start is None and len(ahead) < READ_AHEAD:
            item = next(rows, None)
            if item is None:
                break
            ahead.append(item)
            start = _start(row_of(item).get(layout.answer), options)
        layout = layout.counting(start)
    return layout, itertools.chain(ahead, rows)


# The reading of a first row whose BoolQ answer is "yes" or "no" text: BoolQ's where the set's rows
# settle it (read_ahead), never left so
YESNO_UNSETTLED = "yesno?"


def _yes_no(value: Any) -> str | None:
    """A yes/no answer's word ("yes", "no"; a bool's, "True" a CSV's), None for no answer (a null,
    ""), "other" for any other (a free-form answer: "Paris")."""
    if value is None or value != value or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    word = _YES_NO.get(value.strip().lower()) if isinstance(value, str) else None
    return word or "other"


def _start(value: Any, options: int) -> int | None:
    """Where a row's answer index settles its set's count (`read_ahead`): 0 for a 0, 1 for the
    last option's number (4 of 4 options), None for any other."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    if isinstance(value, bool) or not text.isdecimal():
        return None
    return 0 if int(text) == 0 else 1 if int(text) == options else None


def answer_line(letter: str) -> str:
    """The line the prompt asks the answer in: what `distill train` trains a multiple-choice
    row's letter as (its answer column, read as generate and eval ask the row)."""
    return f"Answer: {letter}"


def prompt(question: str, options: list[str], passage: str | None = None) -> str:
    """The text a multiple-choice row is asked in: simple-evals' instruction, the passage the
    question is about (RACE's article) if any, the question, its options lettered "A) ..."."""
    letters = string.ascii_uppercase[: len(options)]
    lines = "\n".join(f"{letter}) {text}" for letter, text in zip(letters, options))
    before = f"{passage.strip()}\n\n" if passage else ""
    return f"{INSTRUCTION.format(letters=letters)}\n\n{before}{question.strip()}\n\n{lines}"


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
    """A column as a list: a numpy array (pandas' rows), its JSON text (a CSV export) or a
    Python list of texts written as its repr (MMMU's `options`: "['$6', '$7', '$8', '$9']")."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # (RecursionError: "[[[[..." nested past Python's)
            return _python_texts(value)
    return value


def _python_texts(text: str) -> Any:
    """A list of texts written as Python's repr (single quotes), read as a literal (parsed,
    never run); `text` itself for anything else (a dict, a list of other values, no literal)."""
    if not text.strip().endswith("]"):
        return text
    value = _python_literal(text)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return text


_PYTHON_LIST_LIMIT = 1 << 20  # a row's options, never a megabyte: parsing one costs its size


def _no_options(value: Any) -> bool:
    """An options column null or empty (NaN: pandas' missing cell; ARC's {"text": []})."""
    value = _listed(value)
    if isinstance(value, dict) and "text" in value:
        value = _listed(value.get("text"))
    if isinstance(value, str):
        return not value.strip()
    return value is None or value != value or value in ([], {})


def _option_shaped(value: Any) -> bool:
    """Whether a column's value is shaped as options, readable or not (`_options` says): a list
    of texts (numbers, nulls among them), {"text": [...], ...}, a list of {"text", "label"} or
    {"key", "value"}, {"A": text, ...}, or one value (a sentence "0, 2, 1 or 3", JSON text cut
    short). A list or dict of anything else is not (a chat log's `choices`, its replies
    {"message": ..., "finish_reason": ...}; a completion's {"text", "index"}): the column is
    another set's, which no row of a multiple-choice set holds."""
    value = _listed(value)
    if isinstance(value, dict) and "text" in value:
        return isinstance(_listed(value["text"]), list)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and len(k.strip()) == 1 and k.strip().isalpha() for k in value
        )
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        pairs = ({"text", "label"}, {"key", "value"})
        return all(isinstance(v, dict) and any(p <= set(v) for p in pairs) for v in value)
    if isinstance(value, list):
        return all(v is None or isinstance(v, (str, int, float)) for v in value)
    return True


def _options(value: Any, column: str, where: str) -> tuple[list[str], list[str] | None]:
    """(the options' texts, their labels or None) of an options column: a list of texts
    (MMLU, MMLU-Pro), ARC's {"text": [...], "label": [...]}, a list of {"text", "label"} (or
    bigbio's {"key", "value"}), or MedQA's {"A": text, ...} (a struct's null field no option)."""
    value = _listed(value)
    labels = None
    if isinstance(value, dict) and "text" in value:
        texts, labels = _listed(value.get("text")), _listed(value.get("label"))
    elif isinstance(value, dict):
        labels = [k for k, v in value.items() if v is not None]
        texts = [value[k] for k in labels]
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        text, label = ("value", "key") if all("key" in v for v in value) else ("text", "label")
        texts = [v.get(text) for v in value]
        labels = [v.get(label) for v in value]
    else:
        texts = value
    if isinstance(labels, list) and isinstance(texts, list) and len(labels) != len(texts):
        labels = "mismatch"
    options = [_text(t) for t in texts] if isinstance(texts, list) else []
    if len(options) < 2 or any(o is None for o in options) or labels == "mismatch":
        raise DistillError(
            f"{where}: field '{column}' holds no list of options (a list of at least 2 texts, "
            '{"text": [...], "label": [...]} of one length, or {"A": text, ...}); fix or drop '
            "the row"
        )
    return options, [str(x).strip() for x in labels] if isinstance(labels, list) else None


def _spread(row: dict[str, Any], columns: tuple[str, ...], where: str) -> list[str]:
    """The options of a row that holds one to a column (SWAG's ending0-3), in order."""
    options = [_text(row.get(c)) for c in columns]
    missing = next((c for c, o in zip(columns, options) if o is None), None)
    if missing is not None:
        raise DistillError(
            f"{where}: field '{missing}' holds no option text (the options are in "
            f"'{columns[0]}'-'{columns[-1]}'); fix or drop the row"
        )
    return [o for o in options if o is not None]


# A yes/no answer's words (BoolQ's `answer` a bool, "True" as a CSV writes it)
_YES_NO = {"true": "yes", "false": "no", "yes": "yes", "no": "no"}


def _index(
    value: Any,
    options: list[str],
    labels: list[str] | None,
    column: str,
    where: str,
    reads: str = "text",
) -> int | None:
    """The index of the right option a row's answer names, read as the set's layout writes it
    (`reads`, the module's rule): a label among the options' own (ARC's answerKey, "1" where the
    labels are digits; MedQA's keys) or else an option's text; an integer is an index (MMLU's
    0-3); a text is a letter, an option's own text or an index (a CSV's "2"), in the order its
    column writes them: a letter column (MMLU-Pro's, RACE's `answer`) a letter first, an index
    column an index first, a text column (MathVista's `answer`) the option itself first, so
    "3" of ["3", "5", "7", "9"] is A. None: the row has no answer (a test split's "")."""
    value = _listed(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # bigbio's QA schema: `answer` a list of the one option's text
    if value is None or value != value or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # pandas' int column holding a missing cell: 2.0
    text = str(value).strip()
    if text == "-1" and not isinstance(value, bool) and reads in ("index", "number", "count"):
        # a ClassLabel's -1, `datasets`' "no label" (the test splits of SWAG, PIQA, MedMCQA; "-1"
        # in their CSV) in an index column; in a text column (MMLU's layout) it may be an
        # option's own text
        return None
    if labels is not None:
        order: tuple[str, ...] = ("label", "text")
    elif reads in ("yesno", YESNO_UNSETTLED):
        order = ("yesno",)
    elif isinstance(value, int) and not isinstance(value, bool):
        order = (reads,) if reads in ("number", "count") else ("index",)
    else:
        order = {
            "index": ("index", "letter", "text"),
            "letter": ("letter", "text", "index"),
            "number": ("number",),
            "count": ("count", "letter"),
        }.get(reads, ("text", "letter", "index"))
    found = next(
        (i for way in order if (i := _named(way, text, options, labels)) is not None), None
    )
    if found is None and reads == "count" and _named("index", text, options, None) is not None:
        n = int(text)
        raise DistillError(
            f"{where}: field '{column}' is {value!r}: MedMCQA's copies count it from 0 "
            "(openlifescienceai/medmcqa) or from 1 (the release's JSON, lighteval/med_mcqa), and "
            f"no row of this set settles which (a 0, or a {len(options)}), so it names option "
            f"{string.ascii_uppercase[n]} or {string.ascii_uppercase[n - 1]}; write the right "
            f"option's letter in '{column}' instead"
        )
    if found is None:
        named = f"labels {', '.join(labels)}" if labels is not None else f"{len(options)} options"
        raise DistillError(
            f"{where}: field '{column}' is {value!r}, which names none of the row's {named}; "
            "fix or drop the row"
        )
    return found


def _named(way: str, text: str, options: list[str], labels: list[str] | None) -> int | None:
    """The index of the option an answer's text names one way (`_index`), None if none."""
    letters = string.ascii_uppercase[: len(options)]
    if way == "number":  # counted from 1 (Social IQa's label "1"-"3", WinoGrande's answer)
        n = int(text) if text.isdecimal() and len(text) <= 3 else 0
        return n - 1 if 1 <= n <= len(options) else None
    if way == "count":  # from 0 or from 1, not yet settled (read_ahead): the first or the last
        n = int(text) if text.isdecimal() and len(text) <= 3 else -1
        return 0 if n == 0 else len(options) - 1 if n == len(options) else None
    if way == "yesno":
        word = _YES_NO.get(text.lower())
        return options.index(word) if word in options else None
    if way == "label":
        return labels.index(text) if labels and text in labels else None
    if way == "index":
        # (isdecimal: int() reads no '²', which isdigit passes; a long digit run is no index)
        digits = text.isdecimal() and len(text) <= 3
        return int(text) if digits and int(text) < len(options) else None
    if way == "letter":
        return letters.index(text.upper()) if len(text) == 1 and text.upper() in letters else None
    return options.index(text) if options.count(text) == 1 else None


def _shuffled(
    row: dict[str, Any], question: str, columns: tuple[str, ...], where: str
) -> tuple[list[str], int]:
    """The answers of a row that holds the right one and the wrong ones in columns of their own
    (`columns`, the right one's first: GPQA's, SciQ's) in a deterministic order of the row's own,
    and where the right one landed. simple-evals shuffles GPQA's with one Random(0) over the set
    in order (another --limit, another order) and lighteval with the unseeded `random`: here the
    row's text seeds it, so generate, eval and on-policy ask each question alike, however the
    set is cut."""
    answers = []
    for column in columns:
        text = _text(row.get(column))
        if not text:
            raise DistillError(
                f"{where}: field '{column}' holds no answer text; fix or drop the row"
            )
        answers.append(text)
    order = list(range(len(answers)))
    # seeded by the texts as generate reads them (data.without_surrogates: a lone surrogate as
    # U+FFFD), so train, which reads the row as it is, shuffles a row holding one alike
    seed = [_SURROGATE.sub("\ufffd", t) for t in (str(row.get(question)), *answers)]
    random.Random(stable_hash([seed[0], seed[1:]])).shuffle(order)
    return [answers[i] for i in order], order.index(0)


_SURROGATE = re.compile("[\ud800-\udfff]")  # (data._SURROGATE; data imports this module)


# An option written with its own letter: AQuA-RAT's "A)21", its tokenized config's "A ) 21"
_MARK = re.compile(r"\s*([A-Z])\s*\)\s*")


def _letter_marked(value: Any) -> bool:
    """Whether an options column is a list some option of which bears its own letter
    (`_marked`): a first row whose options do not all bear one is refused by its row, as a later
    row is, never the set read as plain questions."""
    value = _listed(value)
    return isinstance(value, list) and any(isinstance(v, str) and _MARK.match(v) for v in value)


def _marked(options: list[str], column: str, where: str) -> tuple[list[str], list[str]] | None:
    """(the options without their letters, in their letters' order; those letters) of options
    written with their own letter (AQuA-RAT's "A)21"), so the gold letter names the option that
    bears it however the list orders them ("B)150" before "A)125") or skips one (A, B, D, E:
    asked as A-D, the gold D asked as C). None where no option bears a letter (lettered by
    place, as any set's). A letter two options bear, or options some of which bear a letter and
    some not, refused by the row: its gold would name either, or none."""
    marks = [_MARK.match(o) for o in options]
    if not any(marks):
        return None
    bare = next((o for o, m in zip(options, marks) if m is None), None)
    if bare is not None:
        first = next(o for o in options if _MARK.match(o))
        raise DistillError(
            f"{where}: field '{column}' writes its options with their own letters ({first!r}), "
            f"but not {bare!r}: which letter that option is, is not written; fix or drop the row"
        )
    letters = [m.group(1) for m in marks if m is not None]
    twice = next((x for x in letters if letters.count(x) > 1), None)
    if twice is not None:
        both = [repr(o) for o, x in zip(options, letters) if x == twice]
        raise DistillError(
            f"{where}: field '{column}' letters {len(both)} options {twice} ({', '.join(both)}): "
            "the answer's letter would name any of them; fix or drop the row"
        )
    # (an option that is its letter alone, "E)", stays as written)
    texts = [o[m.end() :].strip() or o for o, m in zip(options, marks) if m is not None]
    order = sorted(range(len(options)), key=lambda i: letters[i])
    return [texts[i] for i in order], [letters[i] for i in order]


def _span_texts(value: Any) -> list[Any] | None:
    """The spans' texts of SQuAD's `answers` as any copy saves it, None for a value of another
    shape (QuAIL's options): the datasets layout {"text": [...], "answer_start": [...]} (numpy
    arrays in pandas' rows), SQuAD's own JSON's list of {"text", "answer_start"} ([] for SQuAD
    2.0's unanswerable question), either as JSON text, or as the Python repr a CSV holds
    (`Dataset.to_csv` writes "{'text': array(['Denver Broncos'], dtype=object), ...}")."""
    value = _listed(value)
    if isinstance(value, str):
        value = _python_literal(value)
    if isinstance(value, dict) and {"text", "answer_start"} <= set(value):
        texts = _listed(value["text"])
        return texts if isinstance(texts, list) else None
    if isinstance(value, list) and all(
        isinstance(v, dict) and {"text", "answer_start"} <= set(v) for v in value
    ):
        return [v["text"] for v in value]
    return None


def _python_literal(text: str) -> Any:
    """A value written as Python's repr (a CSV's cell: pandas writes a dict of numpy arrays as
    "{'text': array(['a'], dtype=object), ...}"), read as a literal (parsed, never run), each
    `array([...], dtype=...)` as its list; `text` itself for anything else."""
    text = text.strip()
    if not text.startswith(("{", "[")) or len(text) > _PYTHON_LIST_LIMIT:
        return text
    try:
        tree = ast.parse(text, mode="eval")
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text

    class Arrays(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> Any:
            self.generic_visit(node)
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name == "array" and len(node.args) == 1 and isinstance(node.args[0], ast.List):
                if all(k.arg == "dtype" for k in node.keywords):
                    return node.args[0]  # (numpy's repr: the list it holds)
            return node

    try:
        return ast.literal_eval(Arrays().visit(tree))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
