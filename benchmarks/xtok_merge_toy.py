"""Which merge of a multi-token span does cross-tokenizer kd want? Exact models, no training.

    .venv/bin/python benchmarks/xtok_merge_toy.py

Text is i.i.d. words. The teacher's tokenizer holds one token per word; the student's splits three
of the five ("cat " -> "cat" + " ", "cats " -> "cat" + "s ", "dog " -> "dog" + " "). The "exact"
student is the same text distribution under the student's tokens, so a rule that is right gives
it 0 and every other student more. Per rule, the expected loss over one word (one aligned span):

- first:    the span's first-position distributions (distill/train/kd/xtok.py's rule)
- observed: GOLD's: the first position's distribution times the later tokens' probabilities
- span:     the span text's probability on both sides (sum of the span's log-probs), Bernoulli KL
- project:  the teacher's distribution moved onto the first student token of each token's text,
            exact KL (not built)

first/observed are scored with ULD and the hybrid (distill.train.kd.xtok's losses).
"""

from __future__ import annotations

import math

import torch

from distill.train.kd.xtok import hybrid_loss, uld_loss

WORDS = ["the ", "cat ", "cats ", "a ", "dog "]  # the teacher's vocabulary
Q = torch.tensor([0.35, 0.2, 0.15, 0.2, 0.1])
S = ["the ", "cat", " ", "s ", "a ", "dog"]  # the student's vocabulary
SPLIT = {w: [w] for w in WORDS} | {
    "cat ": ["cat", " "],
    "cats ": ["cat", "s "],
    "dog ": ["dog", " "],
}
S_SHARED, T_SHARED = torch.tensor([0, 4]), torch.tensor([0, 3])  # "the ", "a "

EXACT_FIRST = {"the ": 0.35, "cat": 0.35, "a ": 0.2, "dog": 0.1}
EXACT_NEXT = {"cat": {" ": 0.2 / 0.35, "s ": 0.15 / 0.35}, "dog": {" ": 1.0}}
STUDENTS = {
    "exact": (EXACT_FIRST, EXACT_NEXT),
    "first token off": ({"the ": 0.25, "cat": 0.45, "a ": 0.2, "dog": 0.1}, EXACT_NEXT),
    "second token off": (EXACT_FIRST, {"cat": {" ": 0.5, "s ": 0.5}, "dog": {" ": 1.0}}),
    "uniform": (
        {"the ": 0.25, "cat": 0.25, "a ": 0.25, "dog": 0.25},
        {"cat": {" ": 0.5, "s ": 0.5}, "dog": {" ": 1.0}},
    ),
}


def probs(d: dict[str, float]) -> torch.Tensor:
    v = torch.full((len(S),), 1e-30)
    for k, p in d.items():
        v[S.index(k)] = p
    return v / v.sum()


def scores(first: dict, nxt: dict) -> dict[str, float]:
    p0, t_lp = probs(first), torch.log(Q)[None]
    out: dict[str, float] = {}
    for merge in ("first", "observed"):
        for kind in ("uld", "hybrid"):
            total = 0.0
            for w, qw in zip(WORDS, Q.tolist(), strict=True):
                v = p0.clone()
                if merge == "observed":
                    for t in SPLIT[w][1:]:
                        v = v * probs(nxt[SPLIT[w][0]])[S.index(t)]
                s_lp = torch.log(v.clamp_min(1e-30))[None]
                loss = (
                    uld_loss(s_lp, t_lp)
                    if kind == "uld"
                    else hybrid_loss(s_lp, t_lp, S_SHARED, T_SHARED)
                )
                total += qw * float(loss)
            out[f"{merge}/{kind}"] = total
    total = 0.0
    for w, qw in zip(WORDS, Q.tolist(), strict=True):
        toks = SPLIT[w]
        ps = float(p0[S.index(toks[0])]) * math.prod(
            float(probs(nxt[toks[0]])[S.index(t)]) for t in toks[1:]
        )
        total += qw * (qw * math.log(qw / ps) + (1 - qw) * math.log((1 - qw) / (1 - ps)))
    out["span/kl"] = total
    proj = torch.zeros(len(S))
    for w, qw in zip(WORDS, Q.tolist(), strict=True):
        proj[S.index(SPLIT[w][0])] += qw
    out["project/kl"] = float((proj * (torch.log(proj.clamp_min(1e-30)) - torch.log(p0))).sum())
    return out


if __name__ == "__main__":
    for name, (first, nxt) in STUDENTS.items():
        row = "  ".join(f"{k}={v:.4f}" for k, v in scores(first, nxt).items())
        print(f"{name:17s} {row}")
