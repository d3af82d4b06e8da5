"""verify_math's speed-ups keep every verdict: a (gold, final answer) verdict is judged once per
process, and distill's LaTeX parses (ANTLR SLL first, LL when SLL fails) give math-verify's
results. The agreement test in test_verify.py runs all 306 public grader cases through both."""

import pytest

from distill.filter import verify
from distill.filter.verify import verify_math

# Answers that share a final answer, or a gold that equals another as a Python value, and still
# get different verdicts: a cache keyed on the final text alone, without the boxes written
# together or the "or" of a hedge, or on the gold's value, would hand one the other's verdict.
SAME_KEY_IF_KEYED_WRONGLY = [
    ("\\boxed{1}", 1, "correct"),
    ("\\boxed{1}", True, "wrong"),  # the gold "True", not 1 (lru_cache takes True for 1)
    ("\\boxed{1}", 1.0, "correct"),
    ("\\boxed{1}, \\boxed{2}", "1, 2", "correct"),  # final "2", parts 1 and 2
    ("So \\boxed{2}", "1, 2", "wrong"),  # final "2" alone
    ("The final answer is $2, 3$", "(2, 3)", "correct"),
    ("The answer is 2 or 3", "(2, 3)", "wrong"),  # final "2, 3" too, offered as a hedge
    ("\\boxed{x+1}", "$1+x$", "correct"),
    ("\\boxed{x+1}", "$x-1$", "wrong"),
    ("\\boxed{}", "1", "no_answer"),
    ("61 + 48 \\boxed{}", "109", "no_answer"),
]


@pytest.mark.parametrize("order", [1, -1])
def test_one_gold_against_many_answers_keeps_each_verdict(order):
    # n samples of one prompt against one gold, twice: the second round is answered from the
    # cache, in the other order the first time round as well
    for _ in range(2):
        got = [(a, g, verify_math(a, g)) for a, g, _v in SAME_KEY_IF_KEYED_WRONGLY[::order]]
        assert got == [(a, g, v) for a, g, v in SAME_KEY_IF_KEYED_WRONGLY[::order]]


# LaTeX that ANTLR's SLL prediction cannot parse (latex2sympy's grammar needs full LL there:
# the first stage fails, LL parses it), then LaTeX SLL parses, and text that is no LaTeX.
NEEDS_LL = [
    "$F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}$",
    "$a^2 + b = 0$",
    "$x^2/4 + y^2/3 = 1$",
    "$$a_3 = 2, a_{37} = 19$$",
    "$S_{MBCN}:S=7:32$",
    "\\boxed{a_{37} = 19, \\quad a_3 = 2}",
    "\\boxed{-\\frac{8x^2}{9(x^2-2)^{5/3}}+\\frac{2}{3(x^2-2)^{2/3}}}",
]
LATEX = NEEDS_LL + [
    "$15\\mbox{ cm}^2$",
    "$\\frac{1}{2} + x^2$",
    "\\boxed{(1, 2)}",
    "$x \\in [-2,7]$",
    "$\\frac{1}{$",
    "$)($",
]


def test_distill_reads_latex_as_math_verify_does():
    import math_verify
    import sympy
    from math_verify import parser

    def form(parsed):
        return [x if isinstance(x, str) else sympy.srepr(x) for x in parsed]

    verify._parse.cache_clear()
    for text in LATEX:
        ours = form(verify._parse(text, 5))
        parser.parse_latex_cached.cache_clear()  # math-verify's own parse, not ours remembered
        assert ours == form(math_verify.parse(text, parsing_timeout=5)), text
    for text in NEEDS_LL:  # parsed to sympy, not handed back as text
        assert not isinstance(verify._parse(text, 5)[0], str), text
