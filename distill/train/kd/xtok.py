"""Cross-tokenizer kd and onpolicy: a teacher whose tokenizer is not the student's (ULD / GOLD hybrid).

    distill train --data kept.jsonl --model S --output-dir out --method kd --teacher-model T --xtok hybrid
    distill train --data builtin:arithmetic --model S --output-dir out --method onpolicy --teacher-model T

On policy (XTokTeacher.sampled) the student's sampled tokens are decoded to the text they write
after its prompt, as a kept reply's are read (sample_text: Mistral's `[/INST]` + `▁The` is
" The"); the teacher reads the prompt in its own chat template, then the reply in that text (the
student's template's own text around it left out: around) as its own template writes a reply
(its ' ' after `[/INST]`, its end of turn where the student stopped), tokenized as its whole
chat (examples.ids_after), and the same alignment and loss apply to the sampled tokens. A sample is any
id sequence the student drew, a split no tokenizer would make included: `char_ends` reads it
as decoded. The loss is the aligned ULD / hybrid, not GKD's generalized JSD (no `beta` here:
the two distributions live on different vocabularies).

The two models never see the same token ids, but they read the same text. Both tokenize each
completion; `char_ends` gives where each token's text ends in it, and `align` cuts the text at
the boundaries both tokenizations share (GOLD's byte-offset walk, TRL `experimental/gold`): a
span is a run of student tokens and a run of teacher tokens covering exactly the same characters.

Which distributions are compared (the merge of a multi-token span): at a span's first token both
models predict the next token after the *same text*, so their next-token distributions are
compared there, in full. Inside a multi-token span the two condition on different partial pieces
of a word and nothing on the other side matches them: those student positions get cross-entropy
only. GOLD instead scales the first position's distribution by the probabilities of the span's
later tokens ("observed") or takes the last one ("bayesian"): an unnormalised vector whose
scale depends on how each side happened to split the span. Measured on exact models of one text
distribution under two tokenizers (benchmarks/xtok_merge_toy.py: i.i.d. words, the teacher one
token a word, the student splitting three of five): neither rule is at zero for the exact
student (first-token 0.300 uld / 0.300 hybrid, observed 0.366 / 0.330), observed is further
from it, and with the hybrid both rank a uniform student below the exact one (0.276 / 0.328):
the ULD term rewards copying the teacher's sorted masses, which another vocabulary cannot hold
as the same tokens. That bias is ULD's, not the merge's. Two rules are exact there (0 for the
exact student, above 0 for the others): the span text's probability on both sides (chain rule:
the sum of the span's log-probs; a Bernoulli KL per span, 0.000 / 0.011 / 0.022) and the teacher's
distribution projected onto the student's vocabulary (each teacher token's mass on the first
student token of its text; exact KL 0.000 / 0.030 / 0.099) - not built here (`--xtok` is GOLD's
pair). A same-tokenizer pair gets every position (1:1 spans). The position right after the
last shared boundary (each side's end of turn, spelled differently by the two chat templates)
follows the same text too and is compared, and there the two templates' first end-of-turn
tokens (gemma's `<end_of_turn>`, SmolLM2's `<|im_end|>`) are one shared outcome
(XTokTeacher.pair_ends): spelled apart, ULD's rank comparison let any token the teacher lacks
stand in for the student's stop.

The losses (per compared position, both sides at temperature T, padding rows of the
embeddings dropped):
- uld: Universal Logit Distillation (Boizard et al. 2024): L1 between the two probability
  vectors sorted in decreasing order, the shorter padded with zeros. Vocabulary-free.
- hybrid (GOLD): the tokens both vocabularies hold (same decoded text) are the same outcome:
  exact KL(teacher || student) over those tokens plus one bucket for all the others (the
  divergence of the two distributions coarsened, as loss.py's top-K rest bucket), plus ULD on
  the probabilities of the tokens only one side has. Zero when the student's distribution equals
  the teacher's mapped one (same mass on each shared token, the same masses in some order on the
  others). Not TRL's GOLDTrainer hybrid term for term: that one takes the generalized JSD (its
  `beta`) of the shared tokens' probabilities as they are (no rest bucket) and weighs it and
  the ULD part by the share of the teacher's vocabulary matched (w * JSD + (1 - w) * ULD, w =
  matched / teacher vocab); here both parts count whole. `uld` is GOLD's / Boizard et al.'s:
  sorted, zero-padded, L1 summed over the vocabulary. Where the teacher splits the student's
  next token ("box" + "ed" for "boxed"), the shared tokens that token's text properly starts
  with are no shared outcome there: compared by rank with the rest (Prefixes; measured: without
  it gemma-3 learned `\\boxbox{`, make smoke-xtok's xtok_kd 0.010 against sft's 0.450). The same
  the other way round, where the student splits the teacher's next token ("1" + "2" + "3" under
  Llama-3's "123"): the exact KL there pushed the student's own next token "1" towards the
  teacher's ~0 on a lone "1" and let any unshared token take its mass
  (tests/test_xtok_prefix_teacher.py).
"""

from __future__ import annotations

from typing import Any

from distill.errors import DistillError
from distill.logprobs import char_ends, piece_texts
from distill.train.kd.data import fit_completion, kept_traces, prompt_lead

XTOK = ("uld", "hybrid")

# =========================================================================== alignment


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
    token of each span up to the last boundary both sides have within the first `shared`
    characters (the text both completions spell), and the first token after that boundary on
    both sides. The completions' texts part at their end-of-turn markers (`<|im_end|>` vs
    `<|eot_id|>`, which may even share a first character or two): the end of turn is then that
    last pair, each side's prediction after the same text."""
    s_n = next((k for k, e in enumerate(s_ends) if e > shared), len(s_ends))
    t_n = next((k for k, e in enumerate(t_ends) if e > shared), len(t_ends))
    cut = max(set(s_ends[:s_n]) & set(t_ends[:t_n]) | {0})
    # up to the first token of each side that reaches the last shared boundary
    s_n = next((k + 1 for k, e in enumerate(s_ends) if e == cut), 0) if cut else 0
    t_n = next((k + 1 for k, e in enumerate(t_ends) if e == cut), 0) if cut else 0
    pairs = [(s, t) for s, _, t, _ in align(s_ends[:s_n], t_ends[:t_n])]
    if s_n < len(s_ends) and t_n < len(t_ends):
        pairs.append((s_n, t_n))
    return pairs


def lead_shift(s_text: str, t_text: str) -> tuple[int, int]:
    """(student, teacher) characters at the start of two completion texts that the other side's
    prompt holds: a template that opens the think block itself (DeepSeek-R1-Distill's
    `<think>\\n` generation prompt) renders the completion without it, another template with it
    (and an example without reasoning as the empty block's close, `\\n</think>\\n\\n`, that the
    other template does not write). The side whose text alone starts with the tag drops it and
    the whitespace after it (as much as the other text does not start with); (0, 0) otherwise."""
    import re

    for a, b, flip in ((s_text, t_text, False), (t_text, s_text, True)):
        m = re.match(r"\s*(<think>)?\s*(</think>)?", a)
        tag = m.group(1) or m.group(2)
        if not tag or b.lstrip().startswith(tag):
            continue
        # a cut after either tag and some of the whitespace after it: where the rest is b's
        cuts = [
            k
            for lo in (m.end(1), m.end(2))
            if lo >= 0
            for k in range(lo, lo + len(a[lo:]) - len(a[lo:].lstrip()) + 1)
        ]
        d = max(cuts, key=lambda k: (common_prefix(a[k:], b), -k))
        if common_prefix(a[d:], b):
            return (0, d) if flip else (d, 0)
    # One template trims the content (Llama-3.x's and Gemma's `content | trim`), the other
    # writes its leading whitespace: both read the same text after it (compared as nothing, all
    # of it paired nothing, 1 token of 8)
    ds, dt = (len(x) - len(x.lstrip()) for x in (s_text, t_text))
    if s_text[:ds] != t_text[:dt] and common_prefix(s_text[ds:], t_text[dt:]):
        return ds, dt
    return 0, 0


def pair_texts(
    s_ends: list[int], t_ends: list[int], s_text: str, t_text: str
) -> list[tuple[int, int]]:
    """pair_positions of two completions' tokens (`char_ends` of `s_text`, `t_text`) after the
    lead one side's prompt holds (lead_shift): those tokens pair nothing, the rest pair where
    both follow the same text."""
    ds, dt = lead_shift(s_text, t_text)
    if not (ds or dt):
        return pair_positions(s_ends, t_ends, common_prefix(s_text, t_text))
    s0 = sum(e <= ds for e in s_ends)  # tokens within the lead (ends are non-decreasing)
    t0 = sum(e <= dt for e in t_ends)
    pairs = pair_positions(
        [e - ds for e in s_ends[s0:]],
        [e - dt for e in t_ends[t0:]],
        common_prefix(s_text[ds:], t_text[dt:]),
    )
    # a token that starts inside the lead (its text runs past it) follows other text
    straddles = (s0 and s_ends[s0 - 1] != ds) or (t0 and t_ends[t0 - 1] != dt)
    straddles = straddles or (not s0 and ds) or (not t0 and dt)
    return [(s + s0, t + t0) for s, t in pairs if not (straddles and s == 0)]


def sample_lead(tok: Any, row: Any, at: list[int]) -> str:
    """The `<think>` the student's prompt ends with (prompt_lead of its last few tokens) before
    an on-policy sample whose completion positions are `at` (its row of token ids `row`)."""
    if not at:
        return ""
    dec = dict(skip_special_tokens=False, clean_up_tokenization_spaces=False)
    return prompt_lead(tok.decode(row[max(0, at[0] - 8) : at[0]].tolist(), **dec))


def after_lead(content: str, lead: str) -> str:
    """An assistant turn's `content` as read after a prompt that ends with `lead` (prompt_lead):
    without the think opening that prompt holds already."""
    if not lead or not content.lstrip().startswith("<think>"):
        return content
    if content.startswith(lead):
        return content[len(lead) :]
    rest = content.lstrip()[len("<think>") :]
    ws = lead[len("<think>") :]  # the whitespace the prompt holds after it
    return rest[len(ws) :] if rest.startswith(ws) else rest.lstrip()


def sample_text(tok: Any, row: Any, at: list[int]) -> str:
    """The text the student's sampled tokens (positions `at` of its row of ids `row`) write
    after its prompt, read as the offline path reads a kept reply's tokens (char_ends of the text
    the template writes after the generation prompt). A SentencePiece decoder strips the first
    token's space decoded alone: after Mistral's and Llama-2's `[/INST]` a reply's `▁The` reads
    "The" alone and " The" after the prompt (the space the template writes, the reply's first
    character), so the tokens are decoded after the prompt's last ones (alone where the prompt's
    text is no prefix of the two read together)."""
    dec = dict(skip_special_tokens=False, clean_up_tokenization_spaces=False)
    c = row[at].tolist() if at else []
    alone = tok.decode(c, **dec)
    head = row[max(0, at[0] - 8) : at[0]].tolist() if at else []
    if not head:
        return alone
    before, both = tok.decode(head, **dec), tok.decode(head + c, **dec)
    after = both[len(before) :] if both.startswith(before) else alone
    if after != alone and head[-1] in getattr(tok, "added_tokens_decoder", {}):
        # after a control token the reply is a text of its own to the tokenizer, and a legacy
        # normalizer prepends a '▁' to it that its decoder strips from a text decoded alone
        # (Llama-2's tokenizer.json under Mistral v0.3's [/INST]: the chat's '[/INST] the' is
        # '▁▁' 't' 'he', " the"): the reading whose own tokens these are
        def ids(text: str) -> list[int]:
            return tok(text, add_special_tokens=False)["input_ids"]

        if ids(after) != c and ids(alone) == c:
            return alone
    return after


def around(renderer: Any, ex: Any) -> list[str]:
    """[the whitespace `renderer`'s template writes between the generation prompt and a reply
    (Renderer.lead: Mistral's and Llama-2's ' ' after `[/INST]`), the text its end of turn writes
    before its stop token (Llama-2's ' ' of ' </s>')]: the template's text around the reply in
    what the model writes (completion_text writes both around the body; '' where the template
    writes none, and for an alpaca or raw text row)."""
    if renderer.fmt != "r1" or (ex.raw and not renderer.chat):
        return ["", ""]
    end = renderer.suffix
    dec = dict(skip_special_tokens=False, clean_up_tokenization_spaces=False)
    cuts = [end.find(t) for t in (renderer.tok.decode([i], **dec) for i in renderer.stops) if t]
    cuts = [k for k in cuts if k >= 0]
    return [renderer.lead, end[: min(cuts)] if cuts else ""]


def sample_reply(tok: Any, row: Any, at: list[int], marks: Any, stopped: bool) -> tuple[str, str]:
    """(the sample's text, the reply in it another template reads): sample_text of all its
    tokens, and of those before its stop token where it stopped, without the text around
    the reply (sample_body)."""
    s_text = sample_text(tok, row, at)
    text = sample_text(tok, row, at[:-1]) if stopped else s_text
    return s_text, sample_body(text, marks, stopped)


def sample_body(text: str, marks: Any, stopped: bool) -> str:
    """A sample's text without the template's text around the reply (`marks`: around()); as
    the other template reads the reply (its own lead and end of turn written around it)."""
    lead, end = marks[0], marks[1]
    body = text[len(lead) :] if lead and text.startswith(lead) else text
    return body[: -len(end)] if stopped and end and body.endswith(end) else body


# =========================================================================== losses


def vocab_texts(tok: Any, texts: list[str] | None = None) -> dict[str, int]:
    """Text -> id of a vocabulary's tokens that spell text alone (piece_texts, or `texts` when
    computed already; pieces of a partial UTF-8 character and empty ones left out). A text
    several ids spell is the id the tokenizer writes for it: SentencePiece's byte-fallback
    pieces (`<0x34>`, before the real pieces in Gemma and Llama-2) spell "4" too, not the "4" the
    model predicts; else the first id that is no `<0xNN>` byte piece."""
    out: dict[str, int] = {}
    if texts is None:
        texts = piece_texts(tok, list(range(len(tok))))
    several: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if text and "\ufffd" not in text:
            if text in out:
                several.setdefault(text, [out[text]]).append(i)
            else:
                out[text] = i
    for text, ids in several.items():
        own = tok(text, add_special_tokens=False)["input_ids"]
        pieces = tok.convert_ids_to_tokens(ids)
        plain = [i for i, p in zip(ids, pieces, strict=True) if not _byte_piece(p)]
        out[text] = own[0] if len(own) == 1 and own[0] in ids else (plain or ids)[0]
    return out


def _byte_piece(piece: Any) -> bool:
    """A SentencePiece byte-fallback piece (`<0x0A>`)."""
    return (
        isinstance(piece, str) and len(piece) == 6 and piece.startswith("<0x") and piece[-1] == ">"
    )


def shared_vocab(
    student_tok: Any, teacher_tok: Any, texts: list[str] | None = None, t_texts: Any = None
) -> tuple[list[int], list[int]]:
    """(student ids, teacher ids) of the tokens both vocabularies hold, matched by their decoded
    text: the same string is the same outcome whatever its id. Pieces that decode to U+FFFD (a
    partial UTF-8 byte: its meaning depends on its neighbours) or to nothing are left out, and a
    text held by several ids of one vocabulary is matched through its first id only. `texts` /
    `t_texts`: the student's / the teacher's piece_texts, when computed already."""

    s, t = vocab_texts(student_tok, texts), vocab_texts(teacher_tok, t_texts)
    both = sorted(s.keys() & t.keys(), key=lambda x: s[x])
    return [s[x] for x in both], [t[x] for x in both]


class Prefixes:
    """Which shared tokens a student token's text properly starts with: at a position whose next
    student token is "boxed", a teacher that splits the word ("box" + "ed") puts its mass on
    "box" - the same text, started. Matched as the outcome "box" (the hybrid's exact KL), that
    mass teaches the student to write "box" where its own tokenization writes "boxed", and then
    to go on from a token it never saw there (`\\boxbox{`). At that position such tokens are no
    shared outcome: their mass joins the ULD comparison of the tokens only one side holds, where
    the teacher's "box" is compared with the student's "boxed" by rank. The same holds the
    other way round (the student's "1" where the teacher's next token is "123"): a Prefixes of
    the teacher's texts and its shared ids gives the same columns for the teacher's next token.
    And for the longer next token itself where both vocabularies hold it (`split`): SmolLM2
    writes "\\n\\n" before a word as "\\n" + "\\n", gemma-3 as "\\n\\n"; matched, the teacher's ~0
    on "\\n\\n" there pushed the student's own next token down (a student writing any token
    the teacher lacks scored better than the exact one)."""

    def __init__(self, texts: list[str], s_shared: list[int]):
        self.texts = texts  # the student's piece_texts
        self.index = {texts[i]: k for k, i in enumerate(s_shared)}  # text -> shared column
        self.cache: dict[int, list[int]] = {}

    def text(self, token: int) -> str:
        return self.texts[token] if 0 <= token < len(self.texts) else ""

    def of(self, token: int) -> list[int]:
        """Shared columns whose text is a proper prefix of the student token's text."""
        if token not in self.cache:
            text = self.text(token)
            got = (self.index.get(text[:n]) for n in range(1, len(text)))
            self.cache[token] = [k for k in got if k is not None]
        return self.cache[token]

    def split(self, token: int, other: Prefixes, t_token: int) -> list[int]:
        """The shared column of the longer of the two next tokens (the student's `token`, the
        teacher's `t_token`) where the other one's text properly starts it: one side splits it."""
        a, b = self.text(token), other.text(t_token)
        if b and len(a) > len(b) and a.startswith(b):
            k = self.index.get(a)
        elif a and len(b) > len(a) and b.startswith(a):
            k = other.index.get(b)
        else:
            return []
        return [] if k is None else [k]

    def rows(self, tokens: Any, other: Prefixes | None = None, others: Any = None) -> Any:
        """[N] student next-token ids -> [N, D] shared columns to drop at each position (-1 pads);
        with `other` (the teacher's Prefixes) and `others` ([N] its next-token ids there), the
        columns either next token properly starts with, and the longer one where one side splits
        it (split)."""
        import torch

        lists = [self.of(int(t)) for t in tokens.tolist()]
        if other is not None:
            both = zip(lists, tokens.tolist(), others.tolist(), strict=True)
            lists = [
                list(dict.fromkeys(x + other.of(int(t)) + self.split(int(s), other, int(t))))
                for x, s, t in both
            ]
        width = max((len(x) for x in lists), default=0)
        out = torch.full((len(lists), width), -1, dtype=torch.long)
        for i, x in enumerate(lists):
            out[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        return out.to(tokens.device)


def uld_loss(student_lp: Any, teacher_lp: Any) -> Any:
    """Per-position ULD [N]: L1 between the sorted probability vectors (log-probs in, any two
    vocabulary sizes; the shorter is padded with zero probabilities)."""
    import torch.nn.functional as F

    s = student_lp.float().exp().sort(-1, descending=True).values
    t = teacher_lp.float().exp().sort(-1, descending=True).values
    width = max(s.shape[-1], t.shape[-1])
    s, t = F.pad(s, (0, width - s.shape[-1])), F.pad(t, (0, width - t.shape[-1]))
    return (s - t).abs().sum(-1)


def hybrid_loss(
    student_lp: Any, teacher_lp: Any, s_shared: Any, t_shared: Any, drop: Any = None
) -> Any:
    """Per-position GOLD hybrid [N]: KL(teacher || student) over the shared tokens + one bucket
    for the rest, plus ULD between the probabilities of the tokens only one side holds.
    drop [N, D]: shared columns that are no shared outcome at that position (Prefixes.rows, -1
    pads): left out of the KL on both sides and compared with the unshared tokens instead."""
    import torch

    from distill.train.kd.loss import LOG_FLOOR

    def with_rest(lp: Any) -> Any:  # the shared tokens' log-probs + log(1 - their mass)
        rest = torch.log(-torch.expm1(torch.logsumexp(lp, -1).clamp(max=-1e-7)))
        return torch.cat([lp, rest.unsqueeze(-1)], -1).clamp(min=LOG_FLOOR)

    s_lp, t_lp = student_lp.float(), teacher_lp.float()
    s_sh, t_sh = s_lp[:, s_shared], t_lp[:, t_shared]
    s_d = t_d = None
    if drop is not None and bool((drop >= 0).any()):
        valid, cols = drop >= 0, drop.clamp(min=0)
        s_d = s_sh.gather(-1, cols).masked_fill(~valid, float("-inf"))
        t_d = t_sh.gather(-1, cols).masked_fill(~valid, float("-inf"))
        # a column past the last shared one takes the pads' writes
        hit = torch.zeros((s_sh.shape[0], s_sh.shape[1] + 1), dtype=torch.bool, device=s_sh.device)
        hit.scatter_(-1, torch.where(valid, drop, s_sh.shape[1]), True)
        s_sh = s_sh.masked_fill(hit[:, :-1], float("-inf"))
        t_sh = t_sh.masked_fill(hit[:, :-1], float("-inf"))
    s_all, t_all = with_rest(s_sh), with_rest(t_sh)
    kl = (t_all.exp() * (t_all - s_all)).sum(-1)
    s_out = torch.ones(s_lp.shape[-1], dtype=torch.bool, device=s_lp.device)
    t_out = torch.ones(t_lp.shape[-1], dtype=torch.bool, device=t_lp.device)
    s_out[s_shared], t_out[t_shared] = False, False
    if not s_out.any() and not t_out.any() and s_d is None:
        return kl
    empty = s_lp.new_full((s_lp.shape[0], 1), float("-inf"))
    rest_s = s_lp[:, s_out] if s_out.any() else empty
    rest_t = t_lp[:, t_out] if t_out.any() else empty
    if s_d is not None:
        rest_s, rest_t = torch.cat([rest_s, s_d], -1), torch.cat([rest_t, t_d], -1)
    return kl + uld_loss(rest_s, rest_t)


def xtok_loss(
    kind: str, student_lp: Any, teacher_lp: Any, s_shared: Any, t_shared: Any, drop: Any = None
) -> Any:
    if kind not in XTOK:
        raise DistillError(f"unknown --xtok '{kind}' (have: {', '.join(XTOK)})")
    if kind == "uld":
        return uld_loss(student_lp, teacher_lp)
    return hybrid_loss(student_lp, teacher_lp, s_shared, t_shared, drop)


# =========================================================================== training


class XTokTeacher:
    """A local teacher of another tokenizer (distill.teachers.scorers.LocalTeacher with `tok`):
    its own token ids per example, the vocabulary map, and the aligned positions' counts."""

    def __init__(self, local: Any, student_tok: Any, kind: str):
        import torch

        if kind not in XTOK:
            raise DistillError(f"unknown --xtok '{kind}' (have: {', '.join(XTOK)})")
        self.local, self.tok, self.kind = local, local.tok, kind
        self.name = local.name
        # on policy: the student's samples are decoded with its tokenizer and stop ids
        self.s_tok, self.s_stops = student_tok, set()
        self.s_vocab, self.t_vocab = len(student_tok), len(local.tok)
        texts = piece_texts(student_tok, list(range(len(student_tok))))
        t_texts = piece_texts(local.tok, list(range(len(local.tok))))
        s_ids, t_ids = shared_vocab(student_tok, local.tok, texts, t_texts)
        self.s_shared, self.t_shared = torch.tensor(s_ids), torch.tensor(t_ids)
        # the shared tokens the student's / the teacher's next token properly starts with
        self.prefixes, self.t_prefixes = Prefixes(texts, s_ids), Prefixes(t_texts, t_ids)
        self.shared = len(s_ids)
        self.compared = self.scored = 0  # completion positions: with a teacher / all (whole run)
        self._window = [0, 0]  # the same since the last log line
        self.ends: dict[tuple[str, str], tuple[int, int] | None] = {}  # pair_ends' pairs

    def pair_ends(self, s_end: str, t_end: str) -> None:
        """The two chat templates' end of turn (`s_end` / `t_end`: the text each writes after a
        completion) as one more shared outcome: the student's first token of its end of turn
        (gemma's `<end_of_turn>`, one of its stops) is the teacher's (SmolLM2's `<|im_end|>`). Spelled apart, the
        two were tokens only one side holds, compared by rank alone: a student putting its stop
        mass on any token the teacher lacks (`}dollars`) scored as well as one that stops, so
        kd/onpolicy with no cross-entropy taught the student not to stop (measured: make
        smoke-xtok's onpolicy at lmbda 0.5 answered `\\boxed{47}dollarsdollars...`, 0.07)."""
        import torch

        if (s_end, t_end) in self.ends:
            return
        s_id, t_id = first_id(self.s_tok, s_end), first_id(self.tok, t_end)
        pair = None
        if s_id is not None and t_id is not None and (not self.s_stops or s_id in self.s_stops):
            taken = bool((self.s_shared == s_id).any() or (self.t_shared == t_id).any())
            if not taken:  # a text both spell alike (`</s>` in both) is matched already
                self.s_shared = torch.cat([self.s_shared, torch.tensor([s_id])])
                self.t_shared = torch.cat([self.t_shared, torch.tensor([t_id])])
                pair = (s_id, t_id)
        self.ends[(s_end, t_end)] = pair

    def rows(self, inputs: Any, mask: Any, chunk: int, lm_head: Any) -> tuple[tuple, Any]:
        """(teacher rows at the student's scored positions, paired flag) and the per-chunk loss
        function, in the shape DistillTrainer._teacher_rows gives its chunked loss."""
        import torch

        ids, attn = inputs["xtok_ids"], inputs["xtok_attention_mask"]
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        if chunk:
            out, head = self.local.hidden(ids, attn, pos), lm_head(self.local.model)
        else:
            out, head = self.local.logits(ids, attn, pos), (lambda x: x)
        where = inputs["xtok_pos"].to(ids.device)[:, 1:][mask]
        batch = torch.arange(mask.shape[0], device=ids.device)[:, None].expand_as(mask)[mask]
        t_rows = out[batch, where.clamp(min=0)]
        paired = where >= 0
        nxt = inputs["labels"].to(ids.device)[:, 1:][mask]  # the student's next token there
        # the teacher's own next token there (its logits at `where` predict where + 1)
        t_nxt = ids[batch, (where + 1).clamp(min=0, max=ids.shape[1] - 1)]
        n, k = int(paired.numel()), int(paired.sum())
        self.scored, self.compared = self.scored + n, self.compared + k
        self._window = [self._window[0] + k, self._window[1] + n]
        s_shared, t_shared = self.s_shared.to(ids.device), self.t_shared.to(ids.device)

        # weight [N] (several teachers, multi.py): each position's weight of this teacher's
        # loss; positions of weight 0 are not computed. None: every paired position, weight 1.
        def loss(
            logits: Any, temp: float, t_x: Any, on: Any, nxt: Any, t_nxt: Any, weight: Any = None
        ) -> Any:
            if weight is not None:
                on = on & (weight > 0)
            if not on.any():
                return logits.sum() * 0.0
            with torch.no_grad():
                t_logits = head(t_x[on])
            # embedding rows past each tokenizer are padding, never tokens (Qwen's 151,936 rows)
            s_lp = torch.log_softmax(logits[on][:, : self.s_vocab].float() / temp, -1)
            t_lp = torch.log_softmax(t_logits[:, : self.t_vocab].float() / temp, -1)
            drop = None
            if self.kind == "hybrid":
                drop = self.prefixes.rows(nxt[on], self.t_prefixes, t_nxt[on])
            per = xtok_loss(self.kind, s_lp, t_lp, s_shared, t_shared, drop)
            return per.sum() if weight is None else (per * weight[on]).sum()

        return (t_rows, paired, nxt, t_nxt), loss

    def sampled(self, ids: Any, labels: Any, inputs: Any) -> dict[str, Any]:
        """The teacher's side of an on-policy batch: each sampled completion decoded to text and
        read by the teacher's tokenizer after its own rendering of the prompt (`xtok_prompt`,
        its text `xtok_prompt_text`), as its template writes a reply there (its lead,
        `xtok_around`'s third) and its end of turn (`xtok_end`) where the student stopped ->
        xtok_ids, xtok_attention_mask, xtok_pos as XTokCollator gives them for a kept
        completion. A sample the teacher cannot spell back (build checked its tokenizer on the
        data's text) pairs no position."""
        import torch

        from distill.examples import ids_after

        width = ids.shape[1]
        t_rows, pos_rows = [], []
        for i in range(ids.shape[0]):
            at = (labels[i] != -100).nonzero().flatten().tolist()
            c = ids[i, at].tolist()
            tp = inputs["xtok_prompt"][i, : int(inputs["xtok_prompt_len"][i])].tolist()
            stopped = bool(c) and c[-1] in self.s_stops
            # as the offline path reads a kept reply: the text the student's template writes
            # after its prompt ('[/INST]' + ' The': `▁The` reads " The", not "The"), the
            # teacher's its own reply after its prompt: without the student's space and end,
            # with the teacher's (its template's ' ' after `[/INST]`, marks[2]), its ids those
            # of its whole chat after its prompt (ids_after), as theirs.encode gives a kept one
            marks = inputs["xtok_around"][i] if "xtok_around" in inputs else ["", "", ""]
            s_text, text = sample_reply(self.s_tok, ids[i], at, marks, stopped)
            # the think block one side's prompt opened (lead_shift), read by the other as text
            s_lead = sample_lead(self.s_tok, ids[i], at)
            t_prompt = inputs["xtok_prompt_text"][i]
            content = after_lead(s_lead + text, prompt_lead(t_prompt))
            t_text = marks[2] + content + (inputs["xtok_end"][i] if stopped else "") if c else ""
            tc = ids_after(self.tok, tp, t_prompt, t_text, special=None) if t_text else []
            pos = [-1] * width
            s_ends, t_ends = char_ends(self.s_tok, c, s_text), char_ends(self.tok, tc, t_text)
            if c and s_ends is not None and t_ends is not None:
                for s, t in pair_texts(s_ends, t_ends, s_text, t_text):
                    pos[at[0] + s] = len(tp) + t - 1
            t_rows.append(tp + tc)
            pos_rows.append(pos)
        t_width = max(len(r) for r in t_rows)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        t_ids = torch.full((len(t_rows), t_width), pad, dtype=torch.long)
        t_attn = torch.zeros((len(t_rows), t_width), dtype=torch.long)
        for i, r in enumerate(t_rows):
            t_ids[i, : len(r)], t_attn[i, : len(r)] = torch.tensor(r), 1
        return {
            "xtok_ids": t_ids.to(ids.device),
            "xtok_attention_mask": t_attn.to(ids.device),
            "xtok_pos": torch.tensor(pos_rows, dtype=torch.long, device=ids.device),
        }

    def window_share(self) -> float | None:
        """The share of scored completion positions compared with the teacher since the last call."""
        k, n = self._window
        self._window = [0, 0]
        return round(k / n, 4) if n else None


def common_prefix(a: str, b: str) -> int:
    """How many characters two texts share from their start."""
    return next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def unreadable(where: str, who: str, tok: Any, text: str, ids: list[int]) -> DistillError:
    """The one-line refusal of a tokenizer that does not read its tokens back as `text`."""
    back = tok.decode(ids)
    at = common_prefix(text, back)
    return DistillError(
        f"{where}: {who} does not read its tokens back as the text "
        f"({text[at : at + 12]!r} reads back as {back[at : at + 12]!r}: it normalises "
        "text); cross-tokenizer kd/onpolicy compares the two models on the same characters: pick "
        "a teacher whose tokenizer keeps text as it is"
    )


def no_calls(ex: Any, where: str) -> None:
    """Refuse an example whose reply calls a tool: each template writes the call in its own
    syntax (Qwen2.5's <tool_call>{...}</tool_call>, Llama-3.1's bare JSON), so the student's and
    the teacher's completions are not one text to compare."""
    if ex.calls:
        raise DistillError(
            f"{where}: its reply calls a tool, which the student's and the teacher's chat "
            "templates write each in its own syntax, so a teacher of another tokenizer cannot "
            "score the student's text: drop the row, or use a teacher of the student's tokenizer"
        )


def end_text(renderer: Any, ex: Any) -> str:
    """The text a renderer writes after a completion (its template's end of turn, else EOS)."""
    if renderer.fmt == "r1" and not (ex.raw and not renderer.chat):
        return renderer.suffix
    return renderer.tok.eos_token or ""


def bos_added(renderer: Any, ex: Any) -> bool:
    """Whether `renderer` reads `ex`'s prompt with its tokenizer's special tokens (BOS): an
    alpaca or raw text prompt, which no chat template writes BOS into (Renderer.prompt_ids); a
    rendered chat's template writes its own. What a served teacher is asked for the text
    (ServedTeacher.score_text's `special`)."""
    return renderer.fmt == "alpaca" or bool(ex.raw and renderer.fmt == "r1" and not renderer.chat)


def first_id(tok: Any, text: str) -> int | None:
    """The first token id of `text` in `tok` (no special tokens added), None for no text."""
    ids = tok(text, add_special_tokens=False)["input_ids"] if text else []
    return ids[0] if ids else None


def xtok_dataset(
    cfg: Any,
    tok: Any,
    model_eos: Any,
    teacher: XTokTeacher,
    origins: Any = None,
    more: Any = None,
    only: Any = None,
) -> tuple[Any, Any]:
    """SFT's examples (the student's rendering and mask) + the teacher's own token ids of each
    example and, per student completion token, the teacher position whose prediction follows the
    same text (-1: none) -> (dataset, collator). On policy each example also keeps the teacher's
    prompt ids and end of turn (`XTokTeacher.sampled` puts the student's samples after them);
    a prompt source (no completions) gets those alone. Several teachers (multi.py): `origins`,
    a list, gets each kept example's index; `more` (example, where -> columns) adds columns to a
    prompt source's rows (their route); `only` (example index -> bool, routed): the examples this
    teacher reads, the others kept unaligned (pairs nothing, refused for nothing).

    The teacher reads the example rendered with its own chat template: an instruct teacher
    predicts well only after the turn markers it was trained on, and the completion's text (the
    part compared) is the same under both templates; only the turn markers differ, and those are
    never compared token for token."""
    from datasets import Dataset

    from distill.examples import Renderer, load_examples
    from distill.train.kd.data import prompt_dataset, prompt_source

    t_eos = teacher.local.model.generation_config.eos_token_id
    train_on = "last"
    mine = Renderer(tok, cfg.format, model_eos, train_on, cfg.chat)
    theirs = Renderer(teacher.tok, cfg.format, t_eos, train_on, cfg.chat, who="teacher")
    teacher.s_stops = set(mine.stops)
    onpolicy = cfg.method == "onpolicy"
    pad = teacher.tok.pad_token_id
    pad = pad if pad is not None else teacher.tok.eos_token_id or 0
    collator = XTokCollator(tok.pad_token_id, pad)
    who = f"teacher tokenizer '{teacher.name}'"

    def prompt_cols(ex: Any, where: str) -> dict[str, Any]:
        # the samples are new text: the teacher must spell back the text it will be shown (a
        # prompt routed to another teacher is none of its; where: '{data} row {i + 1}')
        text = ex.prompt[-1]["content"] if ex.prompt else ex.instruction
        ids = teacher.tok(text, add_special_tokens=False)["input_ids"]
        ours = only is None or only(int(where.rsplit(" row ", 1)[1]) - 1)
        if ours and char_ends(teacher.tok, ids, text) is None:
            raise unreadable(where, who, teacher.tok, text, ids)
        t_prompt = theirs.prompt_text(ex)
        tp = theirs.prompt_ids(ex, t_prompt)
        teacher.pair_ends(end_text(mine, ex), end_text(theirs, ex))
        cols = {"xtok_prompt": tp, "xtok_end": end_text(theirs, ex), "xtok_ids": tp, "xtok_pos": []}
        cols.update(
            xtok_prompt_text=t_prompt, xtok_around=[*around(mine, ex), around(theirs, ex)[0]]
        )
        return cols if more is None else {**cols, **more(ex, where)}

    if onpolicy and prompt_source(cfg):
        dataset, _ = prompt_dataset(cfg, tok, model_eos, prompt_cols)
        print(
            f"onpolicy: teacher '{teacher.name}' has another tokenizer ({teacher.t_vocab:,} "
            f"tokens, {teacher.shared:,} spelled as the student's): each sample is decoded and "
            f"read by the teacher, --xtok {teacher.kind} at the boundaries both share"
        )
        return dataset, collator
    exs = list(load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers))
    cols: dict[str, list] = {"input_ids": [], "completion_mask": [], "xtok_ids": [], "xtok_pos": []}
    if onpolicy:
        cols.update(xtok_prompt=[], xtok_end=[], xtok_around=[], xtok_prompt_text=[])
    compared = scored = 0
    for i, ex in enumerate(exs):
        if not ex.trains:  # every assistant turn of weight 0: left out, as SFT counts it
            continue
        where = ex.source.get("where") or f"{cfg.data} example {i + 1}"
        no_calls(ex, where)
        (p, full), (tp, tc) = mine.encode(ex), theirs.encode(ex)
        c = fit_completion(p, full, cfg)
        if c is None:
            continue
        teacher.pair_ends(end_text(mine, ex), end_text(theirs, ex))
        pairs = []
        if only is None or only(i):  # routed elsewhere: never read by this teacher
            s_text, t_text = mine.completion_text(ex), theirs.completion_text(ex)
            s_ends, t_ends = char_ends(tok, full, s_text), char_ends(teacher.tok, tc, t_text)
            if s_ends is None:
                raise unreadable(where, f"student tokenizer '{cfg.model}'", tok, s_text, full)
            if t_ends is None:
                raise unreadable(where, who, teacher.tok, t_text, tc)
            pairs = pair_texts(s_ends, t_ends, s_text, t_text)
        if len(c) < len(full):  # cut to max_length: the teacher reads as far as it is compared
            tc = tc[: max((t + 1 for s, t in pairs if s < len(c)), default=0)]
        pos = [-1] * len(c)
        for s, t in pairs:
            if s < len(c):
                pos[s] = len(tp) + t - 1  # the teacher's logits at t - 1 predict its token t
        compared += sum(x >= 0 for x in pos)
        scored += len(c)
        if origins is not None:
            origins.append(i)
        cols["input_ids"].append(p + c)
        cols["completion_mask"].append([0] * len(p) + [1] * len(c))
        cols["xtok_ids"].append(tp + tc)
        cols["xtok_pos"].append(pos)
        if onpolicy:
            cols["xtok_prompt"].append(tp)
            cols["xtok_end"].append(end_text(theirs, ex))
            cols["xtok_around"].append([*around(mine, ex), around(theirs, ex)[0]])
            cols["xtok_prompt_text"].append(theirs.prompt_text(ex))
    if not cols["input_ids"]:
        raise DistillError(f"{cfg.data}: no training examples left for {cfg.method}")
    print(
        f"{cfg.method}: teacher '{teacher.name}' has another tokenizer ({teacher.t_vocab:,} tokens, "
        f"{teacher.shared:,} spelled as the student's): --xtok {teacher.kind} on "
        f"{compared:,} of {scored:,} completion tokens ({compared / max(1, scored):.1%}) at "
        "boundaries both tokenizations share"
        + (" (the kept traces; the student's samples are aligned as they come)" if onpolicy else "")
    )
    return Dataset.from_dict(cols), collator


class XTokCollator:
    """The kd Collator's batch + the teacher's own ids (right-padded) and, at each student token
    position, the teacher position paired with it (-1: none)."""

    def __init__(self, pad_id: int, teacher_pad_id: int):
        from distill.train.kd.data import Collator

        self.base, self.teacher_pad_id = Collator(pad_id), teacher_pad_id

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = self.base(feats)
        b, width = batch["input_ids"].shape
        t_width = max(len(f["xtok_ids"]) for f in feats)
        t_ids = torch.full((b, t_width), self.teacher_pad_id, dtype=torch.long)
        t_attn = torch.zeros((b, t_width), dtype=torch.long)
        where = torch.full((b, width), -1, dtype=torch.long)
        for i, f in enumerate(feats):
            t_ids[i, : len(f["xtok_ids"])] = torch.tensor(f["xtok_ids"])
            t_attn[i, : len(f["xtok_ids"])] = 1
            if f["xtok_pos"]:  # a prompt alone (on policy from a prompt source) has none
                first = f["completion_mask"].index(1)
                where[i, first : first + len(f["xtok_pos"])] = torch.tensor(f["xtok_pos"])
        batch.update(xtok_ids=t_ids, xtok_attention_mask=t_attn, xtok_pos=where)
        if "xtok_prompt" in feats[0]:  # on policy: what XTokTeacher.sampled puts samples after
            p_width = max(len(f["xtok_prompt"]) for f in feats)
            prompt = torch.full((b, p_width), self.teacher_pad_id, dtype=torch.long)
            for i, f in enumerate(feats):
                prompt[i, : len(f["xtok_prompt"])] = torch.tensor(f["xtok_prompt"])
            batch["xtok_prompt"] = prompt
            batch["xtok_prompt_len"] = torch.tensor([len(f["xtok_prompt"]) for f in feats])
            batch["xtok_end"] = [f["xtok_end"] for f in feats]
            batch["xtok_prompt_text"] = [f["xtok_prompt_text"] for f in feats]
            batch["xtok_around"] = [f["xtok_around"] for f in feats]
        return batch


# =========================================================================== top-K by text

UNMAPPED = -2  # a teacher top-K token whose text no student token spells (-1: no entry)


def topk_xtok_loss(
    kind: str, student_lp: Any, t_ids: Any, t_lps: Any, temp: float, s_skip: Any = None
) -> Any:
    """Per-position loss [N] against a teacher known by its top-K alone (stored side files, a
    served teacher), each listed token mapped to the student id that spells its text.

    student_lp [N, V] (at temperature T); t_ids [N, K]: student ids, UNMAPPED, or -1 (padding);
    t_lps [N, K]: the teacher's log-probs at T = 1, softened as loss.py's bucket_logprobs does
    (p^(1/T) over the K and the rest, renormalised). s_skip [V]: student ids left out of the
    sorted comparisons (its byte pieces: the teacher's are left out of its list, TopKXTok).
    - uld: L1 between the teacher's listed probabilities and the student's largest as many,
      both sorted, plus the difference of what the two leave over.
    - hybrid: exact KL over the listed tokens the student spells + one bucket for all else,
      plus ULD between the listed tokens it does not spell and the student's largest as many
      among its ids not matched here.
    Zero when the student's distribution is the teacher's mapped one (the same mass on each
    mapped token, the teacher's other listed masses on some other ids of its own, T = 1): every
    token outside a top-K has no more mass than those in it."""
    import torch

    from distill.train.kd.loss import LOG_FLOOR

    def log1mexp(x: Any) -> Any:
        return torch.log(-torch.expm1(x.clamp(max=-1e-7)))

    valid = t_ids != -1
    k = t_ids.shape[-1]
    t_lp = t_lps.float().masked_fill(~valid, float("-inf"))
    t_all = torch.cat([t_lp, log1mexp(torch.logsumexp(t_lp, -1)).unsqueeze(-1)], -1) / temp
    t_all = t_all - torch.logsumexp(t_all, -1, keepdim=True)
    t_p = t_all[:, :k].exp().masked_fill(~valid, 0.0)
    s_lp = student_lp.float()
    s_p = s_lp.exp()
    j = torch.arange(k, device=t_ids.device)

    def sorted_l1(s_probs: Any, t_probs: Any, n: Any) -> Any:  # over the first n of each, sorted
        s_top = s_probs.topk(min(k, s_probs.shape[-1]), -1).values
        s_top = torch.nn.functional.pad(s_top, (0, k - s_top.shape[-1]))
        t_sorted = t_probs.sort(-1, descending=True).values
        first = j[None, :] < n[:, None]
        return ((s_top - t_sorted).abs() * first).sum(-1), (s_top * first).sum(-1)

    s_free = s_p if s_skip is None else s_p.masked_fill(s_skip, 0.0)
    if kind == "uld":
        l1, s_mass = sorted_l1(s_free, t_p, valid.sum(-1))
        return l1 + ((1 - s_mass) - (1 - t_p.sum(-1))).abs()
    mapped, unmapped = t_ids >= 0, t_ids == UNMAPPED
    ids = t_ids.clamp(min=0)
    q = s_lp.gather(-1, ids).masked_fill(~mapped, float("-inf"))
    p = t_all[:, :k].masked_fill(~mapped, float("-inf"))
    big_p = torch.cat([p, log1mexp(torch.logsumexp(p, -1)).unsqueeze(-1)], -1).clamp(min=LOG_FLOOR)
    big_q = torch.cat([q, log1mexp(torch.logsumexp(q, -1)).unsqueeze(-1)], -1).clamp(min=LOG_FLOOR)
    kl = (big_p.exp() * (big_p - big_q)).sum(-1)
    if not unmapped.any():
        return kl
    # the mapped ids alone (the others' clamped 0 would overwrite a mapped id 0, "!" in GPT-2's
    # and Qwen's vocabularies); a column past the last takes them
    taken = torch.zeros((s_p.shape[0], s_p.shape[1] + 1), dtype=torch.bool, device=s_p.device)
    taken = taken.scatter(-1, torch.where(mapped, ids, s_p.shape[1]), True)[:, :-1]
    l1, _ = sorted_l1(
        s_free.masked_fill(taken, 0.0), t_p.masked_fill(~unmapped, 0.0), unmapped.sum(-1)
    )
    return kl + l1


class TopKXTok(XTokTeacher):
    """A teacher of another tokenizer known by its top-K token texts, not its model: the side
    files of `distill generate --logprobs K` (offsets and texts recorded) or a served teacher.
    Its rows are the collator's `teacher_ids` (mapped to student ids) / `teacher_logprobs`.

    Listed tokens whose text is a partial UTF-8 piece (U+FFFD) are left out of the list, and
    the student's byte pieces out of the sorted comparisons: alone they are no text to match,
    and a server's top_logprobs, keyed by text, merge them all into one entry (the list would
    then miss some of the teacher's best, which the sorted comparison would see). Their mass
    stays in the rest bucket on both sides."""

    def __init__(self, student_tok: Any, kind: str, name: str):
        import torch

        if kind not in XTOK:
            raise DistillError(f"unknown --xtok '{kind}' (have: {', '.join(XTOK)})")
        self.local, self.tok, self.kind, self.name = None, None, kind, name
        self.s_tok, self.s_stops = student_tok, set()
        self.s_vocab, self.t_vocab = len(student_tok), None  # the teacher's size is not known
        texts = self.texts = piece_texts(student_tok, list(range(len(student_tok))))
        self.by_text = vocab_texts(student_tok, texts)
        self.s_skip = torch.tensor([not t or "\ufffd" in t for t in texts])
        self.shared = 0  # distinct listed teacher texts the student spells
        self._texts: dict[str, bool] = {}
        self.ends: dict[tuple[str, str], tuple[int, int] | None] = {}  # pair_ends' pairs
        self.compared = self.scored = 0
        self._window = [0, 0]

    def pair_ends(self, s_end: str, t_end: str, t_tok: Any = None) -> None:
        """XTokTeacher.pair_ends for a teacher known by its listed texts: the text of the
        teacher's first end-of-turn token (`t_tok` reads it; without the teacher's tokenizer
        it is not known) is the student's first end-of-turn token."""
        if t_tok is None or (s_end, t_end) in self.ends:
            return
        s_id, t_id = first_id(self.s_tok, s_end), first_id(t_tok, t_end)
        pair = None
        if self.s_stops and s_id not in self.s_stops:  # its end of turn starts with no stop
            s_id = None
        if s_id is not None and t_id is not None and self.pair_text(t_tok.decode([t_id]), s_id):
            pair = (s_id, t_id)
        self.ends[(s_end, t_end)] = pair

    def pair_text(self, text: str, s_id: int) -> bool:
        """A listed text no student token spells is the student token `s_id` (the teacher's end
        of turn, the student's); False where the text is spelled already (matched as it is)."""
        if not text or text in self.by_text:
            return False
        self.by_text[text] = s_id
        return True

    def student_ids(self, rows: list[list[str]]) -> list[list[int]]:
        """The top-K texts of each position -> student ids (UNMAPPED: no student token spells
        it, or an earlier entry of the row already took that id; -1: a partial UTF-8 piece)."""
        out = []
        for row in rows:
            seen: set[int] = set()
            ids = []
            for x in row:
                i = self.by_text.get(x) if x and "\ufffd" not in x else None
                if x not in self._texts:
                    self._texts[x] = i is not None
                    self.shared += i is not None
                if not x or "\ufffd" in x:
                    ids.append(-1)  # no text alone: left to the rest bucket
                    continue
                ids.append(UNMAPPED if i is None or i in seen else i)
                seen.add(ids[-1])
            out.append(ids)
        return out

    def at(self, ids: list[int], texts: list[str], nxt: int, t_word: str = "") -> list[int]:
        """One position's mapped top-K (student_ids' row) where the student's next token is
        `nxt` and the teacher's own is `t_word` (its text): a listed token whose text either
        properly starts with (the teacher's "box" where the student writes "boxed", the student's
        "1" where the teacher writes "123"), and the longer of the two where the other's text
        properly starts it (Prefixes.split), is no shared outcome there (Prefixes): UNMAPPED,
        compared by rank. A teacher token that ends inside a character has no text of its own
        (char_ends): its callers give the text up to the piece that closes that character (`ĠÃ`
        of " ü": " ü"), so the student's " " is no shared outcome there, as the local
        teacher's Prefixes of `ĠÃ`'s " \ufffd" has it."""
        word = self.texts[nxt] if 0 <= nxt < len(self.texts) else ""
        short, long = sorted((word, t_word), key=len)
        split = long if short and len(short) < len(long) and long.startswith(short) else None

        def started(x: str) -> bool:
            return x == split or any(len(x) < len(w) and w.startswith(x) for w in (word, t_word))

        return [UNMAPPED if i >= 0 and started(x) else i for i, x in zip(ids, texts, strict=True)]

    def rows(self, inputs: Any, mask: Any, chunk: int, lm_head: Any) -> tuple[tuple, Any]:
        import torch

        dev = inputs["input_ids"].device
        t_ids = inputs["teacher_ids"].to(dev)[:, 1:][mask]
        t_lps = inputs["teacher_logprobs"].to(dev)[:, 1:][mask]
        paired = (t_ids != -1).any(-1)
        n, k = int(paired.numel()), int(paired.sum())
        self.scored, self.compared = self.scored + n, self.compared + k
        self._window = [self._window[0] + k, self._window[1] + n]

        def loss(logits: Any, temp: float, ti: Any, tl: Any, weight: Any = None) -> Any:
            on = (ti != -1).any(-1)  # weight: as XTokTeacher.rows' loss (several teachers)
            if weight is not None:
                on = on & (weight > 0)
            if not on.any():
                return logits.sum() * 0.0
            s_lp = torch.log_softmax(logits[on][:, : self.s_vocab].float() / temp, -1)
            skip = self.s_skip.to(s_lp.device)
            per = topk_xtok_loss(self.kind, s_lp, ti[on], tl[on], temp, skip)
            return per.sum() if weight is None else (per * weight[on]).sum()

        return (t_ids, t_lps), loss


def stored_xtok(cfg: Any, tok: Any, picked: Any = None) -> TopKXTok | None:
    """A TopKXTok when `cfg.data`'s stored top-K come from another tokenizer (its vocab hash
    differs, or, hash unknown, its token texts are not the student's reading of its ids), else
    None (the same-vocabulary path). Refuses a side file without token offsets in one line.
    `picked`: kd.data.trained_rows(cfg), when the caller has read them already."""
    from distill.logprobs import load_many, vocab_hash
    from distill.train.kd.data import trained_rows

    rows = (picked or trained_rows(cfg))[1]
    ptrs = [r.get("logprobs") for r in rows]
    if not rows or not all(isinstance(p, dict) and "file" in p for p in ptrs):
        return None  # stored_dataset names the record without log-probs
    mine = vocab_hash(tok)
    other = next((p for p in ptrs if p.get("vocab_hash") and p["vocab_hash"] != mine), None)
    if other is None and any(p.get("offsets") and not p.get("vocab_hash") for p in ptrs):
        unknown = [(r, p) for r, p in zip(rows, ptrs, strict=True) if p.get("offsets")]
        for (_, p), t in zip(unknown, load_many([r for r, _ in unknown], cfg.data), strict=True):
            text = tok.decode(
                t.token_ids.tolist(), skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
            # vLLM's `bytes` are of each token decoded alone: U+FFFD for each byte piece of a
            # split character, which the student's decoding writes whole
            if t.token_text is not None and _beyond_ascii(text) != _beyond_ascii(
                "".join(t.token_text)
            ):
                other = p
                break
    if other is None:
        return None
    for row, p in zip(rows, ptrs, strict=True):
        if not p.get("offsets"):
            raise no_offsets(cfg, row, str(other.get("tokenizer")))
    return TopKXTok(tok, cfg.xtok, str(other.get("tokenizer")))


def no_offsets(cfg: Any, row: dict[str, Any], tokenizer: str) -> DistillError:
    """A record whose side file holds no token texts and offsets, read across tokenizers."""
    from pathlib import Path

    return DistillError(
        f"{Path(cfg.data).parent / row['logprobs']['file']}: the log-prob side file of record "
        f"{row.get('id')} has no token offsets (written before cross-tokenizer kd), and its "
        f"teacher tokenizer '{tokenizer}' is not the student's '{cfg.model}': "
        "re-run distill generate --logprobs K to store them"
    )


def stored_lead(t: Any, own: dict[int, str]) -> str:
    """The whitespace the teacher wrote before the text of its stored completion `t` (`own`:
    token id -> its own text, logprobs.listed_texts of its side file). The side file holds the
    completion decoded alone (logprobs.with_texts), and a SentencePiece decoder strips the first
    token's space there: Mistral's and Llama-2's reply after `[/INST]` (' ' + reply, the space
    the model writes) begins `▁The`, stored "The", or a lone `▁` before `<think>`, stored "",
    while the token's own text holds it (" The", " "). Read without it the teacher's first
    distribution, over what follows `[/INST]` (the space), was paired with the student's first
    token. '' where the stored text holds it already, or the token is not listed."""
    if not len(t) or not t.token_text:
        return ""
    first, mine = t.token_text[0], own.get(int(t.token_ids[0]))
    if mine is None or first[:1].isspace() or not mine.endswith(first):
        return ""
    ws = mine[: len(mine) - len(first)]
    return ws if ws.isspace() else ""


def _beyond_ascii(text: str) -> str:
    """`text` with each run of characters past ASCII (U+FFFD included) as one U+FFFD."""
    import re

    return re.sub(r"[^\x00-\x7f]+", "\ufffd", text)


def stored_xtok_dataset(
    cfg: Any, tok: Any, model_eos: Any, teacher: TopKXTok, picked: Any = None
) -> Any:
    """SFT's examples + at each student completion token paired with a stored teacher token
    (the same text before both, as xtok_dataset pairs them) that token's top-K, mapped to
    student ids by text -> the dataset kd.data.Collator batches (its teacher_ids/_logprobs)."""
    import numpy as np
    from datasets import Dataset

    from distill.examples import Renderer
    from distill.logprobs import listed_texts, load_many, short_spaces, stripped_spaces
    from distill.train.kd.data import trained_rows

    mine = Renderer(tok, cfg.format, model_eos, "last", cfg.chat)
    stops = set(mine.stops)
    exs, rows, at = picked or trained_rows(cfg)
    stored = load_many(rows, cfg.data)
    k = max((t.k for t in stored), default=0)
    cols: dict[str, list] = {
        "input_ids": [],
        "completion_mask": [],
        "teacher_ids": [],
        "teacher_logprobs": [],
    }
    compared = scored = older = spaces = 0
    own: dict[str, dict[int, str]] = {}  # per side file: its listed tokens' texts
    strips: dict[tuple, bool] = {}  # per teacher tokenizer: its older files show stripped spaces
    by_file: dict[str, list[Any]] = {}  # each side file's stored rows (grouped once, on demand)

    def texts_of(f: str) -> dict[int, str]:
        if not by_file:
            for r, x in zip(rows, stored, strict=True):
                by_file.setdefault(r["logprobs"]["file"], []).append(x)
        if f not in own:
            own[f] = listed_texts(by_file[f])
        return own[f]

    def teacher_of(row: dict) -> tuple:
        return row["logprobs"].get("tokenizer"), row["logprobs"].get("vocab_hash")

    def strips_spaces(key: tuple) -> bool:
        # decided over every older file of that teacher (generate writes a shard each 30 s,
        # one may hold no lone space): the mark is its decoder's, the same in each
        if key not in strips:
            strips[key] = any(
                stripped_spaces(x, texts_of(r["logprobs"]["file"]))
                for r, x in zip(rows, stored, strict=True)
                if teacher_of(r) == key
                and (r["logprobs"].get("offsets_version") or 0) < 3
                and x.token_text is not None
            )
        return strips[key]

    aligned = []  # (prompt, completion, the stored teacher, paired positions) of each kept example
    for i, (ex, row, t) in enumerate(zip(exs, rows, stored, strict=True)):
        if t.token_text is None or t.offsets is None:
            # a side file written before 1be2b8a: its pointer may say offsets: true (another
            # record of the shard had them) where the shard stored none
            raise no_offsets(cfg, row, teacher.name)
        where = ex.source.get("where") or f"{cfg.data} example {at[i] + 1}"
        p, c = mine.encode(ex)
        if mine.reasoning_dropped:
            # the stored top-K are over the teacher's whole reply, its think block first: the
            # answer --format alpaca trains was paired at its first token with the teacher's
            # distribution over the reply's first (<think>, the reasoning), as stored_dataset's
            raise DistillError(
                f"{cfg.data}: record {row.get('id')}: --format alpaca trains the answer alone, "
                "and the stored top-K are the teacher's distributions over its whole reply, "
                "reasoning included (the answer's given that reasoning): train with --format "
                "r1, or let a teacher score the Alpaca answer (--teacher-model / --teacher-url)"
            )
        s_text = mine.completion_text(ex)
        s_ends = char_ends(tok, c, s_text)
        if s_ends is None:
            raise unreadable(where, f"student tokenizer '{cfg.model}'", tok, s_text, c)
        t_text = "".join(t.token_text)
        t_ends = [int(o) + len(x) for o, x in zip(t.offsets, t.token_text, strict=True)]
        lead = stored_lead(t, texts_of(row["logprobs"]["file"]))
        if lead:  # the reply as the teacher wrote it: ' ' + reply after Mistral's `[/INST]`
            t_text, t_ends = lead + t_text, [e + len(lead) for e in t_ends]
        pairs = pair_texts(s_ends, t_ends, s_text, t_text)
        version = row["logprobs"].get("offsets_version") or 0
        if version < 2:
            # older offsets ended a token after the whole characters before a partial one (a
            # boundary it does not have): the token after it, paired there, starts inside a
            # character past ASCII. Those pairs are left out; the others are as they were.
            kept = [(s, j) for s, j in pairs if not t.token_text[j][:1] > "\x7f"]
            older += len(pairs) - len(kept)
            pairs = kept
        if version < 3 and strips_spaces(teacher_of(row)):
            # a SentencePiece teacher's token of spaces alone may be stored a space short, the
            # next token's text and start with it (short_spaces): those are left out. Only
            # where its files show that (stripped_spaces): a byte-level teacher's "   " before
            # " return" is right.
            bad = short_spaces(t, texts_of(row["logprobs"]["file"]), version)
            kept = [(s, j) for s, j in pairs if j not in bad]
            spaces += len(pairs) - len(kept)
            pairs = kept
        c = fit_completion(p, c, cfg)
        if c is None:
            continue
        for s, j in pairs:  # the turn's end on both sides: the teacher's stored stop token
            if s < len(c) and j == len(t) - 1 and c[s] in stops:
                teacher.pair_text(t.token_text[j], c[s])  # (XTokTeacher.pair_ends)
        aligned.append((p, c, t, pairs))
    # mapped once every end is paired: a top-K listing the teacher's stop maps it alike in
    # every example, those before the first that ends its turn too
    for p, c, t, pairs in aligned:
        sids = teacher.student_ids(t.topk_text)
        ids = np.full((len(c), k), -1, dtype=np.int64)
        lps = np.zeros((len(c), k), dtype=np.float32)
        for s, j in pairs:
            if s < len(c) and j < len(t):  # the teacher's row j: its distribution for token j
                word = t.token_text[j] or next((x for x in t.token_text[j + 1 :] if x), "")
                ids[s, : t.k] = teacher.at(sids[j], t.topk_text[j], c[s], word)
                lps[s, : t.k] = t.topk_logprobs[j]
        compared += int((ids != -1).any(-1).sum())
        scored += len(c)
        cols["input_ids"].append(p + c)
        cols["completion_mask"].append([0] * len(p) + [1] * len(c))
        cols["teacher_ids"].append(ids.tolist())
        cols["teacher_logprobs"].append(lps.tolist())
    if not cols["input_ids"]:
        raise DistillError(f"{cfg.data}: no training examples left for kd")
    if older:
        print(
            f"kd: {cfg.data}: {older:,} stored positions after a character past ASCII left "
            "unpaired (side files written before 2026-12-06 place a token that ends inside a "
            "character otherwise); re-run distill generate --logprobs K to pair them"
        )
    if spaces:
        print(
            f"kd: {cfg.data}: {spaces:,} stored positions at a teacher token of spaces left "
            "unpaired (side files without offsets_version 3 from a SentencePiece teacher, "
            "Llama-2 or Mistral, store such a token's text a space short); re-run distill "
            "generate --logprobs K (a new --out) to store them right"
        )
    print(
        f"kd: stored top-{k} of teacher tokenizer '{teacher.name}' (another tokenizer: its tokens' "
        f"texts, {teacher.shared:,} of them spelled as the student's): --xtok {teacher.kind} on "
        f"{compared:,} of {scored:,} completion tokens ({compared / max(1, scored):.1%})"
    )
    return Dataset.from_dict(cols)


# =========================================================================== served, by text


def listed(token: str, top: dict[str, float] | None) -> dict[str, float] | None:
    """A position's top-K without the actual token where the server added it (vLLM lists the
    actual token too when it ranks below K; it is then the smallest entry): what stays are
    tokens no unlisted token outweighs, which the sorted comparisons rely on."""
    if top and len(top) > 1 and token in top and top[token] <= min(top.values()):
        return {x: v for x, v in top.items() if x != token}
    return top


class ServedXTok(TopKXTok):
    """A served teacher of another tokenizer (distill.teachers.scorers.ServedTeacher whose probe
    found our ids read as other text): it scores text in its own tokenization, its top-K come
    back as token texts with character offsets, read as the stored ones are."""

    def __init__(self, served: Any, student_tok: Any, kind: str, theirs: Any):
        super().__init__(student_tok, kind, served.name)
        self.served, self.theirs = served, theirs  # theirs: a Renderer of the teacher's template

    def score(
        self, prompts: list[str], completions: list[str], special: list[bool] | None = None
    ) -> list[list[tuple[int, int, Any]]]:
        """Per (prompt text, completion text): the teacher's completion tokens as (start, end,
        top-K {text: log-prob}), character offsets in the completion. A token that starts in
        the prompt (a merge across the boundary) keeps start < 0: it follows other text.
        `special`: per prompt, whether the server's tokenizer adds its BOS to it (bos_added;
        by default none does: a rendered chat's template writes its own)."""
        out: list[Any] = [None] * len(prompts)
        flags = [bool(x) for x in special] if special is not None else [False] * len(prompts)
        for flag in (False, True):  # a request asks add_special_tokens once for all its texts
            rows = [j for j, x in enumerate(flags) if x == flag]
            for lo in range(0, len(rows), 8):
                chunk = rows[lo : lo + 8]
                texts = [prompts[j] + completions[j] for j in chunk]
                for j, text, toks in zip(chunk, texts, self.served.score_text(texts, flag)):
                    out[j] = self._read(toks, text, len(prompts[j]))
        self.served.scored += sum(len(p) + len(c) for p, c in zip(prompts, completions))
        return out

    def _read(self, toks: list[Any], text: str, at: int) -> list[tuple[int, int, Any]]:
        """One scored text's tokens after its first `at` characters (the prompt's), as score()
        gives them; refused where the server does not spell the text back."""
        starts = [o for _, o, _ in toks]
        ends = [*starts[1:], len(text)]
        for (t, start, _), end in zip(toks, ends, strict=True):
            # the server must spell the text back (a normalising tokenizer does not)
            if end > start and "\ufffd" not in t and not t.startswith("bytes:"):
                if t != text[start:end]:
                    raise DistillError(
                        f"teacher '{self.name}' at {self.served.shown}: its token {t!r} "
                        f"reads back the text {text[start:end]!r} otherwise (its tokenizer "
                        "normalises text); cross-tokenizer kd/onpolicy compares the two "
                        "models on the same characters: pick a teacher whose tokenizer "
                        "keeps text as it is"
                    )
        return [
            (s - at, e - at, listed(t, top))
            for (t, s, top), e in zip(toks, ends, strict=True)
            if e > at or (e == at and s == at)
        ]

    def positions(
        self, s_ids: list[int], s_text: str, t_text: str, toks: list[tuple[int, int, Any]]
    ) -> list[tuple[int, list[int], list[float]]]:
        """(student token, mapped top-K ids, their log-probs) where the student's and the
        teacher's predictions follow the same text (pair_positions)."""
        s_ends = char_ends(self.s_tok, s_ids, s_text)
        if s_ends is None or not toks:
            return []
        t_ends = [max(0, e) for _, e, _ in toks]
        out = []
        for s, t in pair_texts(s_ends, t_ends, s_text, t_text):
            start, end, top = toks[t]
            if s < len(s_ids) and start >= 0 and top:
                best = sorted(top.items(), key=lambda kv: -kv[1])[: self.served.k]
                texts = [x for x, _ in best]
                # the teacher's own token there, as text (score() checked it reads back so)
                if end <= start:  # it ends inside a character: the text up to the piece closing it
                    end = next((e for _, e, _ in toks[t + 1 :] if e > start), start)
                mapped = self.at(self.student_ids([texts])[0], texts, s_ids[s], t_text[start:end])
                out.append((s, mapped, [v for _, v in best]))
        return out

    def sampled(self, ids: Any, labels: Any, inputs: Any) -> dict[str, Any]:
        """The student's samples scored by the server as text after the teacher's rendering of
        the prompt (+ its end of turn where the student stopped) -> teacher_ids/_logprobs."""
        import torch

        b, width, k = ids.shape[0], ids.shape[1], self.served.k
        rows, prompts, comps = [], [], []
        special = inputs.get("xtok_special") or [False] * b
        for i in range(b):
            at = (labels[i] != -100).nonzero().flatten().tolist()
            c = ids[i, at].tolist()
            stopped = bool(c) and c[-1] in self.s_stops
            # as the kept replies are read (XTokTeacher.sampled): the student's text after its
            # prompt, the reply in it after the teacher's prompt with the teacher's own lead
            marks = inputs["xtok_around"][i] if "xtok_around" in inputs else ["", "", ""]
            s_text, text = sample_reply(self.s_tok, ids[i], at, marks, stopped)
            rows.append((at, c, s_text))
            prompts.append(inputs["xtok_prompt_text"][i])
            # the think block one side's prompt opened (lead_shift), read by the other as text
            s_lead = sample_lead(self.s_tok, ids[i], at)
            content = after_lead(s_lead + text, prompt_lead(prompts[-1]))
            comps.append(marks[2] + content + (inputs["xtok_end"][i] if stopped else ""))
        t_ids = torch.full((b, width, k), -1, dtype=torch.long)
        t_lps = torch.zeros((b, width, k))
        scored = self.score(prompts, comps, list(special))
        for i, ((at, c, s_text), toks) in enumerate(zip(rows, scored)):
            for s, sid, lp in self.positions(c, s_text, comps[i], toks):
                t_ids[i, at[s], : len(sid)] = torch.tensor(sid)
                t_lps[i, at[s], : len(lp)] = torch.tensor(lp)
        return {"teacher_ids": t_ids.to(ids.device), "teacher_logprobs": t_lps.to(ids.device)}


def served_xtok(
    cfg: Any,
    tok: Any,
    model_eos: Any,
    served: Any,
    origins: Any = None,
    more: Any = None,
    only: Any = None,
) -> tuple[ServedXTok, Any, Any]:
    """A served teacher of another tokenizer -> (ServedXTok, dataset, collator). The prompt is
    rendered in the teacher's chat template when its tokenizer loads here (`--teacher-model` a
    local folder, a builtin or a cached hub name), else in the student's. kd scores every kept
    completion once here (the teacher is frozen and the text fixed: what it would say per
    batch); onpolicy keeps each prompt's text for the samples. A server that cannot score text
    (no echoed logprobs) gets the probe's one-line refusal. `origins` / `more` / `only`: as
    xtok_dataset's (several teachers; routed, the server scores its own examples only)."""
    from datasets import Dataset

    from distill.examples import Renderer, load_examples
    from distill.models import load_tokenizer
    from distill.train.kd.data import Collator, prompt_dataset, prompt_source

    try:
        t_tok = load_tokenizer(cfg.teacher_model)
    except Exception:  # noqa: BLE001 - a served name only: the student's template stands in
        t_tok = None
    mine = Renderer(tok, cfg.format, model_eos, "last", cfg.chat)
    own = t_tok is not None and (cfg.format != "r1" or getattr(t_tok, "chat_template", None))
    theirs = Renderer(t_tok, cfg.format, None, "last", cfg.chat, who="teacher") if own else mine
    teacher = ServedXTok(served, tok, cfg.xtok, theirs)
    teacher.s_stops = set(mine.stops)
    probe = "The answer is 46. Größe: 中文 🙂"
    # a server that puts its BOS before a text asked none (SGLang: no add_special_tokens field)
    # is refused for the rows sent so, rendered chats; rows sent with it true (alpaca, raw
    # text: no template writes their BOS) read the server's BOS as asked (adds_bos_for)
    adds_bos: DistillError | None = None
    for special in (False, True):
        try:
            teacher.score(["Q: "], [probe], [special])
        except DistillError as e:
            # (it scores text, but not as asked: normalised, or BOS added though asked for none)
            if "add_special_tokens" in str(e) and not special:
                adds_bos = e
                continue
            if "normalises" in str(e):
                raise
            raise served.refusal from None
        break

    def adds_bos_for(specials: list[Any]) -> None:
        if adds_bos is not None and not all(specials):
            raise adds_bos

    collator = TextCollator(Collator(tok.pad_token_id))

    t_own = t_tok if own else None  # the teacher's end-of-turn text is known with its template

    def prompt_cols(ex: Any, where: str) -> dict[str, Any]:
        teacher.pair_ends(end_text(mine, ex), end_text(theirs, ex), t_own)
        cols = {"xtok_prompt_text": theirs.prompt_text(ex), "xtok_end": end_text(theirs, ex)}
        cols["xtok_special"] = bos_added(theirs, ex)
        cols["xtok_around"] = [*around(mine, ex), around(theirs, ex)[0]]
        return cols if more is None else {**cols, **more(ex, where)}

    if cfg.method == "onpolicy" and prompt_source(cfg):
        dataset, _ = prompt_dataset(cfg, tok, model_eos, prompt_cols)
        adds_bos_for(dataset["xtok_special"])
        return teacher, dataset, collator
    exs = list(load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers))
    cols: dict[str, list] = {"input_ids": [], "completion_mask": [], "teacher_ids": []}
    cols.update(
        teacher_logprobs=[], xtok_prompt_text=[], xtok_end=[], xtok_around=[], xtok_special=[]
    )
    keep, ours = [], []
    for i, ex in enumerate(exs):
        if not ex.trains:  # every assistant turn of weight 0: left out, as SFT counts it
            continue
        if theirs is not mine:  # the teacher's own template
            no_calls(ex, ex.source.get("where") or f"{cfg.data} example {i + 1}")
        p, c = mine.encode(ex)
        c = fit_completion(p, c, cfg)
        if c is None:
            continue
        teacher.pair_ends(end_text(mine, ex), end_text(theirs, ex), t_own)
        if only is None or only(i):
            ours.append(len(keep))
        keep.append((ex, p, c))
        if origins is not None:
            origins.append(i)
    t_prompts = [theirs.prompt_text(ex) for ex, _, _ in keep]
    specials = [bos_added(theirs, ex) for ex, _, _ in keep]
    adds_bos_for([specials[j] for j in ours])  # (routed: the rows this server scores)
    # a completion cut to max_length is scored as far as it is kept (to the next whitespace:
    # the words before it tokenize as in the whole text), not past the server's context
    t_comps = [
        kept_text(tok, mine.encode(ex)[1], c, mine.completion_text(ex), theirs.completion_text(ex))
        for ex, _, c in keep
    ]
    # onpolicy trains the kept completions too where lmbda < 1, or where --mask-truncated falls
    # back to them: those are scored here as kd's
    kept_too = cfg.method == "kd" or kept_traces(cfg)
    scored: list[Any] = [[]] * len(keep)
    if kept_too:  # routed: only the examples routed to it go to its server
        got = teacher.score(
            [t_prompts[j] for j in ours], [t_comps[j] for j in ours], [specials[j] for j in ours]
        )
        for j, toks in zip(ours, got, strict=True):
            scored[j] = toks
    k = served.k
    compared = total = 0
    for (ex, p, c), toks, t_text in zip(keep, scored, t_comps, strict=True):
        ids, lps = [[-1] * k for _ in c], [[0.0] * k for _ in c]
        full = mine.encode(ex)[1]  # pairs on the whole completion, cut to what is kept
        for s, sid, lp in teacher.positions(full, mine.completion_text(ex), t_text, toks):
            if s < len(c):
                ids[s][: len(sid)], lps[s][: len(lp)] = sid, lp
        compared += sum(any(x != -1 for x in row) for row in ids)
        total += len(c)
        cols["input_ids"].append(p + c)
        cols["completion_mask"].append([0] * len(p) + [1] * len(c))
        cols["teacher_ids"].append(ids)
        cols["teacher_logprobs"].append(lps)
        cols["xtok_prompt_text"].append(theirs.prompt_text(ex))
        cols["xtok_end"].append(end_text(theirs, ex))
        cols["xtok_around"].append([*around(mine, ex), around(theirs, ex)[0]])
        cols["xtok_special"].append(bos_added(theirs, ex))
    if not cols["input_ids"]:
        raise DistillError(f"{cfg.data}: no training examples left for {cfg.method}")
    if kept_too:
        print(
            f"{cfg.method}: served teacher '{served.name}' has another tokenizer: scored the completions as "
            f"text, --xtok {cfg.xtok} on {compared:,} of {total:,} completion tokens "
            f"({compared / max(1, total):.1%}; {teacher.shared:,} listed texts spelled as the student's)"
        )
    return teacher, Dataset.from_dict(cols), collator


def kept_text(tok: Any, full: list[int], kept: list[int], s_text: str, t_text: str) -> str:
    """The teacher's completion text `t_text` as far as the student's completion `full` (its
    text `s_text`) is kept (`kept`, cut to max_length), up to the next whitespace; whole when
    nothing was cut or the cut cannot be placed."""
    s_ends = char_ends(tok, full, s_text) if 0 < len(kept) < len(full) else None
    if s_ends is None:
        return t_text
    ds, dt = lead_shift(s_text, t_text)
    at = max(0, s_ends[len(kept) - 1] - ds + dt)
    return t_text[: next((k for k in range(at, len(t_text)) if t_text[k].isspace()), len(t_text))]


class TextCollator:
    """A collator's batch + the teacher's prompt text and end of turn of each row (the served
    teacher of another tokenizer reads the student's samples after them)."""

    def __init__(self, base: Any):
        self.base = base

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        keys = ("xtok_prompt_text", "xtok_end", "xtok_around", "xtok_special")
        batch = self.base([{k: v for k, v in f.items() if k not in keys} for f in feats])
        batch.update({k: [f[k] for f in feats] for k in keys})
        return batch
