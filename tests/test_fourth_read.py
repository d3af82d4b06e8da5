"""Fourth read of b7fb876 (piece_texts after a sentinel), f7b66db (rollouts.jsonl's rank) and
9f9f9b1 (the guard's sys.settrace replacement): cases the fixes' own tests left out."""


def _tok(model, decoder, normalizer=None, pre=None):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    t = Tokenizer(model)
    if normalizer is not None:
        t.normalizer = normalizer
    if pre is not None:
        t.pre_tokenizer = pre
    t.decoder = decoder
    return PreTrainedTokenizerFast(
        tokenizer_object=t, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def test_piece_texts_sentinel_without_an_a_token_reads_bytes_and_spaces():
    # No "a" in the vocabulary: the sentinel is the byte-fallback piece <0x61>; a lone lead
    # byte (<0xE2>) fuses with it into invalid UTF-8 and is read alone, as before.
    from tokenizers import decoders, models, normalizers

    from distill.logprobs import piece_texts

    pieces = ["<unk>", "<s>", "</s>", "▁", "▁▁", "▁the", "t", "<0xE2>", "<0x61>", "<0x20>"]
    tok = _tok(
        models.BPE({p: i for i, p in enumerate(pieces)}, [], unk_token="<unk>", byte_fallback=True),
        decoders.Sequence(
            [
                decoders.Replace("▁", " "),
                decoders.ByteFallback(),
                decoders.Fuse(),
                decoders.Strip(" ", 1, 0),
            ]
        ),  # fmt: skip
        normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]),
    )
    ids = tok.convert_tokens_to_ids(pieces[3:])
    assert piece_texts(tok, ids) == [" ", "  ", " the", "t", "\ufffd", "a", " "]


def test_piece_texts_metaspace_always_and_added_tokens():
    # A Metaspace decoder that strips the first token's '▁' (the sentinel is '▁a'), an added
    # token and a special one: each reads as it does in running text.
    from tokenizers import AddedToken, decoders, models, pre_tokenizers

    from distill.logprobs import piece_texts

    pieces = ["<unk>", "<s>", "</s>", "▁", "▁▁", "▁a", "▁the", "t"]
    tok = _tok(
        models.Unigram([(p, -1.0 - i) for i, p in enumerate(pieces)], unk_id=0),
        decoders.Metaspace(replacement="▁", prepend_scheme="always"),
        pre=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
    )
    tok.add_tokens([AddedToken("<think>", special=False)])
    tok.add_special_tokens({"additional_special_tokens": ["<|im_end|>"]})
    names = ["▁", "▁▁", "▁a", "▁the", "t", "<think>", "<|im_end|>"]
    ids = tok.convert_tokens_to_ids(names)
    assert piece_texts(tok, ids) == [" ", "  ", " a", " the", "t", "<think>", "<|im_end|>"]


def test_a_resume_trims_every_ranks_rollouts_to_the_checkpoint(tmp_path):
    # rollouts.jsonl now holds every process's lines, each with its rank: a resume from
    # checkpoint-2 keeps the rollouts sampled before step 2 of every rank, and a half line.
    import json

    from distill.train.callbacks import trim_log

    log = tmp_path / "rollouts.jsonl"
    rows = [{"step": s, "row": 0, "rank": r} for s in range(4) for r in (0, 1)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 3, "ro')
    trim_log(log, 2 - 1)
    got = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(r["step"], r["rank"]) for r in got] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_one_process_raises_its_own_error_without_a_broadcast(monkeypatch):
    # A single process (CPU, accelerate's state of one): no broadcast is made, the error is
    # raised as it was (a RolloutError keeps its class for save_resumable).
    from types import SimpleNamespace

    import accelerate.utils
    import pytest

    from distill.train.kd.rollout import RolloutError, _on_rank0

    def broadcast(*a, **k):
        raise AssertionError("no broadcast on one process")

    monkeypatch.setattr(accelerate.utils, "broadcast_object_list", broadcast)
    acc = SimpleNamespace(process_index=0, num_processes=1)
    trainer = SimpleNamespace(is_world_process_zero=lambda: True, accelerator=acc)

    def fail():
        raise RolloutError("--rollout-url http://x stopped answering")

    with pytest.raises(RolloutError, match="stopped answering"):
        _on_rank0(trainer, fail)
    _on_rank0(trainer, lambda: None)


def test_the_settrace_replacement_hands_out_no_real_tracer_setter():
    # The replacement's closure and globals (the guard's) hold no unaudited settrace/setprofile:
    # whatever the solution finds there and calls with a function is a violation.
    from distill.filter.sandbox import MODES, probe, run_code

    isolated = [m for m in MODES if probe(m) is None]
    code = (
        "import sys\n"
        "f = sys.settrace\n"
        "found = [c.cell_contents for c in f.__closure__ or ()] + list(f.__globals__.values())\n"
        "found += [getattr(v, 'settrace', None) for v in list(found)]\n"
        "for v in found:\n"
        "    if callable(v) and getattr(v, '__name__', '') == 'settrace' and v is not f:\n"
        "        v(lambda *a: None)\n"
        "sys.setprofile(lambda *a: None)\n"
        "def add(a, b): return a + b\n"
    )
    r = run_code(code, tests="assert add(1, 2) == 3", isolation=isolated[0] if isolated else "none")
    assert (r.ok, r.reason) == (False, "sandbox violation")
