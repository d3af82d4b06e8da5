"""distill/filter/checks.py: each quality check on one trace, called directly.

The filter stage's composition of them (all reasons listed, the first one is the reject reason,
--checks / --skip-checks) is tested through `distill filter` in tests/test_filter.py.
"""

from __future__ import annotations

from distill.filter.checks import (
    CHECKS,
    DEFAULT_CHECKS,
    MATH_CHECKS,
    CheckContext,
    code_block,
    count_tokens,
    empty,
    language_mix,
    length,
    long_paragraph,
    missing_reasoning,
    repetition,
    script_counts,
    think_tags,
    truncated,
)


def rec(reasoning="2 plus 2 is 4.", answer="\\boxed{4}", prompt="What is 2 + 2?", **kw):
    return {
        "messages": [{"role": "user", "content": prompt}],
        "reasoning": reasoning,
        "answer": answer,
        "finish_reason": "stop",
        "think": "closed",
        **kw,
    }


CTX = CheckContext()


def test_a_clean_trace_passes_every_check():
    r = rec()
    assert {name: check(r, CTX) for name, check in CHECKS.items()} == dict.fromkeys(CHECKS)
    assert set(DEFAULT_CHECKS) | set(MATH_CHECKS) <= set(CHECKS)


def test_a_trace_cut_at_max_tokens_is_truncated():
    assert truncated(rec(finish_reason="length"), CTX) == "truncated"
    assert truncated(rec(finish_reason="stop"), CTX) is None


def test_think_tags_unclosed_and_left_in_the_text():
    # The teacher never closed its <think>: reasoning.split marked it.
    assert think_tags(rec(think="unclosed"), CTX) == "unclosed_think"
    # A second think block left in the answer (or reasoning) would teach the student to emit one.
    assert think_tags(rec(answer="<think>again</think> 4"), CTX) == "duplicated_think"
    assert think_tags(rec(reasoning="so </think> 4"), CTX) == "duplicated_think"
    assert think_tags(rec(think="api"), CTX) is None


def test_empty_answer_empty_reasoning_and_missing_reasoning():
    assert empty(rec(answer="  \n"), CTX) == "empty_answer"
    assert empty(rec(answer=None), CTX) == "empty_answer"
    assert empty(rec(reasoning=" "), CTX) == "empty_reasoning"
    # No reasoning at all (a plain model) is not empty reasoning; missing_reasoning says it.
    assert empty(rec(reasoning=None), CTX) is None
    assert missing_reasoning(rec(reasoning=None), CTX) == "missing_reasoning"
    assert missing_reasoning(rec(reasoning=""), CTX) is None


def test_length_bounds_count_about_four_characters_a_token_without_a_tokenizer():
    r = rec(reasoning="a" * 39, answer="b" * 40)  # 39 + "\n" + 40 = 80 chars = 20 tokens
    assert count_tokens("a" * 80, CTX) == 20 and count_tokens("a" * 81, CTX) == 21
    assert length(r, CheckContext(min_tokens=20, max_tokens=20)) is None
    assert length(r, CheckContext(min_tokens=21)) == "too_short"
    assert length(r, CheckContext(max_tokens=19)) == "too_long"
    assert length(r, CheckContext()) is None  # no upper bound by default


def test_length_counts_the_students_tokens_when_given_its_tokenizer():
    from tests.tiny import make_tokenizer

    tok = make_tokenizer("qwen2")
    ctx = CheckContext(tokenizer=tok)
    text = "12 plus 34 is 46."
    assert count_tokens(text, ctx) == len(tok(text, add_special_tokens=False)["input_ids"])
    assert count_tokens(text, ctx) != count_tokens(text, CTX)  # not the 4-chars estimate


def test_a_chain_in_another_script_than_the_prompt_is_language_mix():
    chinese = "让我们计算这个问题，二加二等于四。" * 5
    assert language_mix(rec(reasoning=chinese), CTX) == "language_mix"
    # A Chinese prompt allows Chinese; Latin (math, code, names) is allowed everywhere.
    assert language_mix(rec(reasoning=chinese + " x = 4", prompt="计算二加二等于多少"), CTX) is None
    assert language_mix(rec(reasoning="Давайте посчитаем: 2 + 2 = 4"), CTX) == "language_mix"


def test_language_mix_tolerates_a_few_foreign_letters_up_to_max_script_mix():
    latin = "a" * 98
    two_percent = rec(reasoning=latin + "αβ", answer="")  # 2 of 100 letters Greek
    assert language_mix(two_percent, CheckContext(max_script_mix=0.02)) is None
    assert language_mix(two_percent, CheckContext(max_script_mix=0.019)) == "language_mix"


def test_fullwidth_latin_counts_as_latin():
    assert script_counts("ＡＢＣ abc") == {"LATIN": 6}
    assert script_counts("数学 math") == {"Han": 2, "LATIN": 4}
    assert language_mix(rec(reasoning="Ｔｈｅ ｓｕｍ ｉｓ ４"), CTX) is None


def test_a_looping_chain_is_repetition_a_varied_one_is_not():
    loop = "I will check again and again. " * 20  # 120 words, a 6-word cycle
    assert repetition(rec(reasoning=loop, answer=""), CTX) == "repetition"
    varied = " ".join(f"step {i} adds {i} to the total" for i in range(30))
    assert repetition(rec(reasoning=varied, answer=""), CTX) is None


def test_repetition_is_not_judged_on_fewer_than_four_ngrams_worth_of_words():
    ctx = CheckContext(repetition_ngram=10)
    short = "again " * 39  # 39 words < 4 * 10: too short to judge
    assert repetition(rec(reasoning=short, answer=""), ctx) is None
    assert repetition(rec(reasoning=short + "again", answer=""), ctx) == "repetition"


def test_repetition_threshold_is_the_share_of_repeated_ngrams():
    # 20 distinct words then the same 20 again: 31 10-grams, 11 repeat an earlier one (0.355).
    words = [f"w{i}" for i in range(20)]
    r = rec(reasoning=" ".join(words * 2), answer="")
    assert repetition(r, CheckContext(repetition_ngram=10, max_repetition=0.35)) == "repetition"
    assert repetition(r, CheckContext(repetition_ngram=10, max_repetition=0.36)) is None


def test_long_paragraph_and_code_block_are_r1s_math_filters():
    limit = CheckContext(max_paragraph_chars=100)
    # The reasoning and an answer after a blank line are separate paragraphs.
    assert long_paragraph(rec(reasoning="x" * 100, answer="\nSo 4."), limit) is None
    assert long_paragraph(rec(reasoning="x" * 101, answer="\nSo 4."), limit) == "long_paragraph"
    # Paragraphs are split on blank lines: many short ones are fine.
    assert long_paragraph(rec(reasoning="\n\n".join(["x" * 90] * 5), answer=""), limit) is None
    assert code_block(rec(answer="```python\nprint(4)\n```"), CTX) == "code_block"
    assert code_block(rec(answer="`x` = 4"), CTX) is None
