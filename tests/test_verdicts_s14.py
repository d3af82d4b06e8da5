"""Verdicts a careful grader gives that the verifiers did not (s14):

1. An option supposed after the stated answer ("Suppose that the correct answer is C. Then
   x < 0, a contradiction.") was read as a second answer, a hedge judged wrong: a supposition
   asserts nothing. A supposition that ends on a stated answer ("Then the answer is C.") is read.
2. An option dismissed by its label and text ("A. Mitochondria is wrong.") was split at the
   label's point and the label alone read as a second answer.
3. Chinese hedges ("答案是B。不过C也可能正确。", "答案：B 或 C") were read as the first letter,
   "故选B" / "所以选B" as no letter, and "答案是12。" under --verify math as no answer.
4. A stated answer followed by ", since ..." was no statement under --verify math: the whole
   reply was parsed, so "The answer is 12, because 14 - 1 = 13 fails." was right for gold 13.
"""

import pytest

from distill.filter.verify import choice_key, verify_choice, verify_math

# ----------------------------------------------------------------------------- suppositions

SUPPOSED = [
    "The answer is B.\n\nSuppose that the correct answer is C. Then x < 0, which contradicts x > 0.",
    "The answer is B. Suppose that the correct answer is C.",
    "The answer is B.\n\nSuppose C is correct. Then x < 0.",
    "The answer is B.\n\nAssume option (C). Then x < 0.",
    "The answer is B.\n\nSuppose we pick C: x < 0.",
    "The answer is B.\n\nSuppose the answer is C, then x < 0.",
]


@pytest.mark.parametrize("answer", SUPPOSED)
def test_an_option_supposed_after_the_answer_is_no_hedge(answer):
    assert verify_choice(answer, "B") == "correct"
    assert verify_math(answer, "B") == "correct"
    assert choice_key(answer) == "B"


def test_a_supposition_that_concludes_on_another_answer_states_it():
    answer = "The answer is B.\n\nSuppose x = 2. Then the answer is C."
    for verify in (verify_choice, verify_math):
        assert verify(answer, "C") == "correct"
        assert verify(answer, "B") == "wrong"


@pytest.mark.parametrize(
    "answer",
    [
        # a condition that does not suppose the option itself: C is offered under it
        "The answer is B.\n\nAssuming g = 10, C also works.",
        "The answer is B. But if we consider friction C also works.",
        "The answer is B.\n\nSuppose C is correct, then D also works.",
    ],
)
def test_an_option_offered_under_a_condition_stays_a_hedge(answer):
    assert verify_choice(answer, "B") == "wrong"
    assert verify_math(answer, "B") == "wrong"


# ----------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B. A. Mitochondria is wrong.",
        "Answer: B. A. Mitochondria is wrong.",
        "Answer: B\nA. Mitochondria is wrong.",
        "\\boxed{B}. A. Mitochondria is wrong.",
        "The answer is B. C. Ribosome is wrong.",
    ],
)
def test_an_option_dismissed_with_its_label_and_text_is_no_hedge(answer):
    assert verify_choice(answer, "B") == "correct"
    assert verify_math(answer, "B") == "correct"


def test_a_bare_letter_line_then_a_dismissed_label_reads_the_letter():
    assert verify_choice("B\nA. Mitochondria is wrong.", "B") == "correct"


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\n\nC. Ribosome also makes proteins.",
        "Answer: B\nA. Mitochondria\nC. Ribosome is also correct.",
        # "C" walked back to; the sentence after it dismisses the stated letter, not C
        "The answer is B. Hmm. C. B is wrong.",
    ],
)
def test_a_label_offered_as_an_answer_stays_a_hedge(answer):
    assert verify_choice(answer, "B") == "wrong"
    assert verify_math(answer, "B") == "wrong"


# ----------------------------------------------------------------------------- Chinese

ZH_HEDGES = [
    "答案是B。不过C也可能正确。",
    "答案：B 或 C",
    "答案是B或C",
    "答案：B、C",
    "答案是B。C也对。",
    "答案是B。或者C。",
    "答案是B。等等，C。",
    "答案是B。不对，应该是C。",
    "所以选B。不过C也正确。",
]


@pytest.mark.parametrize("answer", ZH_HEDGES)
def test_a_chinese_hedge_is_wrong_as_its_english_twin(answer):
    assert verify_choice(answer, "B") == "wrong"
    assert verify_choice(answer, "C") == "wrong"
    assert verify_math(answer, "B") == "wrong"
    assert choice_key(answer) == "B, C"


ZH_ANSWERS = [
    "答案是B。选项C是错误的。",
    "答案是B，不是C。",
    "答案是B。C不正确，因为x<0。",
    "答案是B。如果答案是C，那么x<0，矛盾。",
    "答案是B。假设C正确，则x<0，矛盾。",
    "故选B。选项A、C、D均错误。",
    "所以选B",
    "因此答案为B。",
]


@pytest.mark.parametrize("answer", ZH_ANSWERS)
def test_a_chinese_answer_that_dismisses_other_options_is_read(answer):
    assert verify_choice(answer, "B") == "correct"
    assert verify_math(answer, "B") == "correct"
    assert choice_key(answer) == "B"


def test_a_chinese_stated_number_is_read_under_math():
    assert verify_math("所以答案是12。", "12") == "correct"
    assert verify_math("所以答案是12，因为13不行。", "13") == "wrong"
    assert verify_math("答案是2或3。", "2") == "wrong"  # a hedge, as "The answer is 2 or 3."
    assert verify_math("答案是2或3。", "\\{2,3\\}") == "correct"


# ----------------------------------------------------------------------------- ", since ..."


def test_a_stated_answer_with_its_reason_after_a_comma_is_read():
    answer = "The answer is 12, because 14 - 1 = 13 fails."
    assert verify_math(answer, "12") == "correct"
    assert verify_math(answer, "13") == "wrong"
    assert verify_math("The answer is 12, not 13.", "13") == "wrong"
    assert verify_math("The answer is B, since C fails.", "B") == "correct"
    assert verify_math("The answer is B, since C fails.", "C") == "wrong"
