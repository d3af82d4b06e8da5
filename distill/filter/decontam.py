"""Benchmark decontamination: word n-gram overlap between training prompts and benchmark sets.

    distill filter t.jsonl --out kept.jsonl --decontam math500.jsonl --decontam openai/gsm8k:main@test

open-r1 and s1 use 8-grams; a prompt sharing any n-gram with a benchmark problem is dropped,
and the reject names the benchmark.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from distill.data import load_rows

_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int) -> set[int]:
    words = _WORD.findall(text.lower())
    if len(words) < n:  # a short problem: its whole text is its one n-gram
        return {zlib.crc32(" ".join(words).encode())} if words else set()
    return {zlib.crc32(" ".join(words[i : i + n]).encode()) for i in range(len(words) - n + 1)}


class Decontaminator:
    def __init__(self, sources: list[str], n: int = 8):
        self.n = n
        self.index: dict[int, str] = {}
        for src in sources:
            name, split = src, "test"
            if "@" in src:  # hub dataset with a split: name@test
                name, split = src.rsplit("@", 1)
            label = Path(name).stem if Path(name).exists() else name
            for row in load_rows(name, split=split):
                for g in ngrams(row.prompt, n):
                    self.index.setdefault(g, label)

    def hit(self, prompt: str) -> str | None:
        for g in ngrams(prompt, self.n):
            if g in self.index:
                return self.index[g]
        return None
