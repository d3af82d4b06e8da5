"""The numbers a run reports, worked out by hand on small cases (eval, card, generate summary)."""

import json

from distill.eval import score
from tests.test_eval import rec as eval_rec


def rec(prompt_id, sample, answer, gold="4"):
    return eval_rec(prompt_id, sample, answer, gold)


def test_unverifiable_samples_do_not_count_against_a_verified_problem():
    records = [
        rec("p1", 0, "\\boxed{4}"),
        rec("p1", 1, "\\boxed{5}"),
        rec("p2", 0, "\\boxed{4}", gold=None),
        rec("p2", 1, "\\boxed{3}", gold=None),
    ]
    s = score(records, "math")
    assert s["problems"] == 2 and s["unverifiable"] == 1
    assert s["pass@1"] == 0.5  # p1 alone


def test_a_tied_vote_does_not_depend_on_the_order_samples_reached_the_file():
    """maj@k's tie went to whichever answer came first in the file, which is the order samples
    finished (concurrency, a resumed run): the same samples gave maj@2 = 0 or 1 by luck."""
    wrong_first = [rec("p", 0, "\\boxed{5}"), rec("p", 1, "\\boxed{4}")]
    a = score(wrong_first, "math")
    b = score(wrong_first[::-1], "math")
    assert a == b
    assert a["maj@2"] == 0.0  # the tie goes to sample 0's answer, every time
    right_first = [rec("p", 0, "\\boxed{4}"), rec("p", 1, "\\boxed{5}")]
    assert score(right_first[::-1], "math")["maj@2"] == 1.0


def test_card_counts_the_examples_truncation_left_without_a_completion(tmp_path):
    """--overlong truncate drops an example whose prompt alone fills max_length (no completion
    token left: `dropped_all_masked`); the card said "7 trained on (0 dropped as too long, ...)"
    of 9 examples, the 2 dropped nowhere."""
    from distill.publish import PublishConfig, build_card
    from tests.test_publish import run_folder

    student = run_folder(tmp_path)
    td = {"examples": 9, "kept": 7, "dropped_overlong": 0, "dropped_all_masked": 2,
          "truncated": 3, "completion_tokens": 1234, "turns": 7, "sequences": 7}  # fmt: skip
    (student / "train_data.json").write_text(json.dumps(td))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert (
        "Examples: 7 trained on (0 dropped as too long, 2 dropped with no completion left after "
        "truncation, 3 truncated); loss on 1,234 completion tokens only" in card
    )
    td.update(dropped_overlong=2, dropped_all_masked=0)  # --overlong drop: as before
    (student / "train_data.json").write_text(json.dumps(td))
    card = str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))
    assert "Examples: 7 trained on (2 dropped as too long, 3 truncated)" in card
