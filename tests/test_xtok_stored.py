"""Stored top-K across tokenizers: `distill generate --logprobs K` side files record each token's
text, its character offset and the top-K tokens' texts (distill/logprobs.py); kd without a teacher
model reads them by text when the student's tokenizer is another (distill/train/kd/xtok.py)."""

import json
import math

import numpy as np
import pytest
import torch

from distill.errors import DistillError
from distill.logprobs import (
    TokenLogprobs,
    load_many,
    piece_texts,
    pointer,
    side_dir,
    text_offsets,
    vocab_hash,
    with_texts,
    write_shard,
)
from distill.train import build_trainer, run
from distill.train.kd.xtok import UNMAPPED, TopKXTok, topk_xtok_loss
from tests.test_kd import first_batch, kd_cfg, loss_of
from tests.test_train import kept_file
from tests.test_xtok import bpe, tiny_model_with
from tests.tiny import CORPUS


@pytest.fixture(scope="module")
def big_tok():
    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    return bpe(700, (other + CORPUS[::-1]) * 20)


@pytest.fixture(scope="module")
def teacher_dir(big_tok, tmp_path_factory):
    """A tiny teacher of another tokenizer (other merges, size and turn markers)."""
    return tiny_model_with(big_tok, tmp_path_factory.mktemp("xtok-stored-teacher"), seed=3)


def stored_from(tmp_path, teacher, k, texts=True, drop_key=False):
    """kept.jsonl whose records point at side shards of `teacher`'s real top-K on its own
    tokenization of each completion (as generate --logprobs K stores them, texts and offsets
    with `texts`; without, as a side file written before them)."""
    from transformers import AutoModelForCausalLM

    from distill.examples import Renderer, load_examples
    from distill.models import load_tokenizer

    data = kept_file(tmp_path, n=8)
    tok = load_tokenizer(str(teacher))
    model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    r = Renderer(tok, "r1", model.generation_config.eos_token_id)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    items = []
    for row, ex in zip(rows, load_examples(str(data)), strict=True):
        p, c = r.encode(ex)
        c = c[:-1]  # the teacher stopped at its end of turn; the template's "\n" is not its
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([p + c])).logits[0, len(p) - 1 : -1], -1)
        top = lp.topk(k, -1)
        t = TokenLogprobs(
            torch.tensor(c).numpy(),
            lp.gather(-1, torch.tensor(c)[:, None])[:, 0].numpy(),
            top.indices.numpy(),
            top.values.numpy(),
        )
        items.append((row, with_texts(t, tok) if texts else t))
    shard = write_shard(side_dir(data), [(row["id"], t) for row, t in items])
    for row, t in items:
        row["logprobs"] = pointer(shard, data, t, str(teacher), vocab_hash(tok), True)
        if drop_key:  # a pointer written before the key existed
            del row["logprobs"]["offsets"]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return data


# --------------------------------------------------------------------------- side files


def test_side_files_keep_token_texts_offsets_and_topk_texts(big_tok, tmp_path):
    text = "the answer is 46 é 中文 🙂 done"
    ids = big_tok(text, add_special_tokens=False)["input_ids"] + [big_tok.eos_token_id]
    n, k = len(ids), 5
    rng = np.random.default_rng(0)
    top_ids = rng.integers(0, len(big_tok), (n, k))
    lps = np.log(rng.dirichlet(np.ones(k + 3), n)[:, :k]).astype(np.float32)
    t = with_texts(TokenLogprobs(ids, lps[:, 0], top_ids, lps), big_tok)
    assert "".join(t.token_text) == text + "<|end|>"
    assert t.offsets.tolist() == np.cumsum([0] + [len(x) for x in t.token_text[:-1]]).tolist()
    assert any(x == "" for x in t.token_text)  # a byte piece that closes no character yet
    shard = write_shard(tmp_path, [("r1", t)])
    got = load_many(
        [{"id": "r1", "logprobs": {"file": shard.name, "tokens": n}}], tmp_path / "x.jsonl"
    )[0]
    assert got.token_text == t.token_text and got.offsets.tolist() == t.offsets.tolist()
    # the top-K is stored best first: the texts follow their ids
    for row_ids, row_texts in zip(got.topk_ids.tolist(), got.topk_text, strict=True):
        assert row_texts == piece_texts(big_tok, row_ids)
    # from the tokens' bytes (an OpenAI-compatible server's `bytes`): the same texts
    pieces = [bytes(list("中".encode())[:2]), bytes(list("中".encode())[2:]), b" a"]
    assert text_offsets(pieces) == (["", "中", " a"], [0, 0, 1])


def test_a_side_file_written_before_offsets_loads_and_trains_the_same_vocabulary_path(
    tmp_path, tiny_qwen
):
    """Same tokenizer, stored without texts (and the pointer without its `offsets` key): read
    as before, and the loss is the one of the same records with texts."""
    from tests.test_kd import write_stored_logprobs
    from tests.tiny import make_tiny_model

    teacher = make_tiny_model(tmp_path / "t", "qwen2", seed=1)
    data = write_stored_logprobs(tmp_path, teacher, k=4)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    assert all(r["logprobs"]["offsets"] is False for r in rows)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
    want = loss_of(trainer, first_batch(trainer))
    for r in rows:
        del r["logprobs"]["offsets"]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_many(rows, data)[0].offsets is None
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
    assert not isinstance(trainer.teacher, TopKXTok)
    got = loss_of(trainer, first_batch(trainer))
    assert got > 0 and got == want


# --------------------------------------------------------------------------- the loss


def mapped_student(t_lps, t_ids, vocab):
    """Student log-probs [N, vocab] that put each mapped teacher token's mass on its id, the
    unmapped listed masses on other ids of its own and the rest spread evenly below them."""
    n, k = t_lps.shape
    s = torch.zeros(n, vocab)
    for i in range(n):
        p = t_lps[i].exp()
        free = [v for v in range(vocab) if v not in t_ids[i].tolist()]
        for j in range(k):
            if t_ids[i, j] >= 0:
                s[i, t_ids[i, j]] = p[j]
            else:
                s[i, free.pop()] = p[j]
        s[i, free] = (1 - p.sum()) / len(free)
    return s.log()


def test_topk_loss_is_zero_for_the_teachers_mapped_distribution_and_positive_otherwise():
    torch.manual_seed(0)
    vocab, k = 12, 4
    probs = torch.distributions.Dirichlet(torch.ones(k + 6)).sample((5,))
    t_lps = probs[:, :k].sort(-1, descending=True).values.log()  # the top-K, the rest smaller
    t_lps = torch.log_softmax(torch.cat([t_lps, torch.full((5, 1), -9.0)], -1), -1)[:, :k]
    t_ids = torch.tensor([[3, UNMAPPED, 0, 7]] * 3 + [[UNMAPPED, 1, -1, -1]] * 2)
    t_lps = t_lps.masked_fill(t_ids == -1, 0.0)
    valid_lps = t_lps.masked_fill(t_ids == -1, float("-inf"))
    s_lp = mapped_student(valid_lps, t_ids, vocab)
    for kind in ("uld", "hybrid"):
        assert topk_xtok_loss(kind, s_lp, t_ids, t_lps, 1.0).abs().max() < 1e-5, kind
        logits = (torch.randn(5, vocab) * 3).requires_grad_()
        loss = topk_xtok_loss(kind, torch.log_softmax(logits, -1), t_ids, t_lps, 1.0)
        assert (loss > 1e-3).all(), kind
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # the hybrid tells the mapped tokens apart; ULD does not
    swapped = s_lp.clone()
    swapped[:, [3, 0]] = s_lp[:, [0, 3]]
    assert topk_xtok_loss("uld", swapped, t_ids, t_lps, 1.0)[:3].abs().max() < 1e-5
    assert (topk_xtok_loss("hybrid", swapped, t_ids, t_lps, 1.0)[:3] > 1e-3).all()


# --------------------------------------------------------------------------- training


def test_kd_from_stored_topk_of_another_tokenizer_trains_by_token_text(
    tmp_path, tiny_qwen, teacher_dir
):
    data = stored_from(tmp_path, teacher_dir, k=8)
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0)
    trainer = build_trainer(cfg)[0]
    assert isinstance(trainer.teacher, TopKXTok) and trainer.teacher.shared > 0
    batch = first_batch(trainer)
    t_ids = batch["teacher_ids"][:, 1:][batch["labels"][:, 1:] != -100]
    assert (t_ids >= 0).any() and (t_ids == UNMAPPED).any()  # some texts spelled alike, some not
    assert loss_of(trainer, batch) > 1e-3
    out = run(
        kd_cfg(tmp_path, tiny_qwen, data=str(data), max_steps=1, output_dir=str(tmp_path / "r"))
    )
    (row,) = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert math.isfinite(row["loss"]) and row["kl"] > 0 and 0.3 < row["aligned_share"] < 1.0
    state = json.loads((out / "kd.json").read_text())
    assert state["xtok"] == "hybrid" and state["teacher_vocab"] is None


def test_a_side_file_without_offsets_for_another_tokenizer_is_one_line(
    tmp_path, tiny_qwen, teacher_dir
):
    data = stored_from(tmp_path, teacher_dir, k=4, texts=False, drop_key=True)
    with pytest.raises(DistillError) as e:
        build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data)))
    msg = str(e.value)
    assert "\n" not in msg and "part-" in msg and "re-run distill generate --logprobs" in msg, msg
    assert f"'{teacher_dir}'" in msg and "no token offsets" in msg


def test_generate_hf_logprobs_writes_token_texts_and_offsets(tmp_path, tiny_qwen):
    from distill.generate import run as generate
    from distill.models import load_tokenizer
    from distill.records import read_records
    from tests.test_logprobs import hf_cfg

    out = tmp_path / "t.jsonl"
    generate(hf_cfg(tiny_qwen, out, limit=2, n=1, max_tokens=12), progress=False)
    recs = list(read_records(out))
    tok = load_tokenizer(str(tiny_qwen))
    assert len(recs) == 2 and all(r["logprobs"]["offsets"] is True for r in recs)
    for lp in load_many(recs, out):
        text = tok.decode(lp.token_ids.tolist(), skip_special_tokens=False)
        assert "".join(lp.token_text) == text
        starts = np.cumsum([0] + [len(x) for x in lp.token_text[:-1]]).tolist()
        assert lp.offsets.tolist() == starts
        assert lp.topk_text == [piece_texts(tok, row) for row in lp.topk_ids.tolist()]


def test_stored_loss_is_zero_for_the_students_own_topk_under_another_tokenizer(tmp_path, tiny_qwen):
    """Side files of the student's own weights under a tokenizer that renames a turn marker
    (another vocab hash: the cross-tokenizer path): 0 with both --xtok; another teacher's not."""
    from tests.test_xtok import renamed_turns
    from tests.tiny import make_tiny_model

    same = renamed_turns(tiny_qwen, tmp_path / "same")
    other = renamed_turns(make_tiny_model(tmp_path / "o", "qwen2", seed=1), tmp_path / "other")
    for path, zero in ((same, True), (other, False)):
        (tmp_path / path.name).mkdir(exist_ok=True)
        data = stored_from(tmp_path / path.name, path, k=8)
        trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
        assert isinstance(trainer.teacher, TopKXTok)
        batch = first_batch(trainer)
        for kind in ("hybrid", "uld"):
            trainer.teacher.kind = kind
            got = loss_of(trainer, batch)
            # the side file rounds log-probs (float16 head: ~0.2% of each probability here): a
            # sorted L1 sees that at first order (measured 6e-5 vs 8.5e-4 for the other
            # teacher), the KL at second (2e-7 vs 7e-4)
            tol = 1e-6 if kind == "hybrid" else 1.5e-4
            assert got == pytest.approx(0.0, abs=tol) if zero else got > 3 * tol, (kind, got)


def test_the_stored_teachers_end_of_turn_is_the_students(tmp_path, tiny_qwen, teacher_dir, big_tok):
    """The stored stop token (<|end|>, which no student token spells) at the position where the
    student ends its turn (<|im_end|>): listed as the student's end of turn, not left to the
    rank-only comparison where any token the teacher lacks stands in for it."""
    data = stored_from(tmp_path, teacher_dir, k=len(big_tok))  # every token listed
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
    s_end = trainer.processing_class.convert_tokens_to_ids("<|im_end|>")
    batch = first_batch(trainer)
    labels, t_ids = batch["labels"][:, 1:], batch["teacher_ids"][:, 1:]
    ends = (labels == s_end).nonzero().tolist()
    assert len(ends) == 4
    for row, col in ends:  # the teacher's end there is the student's; nothing else maps to it
        assert (t_ids[row, col] == s_end).sum() == 1
    inside = t_ids[labels != -100][(labels[labels != -100] != s_end)]
    assert (inside == s_end).sum() == (inside >= 0).any(-1).sum()  # listed at every compared row


def test_an_example_before_the_first_that_ends_its_turn_maps_the_stop_too(
    tmp_path, tiny_qwen, teacher_dir, big_tok
):
    """The first example's text differs from what its teacher stored at its end (no end pair of
    its own): its top-K rows list the teacher's stop as the student's all the same, as every
    later example's do (the pairing is done before any example is mapped)."""
    data = stored_from(tmp_path, teacher_dir, k=len(big_tok))
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[0]["answer"] += " Done"  # the texts part before either side's end of turn
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), kd_alpha=1.0))[0]
    s_end = trainer.processing_class.convert_tokens_to_ids("<|im_end|>")
    first = trainer.data_collator([trainer.train_dataset[0]])
    labels, t_ids = first["labels"][0, 1:], first["teacher_ids"][0, 1:]
    rows_compared = t_ids[(labels != -100) & (t_ids >= 0).any(-1)]
    assert len(rows_compared) and bool(((rows_compared == s_end).sum(-1) == 1).all())
