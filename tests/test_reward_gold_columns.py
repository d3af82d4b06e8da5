"""--reward math reads a prompt source's gold from the column generate auto-detects: an
OpenMathReasoning / OpenMathInstruct-2 row keeps it in `expected_answer`, which the reward's own
list of columns lacked (every sample unverifiable: no reward, no policy gradient, silently)."""

from distill.train.kd.reward import gold_of


def test_expected_answer_is_the_gold_of_an_openmathreasoning_row():
    row = {
        "problem": "What is 2 + 3?",
        "generated_solution": "... \\boxed{5}",
        "expected_answer": "5",
    }
    assert gold_of(row) == "5"


def test_the_same_column_generate_picks_wins_when_a_row_has_two():
    row = {"problem": "What is 2 + 3?", "answer": "5", "final_answer": "6"}
    assert gold_of(row) == "5"
    assert gold_of({"problem": "p", "final_answer": "6"}) == "6"
    assert gold_of({"reasoning": "r", "answer": "7", "gold": None}) is None  # a trace record's own
