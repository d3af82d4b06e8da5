"""Third read of the filter: verdicts on the golds users' datasets hold (MATH/NuminaMath/OpenR1),
the default checks on real kinds of traces, and the numbers the report gives."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.filter.checks import CheckContext, language_mix
from distill.filter.verify import math_answer_key, verify_math
from tests.test_filter import filt, trace

# ----------------------------------------------------------------------------- math golds


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # MATH / NuminaMath golds of money amounts: "\$32" is a dollar sign, not inline math.
        # The gold went to math-verify unwrapped, parsed to nothing: unverifiable, and every
        # correct trace of such a problem was dropped.
        ("So she pays \\boxed{12}.", "\\$12", "correct"),
        ("So she pays \\boxed{\\$12}.", "\\$12", "correct"),
        ("So she pays \\boxed{13}.", "\\$12", "wrong"),
        ("\\boxed{18.90}", "\\$18.90", "correct"),
        ("\\boxed{32348}", "\\$32,\\!348", "correct"),
    ],
)
def test_a_gold_with_an_escaped_dollar_sign_is_a_money_amount(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # Thin-space digit groups (SI style, NuminaMath's olympiad golds): math-verify reads
        # "1\,000" as 1*0 = 0, so gold 1\,000 judged \boxed{0} correct and \boxed{1000} wrong.
        ("\\boxed{1000}", "1\\,000", "correct"),
        ("\\boxed{0}", "1\\,000", "wrong"),
        ("\\boxed{1\\,000\\,000}", "1000000", "correct"),
        ("\\boxed{1 000}", "1000", "correct"),
        ("\\boxed{0}", "1 000", "wrong"),
        ("\\boxed{x = 1000}", "1\\,000", "correct"),
        ("\\boxed{12\\,345.5}", "12345.5", "correct"),
        # Lists and tuples stay what they were.
        ("\\boxed{3, 5}", "3, 5", "correct"),
        ("\\boxed{(2, 500)}", "(2, 500)", "correct"),
        ("\\boxed{2500}", "(2, 500)", "wrong"),
    ],
)
def test_thin_space_thousands_separators(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


def test_thin_space_thousands_vote_with_plain_numbers():
    assert math_answer_key("\\boxed{1\\,000}") == math_answer_key("\\boxed{1000}")


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # Two answers offered as alternatives are a hedge, not the last one: math-verify (and
        # open-r1's accuracy reward) reads the boxes as the set {2, 3} and says wrong. Rewarding
        # the hedge teaches the student to box every candidate.
        ("So $x$ is \\boxed{2} or \\boxed{3}.", "3", "wrong"),
        ("The answer is \\boxed{2} or maybe \\boxed{3}", "3", "wrong"),
        # Against a gold of several parts it is still the set.
        ("\\boxed{2} or \\boxed{3}", "2, 3", "correct"),
        # A box, prose, then the final box: the final box.
        ("\\boxed{200} so the total is \\boxed{10455}", "10455", "correct"),
    ],
)
def test_boxes_offered_as_alternatives_are_a_hedge(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


def test_a_hedge_is_no_vote_for_its_last_box():
    assert math_answer_key("\\boxed{2} or \\boxed{3}") != math_answer_key("\\boxed{3}")


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # NuminaMath's amc_aime solutions box the letter with the option's value
        # ("\boxed{\textbf{(B)}\ 12}"); R1 boxes the letter, or the letter and the value.
        # math-verify reads "(B) 12" as the product b*12: every such trace was wrong.
        ("\\boxed{B}", "\\textbf{(B)}\\ 12", "correct"),
        ("\\boxed{\\text{(B)}}", "\\textbf{(B)}\\ 12", "correct"),
        ("\\boxed{C}", "\\textbf{(B)}\\ 12", "wrong"),
        ("\\boxed{(B)\\ 12}", "B", "correct"),
        ("\\boxed{\\textbf{(B) } 12}", "B", "correct"),
        ("\\boxed{\\text{(C) } 12}", "B", "wrong"),
        ("\\boxed{\\textbf{(B)}\\ 12}", "(B) 12", "correct"),
        # The option's value alone against the letter and value, and the other way round.
        ("\\boxed{12}", "\\textbf{(B)}\\ 12", "correct"),
        ("\\boxed{13}", "\\textbf{(B)}\\ 12", "wrong"),
        ("\\boxed{\\textbf{(B)}\\ 12}", "12", "correct"),
        # Letters alone as before.
        ("\\boxed{B}", "B", "correct"),
        ("\\boxed{C}", "(B)", "wrong"),
    ],
)
def test_a_choice_letter_with_its_option_text(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


# ----------------------------------------------------------------------------- language_mix


def _rec(prompt, reasoning, answer):
    return {
        "messages": [{"role": "user", "content": prompt}],
        "reasoning": reasoning,
        "answer": answer,
    }


def test_a_chinese_question_about_code_allows_a_chinese_answer():
    # A short Chinese question over a long code listing: Han was under 10% of the prompt's
    # letters (the code is Latin), so R1's Chinese reply was rejected as language_mix.
    code = (
        "def two_sum(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n"
        "        if target - x in seen:\n            return [seen[target - x], i]\n"
        "        seen[x] = i\n    return []\n"
    )
    prompt = "这段代码有什么问题？\n```python\n" + code + "print(two_sum([2, 7, 11, 15], 9))\n```"
    reasoning = "嗯，用户问这段代码有什么问题。我先看一下逻辑：遍历数组，用字典记录每个数的下标。"
    answer = "这段代码没有问题，它用哈希表在一次遍历中找到两个数，时间复杂度是O(n)。"
    assert language_mix(_rec(prompt, reasoning, answer), CheckContext()) is None
    # An English question over the same code still rejects a Chinese reply.
    prompt = "What is wrong with this code?\n```python\n" + code + "```"
    assert language_mix(_rec(prompt, reasoning, answer), CheckContext()) == "language_mix"


def test_greek_letters_of_a_latex_prompt_are_allowed_in_the_trace():
    # The prompt writes \theta and \pi; R1's reasoning writes θ and π. Counted as a foreign
    # script, a trig trace was language_mix.
    prompt = "Find all $\\theta \\in [0, 2\\pi)$ such that $\\sin\\theta + \\cos\\theta = 1$."
    reasoning = (
        "Okay, so I need to solve sin θ + cos θ = 1 for θ in [0, 2π). Squaring: "
        "sin²θ + 2 sin θ cos θ + cos²θ = 1, so sin 2θ = 0. Then θ = 0, π/2, π, 3π/2. "
        "Check θ = 0: yes. θ = π/2: yes. θ = π: 0 - 1 = -1, no. θ = 3π/2: no."
    )
    answer = "Checking each candidate, $\\theta = \\boxed{0, \\frac{\\pi}{2}}$."
    assert language_mix(_rec(prompt, reasoning, answer), CheckContext()) is None
    # Without Greek in the prompt, a trace in Greek is still another script.
    greek = "Λοιπόν, πρέπει να λύσω την εξίσωση για το θ και να ελέγξω κάθε λύση."
    assert language_mix(_rec("Solve for x: x + 1 = 2.", greek, "1"), CheckContext()) == (
        "language_mix"
    )


# ----------------------------------------------------------------------------- the stage


def test_a_first_trace_without_gold_does_not_refuse_a_file_whose_others_have_one(tmp_path):
    # A merged set whose first problem has no answer: the whole run was refused ("traces have
    # no gold answer ... use --verify majority") on the first record alone.
    recs = [trace(gold=None, prompt="q0"), trace(prompt="q1"), trace(answer="\\boxed{5}")]
    kept, rejects, report = filt(tmp_path, recs, verify="math")
    assert [r["id"] for r in kept] == [recs[1]["id"]]
    assert {r["id"]: r["reject_reason"] for r in rejects} == {
        recs[0]["id"]: "unverifiable",
        recs[2]["id"]: "wrong_answer",
    }
    assert report["kept"] + sum(report["reject_reasons"].values()) == report["total"] == 3
    # None with a gold: refused as before.
    with pytest.raises(DistillError, match="no gold answer for --verify math"):
        filt(tmp_path, [trace(gold=None, prompt="a"), trace(gold=None, prompt="b")], verify="math")


def test_a_translation_into_another_script_is_no_language_mix():
    # R1 drops chains of thought that mix languages. The reply to "Translate into Chinese" is
    # Chinese by design: an English chain with a Chinese answer was rejected as language_mix.
    prompt = "Translate into Chinese: Good morning, how are you today?"
    reasoning = (
        "The user wants a Chinese translation. 'Good morning' is a common greeting, and "
        "'how are you today' asks about the listener's state today."
    )
    answer = "早上好，你今天怎么样？"
    assert language_mix(_rec(prompt, reasoning, answer), CheckContext()) is None
    # A chain that switches into Chinese is still mixed.
    mixed = reasoning + " 所以我们应该这样翻译这句话，然后检查一下语气是否自然。"
    assert language_mix(_rec(prompt, mixed, answer), CheckContext()) == "language_mix"
    # Without a chain the answer is what is judged.
    assert language_mix(_rec("Say hi.", None, "Привет всем, как дела?"), CheckContext()) == (
        "language_mix"
    )


@pytest.mark.parametrize("gold", ["proof", "notfound", "Proof", "\\text{proof}"])
def test_numinamaths_placeholder_golds_are_unverifiable(gold):
    # NuminaMath-1.5 (and sets built from it) hold "proof" for a proof problem and "notfound"
    # where no answer was extracted. math-verify reads "proof" as the product f*o*o*p*r: every
    # trace was wrong_answer (the teacher's pass rate counted them; --keep-unverifiable, the
    # way to keep proof traces, kept none).
    assert verify_math("Hence the claim holds. $\\blacksquare$", gold) == "unverifiable"
    assert verify_math("\\boxed{5}", gold) == "unverifiable"


def test_keep_unverifiable_keeps_the_traces_of_proof_problems(tmp_path):
    recs = [trace(gold="proof", answer="Hence proved.", prompt="Prove it."), trace()]
    kept, rejects, report = filt(tmp_path, recs, verify="math", keep_unverifiable=True)
    assert len(kept) == 2 and not rejects
    assert report["verify"]["pass_rate"] == 1.0 and report["verify"]["unverifiable"] == 1


# ----------------------------------------------------------------------------- repetition

_KADANE = """```python
import sys

def main():
    data = sys.stdin.read().split()
    n = int(data[0])
    a = list(map(int, data[1:1 + n]))
    best = cur = a[0]
    for x in a[1:]:
        cur = max(x, cur + x)
        best = max(best, cur)
    print(best)

main()
```"""


def test_the_final_code_restated_in_the_answer_is_no_repetition():
    # R1 on a coding problem: the code in its chain, "So the final code is:" and the same code
    # again, then the answer gives it once more. Each copy is the same program, not a loop;
    # counted as repeated 10-grams, a correct trace with short prose was rejected.
    from distill.filter.checks import repetition

    reasoning = (
        "Okay, I need the maximum subarray sum: Kadane's algorithm. Let me write it:\n\n"
        + _KADANE
        + "\n\nWait, all negative numbers? best starts at a[0], so that is fine. "
        "Testing the example gives 4. So the final code is:\n\n" + _KADANE
    )
    answer = "Kadane's algorithm keeps the best sum ending at each position.\n\n" + _KADANE
    rec = {"reasoning": reasoning, "answer": answer}
    assert repetition(rec, CheckContext()) is None
    # A chain that loops in prose is still repetition.
    loop = "Wait, let me check the sum again: it should be the maximum of the running sums. " * 8
    assert repetition({"reasoning": loop, "answer": answer}, CheckContext()) == "repetition"


# ----------------------------------------------------------------------------- choice


@pytest.mark.parametrize(
    "answer, letter",
    [
        # Markdown's bold label, as chat models end a multiple-choice reply: no letter was read
        # (no_answer), so every such correct trace was rejected.
        ("The mitochondria make ATP.\n\n**Answer:** B", "B"),
        ("**Answer:** (B)", "B"),
        ("**Final Answer:** C", "C"),
        ("**Answer:** B) 12", "B"),
        ("Answer: $\\textbf{(C)}$", "C"),
        # C-Eval / CMMLU replies in Chinese.
        ("所以答案是C", "C"),
        ("**答案：** D", "D"),
        # As before.
        ("Answer: **B**", "B"),
        ("The answer is a multiple of 3.", None),
        ("Option (A) is wrong.", None),
    ],
)
def test_choice_letters_after_a_bold_or_chinese_answer_label(answer, letter):
    from distill.filter.verify import extract_choice

    assert extract_choice(answer) == letter


# ----------------------------------------------------------------------------- exact


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # R1 and Qwen box a word as \boxed{\text{Paris}}: it was compared with its markup,
        # "\text{paris}" != "paris", and every such correct trace was wrong.
        ("\\boxed{\\text{Paris}}", "Paris", "correct"),
        ("$\\boxed{\\textbf{Positive}}$", "positive", "correct"),
        ("\\boxed{\\text{New York}}", "New York", "correct"),
        ("\\boxed{\\text{New\\ York}}", "New York", "correct"),
        ("**Paris**", "Paris", "correct"),
        ("\\boxed{\\text{Lyon}}", "Paris", "wrong"),
        ("The capital is Paris.", "Paris", "wrong"),  # the whole reply is not the answer
    ],
)
def test_exact_reads_a_word_boxed_in_text_markup(answer, gold, verdict):
    from distill.filter.verify import verify_exact

    assert verify_exact(answer, gold) == verdict


# ----------------------------------------------------------------------------- countdown


def test_countdown_reads_the_numbers_of_tinyzeros_dataset():
    # Jiayi-Pan/Countdown-Tasks-3to4 (TinyZero, open-r1's countdown) names its numbers `nums`:
    # generate keeps a row's fields in meta, and every trace was unverifiable.
    from distill.filter.verify import judge

    meta = {"target": 24, "nums": [2, 3, 4]}
    right = {"answer": "<answer>(2 + 4) * 4</answer>", "meta": meta}
    assert judge(right, "countdown") == ("wrong", None)  # 4 used twice, 3 unused
    right["answer"] = "<answer>2 * 3 * 4</answer>"
    assert judge(right, "countdown") == ("correct", None)
    right["answer"] = "<answer>2 + 3 + 4</answer>"
    assert judge(right, "countdown") == ("wrong", None)


@pytest.mark.parametrize(
    "answer, gold, verdict",
    [
        # Several letters are no one choice: the option-text rule must not read the first.
        ("\\boxed{B}", "(B) and (D)", "wrong"),
        ("\\boxed{(B) and (D)}", "B", "wrong"),
        ("\\boxed{(B), (D)}", "(B) 12", "wrong"),
    ],
)
def test_several_choice_letters_are_not_the_first_letter(answer, gold, verdict):
    assert verify_math(answer, gold) == verdict


# ----------------------------------------------------------------------------- majority


@pytest.mark.parametrize(
    "a, b",
    [
        # R1 boxes "x = 2" in one sample and "2" in another: one answer (math-verify and
        # verify_math judge them equal), but two votes, so the 2s lost to the x = 2s and were
        # rejected as wrong_answer.
        ("\\boxed{x = 2}", "\\boxed{2}"),
        ("\\boxed{x=\\frac{1}{2}}", "\\boxed{0.5}"),
        ("\\boxed{50\\%}", "\\boxed{0.5}"),
        ("\\boxed{x \\in (1, 2)}", "\\boxed{(1, 2)}"),
        ("\\boxed{x=2, x=3}", "\\boxed{3, 2}"),
    ],
)
def test_majority_votes_one_answer_in_two_forms_together(a, b):
    assert math_answer_key(a) == math_answer_key(b)


def test_majority_keeps_apart_what_differs():
    assert math_answer_key("\\boxed{y = 2x + 1}") != math_answer_key("\\boxed{2x + 2}")
    assert math_answer_key("\\boxed{x = 2}") != math_answer_key("\\boxed{3}")
    assert math_answer_key("\\boxed{\\sqrt{2}}") != math_answer_key("\\boxed{1.414}")


def test_majority_filter_keeps_both_forms_of_the_winning_answer(tmp_path):
    answers = ["\\boxed{x = 2}", "\\boxed{x = 2}", "\\boxed{2}", "\\boxed{3}"]
    recs = [
        trace(answer=a, gold=None, prompt_id="p", reasoning=f"r{i}") for i, a in enumerate(answers)
    ]
    kept, rejects, report = filt(tmp_path, recs, verify="majority")
    assert [r["answer"] for r in kept] == answers[:3]
    assert [r["reject_reason"] for r in rejects] == ["wrong_answer"]
