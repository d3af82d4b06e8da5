"""The card of a kd student whose kd.json lacks a count (written by hand, or by a kill before
the first count was saved) is still written: publish stopped with a TypeError traceback."""

from tests.test_review_followups import saved_train


def test_a_kd_json_without_the_scored_count_gives_a_card_without_that_line():
    from distill.train.kd import card_lines

    card = "\n".join(card_lines(saved_train(method="kd"), {"method": "kd", "teacher": "t"}))
    assert "Method: kd (token-level, off-policy)" in card
    assert "Completion tokens the teacher scored" not in card
    counted = {"method": "kd", "teacher_tokens_scored": 1234}
    assert "teacher scored in training: 1,234." in "\n".join(
        card_lines(saved_train(method="kd"), counted)
    )
