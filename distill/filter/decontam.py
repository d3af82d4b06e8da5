"""Benchmark decontamination: word n-gram overlap between training prompts and benchmark sets.

    distill filter t.jsonl --out kept.jsonl --decontam math500.jsonl --decontam openai/gsm8k:main@test

open-r1 and s1 use 8-grams; a prompt sharing any n-gram with a benchmark problem is dropped,
and the reject names the benchmark. A benchmark problem shorter than n words (MATH-500 has
several: "Compute $\\dbinom{31}{28}$.") is contamination wherever its whole text appears in a
prompt, a template's words around it or not (s1 and open-r1 make no n-gram of it and miss it).

Words are compared after NFKC and lower-casing, with LaTeX's spellings of one thing made one
(\\dfrac, \\tfrac -> \\frac; \\dbinom -> \\binom; \\left, \\right dropped; a_{n} and a_n both
"a n"): a training set's copy of a benchmark problem is often typeset another way.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from functools import lru_cache
from pathlib import Path

from distill.data import PROMPT_FIELDS, folder_files, has_splits, iter_source, load_rows
from distill.errors import DistillError

_WORD = re.compile(r"[^\W_]+")  # "_" splits: a_n is "a n", as a_{n} is
# \frac12 is \frac{1}{2}: the command is its own word whatever follows (as \dfrac12's is)
_LATEX_SAME = re.compile(r"\\(?:[dt]?(frac|binom)|(?:left|right|[bB]igg?)(?![A-Za-z]))")


@lru_cache(maxsize=1)
def _raised() -> re.Pattern[str]:
    """Runs of superscripts, subscripts and vulgar fractions (those NFKC writes as plain digits
    and letters), built once from the Unicode tables: NFKC alone made 10⁶ the number 106, 2³ 23
    and 1½ 11/2, so a prompt about 106 cells was a benchmark's 10⁶ (false contamination)."""
    kinds = ("<super>", "<sub>", "<fraction>")
    chars = [
        chr(i) for i in range(0x80, 0x110000) if unicodedata.decomposition(chr(i)).startswith(kinds)
    ]
    return re.compile("[" + "".join(chars) + "]+")


def _words(text: str) -> list[str]:
    text = _LATEX_SAME.sub(lambda m: f" {m.group(1)} " if m.group(1) else " ", text)
    if not text.isascii():  # 10⁶ is 10^6 ("10 6"), x₁₅ is x_{15}, 1½ is 1 1/2
        text = _raised().sub(lambda m: f" {m.group()} ", text)
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _hash(words: list[str]) -> int:
    return zlib.crc32(" ".join(words).encode("utf-8", "surrogatepass"))


def _grams(words: list[str], n: int) -> set[int]:
    return {_hash(words[i : i + n]) for i in range(len(words) - n + 1)}


def ngrams(text: str, n: int) -> set[int]:
    words = _words(text)
    if len(words) < n:  # a short problem: its whole text is its one n-gram
        return {_hash(words)} if words else set()
    return _grams(words, n)


def problem_field(src: str, fields: list[str]) -> str:
    """The column of a --decontam set that holds its problems: problem, question, ... as
    generate reads them, else the same name capitalised (AIME 2024's `Problem`, GPQA's
    `Question`). `distill filter` has no --prompt-field to name it."""
    for name in PROMPT_FIELDS:
        if name in fields:
            return name
    lower = {f.lower(): f for f in reversed(fields)}
    for name in PROMPT_FIELDS:
        if name in lower:
            return lower[name]
    raise DistillError(
        f"--decontam {src}: no problem column ({', '.join(PROMPT_FIELDS)}) among its columns "
        f"({', '.join(fields) or 'none'}); give the benchmark's problems one of those names"
    )


def decontam_label(src: str) -> str:
    """What a --decontam set is called in rejects and the report: a file's stem (math500.jsonl
    -> math500), a hub dataset's name without its @split."""
    name = _name_and_split(src)[0]
    return Path(name).stem if Path(name).exists() else name


def _name_and_split(src: str) -> tuple[str, str]:
    # NAME@SPLIT, else the test split; a local path that holds an @ is that path
    if "@" in src and not Path(src).exists():
        name, split = src.rsplit("@", 1)
        return name, split
    return src, "test"


def decontam_source(src: str) -> tuple[str, str]:
    """(name, split) of a --decontam set: NAME@SPLIT, else the test split. A source without
    splits (one file) is read whole: under an @SPLIT other than test it is refused, as --split
    is (the whole file stood for its `@train`)."""
    name, split = _name_and_split(src)
    if split != "test" and not has_splits(name):
        raise DistillError(
            f"--decontam {src}: {name} has no splits (it is one set), so all of it would be "
            f"read; drop '@{split}', or name a folder or hub dataset that has a '{split}' split"
        )
    return name, split


def decontam_files(src: str) -> list[str]:
    """The local files a --decontam set is read from: the file (`file.jsonl@test` too), the
    files of a folder's split; none for a hub dataset. What filter stamps in its manifest (an
    edited benchmark filters again) and keeps from being one of its outputs."""
    name, split = _name_and_split(src)
    path = Path(name)
    if path.is_file():
        return [name]
    return folder_files(path, split) if path.is_dir() else []


class Decontaminator:
    def __init__(self, sources: list[str], n: int = 8):
        self.n = n
        self.index: dict[int, str] = {}
        # benchmark problems of fewer than n words, by their length: m -> {hash of text: label}
        self.short: dict[int, dict[int, str]] = {}
        for src in sources:
            name, split = decontam_source(src)  # hub dataset or folder with a split: name@test
            label = decontam_label(src)
            # None: load_rows says "no rows"; a folder's missing split names --decontam
            first = next(iter_source(name, split, flag=f"--decontam {src}"), None)
            field = problem_field(src, [str(f) for f in first]) if first is not None else None
            read = 0
            # The problem is its own id and gold: a benchmark's ids (repeated in two sets merged
            # into one file) are nothing to decontamination, and filter has no --id-field.
            rows = load_rows(
                name,
                split=split,
                prompt_field=field,
                answer_field=field,
                id_field=field,
                skip_no_text=True,
            )
            for row in rows:
                words = _words(row.prompt)
                if not words:
                    continue
                read += 1
                if len(words) < n:
                    self.short.setdefault(len(words), {}).setdefault(_hash(words), label)
                    continue
                for g in _grams(words, n):
                    self.index.setdefault(g, label)
            if not read:  # every row left out (null or not text): it would decontaminate nothing
                raise DistillError(
                    f"--decontam {src}: no problem as text in any row (null or not text); name a "
                    "benchmark whose problems are text, or leave it out of --decontam"
                )

    def hit(self, prompt: str) -> str | None:
        words = _words(prompt)
        for g in _grams(words, self.n):
            if g in self.index:
                return self.index[g]
        for m, texts in self.short.items():  # a short problem anywhere in the prompt
            for g in _grams(words, m):
                if g in texts:
                    return texts[g]
        return None
