"""Review follow-ups: piece_texts (logprobs.py), several teachers' counts (kd/multi.py), the
verifier's prompt count (kd/reward.py), rollouts.jsonl under DDP (kd/rollout.py) and what kd.json
and the card name (kd/__init__.py, publish.py). Each test failed before its fix."""

import pytest


def strip_decoder_tok(metaspace=False):
    """A Unigram tokenizer as Llama-2's / Mistral v0.1's / TinyLlama's: its decoder strips one
    leading space of the text (Strip(' ', 1, 0); converted later: Metaspace, which strips the
    first token's)."""
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<s>", "</s>", "▁", "▁▁", "▁the", "▁▁the", "▁▁▁▁", "t", "h", "e", "a"]
    tok = Tokenizer(models.Unigram([(p, -1.0 - i) for i, p in enumerate(pieces)], unk_id=0))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    if metaspace:
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    else:
        tok.decoder = decoders.Sequence(
            [
                decoders.Replace("▁", " "),
                decoders.ByteFallback(),
                decoders.Fuse(),
                decoders.Strip(" ", 1, 0),
            ]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


# =========================================================================== 1. piece_texts


@pytest.mark.parametrize("metaspace", [False, True])
def test_piece_texts_keeps_every_space_of_a_piece_a_stripping_decoder_reads(metaspace):
    # The decoder strips one leading space of a token decoded alone: '▁▁' read ' ' and '▁▁▁▁'
    # three spaces, so cross-tokenizer kd matched a 4-space token with another vocabulary's
    # 3-space one, and vocab_texts could settle " " on '▁▁'.
    from distill.logprobs import piece_texts
    from distill.train.kd.xtok import vocab_texts

    tok = strip_decoder_tok(metaspace)
    ids = tok.convert_tokens_to_ids(["▁", "▁▁", "▁the", "▁▁the", "▁▁▁▁", "t", "a"])
    assert piece_texts(tok, ids) == [" ", "  ", " the", "  the", "    ", "t", "a"]
    texts = vocab_texts(tok)
    assert texts[" "] == ids[0] and texts["  "] == ids[1] and texts["    "] == ids[4]
