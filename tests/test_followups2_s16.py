"""Follow-ups of this session's reading fixes, on the train and kd side.

1. A student whose template reads the reasoning under a key (gpt-oss `thinking`, GLM's and
   Qwen3's `reasoning_content`, Ministral-reasoning's `thinking` chunks): an assistant message
   without reasoning whose answer merely names `</think>` (explains the tag) was split at the
   tag, by distill (examples.as_template_reads_reasoning) and by Qwen3's and GLM's templates
   themselves: the head of the answer trained as reasoning, the answer cut. Only a content that
   opens with `<think>` is a think block (as export reads it since 1f2a5e1).
2. Cross-tokenizer on-policy (distill/train/kd/xtok.py): a sample was decoded alone, so after a
   template that writes `[/INST]` + ' ' + reply (Mistral v0.1/v0.3, Llama-2) a SentencePiece
   student's first token `▁the` read "the" and was paired with the teacher's "the" (pushing the
   student toward a reply without its space), and a byte-level student's " the" (and Llama-2's
   ' ' before `</s>`) was read by the teacher as the reply's own text; the offline path (a kept
   reply) reads " the" and leaves that position out. A sample now pairs as the same reply kept.
"""

from __future__ import annotations

import pytest

from distill.examples import REASONING_CHUNKS, as_template_reads_reasoning
from tests.test_reasoning_templates_s15 import (
    USER,
    USER2,
    record,
    rendered,
    tokenizer,
    train_rows,
)

NO_REASONING = "A reply's thought ends with </think>, then the reply."


@pytest.mark.parametrize("name", ["gpt-oss", "glm-4.6", "qwen3", "ministral-3-reasoning"])
def test_a_reply_without_reasoning_that_names_the_tag_trains_whole(tmp_path, name):
    tok = tokenizer(name)
    [(_, text, trained)] = train_rows(tmp_path, tok, [record(None, NO_REASONING)])
    # what the template writes for a reply without reasoning, this answer in its place
    plain = rendered(tok, [USER, {"role": "assistant", "content": "PLAIN"}])
    prompt = rendered(tok, [USER], add_generation_prompt=True)
    want = plain.replace("PLAIN", NO_REASONING)
    assert text in (want, want + tok.eos_token)  # (EOS added where the template ends with none)
    assert text.startswith(prompt) and "".join(trained) == text[len(prompt) :]


@pytest.mark.parametrize("key", ["reasoning_content", "thinking", REASONING_CHUNKS])
def test_only_a_content_that_opens_with_a_think_block_is_split(key):
    m = {"role": "assistant", "content": NO_REASONING}
    assert as_template_reads_reasoning(m, key) == m
    opened = {"role": "assistant", "content": "\n<think>\nR\n</think>\n\nA names </think>."}
    moved = as_template_reads_reasoning(opened, key)
    if key == REASONING_CHUNKS:
        parts = [
            {"type": "thinking", "thinking": "R"},
            {"type": "text", "text": "A names </think>."},
        ]
        assert moved == {"role": "assistant", "content": parts}
    else:
        assert moved == {"role": "assistant", "content": "A names </think>.", key: "R"}


@pytest.mark.parametrize("name", ["glm-4.6", "qwen3"])
def test_a_history_turn_that_names_the_tag_is_read_whole(tmp_path, name):
    later = {"role": "assistant", "content": "<think>\nR\n</think>\n\n4"}
    chat = {"messages": [USER, {"role": "assistant", "content": NO_REASONING}, USER2, later]}
    rows = train_rows(tmp_path, tokenizer(name), [chat])
    assert NO_REASONING in rows[-1][1]


# =========================================================================== 2. on-policy xtok

SPACED = ["mistral-v0.3", "mistral-v0.1", "llama-2"]  # '[/INST]' + ' ' + reply


def kept_onpolicy(tmp_path, kind, name, reply, served=None):
    """A SentencePiece (or byte-level: kind 'bpe') student of `name`'s template (tests/test_mistral_turns_s16.py) and a
    byte-level ChatML teacher; one kept reply, on policy -> (its batch with the offline path's
    columns, the same reply as the student's sample read by XTokTeacher.sampled /
    ServedXTok.sampled, the reply's positions in the row)."""
    import json
    from types import SimpleNamespace

    from distill.train import TrainConfig
    from distill.train.kd.xtok import XTokTeacher, served_xtok, xtok_dataset
    from tests.test_mistral_turns_s16 import student
    from tests.tiny import make_tokenizer

    s_tok, t_tok = student(kind, name), make_tokenizer("qwen2")
    s_tok.pad_token = s_tok.pad_token or "<unk>"
    t_tok.save_pretrained(tmp_path / "t")  # (the served path loads its template from there)
    (tmp_path / "t" / "config.json").write_text('{"model_type": "qwen2"}')
    data = tmp_path / "d.jsonl"
    msgs = [{"role": "user", "content": "x = 12"}, {"role": "assistant", "content": reply}]
    data.write_text(json.dumps({"messages": msgs}) + "\n")
    cfg = TrainConfig(
        data=str(data),
        model=str(tmp_path / "s"),
        output_dir=str(tmp_path / "o"),
        max_length=256,
        method="onpolicy",
        teacher_model=str(tmp_path / "t"),
        lmbda=0.5,  # (served: the kept replies are scored too, as kd's)
        **({"teacher_url": "http://served.invalid/v1"} if served else {}),
    )
    if served:
        teacher, ds, collate = served_xtok(cfg, s_tok, None, served)
    else:
        gen = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=t_tok.eos_token_id))
        teacher = XTokTeacher(SimpleNamespace(tok=t_tok, name="t", model=gen), s_tok, "hybrid")
        ds, collate = xtok_dataset(cfg, s_tok, None, teacher)
    batch = collate([ds[0]])
    at = (batch["labels"][0] != -100).nonzero().flatten().tolist()
    return batch, teacher.sampled(batch["input_ids"], batch["labels"], batch), at


REPLIES = ["the answer is 12", "x = 12 + 34"]


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("name", [*SPACED, "mixtral"])
@pytest.mark.parametrize("kind", ["strip", "metaspace", "bpe"])
def test_an_onpolicy_sample_pairs_as_the_same_reply_kept(tmp_path, kind, name, reply):
    kept, sampled, at = kept_onpolicy(tmp_path, kind, name, reply)
    assert sampled["xtok_ids"].tolist() == kept["xtok_ids"].tolist()
    assert sampled["xtok_pos"][0, at].tolist() == kept["xtok_pos"][0, at].tolist()
    if name in SPACED:
        # the reply's first token ('▁the', '▁x': the template's space and the word) follows
        # other text than the teacher's first ('the'): compared with it, the student was pushed
        # toward a reply without the space its template writes
        assert int(sampled["xtok_pos"][0, at[0]]) == -1


class Served:
    """A server that scores text in the ChatML teacher's tokenization (each token's own text as
    its one top-1 entry), as distill.teachers.scorers.ServedTeacher answers."""

    def __init__(self, tok):
        self.tok, self.name, self.k, self.scored, self.shown = tok, "t", 1, 0, "served"
        self.refusal = RuntimeError("no scoring")

    def score_text(self, texts, special=True):
        # special: vLLM's add_special_tokens (default true); this tokenizer adds none either way
        out = []
        for text in texts:
            enc = self.tok(text, add_special_tokens=special, return_offsets_mapping=True)
            starts = [s for s, _ in enc["offset_mapping"]]
            ends = [*starts[1:], len(text)]
            out.append([(text[s:e], s, {text[s:e]: -0.1}) for s, e in zip(starts, ends)])
        return out


@pytest.mark.parametrize("name", SPACED)
def test_a_served_teacher_pairs_an_onpolicy_sample_as_the_same_reply_kept(tmp_path, name):
    from tests.tiny import make_tokenizer

    served = Served(make_tokenizer("qwen2"))
    kept, sampled, at = kept_onpolicy(tmp_path, "metaspace", name, REPLIES[0], served)
    paired = [int(x) != -1 for x in kept["teacher_ids"][0, at, 0]]
    assert [int(x) != -1 for x in sampled["teacher_ids"][0, at, 0]] == paired
    assert not paired[0] and sum(paired) > 3
