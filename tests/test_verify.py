import json
from pathlib import Path

import pytest

from distill.filter.verify import (
    extract_choice,
    last_boxed,
    math_answer_key,
    verify_choice,
    verify_countdown,
    verify_exact,
    verify_math,
)


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        ("So the answer is \\boxed{82}.", "82", "correct"),
        ("So the answer is \\boxed{83}.", "82", "wrong"),
        ("\\boxed{\\frac{1}{2}}", "0.5", "correct"),
        ("\\boxed{0.5}", "$\\frac{1}{2}$", "correct"),
        ("\\boxed{\\{2, 1\\}}", "$\\{1,2\\}$", "correct"),
        ("\\boxed{[1, 2)}", "$[1,2)$", "correct"),
        ("\\boxed{(1, 2)}", "$[1,2)$", "wrong"),
        ("\\boxed{50\\%}", "0.5", "correct"),
        ("The answer is \\boxed{1,000}.", "1000", "correct"),
        ("\\boxed{x^2 + 2x + 1}", "$(x+1)^2$", "correct"),
        # Several boxed answers: the last one is the final answer.
        ("First \\boxed{3}, no wait, \\boxed{4}.", "4", "correct"),
        ("First \\boxed{4}, no wait, \\boxed{3}.", "4", "wrong"),
        ("", "4", "no_answer"),
    ],
)
def test_math_verdicts(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


def test_unparseable_gold_is_unverifiable_never_correct():
    assert (
        verify_math("\\boxed{blah blah ??? not math}", "blah blah ??? not math") == "unverifiable"
    )
    assert verify_math("\\boxed{4}", None) == "unverifiable"
    assert verify_math("\\boxed{4}", "") == "unverifiable"


def test_answer_without_a_final_answer():
    # The generate stage puts the chain of thought in `reasoning`; only `answer` is judged
    # (see test_filter for a boxed answer that appears only in the reasoning).
    assert verify_math("I am not sure.", "4") == "no_answer"
    assert verify_math("", "4") == "no_answer"
    assert verify_math("The answer is 5", "4") == "wrong"


@pytest.mark.parametrize(
    "answer, gold",
    [
        # The question restated: math-verify alone scores these equal to the gold.
        ("To calculate 61 + 48, you simply add them together.", "109"),
        ("The sum is 61 + 48.", "109"),
        ("\\boxed{61+48}", "109"),
        ("\\boxed{(61+48)}", "109"),
        ("\\boxed{3 \\cdot 4}", "12"),
        ("\\boxed{2^{10}}", "1024"),
        ("\\boxed{\\frac{1}{4}+\\frac{1}{4}}", "$\\frac{1}{2}$"),
    ],
)
def test_arithmetic_still_to_compute_is_no_answer(answer, gold):
    assert verify_math(answer, gold) == "no_answer"
    assert math_answer_key(answer) is None


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("To add 59 + 63: 59 + 63 = 122.", "122"),  # the computation, then its result
        ("It is 1/2", "0.5"),  # a fraction is a number
        ("\\boxed{\\dfrac{6}{4}}", "1.5"),
        ("\\boxed{-\\frac{3}{4}}", "-0.75"),
        ("\\boxed{2^{10}}", "$2^{10}$"),  # the gold itself is written as a power
        ("\\boxed{2+\\sqrt{3}}", "$\\sqrt{3}+2$"),  # irrational: nothing left to compute
        ("The answer is 3/4.", "0.75"),
        ("\\boxed{1.5 \\times 10^{3}}", "1500"),  # scientific notation is a number
        ("\\boxed{1.2 \\cdot 10^{-3}}", "0.0012"),
        ("\\boxed{10^{3}}", "1000"),
        ("\\boxed{\\frac{1}{2^{3}}}", "0.125"),
        ("\\boxed{3^{-1}}", "$\\frac13$"),
        ("\\boxed{1\\frac{1}{2}}", "1.5"),
    ],
)
def test_numbers_and_closed_forms_stay_correct(answer, gold):
    assert verify_math(answer, gold) == "correct"


def test_gold_and_prediction_are_not_swapped():
    # An interval gold vs a number prediction: correct only one way round.
    assert verify_math("\\boxed{1}", "$[0, 2]$") == "wrong"


def test_nested_braces_in_boxed():
    assert last_boxed("x \\boxed{\\frac{a}{b}} y") == "\\frac{a}{b}"
    assert last_boxed("no box") is None


def test_pathological_expression_times_out_instead_of_hanging():
    import time

    t0 = time.monotonic()
    verdict = verify_math("\\boxed{" + "9^" * 60 + "9}", "$" + "9^" * 60 + "9$", timeout=2)
    assert verdict in ("correct", "wrong", "unverifiable") and time.monotonic() - t0 < 30


def test_choice_and_exact():
    assert extract_choice("The answer is (C).") == "C"
    assert verify_choice("Therefore the answer is \\boxed{B}", "B") == "correct"
    assert verify_choice("Answer: D", "B") == "wrong"
    assert verify_choice("I don't know", "B") == "no_answer"
    assert verify_exact("  Paris. ", "paris") == "correct"
    assert verify_exact("\\boxed{Lyon}", "Paris") == "wrong"


@pytest.mark.parametrize(
    "answer, verdict",
    [
        ("<answer> (44 + 19) + 35 - 1 </answer>", "wrong"),  # wrong value
        ("<answer>44 + 19 + 35</answer>", "wrong"),  # misses a number
        ("<answer>(44 + 19 + 35) * 1</answer>", "correct"),
        ("<answer>(44 + 19 + 35) / 1 = 98</answer>", "correct"),
        ("<answer>(44 + 44 + 10) * 1</answer>", "wrong"),  # a number not given
        ("<answer>__import__('os').system('x')</answer>", "wrong"),  # refused, never run
        ("<answer>2 ** 10</answer>", "wrong"),
        ("no answer here", "no_answer"),
    ],
)
def test_countdown(answer, verdict):
    assert verify_countdown(answer, [44, 19, 35, 1], 98) == verdict


def test_countdown_division_is_exact():
    assert verify_countdown("<answer>(7 / 2) * 4</answer>", [7, 2, 4], 14) == "correct"
    assert verify_countdown("<answer>7 / (2 - 2)</answer>", [7, 2, 2], 1) == "wrong"


def test_majority_keys_agree_across_forms():
    assert math_answer_key("\\boxed{0.5}") == math_answer_key("\\boxed{0.50}")
    assert math_answer_key("nothing boxed") is not None


# ----------------------------------------------------------------------------- issue 25, item 7


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # Boxes written together are one answer against a gold of several parts (math-verify's
        # reading), unordered against a set or a bare list...
        ("$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$", "(2,2),(6,2)", "correct"),
        ("\\boxed{1},\\boxed{2},\\boxed{3}", "$\\{1,2,3\\}$", "correct"),
        ("\\boxed{3} and \\boxed{1} and \\boxed{2}", "$\\{1,2,3\\}$", "correct"),
        ("\\boxed{1} and \\boxed{2}", "$\\{1,2,3\\}$", "wrong"),
        ("\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}", "(3, 3), (1, 1)", "correct"),
        # ... in order against a tuple in brackets.
        ("\\boxed{1}, \\boxed{2}, \\boxed{3}", "$(1,2,3)$", "correct"),
        ("\\boxed{3}, \\boxed{2}, \\boxed{1}", "$(1,2,3)$", "wrong"),
        # Boxes with other text between them are not one answer: the last box is.
        ("\\boxed{1} no no no no no \\boxed{2}", "$\\{1,2\\}$", "wrong"),
        # A gold of one part: the last box, as before (an intermediate box is no part).
        ("\\boxed{200} so the total is \\boxed{10455}", "10455", "correct"),
        ("\\boxed{4}, \\boxed{5}", "5", "correct"),
    ],
)
def test_several_boxes_against_a_gold_of_several_parts(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        (
            "$0.05 \\cdot 10,200 \\cdot \\frac{1}{2} = \\boxed{255}$ So he has $10,455. "
            "Final Answer: The final answer is $10,455$. I hope it is correct.",
            "$10455$",
            "correct",
        ),
        ("\\boxed{255} ... the answer is \\(10455\\).", "10455", "correct"),
        ("\\boxed{255}. Final Answer: 10455", "10455", "correct"),
        # A statement before the last box does not replace it.
        ("The final answer is $10,455$. Checking again: \\boxed{255}", "10455", "wrong"),
        # A statement of an expression after the box is judged as math too.
        ("\\boxed{3}, then the answer is $\\frac{1}{2}$.", "0.5", "correct"),
    ],
)
def test_a_final_statement_after_the_last_box_wins(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        ("$1 - \\frac{1}{\\mathrm{e}}$", "$1 - \\frac{1}{\\mathrm{e}}$", "correct"),
        ("\\boxed{1 - \\frac{1}{\\mathrm{e}}}", "$1 - 1/e$", "correct"),
        ("\\boxed{1 + \\frac{1}{\\mathrm{e}}}", "$1 - \\frac{1}{\\mathrm{e}}$", "wrong"),
        ("\\boxed{2\\mathrm{i}}", "$2i$", "correct"),
        ("\\boxed{\\operatorname{sin}(x)}", "$\\sin(x)$", "correct"),
        ("\\boxed{\\operatorname{ln} 2}", "$\\ln(2)$", "correct"),
    ],
)
def test_upright_constants_and_operatornames(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("\\boxed{3 \\cdot 4}", "$3 \\cdot 4$"),  # the gold itself is the computation
        ("\\boxed{\\frac{1}{4}+\\frac{1}{4}}", "$\\frac{1}{4} + \\frac{1}{4}$"),
        ("\\boxed{2^{10}+1}", "2^{10}+1"),
    ],
)
def test_computation_rule_spares_an_answer_written_as_the_gold(answer, gold):
    assert verify_math(answer, gold) == "correct"


def test_bare_latex_answer_is_parsed_as_latex_like_the_gold():
    assert verify_math("10\\sqrt3 + \\sqrt{4}", "10\\sqrt{3} + \\sqrt4") == "correct"
    assert verify_math("-34x-45y+20z-100=0", "34x+45y-20z+100=0") == "correct"
    assert verify_math("x + y - z + 2 = 0", "5x - 7y + 11z + 4 = 0") == "wrong"
    assert verify_math("It is 1/2", "0.5") == "correct"  # prose is read as before


# Cases of tests/fixtures/grader_cases.jsonl where plain math-verify agrees with the source
# grader's test and distill does not, each with why distill keeps its verdict.
ALLOWED_MISSES = {
    6: "gold '1,22' (a decimal comma) is read as the pair 1, 22: a bare gold is LaTeX to distill",
    27: "'(9+1)' is a computation still to do, not an answer (the '61 + 48' rule)",
    218: "the gold (a list of equations with \\pm) does not parse: unverifiable, never correct",
    248: "the test pins math-verify's misreading of \\mathrm{e}: 1 + 1/e is not 1 - 1/e",
}


# math-verify's own verdicts on the grader cases, as the version named in the file gave them
# (benchmarks/bench_verify.py's plain_math_verify): 5 of the test's ~12 CPU seconds to recompute,
# the same every time. For another math-verify or other cases the test asks math-verify itself;
# write the file again for them with
#   python -c "import tests.test_verify as t; t.write_math_verify_verdicts()"
MATH_VERIFY_VERDICTS = Path(__file__).parent / "fixtures" / "grader_cases.math_verify.json"


def _bench_verify():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_verify.py"
    spec = importlib.util.spec_from_file_location("bench_verify", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def _cases_and_version(bench) -> tuple[str, str]:
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(bench.CASES.read_bytes()).hexdigest()
    return digest, version("math-verify")


def write_math_verify_verdicts() -> None:
    import logging

    bench = _bench_verify()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    digest, mv = _cases_and_version(bench)
    verdicts = [bench.plain_math_verify(c["prediction"], c["gold"]) for c in bench.load_cases()]
    record = {"math_verify": mv, "cases_sha256": digest, "verdicts": verdicts}
    MATH_VERIFY_VERDICTS.write_text(json.dumps(record) + "\n")


def test_agreement_with_public_graders_tests_at_least_math_verify(monkeypatch):
    bench = _bench_verify()
    cases = bench.load_cases()
    assert len(cases) >= 250
    record = json.loads(MATH_VERIFY_VERDICTS.read_text())
    if (record["cases_sha256"], record["math_verify"]) == _cases_and_version(bench):
        known = {(c["prediction"], c["gold"]): v for c, v in zip(cases, record["verdicts"])}
        asked = bench.plain_math_verify  # compare()'s warm-up call, not a case

        def recorded(prediction: str, gold: str) -> bool:
            got = known.get((prediction, gold))
            return asked(prediction, gold) if got is None else got

        monkeypatch.setattr(bench, "plain_math_verify", recorded)
    res = bench.compare(cases)
    assert res["agreement"]["distill"] >= res["agreement"]["math_verify"], res["agreement"]
    misses = {d["id"]: d["source"] for d in res["differ"] if d["right"] == "math_verify"}
    assert set(misses) <= set(ALLOWED_MISSES), {
        i: s for i, s in misses.items() if i not in ALLOWED_MISSES
    }
    # An entry that no longer differs is stale: drop it from the list (and the README table).
    assert set(ALLOWED_MISSES) <= set(misses), set(ALLOWED_MISSES) - set(misses)


def test_majority_key_reads_the_final_answer_as_verify_does():
    stated = "\\boxed{255} ... Final Answer: The final answer is $10,455$. I hope it is correct."
    assert math_answer_key(stated) == math_answer_key("\\boxed{10455}") == "10455"
    assert math_answer_key("\\boxed{\\mathrm{e}}") == math_answer_key("\\boxed{e}")


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        ("65 + 50 = 115.", "115", "correct"),  # the sum written out, then its value
        ("14 + 20 = 34.", "34", "correct"),
        ("64 + 17 = 121.", "81", "wrong"),
        ("65 + 50", "115", "no_answer"),  # the question restated is still no answer
    ],
)
def test_an_equation_of_numbers_is_judged_on_its_value_as_before(answer, gold, verdict):
    # make smoke's answers ("65 + 50 = 115."): the bare-LaTeX reading made them no_answer
    assert verify_math(answer, gold) == verdict
