"""Quality checks on one trace: each returns None (pass) or a short reason.

    distill filter t.jsonl --out kept.jsonl --checks truncated,think_tags,empty,repetition

R1's distillation data dropped truncated, mixed-language, looping and (for math) long-paragraph
and code-block chains; these are those filters, each switchable by name.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass
class CheckContext:
    min_tokens: int = 0
    max_tokens: int | None = None
    max_script_mix: float = 0.02  # share of letters in a script other than the prompt's
    repetition_ngram: int = 10
    max_repetition: float = 0.3  # share of n-grams that repeat an earlier one
    max_paragraph_chars: int = 3000
    tokenizer: Any = None  # student tokenizer for length bounds; else ~4 chars per token


def _text(rec: dict[str, Any]) -> str:
    return (rec.get("reasoning") or "") + "\n" + (rec.get("answer") or "")


def truncated(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    return "truncated" if rec.get("finish_reason") == "length" else None


# Reasoning markers left in a trace's reasoning or answer after the split (distill.reasoning):
# R1's think tags, Mistral reasoning models' [THINK] tags, Gemma 4's thought channel, gpt-oss's
# harmony channel header. A trace holding one would train the marker as text (and a block's
# reasoning as answer).
THINK_MARKERS = (
    "<think>",
    "</think>",
    "[THINK]",
    "[/THINK]",
    "<|channel>",
    "<channel|>",
    "<|channel|>",
)


def think_tags(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    if rec.get("think") == "unclosed":
        return "unclosed_think"
    body = _text(rec)
    if any(tag in body for tag in THINK_MARKERS):
        return "duplicated_think"
    return None


def missing_reasoning(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    return "missing_reasoning" if rec.get("reasoning") is None else None


def empty(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    if not (rec.get("answer") or "").strip():
        return "empty_answer"
    if rec.get("reasoning") is not None and not rec["reasoning"].strip():
        return "empty_reasoning"
    return None


def count_tokens(text: str, ctx: CheckContext) -> int:
    if ctx.tokenizer is not None:
        return len(ctx.tokenizer(text, add_special_tokens=False)["input_ids"])
    return (len(text) + 3) // 4


def length(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    n = count_tokens(_text(rec), ctx)
    if n < ctx.min_tokens:
        return "too_short"
    if ctx.max_tokens is not None and n > ctx.max_tokens:
        return "too_long"
    return None


@lru_cache(maxsize=65536)
def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    first = name.split()[0]
    return {"CJK": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana", "HANGUL": "Hangul"}.get(
        first, first
    )


_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def script_counts(text: str, normalized: bool = False) -> Counter:
    # NFKC first (unless done): fullwidth Latin is still Latin. ASCII letters are counted by a
    # regex and only the (usually few) other characters are looked up: this check was most of
    # filter's time.
    text = text if normalized else unicodedata.normalize("NFKC", text)
    counts = Counter(s for s in map(_script, _NON_ASCII.findall(text)) if s)
    latin = len(_ASCII_LETTER.findall(text))
    if latin:
        counts["LATIN"] += latin
    return counts


# LaTeX's Greek letters: a prompt that writes \theta allows the θ a trace writes for it.
_LATEX_GREEK = re.compile(
    r"\\(?:var)?(?:alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|pi|"
    r"rho|sigma|tau|upsilon|phi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Upsilon|Phi|"
    r"Psi|Omega)(?![A-Za-z])"
)


MIN_SCRIPT_LETTERS = 5

_GREEK = "\u0370-\u03ff\u1f00-\u1fff"
# A Greek letter with no Greek letter beside it is a symbol (ψ(x), λ = h/p, Δx, ħω), written by
# a physics chain whether or not the prompt has one; Greek words are Greek.
_LONE_GREEK = re.compile(f"(?<![{_GREEK}])[{_GREEK}](?![{_GREEK}])")
# A run of letters outside ASCII: the prompt's own words in another script (a name, 王芳).
_FOREIGN_WORD = re.compile(r"[^\W\d_A-Za-z]+")


def _without_prompt_words(text: str, prompt: str, allowed: set[str]) -> str:
    """text without the prompt's own words in a script not allowed: a chain that writes the name
    the prompt gives as 王芳 has not switched language; other words of that script still count.
    Words of an allowed script stay: they are letters the chain's share is taken of (a Russian
    chain without its prompt's и, в, что was a chain of its Greek)."""
    words = {
        w
        for w in _FOREIGN_WORD.findall(unicodedata.normalize("NFKC", prompt))
        if any(_script(c) not in allowed for c in w)
    }
    if not words:
        return text
    pattern = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.sub(pattern, " ", text)


def language_mix(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    prompt = " ".join(m.get("content", "") for m in rec.get("messages") or [])
    pc = script_counts(prompt)
    if not pc:
        return None
    # The prompt's scripts besides Latin, each by its share of the non-Latin letters: a short
    # Chinese question over a page of code (Latin) allows a Chinese reply. A script that is a
    # word or two of a Latin prompt ("a shop called 小米") does not: it is allowed by that share
    # only with MIN_SCRIPT_LETTERS of it, else by its share of all the prompt's letters.
    total = sum(pc.values())
    others = sum(n for s, n in pc.items() if s != "LATIN")
    allowed = {
        s
        for s, n in pc.items()
        if s != "LATIN" and (n >= 0.1 * total or (n >= 0.1 * others and n >= MIN_SCRIPT_LETTERS))
    }
    allowed.add("LATIN")  # math notation, code and variable names are Latin everywhere
    if pc["GREEK"] or _LATEX_GREEK.search(prompt):
        allowed.add("GREEK")  # θ, π: the prompt's math symbols (\theta), not its language
    # The chain of thought is what R1 judged for mixing; the answer may be in another script by
    # design ("Translate into Chinese: ..."). Without a chain, the answer is judged.
    chain = rec.get("reasoning")
    text = unicodedata.normalize(
        "NFKC", chain if chain and chain.strip() else rec.get("answer") or ""
    )
    tc = script_counts(text, normalized=True)
    if any(s not in allowed for s in tc):  # (most chains have none: no more work for them)
        # only letters outside `allowed` are taken out: the share is of all the chain's letters
        text = _without_prompt_words(text, prompt, allowed)
        if "GREEK" not in allowed:
            text = _LONE_GREEK.sub(" ", text)
        tc = script_counts(text, normalized=True)
    total = sum(tc.values())
    other = sum(n for s, n in tc.items() if s not in allowed)
    return "language_mix" if total and other / total > ctx.max_script_mix else None


_FENCED = re.compile(r"```.*?```", re.DOTALL)
MAX_CODE_COPIES = 3


def _restated_code_dropped(text: str) -> str:
    """The text without fenced code blocks that repeat an earlier one word for word: R1 writes
    its final program in the chain, says "so the final code is" and writes it again, and the
    answer gives it once more. The same program restated is no loop."""
    if "```" not in text:
        return text
    seen: Counter = Counter()

    def once(m: re.Match) -> str:
        key = " ".join(m.group(0).split())
        seen[key] += 1
        # Up to MAX_CODE_COPIES copies (chain, "the final code is", answer) are one program;
        # the copies after them are a loop on the block, counted as written.
        return " " if 1 < seen[key] <= MAX_CODE_COPIES else m.group(0)

    return _FENCED.sub(once, text)


def repetition(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    words = _restated_code_dropped(_text(rec)).split()
    n = ctx.repetition_ngram
    if len(words) < 4 * n:
        return None
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    repeated = len(grams) - len(set(grams))
    return "repetition" if repeated / len(grams) > ctx.max_repetition else None


def long_paragraph(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    longest = max((len(p) for p in _text(rec).split("\n\n")), default=0)
    return "long_paragraph" if longest > ctx.max_paragraph_chars else None


def code_block(rec: dict[str, Any], ctx: CheckContext) -> str | None:
    return "code_block" if "```" in _text(rec) else None


CHECKS: dict[str, Callable[[dict[str, Any], CheckContext], str | None]] = {
    "truncated": truncated,
    "think_tags": think_tags,
    "missing_reasoning": missing_reasoning,
    "empty": empty,
    "length": length,
    "language_mix": language_mix,
    "repetition": repetition,
    "long_paragraph": long_paragraph,
    "code_block": code_block,
}
DEFAULT_CHECKS = ["truncated", "think_tags", "empty", "length", "language_mix", "repetition"]
MATH_CHECKS = ["long_paragraph", "code_block"]  # R1's extra filters for math traces
