"""Exact and near-duplicate detection.

Exact: the text after unicode NFKC, case folding and whitespace collapsing. Near: MinHash over
word n-gram shingles (datasketch, vectorised `update_batch`) with LSH banding; an LSH candidate
counts only if its estimated Jaccard similarity reaches the threshold, so banding never rejects
on its own. Callers insert in preference order (verified-correct first), which is what makes
the surviving copy deterministic and a correct one; a `scope` per text (the filter: its prompt)
confines duplicates to texts of the same scope.
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
        (text if normalized else normalize(text)).encode("utf-8", "surrogatepass"), digest_size=12
    ).digest()


def lsh_bands(num_perm: int, threshold: float) -> tuple[int, int]:
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
    m.update_batch([g.encode("utf-8", "surrogatepass") for g in grams])
    return m.hashvalues.astype(np.uint32)


def near_duplicates(
    sigs: list[bytes],
    threshold: float = 0.8,
    num_perm: int = 64,
    scopes: list[int] | None = None,
) -> list[bool]:
    """For signatures in preference order: is each one a near copy of an earlier one that was
    itself kept (of the same scope, where `scopes` are given)? Same decisions as inserting one
    by one into an LSH index of kept texts (one index per scope).

    LSH banding finds candidates (a shared band), and a candidate counts only if the estimated
    Jaccard reaches `threshold`. Buckets are numbered with numpy up front (a few bytes per
    trace and band) instead of a dict per band, which at 1M traces held ~1.5 GB.
    """
    n = len(sigs)
    if n == 0:
        return []
    b, r = lsh_bands(num_perm, threshold)
    mat = np.frombuffer(b"".join(sigs), dtype=np.uint32).reshape(n, num_perm)
    # The scope is one more column of every band: texts of two scopes never share a bucket.
    scope = np.asarray(scopes if scopes is not None else [0] * n, dtype=np.uint32).reshape(n, 1)
    groups = np.empty((n, b), dtype=np.int32)
    # Every kept signature of a bucket, newest first: last_kept[k][bucket] heads a chain that
    # goes on through next_kept[i, k] (-1 ends it). Only the first kept one was checked before,
    # so a near copy of a later kept text that shared its buckets with dissimilar ones was kept.
    last_kept = []
    next_kept = np.full((n, b), -1, dtype=np.int32)
    for k in range(b):
        cols = np.hstack([scope, mat[:, k * r : (k + 1) * r]])
        band = np.ascontiguousarray(cols).view(np.dtype((np.void, 4 * (r + 1))))
        _, inverse = np.unique(band.ravel(), return_inverse=True)
        groups[:, k] = inverse.ravel()
        last_kept.append(np.full(int(inverse.max()) + 1, -1, dtype=np.int64))
    dup = [False] * n
    for i in range(n):
        row = groups[i].tolist()
        seen: set[int] = set()
        for k, g in enumerate(row):
            j = int(last_kept[k][g])
            while j >= 0 and not dup[i]:
                if j not in seen:
                    seen.add(j)
                    dup[i] = float(np.mean(mat[j] == mat[i])) >= threshold
                j = int(next_kept[j, k])
            if dup[i]:
                break
        if not dup[i]:
            for k, g in enumerate(row):
                next_kept[i, k] = last_kept[k][g]
                last_kept[k][g] = i
    return dup
