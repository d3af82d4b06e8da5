"""Third read of SFT's rendering and loss: the exact tokens the loss falls on under the public chat
templates of the families students come from, and the chunked loss against TRL's under packing
and gradient accumulation.

Templates (tests/fixtures/chat_templates/*.jinja, verbatim): gemma-2 (TRL's gemma.jinja),
gemma-3 (google/gemma-3-270m's chat_template.jinja, = TRL's gemma3.jinja), llama-3.2 (TRL's
llama3_2.jinja), phi-3 (TRL's phi3.jinja), phi-4 (microsoft/phi-4), mistral-v0.3
(mistralai/Mistral-7B-Instruct-v0.3), mixtral (Mixtral-8x7B-Instruct-v0.1), smollm2
(SmolLM2-135M-Instruct's, from the builtin GGUF); the others as tests/fixtures/chat_templates/README.md.
Each is worn by a tiny byte-level tokenizer (tests/tiny.py) given the family's special tokens.
"""

import re
from pathlib import Path

import pytest

from distill.examples import Example, Renderer, spans, tokenize_examples
from tests.tiny import make_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
SPECIALS = {  # (added special tokens, eos, bos) of each family
    "gemma-2": (["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"], "<eos>", "<bos>"),
    "gemma-3": (["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"], "<eos>", "<bos>"),
    "mistral-v0.3": (["<s>", "</s>", "[INST]", "[/INST]"], "</s>", "<s>"),
    "mixtral": (["<s>", "</s>"], "</s>", "<s>"),
    "phi-3": (
        ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"],
        "<|endoftext|>",
        None,
    ),
    "phi-4": (["<|im_start|>", "<|im_end|>", "<|im_sep|>"], "<|im_end|>", None),
    "deepseek-r1-distill-qwen": (
        ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"],
        "<｜end▁of▁sentence｜>",
        "<｜begin▁of▁sentence｜>",
    ),
}
# the stop tokens of each family's generation_config.json (by text) beside its tokenizer's EOS
MODEL_STOPS = {"gemma-2": ["<end_of_turn>"], "gemma-3": ["<end_of_turn>"], "phi-3": ["<|end|>"]}


def tokenizer(name):
    tok = make_tokenizer("llama" if name.startswith("llama") else "qwen2")
    if name in SPECIALS:
        extra, eos, bos = SPECIALS[name]
        tok.add_special_tokens(
            {
                "additional_special_tokens": extra,
                "eos_token": eos,
                **({"bos_token": bos} if bos else {}),
            }
        )
    tok.chat_template = (FIXTURES / f"{name}.jinja").read_text()
    return tok


def renderer(name, **kw):
    tok = tokenizer(name)
    stops = [tok.convert_tokens_to_ids(t) for t in MODEL_STOPS.get(name, [])]
    return tok, Renderer(tok, "r1", [tok.eos_token_id, *stops] if stops else None, **kw)


def marked(tok, ids, mask):
    """The row decoded, each trained span in [[...]]."""
    out, at = "", 0
    for a, b in spans(mask):
        out += tok.decode(ids[at:a]) + "[[" + tok.decode(ids[a:b]) + "]]"
        at = b
    return out + tok.decode(ids[at:])


def rows(name, ex, **kw):
    tok, r = renderer(name, **kw)
    return [marked(tok, ids, mask) for ids, mask in r.sequences(ex)]


TRACE = "<think>\nR1\n</think>\n\nA1"
SINGLE = Example(prompt=[{"role": "user", "content": "Q1"}], completion=TRACE)
SYSTEM = Example(
    prompt=[{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q1"}],
    completion=TRACE,
)
CHAT = Example(
    prompt=[
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": TRACE},
        {"role": "user", "content": "Q2"},
    ],
    completion="<think>\nR2\n</think>\n\nA2",
)
DATE = re.compile(r"Today Date: \d\d \w\w\w \d{4}")  # llama-3.2 writes today's date


@pytest.mark.parametrize(
    "name, single, system",
    [
        (
            "gemma-2",
            "<bos><start_of_turn>user\nQ1<end_of_turn>\n<start_of_turn>model\n[["
            + TRACE
            + "<end_of_turn>\n]]",
            None,  # its template refuses a system message (tested: one line naming the row)
        ),
        (
            "gemma-3",
            "<bos><start_of_turn>user\nQ1<end_of_turn>\n<start_of_turn>model\n[["
            + TRACE
            + "<end_of_turn>\n]]",
            "<bos><start_of_turn>user\nSYS\n\nQ1<end_of_turn>\n<start_of_turn>model\n[["
            + TRACE
            + "<end_of_turn>\n]]",
        ),
        (
            # the template writes " " + content: the reply's first character, trained as the
            # whole text reads it (a Mistral tokenizer's '▁' of the first word, as mistral_common)
            "mistral-v0.3",
            "<s>[INST] Q1[/INST][[ " + TRACE + "</s>]]",
            "<s>[INST] SYS\n\nQ1[/INST][[ " + TRACE + "</s>]]",
        ),
        ("mixtral", "<s>[INST] Q1 [/INST][[" + TRACE + "</s>]]", None),
        (
            # the template ends a conversation with EOS after <|end|>\n (as TRL trains it too)
            "phi-3",
            "<|user|>\nQ1<|end|>\n<|assistant|>\n[[" + TRACE + "<|end|>\n<|endoftext|>]]",
            "<|system|>\nSYS<|end|>\n<|user|>\nQ1<|end|>\n<|assistant|>\n[["
            + TRACE
            + "<|end|>\n<|endoftext|>]]",
        ),
        (
            "phi-4",
            "<|im_start|>user<|im_sep|>Q1<|im_end|><|im_start|>assistant<|im_sep|>[["
            + TRACE
            + "<|im_end|>]]",
            "<|im_start|>system<|im_sep|>SYS<|im_end|><|im_start|>user<|im_sep|>Q1<|im_end|>"
            "<|im_start|>assistant<|im_sep|>[[" + TRACE + "<|im_end|>]]",
        ),
        (
            "smollm2",
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
            "<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[["
            + TRACE
            + "<|im_end|>\n]]",
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[["
            + TRACE
            + "<|im_end|>\n]]",
        ),
        (
            "llama-3.2",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
            "December 2023\nToday Date: DATE\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            "Q1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n[["
            + TRACE
            + "<|eot_id|>]]",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
            "December 2023\nToday Date: DATE\n\nSYS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            "Q1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n[["
            + TRACE
            + "<|eot_id|>]]",
        ),
        (
            "qwen2.5-instruct",
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
            "<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[["
            + TRACE
            + "<|im_end|>\n]]",
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[["
            + TRACE
            + "<|im_end|>\n]]",
        ),
        (
            "qwen3",
            "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[[" + TRACE + "<|im_end|>\n]]",
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[["
            + TRACE
            + "<|im_end|>\n]]",
        ),
        (
            # the generation prompt's <think>\n is the prompt's, never learned
            "deepseek-r1-distill-qwen",
            "<｜begin▁of▁sentence｜><｜User｜>Q1<｜Assistant｜><think>\n[[R1\n</think>\n\nA1<｜end▁of▁sentence｜>]]",
            "<｜begin▁of▁sentence｜>SYS<｜User｜>Q1<｜Assistant｜><think>\n[[R1\n</think>\n\nA1<｜end▁of▁sentence｜>]]",
        ),
    ],
)
def test_a_single_turn_trace_and_a_system_prompt_train_exactly_the_assistant_turn(
    name, single, system
):
    date = lambda rows: [DATE.sub("Today Date: DATE", r) for r in rows]  # noqa: E731
    assert date(rows(name, SINGLE)) == [single]
    if system is not None:
        assert date(rows(name, SYSTEM)) == [system]
    else:
        from distill.errors import DistillError

        with pytest.raises(DistillError, match="chat template refuses this chat"):
            rows(name, SYSTEM)


@pytest.mark.parametrize(
    "name, merged",
    [
        # a finished turn renders as trained: one sequence, both turns carry the loss
        ("gemma-3", True),
        ("mistral-v0.3", True),  # its " " before a reply trained with it
        ("mixtral", True),
        ("phi-4", True),
        ("smollm2", True),
        ("llama-3.2", True),
        ("qwen2.5-instruct", True),
        # the history renders otherwise (phi-3's EOS, Qwen3 and R1-Distill drop an earlier
        # turn's reasoning): one row per turn, under the history as rendered
        ("phi-3", False),
        ("qwen3", False),
        ("deepseek-r1-distill-qwen", False),
    ],
)
def test_a_chat_trains_every_turn_under_the_history_the_template_renders(name, merged):
    tok, r = renderer(name)
    got = r.sequences(CHAT)
    assert len(got) == (1 if merged else 2)
    trained = [tok.decode(ids[a:b]) for ids, mask in got for a, b in spans(mask)]
    end = r.suffix
    first = r.lead + TRACE.removeprefix(r.prefill) + end
    assert trained == [first, r.lead + CHAT.completion.removeprefix(r.prefill) + end]
    # every trained turn's context is token for token the prompt inference renders for that turn
    msgs = [*CHAT.prompt, {"role": "assistant", "content": CHAT.completion}]
    starts = [(ids, a) for ids, mask in got for a, _ in spans(mask)]
    for i, (ids, at) in zip([1, 3], starts, strict=True):
        gen = tok.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True)
        assert ids[:at] == tok(gen, add_special_tokens=False)["input_ids"]
    if name in ("qwen3", "deepseek-r1-distill-qwen"):  # the 2nd row's history has no R1
        assert "R1" not in tok.decode(got[1][0])
    # --train-on last: the last turn alone, the same tokens as its row (or the merged one)
    tok, last = renderer(name, train_on="last")
    ((ids, mask),) = last.sequences(CHAT)
    assert [tok.decode(ids[a:b]) for a, b in spans(mask)] == [trained[-1]]
    assert ids == got[-1][0]


def test_llama_bos_is_written_once_in_r1_alpaca_and_export():
    from distill.export import rendered_pair

    tok, r = renderer("llama-3.1-instruct")
    bos = tok.bos_token_id
    assert tok("x")["input_ids"][0] == bos  # the tokenizer adds BOS, and so does the template
    ((ids, _),) = r.sequences(SINGLE)
    assert ids.count(bos) == 1 and ids[0] == bos
    alpaca = Renderer(tok, "alpaca")
    ((ids, mask),) = alpaca.sequences(
        Example(prompt=SINGLE.prompt, completion="A", instruction="Q1")
    )
    assert ids.count(bos) == 1 and ids[0] == bos
    # export --model: TRL tokenizes the prompt with the tokenizer's specials: one BOS, the same ids
    pair = rendered_pair(r, SINGLE)
    p = tok(pair["prompt"])["input_ids"]
    c = tok(pair["completion"], add_special_tokens=False)["input_ids"]
    assert p + c == r.sequences(SINGLE)[0][0] and p.count(bos) == 1


def test_a_stop_string_written_in_an_answer_is_the_stop_token_as_trl_tokenizes_it():
    """A trace whose text holds '<|im_end|>' trains the stop token there (the student learns to
    stop mid-answer): the tokenizer's reading, as TRL's and LLaMA-Factory's; pinned so a change is
    deliberate (README judgment call in the third read's report)."""
    tok, r = renderer("qwen2.5-instruct")
    ex = Example(prompt=SINGLE.prompt, completion="A1 <|im_end|> more")
    ((ids, mask),) = r.sequences(ex)
    loss = [t for t, m in zip(ids, mask) if m]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    assert loss.count(end) == 2 and tok.decode(loss) == "A1 <|im_end|> more<|im_end|>\n"


def test_truncation_keeps_the_first_max_length_tokens_of_a_merged_chat_and_their_labels():
    tok, r = renderer("qwen2.5-instruct")
    ((full, fmask),) = r.sequences(CHAT)
    cut = len(full) - 3  # inside the last turn's completion: its end of turn is cut
    cols, st = tokenize_examples([CHAT], r, cut, "truncate")
    assert cols["input_ids"] == [full[:cut]] and cols["completion_mask"] == [fmask[:cut]]
    assert st.truncated == 1 and st.turns == 2 and tok.eos_token_id in full[cut:]
    cols, st = tokenize_examples([CHAT], r, cut, "drop")
    assert cols["input_ids"] == [] and st.dropped_overlong == 1


# --------------------------------------------------------------------------- the loss


def _trainer(tmp_path, student, chunk, **kw):
    from distill.train import build_trainer
    from tests.test_kd import kd_cfg

    cfg = kd_cfg(tmp_path, student, method="sft", loss_chunk_size=chunk, **kw)
    return build_trainer(cfg)[0]


def _accumulated(trainer, steps):
    """The loss and gradients of `steps` micro-batches with the count transformers passes."""
    import torch

    dl = iter(trainer.get_train_dataloader())
    batches = [trainer._prepare_inputs(next(dl)) for _ in range(steps)]
    n = trainer._get_num_items_in_batch(batches, torch.device("cpu"))
    trainer.model.eval()
    total = 0.0
    for b in batches:
        loss = trainer.compute_loss(trainer.model, dict(b), num_items_in_batch=n)
        loss.backward()
        total += float(loss)
    grads = {k: p.grad for k, p in trainer.model.named_parameters() if p.grad is not None}
    return total, grads, batches


@pytest.mark.parametrize("lora", [False, True])
def test_chunked_sft_equals_trl_packed_with_gradient_accumulation(tmp_path, tiny_qwen, lora):
    import torch

    kw = dict(packing=True, lora=lora, per_device_train_batch_size=1)
    full, g_full, batches = _accumulated(_trainer(tmp_path, tiny_qwen, 0, **kw), 2)
    part, g_part, _ = _accumulated(_trainer(tmp_path, tiny_qwen, 5, **kw), 2)
    # packed: one row, positions restart at each example, whose first token carries no label
    pos = batches[0]["position_ids"][0]
    starts = (pos == 0).nonzero().flatten().tolist()
    assert len(starts) >= 2 and (batches[0]["labels"][0][starts] == -100).all()
    assert part == pytest.approx(full, rel=1e-5) and full > 1.0
    assert g_full.keys() == g_part.keys() and len(g_full) > 4
    for k, g in g_full.items():
        assert torch.allclose(g_part[k], g, atol=1e-6, rtol=1e-4), k


def test_packing_leaves_the_loss_a_mean_over_the_same_completion_tokens(tmp_path, tiny_qwen):
    """All 8 examples in one step, packed or padded: the same per-token mean (TRL's), no token
    lost at a packed boundary, none seen across one."""
    packed, _, pb = _accumulated(
        _trainer(tmp_path, tiny_qwen, 5, packing=True, lora=False, per_device_train_batch_size=8), 1
    )
    padded, _, ub = _accumulated(
        _trainer(tmp_path, tiny_qwen, 5, packing=False, lora=False, per_device_train_batch_size=8),
        1,
    )
    count = lambda b: int((b["labels"][:, 1:] != -100).sum())  # noqa: E731
    assert count(pb[0]) == count(ub[0]) > 50
    assert packed == pytest.approx(padded, rel=1e-4)
