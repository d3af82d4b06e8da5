"""Exact and near-duplicate detection.

Exact: the text after unicode NFKC, case folding and whitespace collapsing. Near: MinHash over
word n-gram shingles (datasketch, vectorised `update_batch`) with LSH banding; an LSH candidate
counts only if its estimated Jaccard similarity reaches the threshold, so banding never rejects
on its own. Callers insert in preference order (verified-correct first), which is what makes
the surviving copy deterministic and a correct one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from functools import lru_cache

import numpy as np

_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def exact_key(text: str, normalized: bool = False) -> bytes:
    return hashlib.blake2b(
        (text if normalized else normalize(text)).encode(), digest_size=12
    ).digest()


def _bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows) whose S-curve threshold (1/b)^(1/r) is closest to `threshold`."""
    best = (1, num_perm)
    for b in range(1, num_perm + 1):
        if num_perm % b:
            continue
        r = num_perm // b
        if abs((1 / b) ** (1 / r) - threshold) < abs((1 / best[0]) ** (1 / best[1]) - threshold):
            best = (b, r)
    return best


@lru_cache(maxsize=8)
def _template(num_perm: int):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, hashfunc=zlib.crc32)


def signature(
    text: str, shingle: int = 5, num_perm: int = 64, normalized: bool = False
) -> np.ndarray:
    """MinHash signature over word shingles. crc32 (C, stable across processes) hashes the
    shingles; the permutations are made once per process, not per text."""
    from datasketch import MinHash

    t = _template(num_perm)
    words = (text if normalized else normalize(text)).split()
    grams = [" ".join(words[i : i + shingle]) for i in range(max(1, len(words) - shingle + 1))]
    m = MinHash(
        num_perm=num_perm, hashfunc=zlib.crc32, permutations=t.permutations, scheme=t.scheme
    )
    m.update_batch([g.encode() for g in grams])
    return m.hashvalues.astype(np.uint32)


class NearDupIndex:
    """LSH over MinHash signatures of kept texts; `add` says whether a near copy was kept.

    Signatures come as uint32 arrays or their bytes. Each band table maps a 64-bit hash of the
    band to the first kept index: a hash collision only adds a candidate, which is then judged
    on the estimated Jaccard like any other, so it can never reject on its own.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 64):
        self.threshold = threshold
        self.num_perm = num_perm
        self.b, self.r = _bands(num_perm, threshold)
        self.tables: list[dict[int, int]] = [{} for _ in range(self.b)]
        self.sigs: list[bytes] = []

    def add(self, sig: np.ndarray | bytes) -> int | None:
        """Index of the kept near-duplicate, or None (then `sig` is kept and indexed)."""
        raw = sig.tobytes() if isinstance(sig, np.ndarray) else sig
        step = 4 * self.r
        keys = [hash(raw[i * step : (i + 1) * step]) for i in range(self.b)]
        arr = None
        seen: set[int] = set()
        for table, key in zip(self.tables, keys):
            j = table.get(key)
            if j is not None and j not in seen:
                seen.add(j)
                if arr is None:
                    arr = np.frombuffer(raw, dtype=np.uint32)
                other = np.frombuffer(self.sigs[j], dtype=np.uint32)
                if float(np.mean(other == arr)) >= self.threshold:
                    return j
        idx = len(self.sigs)
        self.sigs.append(raw)
        for table, key in zip(self.tables, keys):
            table.setdefault(key, idx)
        return None
