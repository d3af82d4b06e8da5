"""Second read of 39e72ef (s13): after a stated choice letter, another option named in a
sentence with an assertion word ("correct", "true", "also", "better") was taken for a second
answer, a hedge judged wrong, where a grader reads no hedge: the word belongs to the stated
letter ("B fits better than C"), the option is conceded and set aside ("D is partially true but
incomplete"), the letter names no option ("25 °C", "E. coli", "A Carnot engine", "E = hν"), or
the problem's option list is restated after the answer. Each was judged correct before 39e72ef
and wrong by it, under --verify math and --verify choice alike."""

import pytest

from distill.filter.verify import math_answer_key, verify_choice, verify_math

NOT_A_HEDGE = [
    # the assertion word is the stated letter's
    "Answer: B\n\nB fits the data better than C.",
    "Answer: B\n\nBetween B and C, B is correct.",
    "The answer is B.\n\nB is correct, unlike C.",
    "\\boxed{B}\n\nB, rather than C, satisfies the boundary condition.",
    # another option conceded, then set aside
    "Answer: B\n\nExplanation: Option A describes mitosis. Option D is partially true but "
    "incomplete.",
    "The answer is B.\n\nStatement C is factually correct but irrelevant to the question.",
    "Answer: B\n\nA and C are partially correct, but B is the most complete.",
    "The answer is B.\n\nD is a valid concern but less direct than B.",
    "\\boxed{B}\n\nHmm, C is close but off by a factor of two.",
    "The answer is B.\n\nC would also be correct if the process were isothermal.",
    "The answer is B.\n\nOption C also gives 2.5, not 2, so it is out.",
    "The answer is B.\n\nAlso note that option C corresponds to the elastic case.",
    # a capital that names no option
    "The answer is B.\n\nAt 25 °C the reaction is also spontaneous, as ΔG < 0.",
    "The answer is B.\n\nA charge of 2 C also flows through the resistor.",
    "The answer is B.\n\nHere E = hν also holds for each photon.",
    "The answer is B.\n\nE. coli lacks a nucleus, so its ribosomes work in the cytoplasm.",
    "The answer is B.\n\nThe C=O stretch also appears near 1700 cm^-1.",
    "Answer: B\n\nA 10 N force also acts downward, which is why the net is 4 N.",
    "The answer is B.\n\nA Carnot engine is also reversible, which is what B states.",
    # the problem's options restated after the answer
    "Answer: B\n\nA. Mitochondria\nB. Nucleus\nC. Ribosome\nD. Golgi apparatus",
    "The answer is B.\n\nOptions were: (A) It is valid (B) It fits (C) It works (D) None",
]


@pytest.mark.parametrize("answer", NOT_A_HEDGE)
def test_another_option_named_without_offering_it_is_no_hedge(answer):
    assert verify_math(answer, "B") == "correct"
    assert verify_choice(answer, "B") == "correct"
    assert math_answer_key(answer) == "B"


def test_a_restated_true_false_option_list_is_no_hedge():
    """MMLU's two-statement questions: the options are "True, True", "False, True", ... and a
    restated list named A with "True" in it."""
    answer = "Answer: C\n\n(A) True, True\n(B) False, False\n(C) True, False\n(D) False, True"
    assert verify_math(answer, "C") == "correct"
    assert verify_choice(answer, "C") == "correct"


@pytest.mark.parametrize(
    "answer",
    [
        "The answer is B.\nBut C also works.",
        "The answer is B.\n\nActually, D fits better than B.",
        "Answer: B\n\nBetween B and C, C is actually correct.",
        "Answer: B\n\nA. 2 m/s\nB. 4 m/s\nC. 6 m/s\nD. 8 m/s\n\nBut C also works.",
        "Answer: B\n\n(A) is wrong: it ignores drag.\n(C) is also correct if we take g = 10.\n"
        "(D) fails the units check.",
        "The answer is B.\n\nC works as well, no less than B.",
        # a second answer the sentence split or the keyword list missed
        "The answer is B.\n\nOption C gives 0.5 which also works.",
        "The answer is B.\n\nHowever, if the question means the net force, the answer would be C.",
    ],
)
def test_a_second_option_offered_stays_a_hedge(answer):
    assert verify_math(answer, "B") == "wrong"
    assert verify_choice(answer, "B") == "wrong"


@pytest.mark.parametrize("answer", ["Answer: B or C", "Answer: B and C", "Answer: B & D"])
def test_two_letters_joined_on_the_answer_line_are_not_the_first(answer):
    """verify_choice read "Answer: B or C" as B (correct against B)."""
    assert verify_choice(answer, "B") == "wrong"
    assert verify_math(answer, "B") != "correct"
