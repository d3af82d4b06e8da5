import pytest

from distill.errors import DistillError
from distill.templates import load_template


def test_r1_template_keeps_latex_braces_literal():
    t = load_template("r1-math")
    text = t.render({"prompt": "What is 2 + 2?"})
    assert (
        text
        == "What is 2 + 2?\nPlease reason step by step, and put your final answer within \\boxed{}."
    )
    assert t.placeholders == ["prompt"]


def test_alpaca_templates_use_instruction_and_input():
    assert "{input}" not in load_template("alpaca").render({"instruction": "Add.", "input": "1, 2"})
    assert "### Input" not in load_template("alpaca-no-input").render({"instruction": "Add."})


def test_missing_placeholder_value_is_a_clear_error():
    with pytest.raises(
        DistillError,
        match=r"placeholder '\{input\}' has no value in data\.jsonl row 3 \(fields: instruction",
    ):
        load_template("alpaca").render(
            {"instruction": "Add.", "prompt": "x"}, where="data.jsonl row 3"
        )


def test_unknown_template_lists_the_built_in_ones():
    with pytest.raises(DistillError, match=r"template not found: nope \(built-in: .*r1-math"):
        load_template("nope")


def test_template_file_by_path_and_escaped_braces(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("Q: {question} {{not_a_placeholder}}\n")
    t = load_template(str(p))
    assert t.render({"question": "why?"}) == "Q: why? {not_a_placeholder}"
