"""Second read of ad02be5 (decontam's NFKC and LaTeX spellings) and c614a13 (language_mix
leaving out the prompt's own words): what the new normalisation must not do."""

from __future__ import annotations

import json

from distill.filter.checks import CheckContext, language_mix
from distill.filter.decontam import Decontaminator


def bench(tmp_path, rows):
    p = tmp_path / "math500.jsonl"
    p.write_text("".join(json.dumps({"problem": q}) + "\n" for q in rows))
    return str(p)


def test_a_superscript_is_not_glued_to_the_number_before_it(tmp_path):
    # NFKC writes ⁶ as 6: "10⁶ cells" was "106 cells", and a training prompt about 106 cells
    # was dropped as a copy of the benchmark's 10⁶ (2³ + 17 as 23 + 17, 1½ cups as 11/2 cups)
    d = Decontaminator(
        [
            bench(
                tmp_path,
                [
                    "A culture of bacteria grows to 10⁶ cells in three days; find its daily rate.",
                    "Compute 2³ + 17.",
                    "A recipe needs 1½ cups of flour.",
                ],
            )
        ]
    )
    assert d.hit("A culture of bacteria grows to 106 cells in three days; find its rate.") is None
    assert d.hit("Compute 23 + 17.") is None
    assert d.hit("A recipe needs 11/2 cups of flour per loaf.") is None
    # The same problems typeset with ^ and a mixed number still are the benchmark's.
    assert d.hit("A culture of bacteria grows to 10^6 cells in three days; find x.") == "math500"
    assert d.hit("Compute $2^{3} + 17$.") == "math500"
    assert d.hit("A recipe needs 1 1/2 cups of flour.") == "math500"


def test_frac_followed_by_digits_is_the_same_word_as_dfrac(tmp_path):
    # \dfrac12 was "frac 12" but \frac12 "frac12": the spellings made one were not
    d = Decontaminator([bench(tmp_path, [r"Compute $\dfrac12 + \dbinom52$."])])
    assert d.hit(r"Compute $\frac12 + \binom52$.") == "math500"
    assert d.hit(r"Compute $\frac13 + \binom52$.") is None


def rec(prompt, reasoning):
    return {"messages": [{"role": "user", "content": prompt}], "reasoning": reasoning}


def test_a_chain_in_the_prompts_script_keeps_its_letters_in_the_share():
    # A Russian prompt; its Russian chain names one Greek word (ἀρετή, 1.3% of its letters,
    # under the 2% allowed). Its prompt's own words (и, в, что, ...: Cyrillic, allowed) were cut
    # out of the chain as "the prompt's words", every и inside every word too, so the same
    # Greek word was over 2% of what was left: language_mix on a Russian answer to a Russian
    # question.
    prompt = (
        "Объясните, что Аристотель понимал под добродетелью и как это связано с разумом, "
        "счастьем и жизнью в обществе."
    )
    chain = (
        "Аристотель в своей этике говорит о добродетели как о середине между крайностями. "
        "Он связывает её с разумом и с тем, как человек живёт в обществе, и считает, что "
        "счастье это деятельность души в согласии с добродетелью. "
    ) * 2 + "Ключевое понятие здесь ἀρετή."
    assert language_mix(rec(prompt, chain), CheckContext()) is None
    # Greek words beyond the 2% are still a switch of language.
    greek = chain + " Λοιπόν, πρέπει να ελέγξω κάθε λύση ξανά, βήμα προς βήμα."
    assert language_mix(rec(prompt, greek), CheckContext()) == "language_mix"
