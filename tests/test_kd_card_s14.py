"""The card of a kd student whose kd.json lacks a count (written by hand, or by a kill before
the first count was saved) is still written: publish stopped with a TypeError traceback. And a kd
teacher whose template renders no tools is named as the teacher in the refusal (it told the user
to train another student)."""

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


def test_a_teacher_template_without_tools_is_named_as_the_teacher_in_the_refusal(tmp_path):
    # kd's teacher Renderer (who="teacher") said "train a student whose template renders tools"
    import pytest

    from distill.errors import DistillError
    from distill.examples import Renderer, load_examples, tokenize_examples
    from tests.test_examples import real_template_tokenizer
    from tests.test_tools_s14 import ROW, write

    tok = real_template_tokenizer("smollm2")
    exs = list(load_examples(write(tmp_path, [ROW])))
    for who, says in (("teacher", "use a teacher whose"), ("student", "train a student whose")):
        with pytest.raises(DistillError) as e:
            tokenize_examples(exs, Renderer(tok, "r1", who=who), 8192)
        assert f"the {who}'s chat template" in str(e.value) and says in str(e.value)
