"""Cross-tokenizer kd: a local teacher whose tokenizer is not the student's (ULD / GOLD hybrid).

    distill train --data kept.jsonl --model S --output-dir out --method kd --teacher-model T --xtok hybrid

The two models never see the same token ids, but they read the same text. Both tokenize each
completion; `char_ends` gives where each token's text ends in it, and `align` cuts the text at
the boundaries both tokenizations share (GOLD's byte-offset walk, TRL `experimental/gold`): a
span is a run of student tokens and a run of teacher tokens covering exactly the same characters.

Which distributions are compared: at a span's first token both models predict the next token
after the *same text*, so their next-token distributions are over the same event ("what comes
next") and are compared in full. Inside a multi-token span the two condition on different partial
pieces of a word and nothing on the other side matches them, so those student positions get
cross-entropy only. GOLD instead scales the first position's distribution by the probabilities of
the span's later tokens ("observed" merge) or takes the last one ("bayesian"): both compare an
unnormalised vector whose scale depends on how each side happened to split the span, so a
perfect student (same distribution over text) is not at zero loss. The first-token rule is zero
exactly when the student predicts the text as the teacher does, and a same-tokenizer pair gets
every position (1:1 spans). The position right after the shared text (each side's end of turn,
which the two chat templates spell differently) follows the same text too and is compared.

The losses (per compared position, both sides at temperature T, padding rows of the
embeddings dropped):
- uld: Universal Logit Distillation (Boizard et al. 2024): L1 between the two probability
  vectors sorted in decreasing order, the shorter padded with zeros. Vocabulary-free.
- hybrid (GOLD): the tokens both vocabularies hold (same decoded text) are the same outcome:
  exact KL(teacher || student) over those tokens plus one bucket for all the others (the
  divergence of the two distributions coarsened, as loss.py's top-K rest bucket), plus ULD on
  the probabilities of the tokens only one side has. Zero when the student's distribution equals
  the teacher's mapped one.
"""

from __future__ import annotations

from typing import Any

from distill.errors import DistillError

XTOK = ("uld", "hybrid")

# =========================================================================== alignment


def char_ends(tok: Any, ids: list[int], text: str) -> list[int] | None:
    """Where each token's text ends in `text` (characters; non-decreasing), or None when the
    tokens do not spell `text` (another normalisation, an unknown token).

    A token that ends inside a character (a byte-level piece of a multi-byte character) ends
    where the previous one did: it has no characters of its own until the character closes.
    Decoding one token at a time from the last clean boundary keeps this linear; a decoder that
    reads a piece differently alone (SentencePiece drops a leading space) falls back to
    decoding the whole prefix."""
    ends: list[int] = []
    start, at = 0, 0  # last clean boundary: token index, character offset

    def clean(d: str, off: int) -> str:
        # a partial UTF-8 piece reads as U+FFFD: not text yet
        while d.endswith("\ufffd") and not text.startswith(d, off):
            d = d[:-1]
        return d

    for k in range(1, len(ids) + 1):
        raw = tok.decode(ids[start:k], clean_up_tokenization_spaces=False)
        piece = clean(raw, at)
        if text.startswith(piece, at):
            end = at + len(piece)
        else:
            whole = clean(tok.decode(ids[:k], clean_up_tokenization_spaces=False), 0)
            if not text.startswith(whole):
                return None
            end = len(whole)
        end = max(end, ends[-1] if ends else 0)
        ends.append(end)
        if not raw.endswith("\ufffd"):  # closed on a character boundary
            start, at = k, end
    return ends


def align(s_ends: list[int], t_ends: list[int]) -> list[tuple[int, int, int, int]]:
    """Spans (s_lo, s_hi, t_lo, t_hi): student tokens [s_lo, s_hi) and teacher tokens
    [t_lo, t_hi) covering the same characters, cut where both tokenizations have a boundary.

    Inputs are `char_ends` of two tokenizations of one text. Every token is in exactly one span
    and the spans' character ranges partition the text; a span covers at least one character
    unless both sides hold a zero-width piece there. Tokens after the last shared boundary form
    the last span (empty on one side when the other has tokens the first lacks)."""
    spans: list[tuple[int, int, int, int]] = []
    i = j = si = sj = 0
    lo = 0  # the character where the open span starts
    while i < len(s_ends) and j < len(t_ends):
        a, b = s_ends[i], t_ends[j]
        if a < b:
            i += 1
        elif b < a:
            j += 1
        else:
            i, j = i + 1, j + 1
            if a > lo:  # both end here: a shared boundary
                spans.append((si, i, sj, j))
                si, sj, lo = i, j, a
    if si < len(s_ends) or sj < len(t_ends):
        spans.append((si, len(s_ends), sj, len(t_ends)))
    return spans


def pair_positions(s_ends: list[int], t_ends: list[int], shared: int) -> list[tuple[int, int]]:
    """(student token, teacher token) pairs whose predictions follow the same text: the first
    token of each span inside the first `shared` characters (the text both completions spell),
    and the first token after it on both sides (each one's end of turn)."""
    s_n = next((k for k, e in enumerate(s_ends) if e > shared), len(s_ends))
    t_n = next((k for k, e in enumerate(t_ends) if e > shared), len(t_ends))
    common = set(s_ends[:s_n]) & set(t_ends[:t_n])
    cut = max(common | {0})
    # up to the first token of each side that reaches the last shared boundary
    s_n = next((k + 1 for k, e in enumerate(s_ends) if e == cut), 0) if cut else 0
    t_n = next((k + 1 for k, e in enumerate(t_ends) if e == cut), 0) if cut else 0
    pairs = [(s, t) for s, _, t, _ in align(s_ends[:s_n], t_ends[:t_n])]
    if s_n < len(s_ends) and t_n < len(t_ends) and cut == shared:
        pairs.append((s_n, t_n))
    return pairs


# =========================================================================== losses


def shared_vocab(student_tok: Any, teacher_tok: Any) -> tuple[list[int], list[int]]:
    """(student ids, teacher ids) of the tokens both vocabularies hold, matched by their decoded
    text: the same string is the same outcome whatever its id. Pieces that decode to U+FFFD (a
    partial UTF-8 byte: its meaning depends on its neighbours) or to nothing are left out, and a
    text held by several ids of one vocabulary is matched through its first id only."""

    def texts(tok: Any) -> dict[str, int]:
        n = len(tok)
        pieces = tok.convert_ids_to_tokens(list(range(n)))
        out: dict[str, int] = {}
        for i, (piece, text) in enumerate(
            zip(pieces, tok.batch_decode([[i] for i in range(n)]), strict=True)
        ):
            # SentencePiece reads "▁the" as "the" alone; in running text it is " the"
            if piece and piece.startswith("\u2581") and not text.startswith(" "):
                text = " " + text
            if text and "\ufffd" not in text:
                out.setdefault(text, i)
        return out

    s, t = texts(student_tok), texts(teacher_tok)
    both = sorted(s.keys() & t.keys(), key=lambda x: s[x])
    return [s[x] for x in both], [t[x] for x in both]


def uld_loss(student_lp: Any, teacher_lp: Any) -> Any:
    """Per-position ULD [N]: L1 between the sorted probability vectors (log-probs in, any two
    vocabulary sizes; the shorter is padded with zero probabilities)."""
    import torch.nn.functional as F

    s = student_lp.float().exp().sort(-1, descending=True).values
    t = teacher_lp.float().exp().sort(-1, descending=True).values
    width = max(s.shape[-1], t.shape[-1])
    s, t = F.pad(s, (0, width - s.shape[-1])), F.pad(t, (0, width - t.shape[-1]))
    return (s - t).abs().sum(-1)


def hybrid_loss(student_lp: Any, teacher_lp: Any, s_shared: Any, t_shared: Any) -> Any:
    """Per-position GOLD hybrid [N]: KL(teacher || student) over the shared tokens + one bucket
    for the rest, plus ULD between the probabilities of the tokens only one side holds."""
    import torch

    from distill.train.kd.loss import LOG_FLOOR, _log1mexp

    s_lp, t_lp = student_lp.float(), teacher_lp.float()
    s_in, t_in = s_lp[:, s_shared], t_lp[:, t_shared]
    s_all = torch.cat([s_in, _log1mexp(torch.logsumexp(s_in, -1)).unsqueeze(-1)], -1)
    t_all = torch.cat([t_in, _log1mexp(torch.logsumexp(t_in, -1)).unsqueeze(-1)], -1)
    s_all, t_all = s_all.clamp(min=LOG_FLOOR), t_all.clamp(min=LOG_FLOOR)
    kl = (t_all.exp() * (t_all - s_all)).sum(-1)
    s_out = torch.ones(s_lp.shape[-1], dtype=torch.bool, device=s_lp.device)
    t_out = torch.ones(t_lp.shape[-1], dtype=torch.bool, device=t_lp.device)
    s_out[s_shared], t_out[t_shared] = False, False
    if not s_out.any() and not t_out.any():
        return kl
    empty = s_lp.new_full((s_lp.shape[0], 1), float("-inf"))
    rest_s = s_lp[:, s_out] if s_out.any() else empty
    rest_t = t_lp[:, t_out] if t_out.any() else empty
    return kl + uld_loss(rest_s, rest_t)


def xtok_loss(kind: str, student_lp: Any, teacher_lp: Any, s_shared: Any, t_shared: Any) -> Any:
    if kind not in XTOK:
        raise DistillError(f"unknown --xtok '{kind}' (have: {', '.join(XTOK)})")
    if kind == "uld":
        return uld_loss(student_lp, teacher_lp)
    return hybrid_loss(student_lp, teacher_lp, s_shared, t_shared)
