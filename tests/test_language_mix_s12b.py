"""language_mix on legit R1 traces: a physics chain's Greek symbols, a name the prompt gives in
Chinese characters, copied into an English chain."""

from __future__ import annotations

from distill.filter.checks import CheckContext, language_mix


def rec(prompt, reasoning, answer="4"):
    return {
        "messages": [{"role": "user", "content": prompt}],
        "reasoning": reasoning,
        "answer": answer,
    }


def test_greek_symbols_of_a_physics_chain_are_notation_not_a_language():
    # A word problem ("wavelength", "expectation value") with no Greek or LaTeX in it: R1 writes
    # ψ, λ, ω, ħ, Δx as symbols. Counted as Greek letters (>2%) it was language_mix.
    prompt = (
        "A particle is in a one-dimensional box of length L. Find the expectation value of its "
        "position in the ground state, and the de Broglie wavelength of that state."
    )
    chain = (
        "The wavefunction is ψ(x) = A sin(kx). Normalise: ∫|ψ|² dx = 1 so A = √(2/L). The energy "
        "is E = ħ²k²/2m with k = π/L, the wavelength λ = 2π/k = 2L, and ω = E/ħ. With Δx the "
        "spread, ⟨x⟩ = L/2 by symmetry. "
    ) * 3
    assert language_mix(rec(prompt, chain, "L/2 and 2L"), CheckContext()) is None
    # A chain that switches into Greek words is still another language.
    greek = chain + " Λοιπόν, πρέπει να ελέγξω κάθε λύση ξανά, βήμα προς βήμα, πολύ προσεκτικά."
    assert language_mix(rec(prompt, greek), CheckContext()) == "language_mix"


def test_a_name_the_prompt_writes_in_chinese_may_be_copied_into_the_chain():
    prompt = "Wang Fang (王芳) buys 3 pens at 2 yuan each. How much does she pay?"
    chain = "王芳 buys 3 pens at 2 yuan each, so 王芳 pays 3 * 2 = 6 yuan."
    assert language_mix(rec(prompt, chain, "\\boxed{6}"), CheckContext()) is None
    # Chinese beyond the prompt's own words is still a switch of language.
    mixed = chain + " 好的，我们再检查一下：三乘二等于六。"
    assert language_mix(rec(prompt, mixed, "\\boxed{6}"), CheckContext()) == "language_mix"
