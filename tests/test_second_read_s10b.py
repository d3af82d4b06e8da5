"""Second read of the s10 eval, train and logprobs commits: cases they left wrong.

.venv/bin/python -m pytest tests/test_second_read_s10b.py -q
"""

from __future__ import annotations

from distill.eval import score
from tests.test_eval import rec as eval_rec


def rec(prompt_id, sample, answer, gold="4"):
    """tests/test_eval.py's record; an empty answer is a sample cut off (finish length)."""
    return eval_rec(prompt_id, sample, answer, gold, "stop" if answer else "length")


def test_a_cut_off_sample_of_a_problem_with_an_unreadable_gold_does_not_score_it_zero():
    # verify_math says no_answer for an empty answer (a sample cut off in its reasoning) before
    # it reads the gold: the answered sample of the same problem was left out as unverifiable,
    # the cut-off one kept as a 0, so the problem counted 0 in pass@1 (0.5 here, not 1.0).
    records = [
        rec("p1", 0, "\\boxed{4}"),
        rec("p2", 0, "\\boxed{7}", gold="@@@"),  # a gold math-verify cannot parse
        rec("p2", 1, "", gold="@@@"),
    ]
    s = score(records, "math")
    assert s["pass@1"] == 1.0 and s["maj@2"] == 1.0
    assert s["unverifiable"] == 1 and s["problems"] == 2


def test_a_code_problem_without_tests_is_unverifiable_whatever_its_samples_wrote():
    # verify_code says no_answer ("no code block") before it looks for tests: a problem without
    # tests whose samples wrote no code was scored 0, one whose samples did left out.
    records = [rec("p", 0, "I could not solve it.", gold=None)]
    s = score(records, "code")
    assert s["pass@1"] is None and s["unverifiable"] == 1


def test_a_verifiable_problem_whose_samples_gave_no_answer_still_scores_zero():
    records = [rec("p1", 0, "\\boxed{4}"), rec("p2", 0, ""), rec("p2", 1, "")]
    s = score(records, "math")
    assert s["pass@1"] == 0.5 and "unverifiable" not in s
