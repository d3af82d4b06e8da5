"""distill/filter/dedup.py: exact keys, MinHash signatures and the near-duplicate decisions.

Which copy survives in the filter stage (verified-correct first) is tested through
`distill filter` in tests/test_filter.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from distill.filter.dedup import exact_key, lsh_bands, near_duplicates, normalize, signature


def test_exact_key_ignores_case_whitespace_and_unicode_forms():
    base = exact_key("Let me think.  The sum is four.")
    assert exact_key("LET ME THINK. THE SUM IS FOUR.") == base
    assert exact_key(" Let me think.\n\tThe   sum is four. ") == base
    assert exact_key("\uff2cet me think. The sum is four.") == base  # fullwidth L (NFKC)
    assert exact_key("Let me think. The sum is five.") != base
    # Already normalised text is hashed as is.
    assert exact_key(normalize("A  B"), normalized=True) == exact_key("a b")
    assert exact_key("A  B", normalized=True) != exact_key("a b")


def test_signature_is_deterministic_within_and_across_processes():
    text = " ".join(f"word{i}" for i in range(50))
    sig = signature(text)
    assert sig.dtype == np.uint32 and sig.shape == (64,)
    assert np.array_equal(signature(text), sig)
    assert np.array_equal(signature(text.upper()), sig)  # normalised first
    # crc32 shingle hashes and seeded permutations: a parallel worker (or a rerun) agrees.
    code = (
        "import sys; from distill.filter.dedup import signature; "
        "sys.stdout.write(signature(sys.argv[1]).tobytes().hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, text], capture_output=True, text=True, check=True
    ).stdout
    assert out == sig.tobytes().hex()


def test_signature_agreement_tracks_the_jaccard_of_the_shingles():
    words = [f"w{i}" for i in range(300)]
    a = signature(" ".join(words), num_perm=256)
    one_word = signature(" ".join(words[:299] + ["changed"]), num_perm=256)  # Jaccard ~0.98
    reordered = signature(" ".join(reversed(words)), num_perm=256)  # no shared 5-gram
    assert np.mean(a == one_word) > 0.9
    assert np.mean(a == reordered) < 0.05
    # A text shorter than one shingle is one shingle, not an empty signature.
    assert np.array_equal(signature("two words"), signature("Two  Words"))
    assert not np.array_equal(signature("two words"), signature("two other"))


def test_lsh_bands_split_the_permutations_near_the_threshold():
    for num_perm in (64, 128):
        for threshold in (0.5, 0.8, 0.9):
            b, r = lsh_bands(num_perm, threshold)
            assert b * r == num_perm
            assert abs((1 / b) ** (1 / r) - threshold) < 0.1
    assert lsh_bands(64, 0.8) == (8, 8)


def sig_agreeing(base: np.ndarray, agree: int, salt: int) -> bytes:
    """A signature equal to `base` in its first `agree` positions and different after."""
    out = base.copy()
    out[agree:] = base[agree:] + np.uint32(1000 + salt)
    return out.tobytes()


BASE = np.arange(64, dtype=np.uint32) * np.uint32(7919)


def test_near_duplicate_at_the_threshold_counts_just_below_does_not():
    # threshold 0.75 with 64 permutations: 48 equal values is exactly 0.75.
    a = BASE.tobytes()
    at = sig_agreeing(BASE, 48, 1)
    below = sig_agreeing(BASE, 47, 2)
    assert near_duplicates([a, at, below], threshold=0.75) == [False, True, False]
    assert near_duplicates([a, below], threshold=0.7) == [False, True]


def test_exact_copies_are_near_duplicates_and_the_first_copy_is_kept():
    a, b = BASE.tobytes(), sig_agreeing(BASE, 0, 3)
    assert near_duplicates([a, b, a, a, b]) == [False, False, True, True, True]
    assert near_duplicates([]) == []


def test_a_copy_of_a_dropped_copy_is_judged_against_the_kept_ones_only():
    # b is a near copy of a, c a near copy of b but not of a: b was dropped, so c stays
    # (chains of small edits do not drop texts that are far from every kept one).
    a = BASE.copy()
    b = BASE.copy()
    b[60:] += np.uint32(5)  # agrees with a on 60
    c = b.copy()
    c[44:60] += np.uint32(9)  # agrees with b on 48 (0.75), with a on 44 (0.69)
    sigs = [a.tobytes(), b.tobytes(), c.tobytes()]
    assert near_duplicates(sigs, threshold=0.75) == [False, True, False]
    # Without a in front, b is kept and c is its near copy.
    assert near_duplicates(sigs[1:], threshold=0.75) == [False, True]
