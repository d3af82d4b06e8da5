"""The token ids of a reply after its prompt: one reading (examples.ids_after) for train (the
Renderer), select's likelihood judge (select/reward.py) and cross-tokenizer on-policy kd
(train/kd/xtok.py), which each had their own.

Recorded under public chat templates (tests/fixtures/chat_templates, Llama-2's and Mistral's
`[INST]` ones of tests/test_mistral_turns_s16.py, each on a tiny tokenizer with the family's
special tokens; SentencePiece-style ones too) and replies that open with a space, a newline,
non-ASCII text, an empty reply and a think block:

- train and kd read the same ids everywhere (kd tried the whole text with and without the
  tokenizer's special tokens, train knew which: the same ids);
- the judge read the template's own rendering of the whole chat after the generation prompt:
  the same ids wherever the template writes the finished turn as train trains it, but under
  DeepSeek-R1-Distill's (whose template drops the text before `</think>` from every assistant
  turn, the last too, and whose generation prompt opens `<think>\\n`) it scored the answer
  alone, after `<｜Assistant｜>` without the `<think>` inference writes there: the trace's
  reasoning was never scored; under gpt-oss's and Ministral-reasoning's it scored the think
  block as text of the final answer (train: the analysis channel, [THINK]); where a token
  crosses the prompt's end (Qwen's `ĊĊ` after 'assistant\\n') it scored the whole chat's
  ids, a prompt inference never sends. Right: train's reading (the prompt as inference
  tokenizes it, the reply as the whole chat reads it after that, EOS after an end of turn
  without a stop token of the model's), which the judge now uses.
- Alpaca and raw text rows tokenized the prompt twice (alone, then inside the whole text): the
  whole is now read on from the prompt's last line where the tokenizer reads a line alone.
- Qwen3's (and GLM's) template splits an assistant message at `</think>` itself: a DeepSeek-R1
  trace stored without the `<think>` R1's generation prompt writes (`R\\n</think>\\n\\nA`) was
  trained behind an empty think block, its reasoning as the visible answer with a stray
  `</think>`; it is now trained as the template writes that turn (the reasoning in the block).
  An answer after an empty think block that names the tag was cut there by the template (its
  head trained as reasoning); it is kept whole, as one without the empty block was.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from distill.examples import Example, Renderer
from tests.test_mistral_turns_s16 import student
from tests.test_third_read_sft import tokenizer as family_tokenizer
from tests.tiny import make_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
USER = {"role": "user", "content": "x = 12"}
REPLIES = [
    "the answer is 12",
    " leading space",
    "\nleading newline",
    "café 中文 🙂 ok",
    "",
    "<think>\nR\n</think>\n\nA",
]


def fixture(name: str, family: str = "qwen2"):
    tok = make_tokenizer(family)
    tok.chat_template = (FIXTURES / f"{name}.jinja").read_text()
    return tok


def gemma(name: str):
    tok = family_tokenizer(name)
    return tok, [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")]


TEMPLATES = {  # name -> (tokenizer, the model's stop tokens as its generation_config lists them)
    "qwen2.5": lambda: (fixture("qwen2.5-instruct"), None),
    "llama-3.1": lambda: (fixture("llama-3.1-instruct", "llama"), None),
    "smollm2": lambda: (fixture("smollm2"), None),
    "qwen3": lambda: (fixture("qwen3"), None),
    "deepseek-r1-distill": lambda: (family_tokenizer("deepseek-r1-distill-qwen"), None),
    "gemma-2": lambda: gemma("gemma-2"),
    "gemma-3": lambda: gemma("gemma-3"),
    **{
        f"{name}/{kind}": (lambda name=name, kind=kind: (student(kind, name), None))
        for name in ("mistral-v0.3", "mixtral", "llama-2", "mistral-v0.1")
        for kind in ("bpe", "strip", "metaspace")
    },
}


def ids(tok, text, special=False):
    return tok(text, add_special_tokens=special)["input_ids"]


def judge_reads(tok, model_eos, reply):
    """(prompt ids, reply ids) the likelihood judge scores for USER + reply."""
    from distill.select import reward

    net = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=model_eos))
    chat = [USER, {"role": "assistant", "content": reply}]
    row, start = reward.reply_ids(tok, chat, reward.judge_renderer(tok, net))
    return row[:start], row[start:]


def template_reads(tok, renderer, reply):
    """The reply's ids as the whole chat the template renders reads them after its generation
    prompt (the judge's reading before), with EOS where train adds it."""
    chat = [USER, {"role": "assistant", "content": reply}]
    prompt = ids(tok, tok.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True))
    full = ids(tok, tok.apply_chat_template(chat, tokenize=False))
    if renderer.suffix != renderer.eot:
        full += [tok.eos_token_id]
    assert full[: len(prompt)] == prompt
    return prompt, full[len(prompt) :]


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_train_the_judge_and_kd_read_one_reply_as_one_sequence_of_ids(name, reply):
    from distill.examples import ids_after

    tok, model_eos = TEMPLATES[name]()
    renderer = Renderer(tok, "r1", model_eos)
    ex = Example(prompt=[USER], completion=reply)
    p, c = renderer.encode(ex)
    text = renderer.prompt_text(ex)
    completion = renderer.completion_text(ex, text)
    # kd's on-policy path reads the teacher's reply after its prompt ids, not told whether the
    # prompt holds the tokenizer's special tokens
    assert ids_after(tok, p, text, completion, special=None) == c
    assert judge_reads(tok, model_eos, reply) == (p, c)
    if name == "deepseek-r1-distill":
        # the prompt ends with the `<think>\n` R1 writes; the reply closes (or fills) the block
        assert tok.decode(p).endswith("<｜Assistant｜><think>\n")
        want = "R\n</think>\n\nA" if reply.startswith("<think>") else "\n</think>\n\n" + reply
        assert tok.decode(c) == want + "<｜end▁of▁sentence｜>"
    else:
        assert (p, c) == template_reads(tok, renderer, reply)


def test_the_judge_scored_r1_distills_answer_alone_and_now_its_reasoning_too():
    tok, _ = TEMPLATES["deepseek-r1-distill"]()
    p, c = judge_reads(tok, None, "<think>\nsix and six\n</think>\n\n12")
    assert "six and six" in tok.decode(c)  # (was: '\n\n12<｜end▁of▁sentence｜>')
    assert tok.decode(p).endswith("<think>\n")


def qwen2_pre_tokenizer(digits: str = ""):
    """Qwen2's tokenizer.json pre-tokenizer (Split on its regex, then ByteLevel without one);
    digits '{1,3}': Llama-3's."""
    from tokenizers import Regex, pre_tokenizers

    pattern = (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}" + digits
        + r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    )  # fmt: skip
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def merging_tokenizer(monkeypatch):
    """tests/tiny.py's byte-level BPE learning `ĊĊ` too, pre-tokenized as Qwen2's (its regex
    keeps a run of newlines in one piece): a reply that opens with a newline after ChatML's
    'assistant\\n' reads across the boundary in the whole chat, as under Qwen's own tokenizer."""
    from tests import tiny

    monkeypatch.setattr(tiny, "CORPUS", [*tiny.CORPUS, "a\n\nb\n\nc\n\n"])
    tok = tiny.make_tokenizer("qwen2")
    tok.backend_tokenizer.pre_tokenizer = qwen2_pre_tokenizer()
    assert tok.convert_ids_to_tokens(ids(tok, "\n\n")) == ["ĊĊ"]
    return tok


def test_a_token_across_the_prompts_end_is_read_as_the_prompt_inference_sends(monkeypatch):
    tok = merging_tokenizer(monkeypatch)
    renderer = Renderer(tok, "r1")
    ex = Example(prompt=[USER], completion="\nleading newline")
    p, c = renderer.encode(ex)
    prompt = renderer.prompt_text(ex)
    assert p == ids(tok, prompt)  # 'assistant' 'Ċ': the prompt inference tokenizes
    whole = ids(tok, prompt + renderer.completion_text(ex, prompt))
    assert whole[: len(p)] != p  # the whole chat reads 'ĊĊ' across the boundary
    # the reply is its own tokens after that prompt, for all three (the judge kept the whole
    # chat's ids and moved the crossing 'ĊĊ' into the reply: a prompt inference never sends)
    assert tok.convert_ids_to_tokens(c[:1]) == ["Ċ"]
    assert judge_reads(tok, None, "\nleading newline") == (p, c)


@pytest.mark.parametrize("kind", ["bpe", "strip", "metaspace"])
def test_a_judge_without_a_chat_template_scores_the_ids_it_did(kind):
    from distill.select import reward

    if kind == "bpe":
        tok = make_tokenizer("llama")  # (adds BOS)
    else:
        from tests.test_xtok_spm_s10 import spm

        tok = spm(kind)
    tok.chat_template = None
    for reply in REPLIES[:4]:
        chat = [USER, {"role": "assistant", "content": reply}]
        # before: 'role: content' lines, the prompt ending 'assistant: ', the reply's tokens
        # those of the whole text after the longest run of ids it shares with the prompt's
        prompt = reward.render(tok, chat[:-1]) + "\n\nassistant: "
        before, full = ids(tok, prompt, True), ids(tok, prompt + reply, True)
        start = next((k for k, (a, b) in enumerate(zip(before, full)) if a != b), len(before))
        assert reward.reply_ids(tok, chat) == (full, start), reply


# =========================================================================== the prompt once

LONG = "Sort these words: " + " ".join(f"w{k} the answer is {k}" for k in range(300))


def counting(tok, monkeypatch) -> list[str]:
    """The texts handed to `tok` (its class's __call__ wrapped)."""
    seen: list[str] = []
    call = type(tok).__call__

    def counted(self, text, *a, **kw):
        seen.extend([text] if isinstance(text, str) else text)
        return call(self, text, *a, **kw)

    monkeypatch.setattr(type(tok), "__call__", counted)
    return seen


def split_tokenizer(which: str):
    """A tiny byte-level BPE (with BOS) pre-tokenized as Llama-3's tokenizer.json, or as Qwen2's
    (NFC first)."""
    from tokenizers import normalizers

    tok = make_tokenizer("llama")
    tok.backend_tokenizer.pre_tokenizer = qwen2_pre_tokenizer("{1,3}" if which == "llama-3" else "")
    if which == "qwen2":
        tok.backend_tokenizer.normalizer = normalizers.NFC()
    return tok


PROMPTS = [  # raw text rows: (prompt, completion)
    (LONG + "\nAnswer:", " the answer"),
    (LONG + "\nAnswer:", "\n\nthe answer"),
    (LONG + "\n\n  x = 12 +", "34 café"),
    (LONG + "\n12", "34"),
    (LONG + "\n'", "s"),
    (LONG + "\ne\u0301", "\u0301 é 中文 🙂"),
    (LONG + "\r\nthe  ", "  answer\n"),
    (LONG + "\n\n", "the answer"),
    ("no newline at all" * 30, " the answer"),
]


def old_read(tok, prompt, completion):
    """Alpaca's and raw text's reading before: the prompt alone, then the whole text."""
    p = ids(tok, prompt, True)
    whole = ids(tok, prompt + completion, True)
    return p, whole[len(p) :] if whole[: len(p)] == p else ids(tok, completion)


@pytest.mark.parametrize("which", ["tiny-qwen2", "tiny-llama", "llama-3-split", "qwen2-split"])
def test_alpaca_and_raw_rows_read_the_prompt_once_with_the_same_ids(which, monkeypatch):
    tok = {
        "tiny-qwen2": lambda: make_tokenizer("qwen2"),
        "tiny-llama": lambda: make_tokenizer("llama"),
        "llama-3-split": lambda: split_tokenizer("llama-3"),
        "qwen2-split": lambda: split_tokenizer("qwen2"),
    }[which]()
    raw = Renderer(tok, "r1")
    alpaca = Renderer(tok, "alpaca")
    for prompt, completion in PROMPTS:
        ex = Example(prompt=[{"role": "user", "content": prompt}], completion=completion, raw=True)
        eos = tok.eos_token
        assert raw.encode(ex) == old_read(tok, prompt, completion + eos), (prompt[-12:], completion)
    row = Example(prompt=[], completion="the answer", instruction=LONG, input=LONG)
    text = alpaca.prompt_text(row)
    assert alpaca.encode(row) == old_read(tok, text, "the answer" + tok.eos_token)

    seen = counting(tok, monkeypatch)
    for r, ex in ((raw, Example(prompt=[{"role": "user", "content": LONG + "\nA:"}],
                                completion=" B", raw=True)), (alpaca, row)):  # fmt: skip
        r.encode(ex)  # (the probes a Renderer makes once)
        seen.clear()
        r.encode(ex)
        prompt = r.prompt_text(ex)
        # the prompt's text read once, and a line of it again (was: twice, whole)
        assert sum(len(t) for t in seen) < len(prompt) + 200, which


def test_a_tokenizer_that_may_read_a_line_otherwise_reads_the_whole_text():
    from distill.examples import line_prefix
    from tests.test_xtok_spm_s10 import spm
    from tests.tiny import CHATML

    for tok in (spm("strip"), spm("metaspace")):  # a '▁' before the text's first piece
        tok.chat_template = CHATML
        assert line_prefix(tok) is None
        r = Renderer(tok, "r1")
        for prompt, completion in PROMPTS:
            ex = Example(prompt=[{"role": "user", "content": prompt}], completion=completion)
            ex.raw = True
            assert r.encode(ex) == old_read(tok, prompt, completion + tok.eos_token)


# ============================================================ Qwen3: `</think>` with no `<think>`

R1_TRACE = "six and six\n</think>\n\n12"  # DeepSeek-R1's text after the `<think>\n` it was given


def qwen_like(name: str):
    if name == "glm-4.6":
        from tests.test_reasoning_templates_s15 import tokenizer

        return tokenizer(name)
    return fixture(name)


@pytest.mark.parametrize("name", ["qwen3", "qwen3-thinking-2507", "glm-4.6"])
def test_an_r1_trace_stored_without_its_think_trains_as_the_template_writes_it(name):
    tok = qwen_like(name)
    renderer = Renderer(tok, "r1")
    ex = Example(prompt=[USER], completion=R1_TRACE)
    prompt = renderer.prompt_text(ex)
    trained = renderer.completion_text(ex, prompt)
    # the template's own reading of the message as the last turn: the reasoning in its block
    full = tok.apply_chat_template(
        [USER, {"role": "assistant", "content": R1_TRACE}], tokenize=False
    )
    assert full.startswith(prompt)
    want = full[len(prompt) :]
    assert trained in (want, want + tok.eos_token)  # (EOS where the template ends with none)
    assert trained.count("</think>") == 1 and "six and six" in trained.split("</think>")[0]
    assert "<think></think>" not in trained and "<think>\n\n</think>" not in trained


@pytest.mark.parametrize("name", ["qwen3", "glm-4.6"])
def test_an_answer_that_names_the_tag_inline_still_trains_whole(name):
    tok = qwen_like(name)
    renderer = Renderer(tok, "r1")
    reply = "Close it with </think>, then answer."
    ex = Example(prompt=[USER], completion=reply)
    trained = renderer.completion_text(ex)
    assert reply in trained and trained.index("</think>") < trained.index(reply)


@pytest.mark.parametrize("name", ["qwen3", "glm-4.6"])
def test_an_empty_think_block_before_an_answer_that_names_the_tag_is_not_cut(name):
    tok = qwen_like(name)
    answer = "Close it with </think>, then answer."
    ex = Example(prompt=[USER], completion="<think>\n\n</think>\n\n" + answer)
    trained = Renderer(tok, "r1").completion_text(ex)
    # was: the template cut the answer at its tag, 'Close it with' trained as the reasoning
    assert answer in trained


def test_an_r1_turn_in_a_qwen3_chats_history_reads_as_the_template_writes_it():
    tok = qwen_like("qwen3")
    chat = [USER, {"role": "assistant", "content": R1_TRACE}, {"role": "user", "content": "y?"}]
    rows = Renderer(tok, "r1").sequences(
        Example(prompt=chat, completion="<think>\nR\n</think>\n\nA")
    )
    texts = [tok.decode(row) for row, _ in rows]
    # one row per turn: the first trains the reasoning in its block, the second is served the
    # history as the template writes it (the reasoning of an earlier turn dropped)
    assert len(rows) == 2 and "<think>\nsix and six\n</think>\n\n12" in texts[0]
    assert texts[1].startswith(tok.apply_chat_template(chat, tokenize=False))
    assert "six and six" not in texts[1] and "</think>" not in texts[1].split("y?")[0]


def test_a_likelihood_score_of_the_reading_before_is_not_reused(tmp_path):
    """A judge's cached score keyed as before (the reading that skipped R1-Distill's reasoning)
    is scored again, not ranked beside the new reading's."""
    import json

    from distill.records import stable_hash
    from distill.select.reward import chat_of
    from tests.test_select import select, trace, write
    from tests.tiny import make_tiny_model

    judge = make_tiny_model(tmp_path / "lm", "qwen2", seed=3)
    rec = trace("p1", "What is 1 + 1?", answer="\\boxed{2}")
    src = write(tmp_path / "kept.jsonl", [rec])
    kw = dict(judge=str(judge), judge_backend="likelihood", criteria=["judge"])
    kept, _, rep = select(tmp_path, src, **kw)
    assert rep["judge"]["requests_this_run"] == 1
    cache = Path(rep["judge"]["cache"])
    [row] = [json.loads(line) for line in cache.read_text().splitlines()]
    # the same trace's score under the key before (no reading in it), a number of its own
    from distill.select.reward import model_stamp

    before = {"trace": "p1-0", "judge": str(judge), "backend": "likelihood",
              "chat": stable_hash(chat_of(rec), 32), "weights": model_stamp(str(judge))}  # fmt: skip
    assert stable_hash(before) != row["id"]
    cache.write_text(
        json.dumps({"id": stable_hash(before), "trace_id": "p1-0", "score": -0.5}) + "\n"
    )
    kept, _, rep = select(tmp_path, src, out="b.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 1
    assert kept[0]["meta"]["select"]["judge"] == pytest.approx(row["score"], abs=1e-5)
