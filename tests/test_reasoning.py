import pytest

from distill.reasoning import split


@pytest.mark.parametrize(
    "text, api, expected",
    [
        (
            "<think>\n2+2 is 4\n</think>\n\nThe answer is 4.",
            None,
            ("2+2 is 4", "The answer is 4.", "closed"),
        ),
        # The chat template pre-filled <think>, so the model's text starts inside it.
        ("2+2 is 4\n</think>\n\n4", None, ("2+2 is 4", "4", "prefilled")),
        # Truncated mid-thought: all of it is reasoning, no answer.
        ("<think>\nlet me see, 2+2", None, ("let me see, 2+2", "", "unclosed")),
        ("Just 4.", None, (None, "Just 4.", "none")),
        ("The answer is 4.", "2+2 is 4", ("2+2 is 4", "The answer is 4.", "api")),
        # A server that gives reasoning_content and also echoes the tags in content.
        ("<think>2+2 is 4</think>4", "2+2 is 4", ("2+2 is 4", "4", "api")),
        ("", None, (None, "", "none")),
    ],
)
def test_split(text, api, expected):
    assert split(text, api) == expected


def test_boxed_inside_reasoning_stays_in_reasoning():
    reasoning, answer, _ = split("<think>maybe \\boxed{3}?</think>So \\boxed{4}.")
    assert "\\boxed{3}" in reasoning and "\\boxed{3}" not in answer
