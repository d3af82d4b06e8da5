"""Second reading of cross-tokenizer kd (distill/train/kd/xtok.py, distill/teachers/scorers.py):
one test per bug found, each failing before its fix."""

from distill.train.kd.xtok import TopKXTok, shared_vocab, vocab_texts
from tests.test_xtok import bpe
from tests.tiny import CORPUS


def byte_fallback_tok():
    """A SentencePiece-style BPE as Gemma's and Llama-2's: byte-fallback pieces <0x00>..<0xFF>
    at ids 3-258, before the real pieces; '▁' for a space."""
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    for p in ["▁", "4", "A", "t", "h", "e", "th", "the", "▁the"]:
        vocab[p] = len(vocab)
    tok = Tokenizer(
        models.BPE(
            vocab, [("t", "h"), ("th", "e"), ("▁", "the")], unk_token="<unk>", byte_fallback=True
        )
    )
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="</s>", bos_token="<s>", unk_token="<unk>"
    )


def test_a_text_spelled_by_a_byte_fallback_piece_too_maps_to_the_piece_the_tokenizer_writes():
    """Gemma-3's '<0x34>' (id 290) decodes to '4' as its real '4' (id 236812) does: the teacher's
    '4' was mapped to the byte piece, which the student never predicts (its mass ~0), so the
    hybrid KL pulled the student towards byte pieces on every digit."""
    tok = byte_fallback_tok()
    four, a, the = (tok.convert_tokens_to_ids(p) for p in ("4", "A", "▁the"))
    assert tok("4 the A", add_special_tokens=False)["input_ids"] == [four, the, 259, a]
    texts = vocab_texts(tok)
    assert (texts["4"], texts["A"], texts[" the"], texts[" "]) == (four, a, the, 259)
    assert texts["B"] == tok.convert_tokens_to_ids("<0x42>")  # spelled by its byte piece only
    teacher = TopKXTok(tok, "hybrid", "t")
    assert teacher.student_ids([["4", " the", "A", "B"]]) == [[four, the, a, 3 + ord("B")]]
    other = bpe(300, CORPUS * 20)
    s_ids, t_ids = shared_vocab(tok, other)
    by_text = dict(zip(s_ids, t_ids, strict=True))
    assert four in by_text and 3 + ord("4") not in by_text


def test_a_served_teacher_with_vllms_text_offsets_and_a_bos_it_adds_is_read_not_refused(
    tmp_path, tiny_qwen
):
    """vLLM's echoed text_offset is the running sum of each token's own decoded length (a byte
    piece of a multi-byte character alone reads as U+FFFD, one character), and it puts BOS
    before a text prompt (Llama, Gemma): every later offset was shifted, the tokens read back
    as other text and the teacher was refused as one that normalises text (the probe's 中文 🙂
    already). The tokens' own texts place them: the same top-K as with exact offsets."""
    import torch

    from distill.train import build_trainer
    from distill.train.kd.xtok import ServedXTok
    from tests.test_kd import first_batch
    from tests.test_xtok import tiny_model_with
    from tests.test_xtok_served import served_cfg
    from tests.xtokserver import TextScoringServer

    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    big = bpe(700, (other + CORPUS[::-1]) * 20)
    assert len(big("中文 🙂", add_special_tokens=False)["input_ids"]) > 3  # byte pieces
    path = tiny_model_with(big, tmp_path / "teacher", seed=3)
    batches = {}
    # alpaca rows: no template writes their BOS, so they are sent with add_special_tokens true
    # and the server puts its BOS in front (a rendered chat is sent with it false since f9195d7)
    for how in ("exact", "vllm", "vllm+bos"):
        srv = TextScoringServer(
            str(path), str(path), vllm_offsets=how != "exact", bos=0 if "bos" in how else None
        ).start()
        try:
            cfg = served_cfg(tmp_path, tiny_qwen, srv, path, teacher_top_k=4, format="alpaca")
            trainer = build_trainer(cfg)[0]
        finally:
            srv.stop()
        assert isinstance(trainer.teacher, ServedXTok)
        if how == "vllm+bos":  # the case this test is for: the BOS was put in front
            assert any(r["special"] for r in srv.log if isinstance(r["prompts"][0], str))
        batches[how] = first_batch(trainer)
    exact, vllm, bos = batches["exact"], batches["vllm"], batches["vllm+bos"]
    assert (exact["teacher_ids"] >= 0).any()
    assert torch.equal(exact["teacher_ids"], vllm["teacher_ids"])
    assert torch.equal(exact["teacher_logprobs"], vllm["teacher_logprobs"])
    # with BOS the teacher reads one more token (other numbers), at the same positions
    paired = [(b["teacher_ids"] != -1).any(-1) for b in (exact, bos)]
    assert torch.equal(*paired) and paired[0].any()


def test_a_side_file_of_the_students_own_tokenizer_with_unknown_hash_stays_same_vocabulary(
    tmp_path, tiny_qwen
):
    """generate --teacher openai against vLLM under a served name: vocab_hash null, the token
    texts from each token's `bytes`, which vLLM takes from the token decoded alone (a byte piece
    of a split character: U+FFFD). The student's tokenizer reads the ids as that text except
    there, and the side file was taken for another tokenizer's (the lossy text path, every
    position after the first such character unpaired)."""
    import json

    from distill.logprobs import TokenLogprobs, pointer, side_dir, text_offsets, write_shard
    from distill.models import load_tokenizer
    from distill.train.kd.xtok import stored_xtok
    from tests.test_kd import kd_cfg
    from tests.test_train import kept_file

    tok = load_tokenizer(str(tiny_qwen))
    data = kept_file(tmp_path, n=2)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    ids = tok("the answer is 46 é 中文 🙂 done", add_special_tokens=False)["input_ids"]
    assert any("\ufffd" in tok.decode([i]) for i in ids)  # a character split in byte pieces
    texts, offsets = text_offsets([tok.decode([i]).encode() for i in ids])
    top = [[i] for i in ids]
    t = TokenLogprobs(ids, [-0.1] * len(ids), top, [[-0.1]] * len(ids), texts, offsets,
                      [[tok.decode([i])] for i in ids])  # fmt: skip
    shard = write_shard(side_dir(data), [(r["id"], t) for r in rows])
    for r in rows:
        r["logprobs"] = pointer(shard, data, t, "org/served-name", None, False)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert stored_xtok(kd_cfg(tmp_path, tiny_qwen, data=str(data)), tok) is None
    # another tokenizer's ids read as other text: still the cross-tokenizer path
    other = bpe(300, CORPUS * 20)
    assert stored_xtok(kd_cfg(tmp_path, tiny_qwen, data=str(data)), other) is not None
