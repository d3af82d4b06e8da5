"""Teacher log-probs per completion token, kept in Parquet shards beside the traces.

    distill generate --teacher hf --model builtin:smollm2 --data builtin:arithmetic --limit 8 \
        --logprobs 20 --out t.jsonl        # -> t.jsonl + t.logprobs/part-*.parquet

    from distill.logprobs import load_many
    for rec, lp in zip(records, load_many(records, "t.jsonl")): lp.topk_logprobs  # [L, K]

For every completion token the shard holds the token the teacher sampled, its log-prob, and the
teacher's top-K token ids and log-probs. The numbers never go into the JSONL: the record only
gains a pointer (`record["logprobs"]`, see POINTER_FIELDS) to the shard file, relative to the
directory of the records file.

What the numbers are (the same for every backend): log_softmax of the teacher's raw logits at
temperature 1, before temperature, top-p or top-k were applied for sampling; the sampler's own
settings stay in `record["teacher"]["params"]`. This is the distribution KD wants: a KD loss
applies its own temperature. The tokens are the completion exactly as generated, including the
stop token when one ended it (`pointer["stop_token"]`).

Durability: a shard is written aside, fsynced and renamed into place before the generate stage
appends the records that point at it, so a killed run never leaves a record without its data.
Until then each sample waits in a journal (t.logprobs/pending.jsonl, written as it arrives):
the rerun writes those a kill left there (`recover`) instead of buying them again. Shards
carry page checksums: one damaged later (a copy cut short, a disk error) is an error naming it,
at kd's read and at generate's rerun, never other numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill.errors import DistillError
from distill.records import try_lock

FORMAT = 2  # 1: topk_ids stored as token ids (still read); 2: as codes into the shard's id_map
# Storage precision. Token ids are exact; so is the sampled token's log-prob (float32). The best
# HEAD log-probs of each top-K are float16: relative precision 2^-11, so a near-certain token's
# probability is right to ~1e-7 and the tail mass (1 - sum of the top-K, which a KD loss may use)
# stays meaningful. The rest are multiples of STEP nats (uint16, delta-coded along the sorted
# top-K): within STEP / 2 = 0.0078 of the exact value, a probability within 0.8% of itself.
# Values below FLOOR (-inf included) are stored as FLOOR.
HEAD = 4
STEP = 1 / 64
FLOOR = -1000.0
# Compactness (format 2). Each shard keeps `id_map`: the token ids its top-Ks use, most frequent
# first (stored as steps from the previous one), in its first row; `topk_ids` holds each id's
# index in that map, so common tokens get small numbers. The first quantized log-prob after the
# head is a step from the last head value (format 1: from 0), so it is small too. The numeric
# columns are written BYTE_STREAM_SPLIT (each byte of the values in its own stream, so zstd codes
# the mostly-zero high bytes of codes and gaps almost for free) instead of Parquet's dictionary
# pages, whose bit-packed indices zstd cannot compress. Measured split at top-50 and what was
# tried: README, "Teacher log-probs".
SPLIT_COLUMNS = ("logprob", "topk_ids", "topk_head", "topk_logprobs", "id_map")
# zstd 17: as small as 19 on these columns (top-50: 100.6 vs 100.7 bytes/token) and ~1.8x faster
# to write (~17k vs ~9k tokens/s on one core here); the shard is written while generate waits.
ZSTD_LEVEL = 17
# The pointer a record gains (record["logprobs"]):
POINTER_FIELDS = {
    "file": "shard path, relative to the directory of the records file (or absolute)",
    "format": "storage format version",
    "k": "top-K kept per token",
    "tokens": "completion tokens stored (L)",
    "tokenizer": "the teacher's tokenizer (name or path)",
    "vocab_hash": "vocab_hash() of that tokenizer, or null when the teacher could not tell",
    "distribution": "'raw': log_softmax(logits) at temperature 1, before sampling warpers",
    "stop_token": "true when the last stored token is the stop token that ended the completion",
    "offsets": "true when the shard holds each token's text, its character offset in the "
    "completion and the top-K tokens' texts (cross-tokenizer kd); absent in older files",
    "offsets_version": "3: a SentencePiece token of spaces alone holds all its spaces; 2: an "
    "hf/vllm teacher whose decoder strips a leading space (Llama-2, Mistral) may have stored it "
    "a space short, the next token with it (short_spaces); from 2 on a token that ends inside a "
    "character has no characters of its own (char_ends, text_offsets); absent in files whose "
    "offsets gave it those before its partial one (written before 2026-12-06)",
}
OFFSETS_VERSION = 3


@dataclass
class TokenLogprobs:
    """One completion's per-token teacher log-probs. Top-K is sorted by log-prob, best first."""

    token_ids: np.ndarray  # [L] int64: the sampled tokens
    logprob: np.ndarray  # [L] float32: log-prob of each sampled token
    topk_ids: np.ndarray  # [L, K] int64
    topk_logprobs: np.ndarray  # [L, K] float32
    # Cross-tokenizer kd reads the teacher by text (distill/train/kd/xtok.py): each token's text
    # (what it adds to the decoded completion: '' for a byte piece that closes no character
    # yet), the character where it starts in the completion text, the top-K tokens' own texts.
    # None: not recorded (a side file written before them, or a backend that cannot tell).
    token_text: list[str] | None = None  # [L]
    offsets: np.ndarray | None = None  # [L] int64
    topk_text: list[list[str]] | None = None  # [L, K]

    def __post_init__(self) -> None:
        self.token_ids = np.asarray(self.token_ids, dtype=np.int64).reshape(-1)
        self.logprob = np.asarray(self.logprob, dtype=np.float32).reshape(-1)
        n = len(self.token_ids)
        self.topk_ids = _rows(np.asarray(self.topk_ids, dtype=np.int64), n)
        self.topk_logprobs = _rows(np.asarray(self.topk_logprobs, dtype=np.float32), n)
        if len(self.logprob) != n or self.topk_ids.shape != self.topk_logprobs.shape:
            raise ValueError(
                f"token log-probs disagree in shape: {n} tokens, {len(self.logprob)} log-probs, "
                f"top-k ids {self.topk_ids.shape}, top-k log-probs {self.topk_logprobs.shape}"
            )
        if n == 0 and self.offsets is None:
            # an empty completion (a server's `content: []`) has all the texts it has: without
            # them a shard written with it kept no texts for its other records either, and
            # cross-tokenizer kd refused them all
            self.token_text, self.offsets, self.topk_text = [], np.zeros(0, np.int64), []
        if self.offsets is not None:
            self.offsets = np.asarray(self.offsets, dtype=np.int64).reshape(-1)
            if self.token_text is None or self.topk_text is None:
                raise ValueError("offsets come with token_text and topk_text")
            if len(self.offsets) != n or len(self.token_text) != n or len(self.topk_text) != n:
                raise ValueError(f"token texts / offsets disagree with the {n} tokens")

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def k(self) -> int:
        return self.topk_ids.shape[1]


def _rows(a: np.ndarray, n: int) -> np.ndarray:
    """[n, K] from a flat or 2-D array (an empty completion keeps K when it is known)."""
    if n == 0:
        return a.reshape(0, a.shape[1] if a.ndim == 2 else 0)
    return a.reshape(n, -1)


def vocab_hash(tokenizer: Any) -> str:
    """A short hash of token -> id (added tokens included): equal hashes, same vocabulary."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    blob = json.dumps(vocab, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def char_ends(tok: Any, ids: list[int], text: str) -> list[int] | None:
    """Where each token's text ends in `text` (characters; non-decreasing), or None when the
    tokens do not spell `text` (another normalisation, an unknown token).

    A token that ends inside a character (a byte-level piece of a multi-byte character) ends
    where the previous one did: it has no characters of its own until the character closes.
    That holds for one with whole characters before the partial one too (byte-level BPE's
    `ĠÃ` of " ü", then `¼`): its end is no boundary, the token after it starts inside "ü".
    Decoding one token at a time from the last clean boundary keeps this linear. A run after
    the first is read as running text, after a sentinel token whose text is then cut (as
    piece_texts): a SentencePiece decoder (Llama-2, Mistral: Strip(' ', 1, 0), Metaspace) strips
    the first token's leading space, so alone a lone `▁` (before a digit, a second space) read
    "" and `▁▁` " ", and their spaces went to the token after them. The first run too where
    `text` starts with the space such a decoder strips (a reply after Mistral's `[/INST] `, its
    first token `▁the`). A decoder that reads a piece otherwise falls back to decoding the whole
    prefix."""
    ends: list[int] = []
    start, at = 0, 0  # last clean boundary: token index, character offset
    dec = dict(clean_up_tokenization_spaces=False)
    sentinel = _sentinel(tok)
    running = _running(tok, ids, text, sentinel)

    def clean(d: str, off: int) -> str:
        # a partial UTF-8 piece reads as U+FFFD: not text yet
        while d.endswith("\ufffd") and not text.startswith(d, off):
            d = d[:-1]
        return d

    def run(k: int) -> str | None:
        # ids[start:k] as running text (the first run as the decoded text begins); None: the
        # sentinel's text is no prefix of it
        if not (start or running) or sentinel is None:
            return tok.decode(ids[start:k], **dec)
        x, head = sentinel
        both = tok.decode([x, *ids[start:k]], **dec)
        return both[len(head) :] if both.startswith(head) else None

    for k in range(1, len(ids) + 1):
        raw = run(k)
        piece = None if raw is None else clean(raw, at)
        if piece is not None and text.startswith(piece, at):
            end, inside = at + len(piece), piece != raw
        else:
            raw = tok.decode(ids[:k], **dec)
            if running:  # read after the sentinel, as the first run is
                x, head = sentinel
                both = tok.decode([x, *ids[:k]], **dec)
                raw = both[len(head) :] if both.startswith(head) else raw
            whole = clean(raw, 0)
            if not text.startswith(whole):
                return None
            end, inside = len(whole), whole != raw
        if inside:  # its last bytes start a character: the next token reads that one whole
            end = at
        end = max(end, ends[-1] if ends else 0)
        ends.append(end)
        if not raw.endswith("\ufffd"):  # closed on a character boundary
            start, at = k, end
    return ends


def _running(tok: Any, ids: list[int], text: str, sentinel: tuple[int, str] | None) -> bool:
    """Whether `ids` spell `text` as running text (char_ends' first run read after the sentinel):
    a text that starts with whitespace a SentencePiece decoder strips from the first token, where
    that reading spells more of it than the tokens decoded alone (Mistral v0.1's `[/INST]` + ' '
    + a reply ' the': `▁▁` `t`... holds both spaces, alone it reads one: the text's own
    tokenization, decoded alone, still reads as before; a text of spaces alone, whose tokens
    decoded alone spell a shorter run of them, the prefix it is, is read running too)."""
    if sentinel is None or not ids or not text[:1].isspace():
        return False
    dec = dict(clean_up_tokenization_spaces=False)
    alone = tok.decode(ids, **dec)
    if alone == text:
        return False
    x, head = sentinel
    both = tok.decode([x, *ids], **dec)
    after = both[len(head) :] if both.startswith(head) else ""
    return len(os.path.commonprefix([after, text])) > len(os.path.commonprefix([alone, text]))


def _sentinel(tok: Any) -> tuple[int, str] | None:
    """A plain token ("a") and its decoded text, to decode other tokens after: None when the
    vocabulary has none that decodes to clean text of its own."""
    try:
        ids = tok.encode("a", add_special_tokens=False)
    except Exception:  # noqa: BLE001 - a tokenizer that cannot encode: no sentinel
        return None
    if not ids or ids[-1] in set(getattr(tok, "all_special_ids", ())):
        return None
    head = tok.decode([ids[-1]])
    return (ids[-1], head) if head and "\ufffd" not in head else None


def piece_texts(tok: Any, ids: list[int]) -> list[str]:
    """Each token's own text, as running text holds it: SentencePiece decodes "▁the" alone as
    "the", in running text it is " the". A partial UTF-8 piece reads as U+FFFD.

    Each token is decoded after a sentinel token whose text is then cut: a decoder that strips
    the text's leading space (Llama-2, Mistral: Strip(' ', 1, 0); Metaspace) strips one space of
    a token alone, so '▁▁▁▁' read 3 spaces and '▁▁' one, matched by text with another
    vocabulary's 3-space and 1-space tokens. Tokens the sentinel does not stay a prefix of are
    decoded alone, a leading '▁' read as a space."""
    sentinel = _sentinel(tok)
    if sentinel is None:
        after = [None] * len(ids)
    else:
        x, head = sentinel
        after = [
            t[len(head) :] if t.startswith(head) else None
            for t in tok.batch_decode([[x, i] for i in ids])
        ]
    alone = [i for i, t in zip(ids, after, strict=True) if t is None]
    if alone:
        pieces = dict(zip(alone, tok.convert_ids_to_tokens(alone), strict=True))
        texts = dict(zip(alone, tok.batch_decode([[i] for i in alone]), strict=True))
    out = []
    for i, text in zip(ids, after, strict=True):
        if text is None:
            piece, text = pieces[i], texts[i]
            if piece and piece.startswith("\u2581") and not text.startswith(" "):
                text = " " + text
        out.append(text)
    return out


def with_texts(t: TokenLogprobs, tok: Any) -> TokenLogprobs:
    """`t` with its tokens' texts and offsets in the decoded completion and the top-K tokens'
    texts (`tok`: the teacher's tokenizer), for cross-tokenizer kd; as it was when the tokens do
    not spell their own decoding back (then no offsets: such a side file is refused there)."""
    ids = t.token_ids.tolist()
    text = tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    ends = char_ends(tok, ids, text)
    if ends is None:
        return t
    starts = [0, *ends][: len(ends)]  # none for an empty completion
    distinct = sorted(set(t.topk_ids.reshape(-1).tolist()) - {-1})
    texts = dict(zip(distinct, piece_texts(tok, distinct), strict=True))
    return TokenLogprobs(
        t.token_ids,
        t.logprob,
        t.topk_ids,
        t.topk_logprobs,
        [text[a:b] for a, b in zip(starts, ends, strict=True)],
        np.asarray(starts, dtype=np.int64),
        [[texts.get(i, "") for i in row] for row in t.topk_ids.tolist()],
    )


def side_dir(records_path: str | Path) -> Path:
    """traces.jsonl -> traces.logprobs/ (beside it)."""
    p = Path(records_path)
    return p.with_name(p.stem + ".logprobs")


def shard_name() -> str:
    return f"part-{uuid.uuid4().hex[:16]}.parquet"


# =========================================================================== writing


def _sort_topk(t: TokenLogprobs) -> TokenLogprobs:
    # A log-prob is <= 0; a server's NaN (no number) is no mass, as -inf: stored as FLOOR and
    # ranked last. Quantized, a NaN read back as 0 (a certain token) and broke the order.
    lp = np.where(np.isnan(t.topk_logprobs), -np.inf, np.minimum(t.topk_logprobs, 0.0))
    t = dataclasses.replace(t, topk_logprobs=lp.astype(np.float32))
    order = np.argsort(-t.topk_logprobs, axis=1, kind="stable")
    texts = None
    if t.topk_text is not None:
        texts = [[row[j] for j in o] for row, o in zip(t.topk_text, order.tolist(), strict=True)]
    return TokenLogprobs(
        t.token_ids,
        t.logprob,
        np.take_along_axis(t.topk_ids, order, axis=1),
        np.take_along_axis(t.topk_logprobs, order, axis=1),
        t.token_text,
        t.offsets,
        texts,
    )


def text_offsets(pieces: Sequence[bytes]) -> tuple[list[str], list[int]]:
    """Each token's text and the character where it starts in the completion, from the tokens'
    bytes (a byte-level piece of a multi-byte character adds its character with the piece that
    closes it; bytes that never form a character read as U+FFFD, as a decoder writes them).

    As char_ends: a token that ends inside a character has no characters of its own, those
    before its partial one included (byte-level BPE's `ĠÃ` of " ü" is "", `¼` is " ü"): its
    end is no boundary, the token after it starts inside "ü"."""
    texts, offsets = [], []
    at, pending, held = 0, b"", ""  # held: whole characters of tokens that ended inside one
    for piece in pieces:
        pending += piece
        try:
            new = pending.decode("utf-8")
            pending = b""
        except UnicodeDecodeError as e:
            if e.reason == "unexpected end of data" and len(pending) - e.start < 4:
                new = pending[: e.start].decode("utf-8", errors="replace")  # wait for the rest
                pending = pending[e.start :]
            else:
                new, pending = pending.decode("utf-8", errors="replace"), b""
        if pending:  # it ends inside a character: the piece that closes it reads these
            held, new = held + new, ""
        else:
            held, new = "", held + new
        texts.append(new)
        offsets.append(at)
        at += len(new)
    if pending and texts:  # a character left open at the end
        texts[-1] += held + pending.decode("utf-8", errors="replace")
    return texts, offsets


def _quantize(logprobs: np.ndarray) -> np.ndarray:
    """-log-prob in units of STEP (>= 0, and non-decreasing along a sorted top-K)."""
    return np.rint(-np.clip(logprobs, FLOOR, 0.0) / STEP).astype(np.int64)


def _gaps(head: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The quantized `rest` as steps along each row, the first from the last float16 `head` value
    (small; >= 0, except by float16's rounding below -256 nats: signed)."""
    start = _quantize(head[:, -1:].astype(np.float32)) if head.shape[1] else 0
    return np.diff(_quantize(rest), axis=1, prepend=start).astype(np.int32)


def _ungap(head: np.ndarray, gaps: np.ndarray, version: int) -> np.ndarray:
    """_gaps inverted: the rest of the top-K log-probs (float32), on the STEP grid."""
    start = _quantize(head[:, -1:]) if version >= 2 and head.shape[1] else 0
    return ((start + np.cumsum(gaps, axis=1)) * -STEP).astype(np.float32)


def _best_first(head: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The decoded top-K ([n, HEAD] float16 values, [n, K - HEAD] quantized ones), sorted best
    first as stored. The first quantized value is on the STEP grid near the last head value and
    could read above it (by up to STEP / 2; float16 at -300 rounds by 1/8); a file written
    before this read in order too. Where the two cross they meet on the value whose error bound
    is coarser: the head's where float16 is within STEP / 2 (above -16 nats), so the rest keeps
    its STEP / 2 and the head its own bound; below, the quantized one, which the head's float16
    bound holds."""
    if not rest.shape[1]:
        return head
    rest = np.minimum.accumulate(rest, axis=1)  # in order already, but for a damaged file
    if not head.shape[1]:
        return rest
    near = np.abs(head[:, -1:]) < 16
    rest = np.where(near, np.minimum(rest, head[:, -1:]), rest)
    head = np.where(near, head, np.maximum(head, rest[:, :1]))
    return np.concatenate([head, rest], axis=1)


def _id_codes(topk_ids: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The shard's id map (its distinct ids, most frequent first, ties by id) and each array's
    ids as indices into it."""
    if not topk_ids:
        return np.zeros(0, np.int32), []
    flat = np.concatenate([a.reshape(-1) for a in topk_ids])
    distinct, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    order = np.lexsort((distinct, -counts))  # by count, descending; then by id
    code_of = np.empty(len(distinct), dtype=np.int32)
    code_of[order] = np.arange(len(distinct), dtype=np.int32)
    codes = code_of[inverse.reshape(-1)]
    bounds = np.cumsum([a.size for a in topk_ids])[:-1]
    return distinct[order].astype(np.int32), list(np.split(codes, bounds))


def write_shard(
    directory: str | Path, items: Sequence[tuple[str, TokenLogprobs]], name: str | None = None
) -> Path:
    """Write one durable shard (aside, fsync, rename, fsync the directory); return its path.
    `name`: its file name, else a new part-*.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    items = [(rid, _sort_topk(t)) for rid, t in items]
    ks = {t.k for _, t in items}
    if len(ks) > 1:
        raise ValueError(f"one shard holds one K, got {sorted(ks)}")

    def col(values: Iterable[np.ndarray], typ: Any) -> Any:
        return pa.array([v.reshape(-1) for v in values], type=pa.list_(typ))

    id_map, codes = _id_codes([t.topk_ids for _, t in items])
    # token texts and offsets only when every record has them: a shard is read one way
    texts = bool(items) and all(t.offsets is not None for _, t in items)
    heads = [np.maximum(t.topk_logprobs[:, :HEAD], FLOOR).astype(np.float16) for _, t in items]
    table = pa.table(
        {
            "id": pa.array([rid for rid, _ in items], type=pa.string()),
            "token_ids": col((t.token_ids.astype(np.int32) for _, t in items), pa.int32()),
            "logprob": col((t.logprob for _, t in items), pa.float32()),
            "topk_ids": col(codes, pa.int32()),  # rank order, as indices into id_map
            "topk_head": col(heads, pa.float16()),
            "topk_logprobs": col(
                (_gaps(h, t.topk_logprobs[:, HEAD:]) for h, (_, t) in zip(heads, items)), pa.int32()
            ),
            "id_map": col(
                [np.diff(id_map, prepend=0)] + [np.zeros(0, np.int32)] * (len(items) - 1)
                if items
                else [],
                pa.int32(),
            ),
        },
        metadata={
            "distill.logprobs.format": str(FORMAT),
            "offsets": "1" if texts else "0",
            "k": str(ks.pop() if ks else 0),
            "step": repr(STEP),
            "head": str(HEAD),
        },
    )
    if texts:  # older readers ignore these columns
        table = table.append_column(
            "token_text", pa.array([list(t.token_text) for _, t in items], pa.list_(pa.string()))
        )
        table = table.append_column(
            "offsets", col((t.offsets.astype(np.int32) for _, t in items), pa.int32())
        )
        table = table.append_column(
            "topk_text",
            pa.array(
                [[x for row in t.topk_text for x in row] for _, t in items], pa.list_(pa.string())
            ),
        )
    final = d / (name or shard_name())
    tmp = d / f".{final.name}.tmp"
    with open(tmp, "wb") as f:
        pq.write_table(
            table,
            f,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            use_dictionary=["id", "token_ids"],
            write_page_checksum=True,  # verified on reading: damage is an error, not numbers
            column_encoding={f"{c}.list.element": "BYTE_STREAM_SPLIT" for c in SPLIT_COLUMNS},
        )
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(final)
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return final


def pointer(
    shard: Path,
    records_path: str | Path,
    t: TokenLogprobs,
    tokenizer: str,
    vocab: str | None,
    stop_token: bool,
) -> dict[str, Any]:
    """The `logprobs` field of a record whose data sits in `shard`."""
    return {
        "file": os.path.relpath(shard, Path(records_path).parent),
        "format": FORMAT,
        "k": t.k,
        "tokens": len(t),
        "tokenizer": tokenizer,
        "vocab_hash": vocab,
        "distribution": "raw",
        "stop_token": stop_token,
        "offsets": t.offsets is not None,
        **({"offsets_version": OFFSETS_VERSION} if t.offsets is not None else {}),
    }


def rebase(record: dict[str, Any], from_dir: str | Path, to_dir: str | Path) -> dict[str, Any]:
    """The record with its log-prob pointer made valid from `to_dir` (a copy if it changes)."""
    ptr = record.get("logprobs")
    if not isinstance(ptr, dict) or "file" not in ptr:
        return record
    target = Path(from_dir) / ptr["file"]  # an absolute `file` stays itself
    if Path(ptr["file"]).is_absolute():
        return record
    try:
        new = os.path.relpath(os.path.abspath(target), os.path.abspath(to_dir))
    except ValueError:  # another drive (Windows): no relative path exists
        new = os.path.abspath(target)
    return {**record, "logprobs": {**ptr, "file": new}}


# =========================================================================== reading


def _file_of(record: dict[str, Any], records_path: str | Path) -> Path:
    ptr = record.get("logprobs")
    if not isinstance(ptr, dict) or "file" not in ptr:
        raise DistillError(
            f"{records_path}: record {record.get('id')} has no teacher log-probs "
            "(generate with --logprobs K)"
        )
    return Path(records_path).parent / ptr["file"]


def load_many(records: Sequence[dict[str, Any]], records_path: str | Path) -> list[TokenLogprobs]:
    """Every record's log-probs, in order; each shard file is opened once."""
    import pyarrow as pa

    by_file: dict[Path, set[str]] = {}
    for rec in records:
        by_file.setdefault(_file_of(rec, records_path), set()).add(rec["id"])
    found: dict[tuple[Path, str], TokenLogprobs] = {}
    for path, ids in by_file.items():
        if not path.is_file():
            first = next(r for r in records if _file_of(r, records_path) == path)
            raise DistillError(
                f"{records_path}: log-prob side file {path} of record {first['id']} is missing"
            )
        try:
            found.update(((path, rid), t) for rid, t in _read_shard(path, ids).items())
        except PermissionError:
            raise
        except (pa.ArrowException, OSError, IndexError, ValueError) as e:
            # cut short or overwritten (a copy that stopped, a disk error); never a kill of
            # generate, which writes a shard aside and renames it whole
            n = sum(_file_of(r, records_path) == path for r in records)
            raise DistillError(
                f"{records_path}: log-prob side file {path} is damaged "
                f"({_reason(e, path)}); its "
                f"{n} record(s) here cannot be read: remove them from {records_path} (or use "
                "a copy of the file made before) and rerun distill generate to sample them again"
            ) from None
    out = []
    for rec in records:
        path = _file_of(rec, records_path)
        t = found.get((path, rec["id"]))
        if t is None:
            raise DistillError(f"{path}: no log-probs for record {rec['id']} ({records_path})")
        if len(t) != rec["logprobs"].get("tokens", len(t)):
            raise DistillError(
                f"{path}: record {rec['id']} says {rec['logprobs']['tokens']} tokens, "
                f"the side file holds {len(t)}"
            )
        out.append(t)
    return out


def _reason(e: Exception, path: Path) -> str:
    """pyarrow's reason, on one line, without the path it quotes (the message names it)."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    return lines[0].split(f"'{path}': ")[-1][:160]


def _read_shard(path: Path, ids: set[str]) -> dict[str, TokenLogprobs]:
    """The rows of `ids` in one shard, decoded. Page checksums (written since 2026-12-06) are
    verified: a damaged page is an error, not wrong numbers."""
    import pyarrow.parquet as pq

    out: dict[str, TokenLogprobs] = {}
    table = pq.read_table(
        path, filters=[("id", "in", sorted(ids))], page_checksum_verification=True
    )
    version = int((table.schema.metadata or {}).get(b"distill.logprobs.format", b"1"))
    if version > FORMAT:
        raise DistillError(
            f"{path}: log-prob storage format {version} is newer than this distill reads "
            f"({FORMAT}): upgrade distill"
        )
    id_map = None
    if version >= 2:  # the map sits in the shard's first row, which the filter may drop
        with pq.ParquetFile(path, page_checksum_verification=True) as shard:
            first = shard.read_row_group(0, columns=["id_map"])
        id_map = np.cumsum(np.asarray(first.column("id_map")[0].values, dtype=np.int64))
        table = table.drop_columns(["id_map"])
    for row in table.to_pylist():
        n = len(row["token_ids"])
        head = _rows(np.asarray(row["topk_head"], dtype=np.float32), n)
        gaps = _rows(np.asarray(row["topk_logprobs"], dtype=np.int64), n)
        topk_ids = np.asarray(row["topk_ids"], dtype=np.int64)
        if id_map is not None:
            topk_ids = id_map[topk_ids]
        k = head.shape[1] + gaps.shape[1]
        flat = row.get("topk_text")
        out[row["id"]] = TokenLogprobs(
            np.asarray(row["token_ids"]),
            np.asarray(row["logprob"], dtype=np.float32),
            _rows(topk_ids, n),
            _best_first(head, _ungap(head, gaps, version)),
            row.get("token_text"),
            None if row.get("offsets") is None else np.asarray(row["offsets"]),
            None if flat is None else [flat[i * k : (i + 1) * k] for i in range(n)],
        )
    return out


def load(record: dict[str, Any], records_path: str | Path) -> TokenLogprobs:
    """One record's log-probs (for many, `load_many` opens each shard once)."""
    return load_many([record], records_path)[0]


def short_spaces(t: TokenLogprobs, own: dict[int, str], version: int) -> set[int]:
    """The tokens whose stored text and offset may be wrong in a side file of offsets_version
    `version` < 3 (`own`: token id -> its text, from the top-K texts of that file).

    Before 3, char_ends decoded each token alone after the first: a SentencePiece decoder that
    strips the first token's leading space (Llama-2, Mistral; hf and vllm teachers) read a token
    of spaces alone (`▁`, `▁▁`) one space short, so it stored "" or too few spaces and ended
    early, and the next token with text stored those spaces before its own. Only tokens of
    spaces alone read that way (any other text read short is no prefix of what follows), and
    never the first: it was read as the completion's text begins. A token of spaces is wrong
    where its own text (a listed token's, never partial) is other; not known, or listed texts
    that may hold the same mistake (version 1: written before b7fb876), where the next token
    with text starts with a space, as the spaces it took. The result holds such a token and
    every token up to that next one (their starts are wrong), for kd to leave unpaired. That
    guess holds only for a teacher whose files show the mistake (stripped_spaces): a byte-level
    teacher's `ĠĠĠ` before `Ġreturn` is right, and kd asks this of no other."""
    texts = t.token_text or []
    out: set[int] = set()
    for j in range(1, len(texts)):
        if texts[j].strip(" "):
            continue
        nxt = next((m for m in range(j + 1, len(texts)) if texts[m]), len(texts))
        mine = own.get(int(t.token_ids[j]))
        if mine is not None and "\ufffd" in mine:
            continue  # a partial character: its "" is right
        if mine is not None and mine != texts[j]:
            wrong = True
        elif mine is not None and version >= 2:
            wrong = False
        else:
            wrong = nxt == len(texts) or texts[nxt].startswith(" ")
        if wrong:
            out.update(range(j, min(nxt, len(texts) - 1) + 1))
    return out


def stripped_spaces(t: TokenLogprobs, own: dict[int, str]) -> bool:
    """Whether `t`, from a side file of offsets_version < 3 (`own`: as short_spaces), shows the
    mark short_spaces' mistake leaves: a token of spaces stored shorter than its listed text
    (a lone `▁` as "", `▁▁` as " "), or one not listed stored "" where the next token with text
    is a space and ASCII (Llama-2's " 12" is `▁` `1` `2`: "", " 1"). Only a decoder that strips
    a leading space (Llama-2, Mistral) writes that: a byte-level teacher (Qwen, Llama-3) or
    Gemma stores every token of spaces whole, and its "" tokens end inside a character past
    ASCII, which the next one with text holds. Its files keep every pair."""
    texts = t.token_text or []
    for j in range(1, len(texts)):
        if texts[j].strip(" "):
            continue
        mine = own.get(int(t.token_ids[j]))
        if mine is not None:
            if mine and not mine.strip(" ") and len(mine) > len(texts[j]):
                return True
        elif not texts[j]:
            nxt = next((x for x in texts[j + 1 :] if x), "")
            if nxt.startswith(" ") and nxt.isascii():
                return True
    return False


def listed_texts(stored: Sequence[TokenLogprobs]) -> dict[int, str]:
    """Token id -> its text, from the top-K ids and texts of side files written together."""
    out: dict[int, str] = {}
    for t in stored:
        if t.topk_text is None:
            continue
        for ids, texts in zip(t.topk_ids.tolist(), t.topk_text, strict=True):
            out.update((i, x) for i, x in zip(ids, texts, strict=True) if i >= 0)
    return out


# =========================================================================== generate's buffer


def check_resume(records_path: str | Path, need_k: dict[str, int]) -> None:
    """Refuse to resume with --logprobs onto samples stored without (enough) log-probs: their
    ids count as done, so the rerun would skip them and leave them without data. `need_k`
    maps each done id to the top-K its teacher asks for."""
    from distill.records import read_records

    lacking, files, k = [], set(), 0
    for rec in read_records(records_path):
        want = need_k.get(rec.get("id"))
        if want is None:
            continue
        ptr = rec.get("logprobs")
        if not isinstance(ptr, dict) or "file" not in ptr or ptr.get("k", 0) < want:
            lacking.append(rec["id"])
            k = max(k, want)
        else:
            files.add(_file_of(rec, records_path))
    if lacking:
        raise DistillError(
            f"{records_path}: {len(lacking)} samples already there have no top-{k} log-probs "
            f"(e.g. {lacking[0]}); --logprobs cannot add them to existing samples: use a new --out"
        )
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in sorted(files):
        if not path.is_file():
            raise DistillError(f"{records_path}: log-prob side file {path} is missing")
        try:  # its footer (cheap): a file cut short is named now, not when kd reads it
            pq.read_metadata(path)
        except PermissionError:
            raise
        except (pa.ArrowException, OSError) as e:
            raise DistillError(
                f"{records_path}: log-prob side file {path} is damaged ({_reason(e, path)}): "
                f"remove the records that point at it from {records_path} and rerun to sample "
                "them again"
            ) from None


class ShardBuffer:
    """Holds records with log-probs until their shard is durable, then appends the records.

    A record is appended only after the shard it points at is on disk. Each sample is also
    appended to a journal (pending-*.jsonl in the side folder, one line as it arrives, flushed
    like a record) until its shard is written: a kill loses none that were paid for, and the
    rerun writes them (`recover`) instead of buying them again. The journal is this process's
    own, locked while it lives: another generate started on the same --out (distill does not
    lock --out; two teachers may append to one file) leaves it alone.
    """

    def __init__(
        self,
        records_path: str | Path,
        max_records: int = 256,
        max_tokens: int = 1 << 20,
        max_seconds: float = 30.0,
    ):
        self.records_path = Path(records_path)
        self.dir = side_dir(records_path)
        self.max_records, self.max_tokens, self.max_seconds = max_records, max_tokens, max_seconds
        self.pending: list[tuple[dict[str, Any], TokenLogprobs, dict[str, Any]]] = []
        self.tokens = 0
        self.since = 0.0
        self._journal: Any = None  # open (and locked) while samples wait for their shard
        self._journal_path: Path | None = None

    def add(self, record: dict[str, Any], t: TokenLogprobs, **info: Any) -> bool:
        """Buffer one record (journaled at once); True when the buffer is full and should be
        flushed."""
        if self._journal is None:
            self._journal, self._journal_path = _new_journal(self.dir)
        self._journal.write(json.dumps({"record": record, "info": info, "t": _packed(t)}) + "\n")
        self._journal.flush()  # as RecordWriter: the page cache outlives a killed process
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append((record, t, info))
        self.tokens += len(t)
        return (
            len(self.pending) >= self.max_records
            or self.tokens >= self.max_tokens
            or time.monotonic() - self.since >= self.max_seconds
        )

    def flush(self, write: Any) -> None:
        """Write the shard durably, then `write(record)` each buffered record, pointer set; then
        remove the journal. The shard's name is journaled first: a kill after the shard is
        written, before every record is, leaves the rest to point at it (`recover`)."""
        if not self.pending:
            return
        pending, self.pending, self.tokens = self.pending, [], 0
        name = shard_name()
        self._journal.write(json.dumps({"shard": name}) + "\n")
        self._journal.flush()
        # a kill (or Ctrl-C) from here on leaves the journal to the rerun (`recover`)
        _write_pending(self.dir / name, pending, self.records_path, write)
        assert self._journal_path is not None
        # before its lock goes (close): never another run's to take. Gone only where the
        # filesystem has no locks (_lock) and another start took it: not this run's to stop on
        self._journal_path.unlink(missing_ok=True)
        self._journal.close()
        self._journal = self._journal_path = None


PENDING = "pending"  # ShardBuffer's journals: pending-<id>.jsonl in the side folder


def _new_journal(directory: Path) -> tuple[Any, Path]:
    """A journal of this process's own, opened and locked before it takes the name `recover`
    looks for (a `recover` never finds it unlocked while this process lives)."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:16]
    final = directory / f"{PENDING}-{tag}.jsonl"
    tmp = directory / f".{PENDING}-{tag}.tmp"
    f = open(tmp, "a", encoding="utf-8")
    if os.name == "nt":  # no flock, and an open file is not renamed
        f.close()
        tmp.replace(final)
        return open(final, "a", encoding="utf-8"), final
    try_lock(f)
    tmp.replace(final)
    return f, final


def _write_pending(
    shard: Path,
    pending: Sequence[tuple[dict[str, Any], TokenLogprobs, dict[str, Any]]],
    records_path: Path,
    write: Any,
    skip: set[str] | frozenset[str] = frozenset(),
) -> None:
    """`pending`'s shard (unless it is on disk already: it holds them all), then its records,
    pointer set; those of `skip` (written already) neither."""
    if not shard.is_file():
        pending = [p for p in pending if p[0]["id"] not in skip]
        write_shard(shard.parent, [(rec["id"], t) for rec, t, _ in pending], name=shard.name)
    # the shard holds texts and offsets only when every record had them: so says each pointer
    texts = all(t.offsets is not None for _, t, _ in pending)
    for rec, t, info in pending:
        if rec["id"] in skip:
            continue
        if not texts:
            t = dataclasses.replace(t, token_text=None, offsets=None, topk_text=None)
        rec["logprobs"] = pointer(shard, records_path, t, **info)
        write(rec)


def recover(records_path: str | Path) -> int:
    """Append to `records_path` the samples stopped runs' ShardBuffers journaled and never
    wrote (paid for: a rerun must not buy them again), in a shard of their own or the one a
    flush cut short had written; remove those journals. A journal a running generate holds
    (locked) is its own to write. Returns how many were written."""
    side = side_dir(records_path)
    if not any(side.glob(f"{PENDING}*.jsonl")):
        return 0
    written = 0
    # One recover at a time (two generates started together on this --out, say two teachers
    # relaunched): a start that found a journal locked by another start's recover would plan
    # its samples as missing before that one wrote them, and buy them again.
    held = os.open(side, os.O_RDONLY) if os.name != "nt" else None  # the folder's lock
    try:
        if held is not None:
            try_lock(held, wait=True)
        for journal in sorted(side.glob(f"{PENDING}*.jsonl")):
            try:
                f = open(journal, "r+", encoding="utf-8")  # for writing: see _lock
            except PermissionError:  # another user's, in a shared folder: read it
                f = open(journal, encoding="utf-8")
            except FileNotFoundError:  # its run wrote it and removed it meanwhile
                continue
            with f:
                if try_lock(f) and journal.is_file():
                    written += _recover_journal(records_path, journal, f)
    finally:
        if held is not None:
            os.close(held)
    return written


def _recover_journal(records_path: str | Path, journal: Path, f: Any) -> int:
    """`recover` of one journal (`f`, open and locked), then removed."""
    from distill.records import RecordWriter, read_records

    groups: list[tuple[str | None, list[Any]]] = [(None, [])]  # (its shard, entries)
    for line in f:
        try:
            entry = json.loads(line)
            if "shard" in entry:
                groups[-1] = (str(entry["shard"]), groups[-1][1])
                groups.append((None, []))
            else:
                groups[-1][1].append((entry["record"], _unpacked(entry["t"]), dict(entry["info"])))
        except (ValueError, KeyError, TypeError):
            break  # the line a kill cut short: that one sample is lost
    path = Path(records_path)
    on_disk = {r.get("id") for r in read_records(path)} if path.is_file() else set()
    written = 0
    with RecordWriter(path) as writer:
        for name, entries in groups:
            if any(rec["id"] not in on_disk for rec, _, _ in entries):
                shard = journal.parent / Path(name or shard_name()).name
                _write_pending(shard, entries, path, writer.write, skip=on_disk)
            on_disk.update(rec["id"] for rec, _, _ in entries)
        written = writer.written
    journal.unlink()
    return written


def _packed(t: TokenLogprobs) -> dict[str, Any]:
    """A TokenLogprobs as JSON, exactly (the arrays' bytes, base64)."""
    import base64

    def raw(a: np.ndarray | None, dtype: str) -> str | None:
        return None if a is None else base64.b64encode(np.asarray(a, dtype).tobytes()).decode()

    return {
        "k": t.k,
        "token_ids": raw(t.token_ids, "<i8"),
        "logprob": raw(t.logprob, "<f4"),
        "topk_ids": raw(t.topk_ids, "<i8"),
        "topk_logprobs": raw(t.topk_logprobs, "<f4"),
        "token_text": t.token_text,
        "offsets": raw(t.offsets, "<i8"),
        "topk_text": t.topk_text,
    }


def _unpacked(d: dict[str, Any]) -> TokenLogprobs:
    import base64

    def arr(key: str, dtype: str) -> np.ndarray | None:
        v = d[key]
        return None if v is None else np.frombuffer(base64.b64decode(v), dtype).copy()

    ids = arr("token_ids", "<i8")
    shape = (len(ids), int(d["k"]))
    return TokenLogprobs(
        ids,
        arr("logprob", "<f4"),
        arr("topk_ids", "<i8").reshape(shape),
        arr("topk_logprobs", "<f4").reshape(shape),
        d["token_text"],
        arr("offsets", "<i8"),
        d["topk_text"],
    )
