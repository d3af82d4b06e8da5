"""Real datasets train what their authors meant (session 12): a prompt's chat is read whatever
`weight` its turns carry (nothing of a prompt trains); a reply is trained as the student's template
writes the finished turn (Llama-3.1's `content | trim`); a message's content given as text parts
trains its text; `distill train` refuses a --max-length the
student cannot take before it imports peft and TRL.

    .venv/bin/python -m pytest tests/test_real_layouts_s12.py -q

Templates: the real checkpoints' strings of tests/fixtures/chat_templates on a tiny tokenizer.
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.examples import Renderer, load_examples, spans, tokenize_examples
from tests.test_datasets import template_tokenizer


def write(tmp_path, rows, name="data.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


# =========================================================================== weights of a prompt

# OpenHermes-2.5 / SlimOrca-style ShareGPT turns with a weight distill cannot train by (0.5): as a
# prompt (onpolicy's prompt source, a prompt/completion row's prompt) no turn is trained, so the
# weight is no reason to refuse the row.
HALF = [
    {"from": "system", "value": "Be brief.", "weight": 0.5},
    {"from": "human", "value": "What is 2 + 2?", "weight": 0.5},
    {"from": "gpt", "value": "It is 4.", "weight": 0.5},
    {"from": "human", "value": "And 3 + 3?", "weight": 0.5},
]


def test_onpolicy_reads_a_prompt_chat_whose_turns_carry_any_weight(tmp_path):
    # "conversations[1] (user) has weight 0.5: distill trains assistant turns only" refused a
    # prompt source whose turns carry no loss anyway
    from distill.train import TrainConfig
    from distill.train.kd.data import prompt_dataset, prompt_source

    cfg = TrainConfig(
        data=write(tmp_path, [{"conversations": HALF}]),
        model="m",
        output_dir=str(tmp_path / "o"),
        method="onpolicy",
        teacher_model="t",
        max_length=512,
    )
    assert prompt_source(cfg)
    tok = template_tokenizer("qwen2.5-instruct")
    ds, st = prompt_dataset(cfg, tok, None)
    assert st["kept"] == 1
    assert tok.decode(ds[0]["input_ids"]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
        "<|im_start|>assistant\nIt is 4.<|im_end|>\n<|im_start|>user\nAnd 3 + 3?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_a_prompt_completion_rows_prompt_turns_carry_any_weight(tmp_path):
    # TRL's conversational prompt/completion: the prompt is context whatever its weights say;
    # the completion's own weight still decides (tests/test_sharegpt_s11.py)
    prompt = [{"role": "user", "content": "What is 2 + 2?", "weight": 0.5}]
    row = {"prompt": prompt, "completion": [{"role": "assistant", "content": "It is 4."}]}
    tok = template_tokenizer("qwen2.5-instruct")
    [ex] = load_examples(write(tmp_path, [row]))
    cols, st = tokenize_examples([ex], Renderer(tok, "r1"), 512)
    [(ids, mask)] = zip(cols["input_ids"], cols["completion_mask"])
    assert [tok.decode(ids[a:b]) for a, b in spans(mask)] == ["It is 4.<|im_end|>\n"]


# =========================================================================== as the template writes it

# ShareGPT dumps (and Alpaca outputs) keep the whitespace around a turn's text: a leading space,
# trailing newlines
SPACED = [
    {"from": "human", "value": "What is 2 + 2?\n"},
    {"from": "gpt", "value": " It is 4.\n"},
    {"from": "human", "value": "And 3 + 3?"},
    {"from": "gpt", "value": "It is 6.\n\n"},
]


@pytest.mark.parametrize(
    "template, replies",
    [
        # Llama-3.1 writes `content | trim`: distill trained " It is 4.\n<|eot_id|>", a space and
        # a newline the student never sees in its history (and one row per turn, the history
        # then not matching the trained text)
        ("llama-3.1-instruct", ["It is 4.<|eot_id|>", "It is 6.<|eot_id|>"]),
        # ChatML writes the content as it is
        ("qwen2.5-instruct", [" It is 4.\n<|im_end|>\n", "It is 6.\n\n<|im_end|>\n"]),
    ],
)
def test_a_reply_trains_as_the_template_writes_the_finished_turn(tmp_path, template, replies):
    tok = template_tokenizer(template)
    [ex] = load_examples(write(tmp_path, [{"conversations": SPACED}]))
    cols, st = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
    assert st.sequences == 1
    [(ids, mask)] = zip(cols["input_ids"], cols["completion_mask"])
    assert [tok.decode(ids[a:b]) for a, b in spans(mask)] == replies
    chat = [
        {"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]}
        for t in SPACED
    ]
    assert tok.decode(ids) == tok.apply_chat_template(chat, tokenize=False)


# =========================================================================== content parts


def parts(*texts):
    return [{"type": "text", "text": t} for t in texts]


def test_a_messages_content_given_as_text_parts_trains_its_text(tmp_path):
    # OpenAI's chat format (and TRL's conversational rows) allow content as a list of parts:
    # distill refused the row ("messages[0] (user) has no text content")
    row = {
        "messages": [
            {"role": "system", "content": parts("Be brief.")},
            {"role": "user", "content": parts("What is ", "2 + 2?")},
            {"role": "assistant", "content": parts("It is 4.")},
        ]
    }
    tok = template_tokenizer("qwen2.5-instruct")
    [ex] = load_examples(write(tmp_path, [row]))
    cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
    [(ids, mask)] = zip(cols["input_ids"], cols["completion_mask"])
    assert [tok.decode(ids[a:b]) for a, b in spans(mask)] == ["It is 4.<|im_end|>\n"]
    assert tok.decode(ids).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>"
    )


def test_an_image_part_is_refused_in_one_line(tmp_path):
    image = {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}
    row = {
        "messages": [
            {"role": "user", "content": [image, *parts("What is this?")]},
            {"role": "assistant", "content": "A cat."},
        ]
    }
    with pytest.raises(
        DistillError,
        match=r"row 1: messages\[0\] \(user\) has a content part of type 'image_url'; "
        r"distill trains text only",
    ):
        list(load_examples(write(tmp_path, [row])))


# =========================================================================== cheap refusals first


def test_a_max_length_the_student_cannot_take_is_refused_before_peft_and_trl_load(
    tmp_path, tiny_qwen, monkeypatch
):
    # build_trainer imported peft and TRL (seconds) first thing, then read the student's context:
    # with both unimportable (None in sys.modules), the refusal comes first or not at all
    import sys

    from distill.errors import DistillError
    from distill.train import run
    from distill.train.config import TrainConfig
    from tests.test_train import kept_file

    for name in ("peft", "trl"):
        monkeypatch.setitem(sys.modules, name, None)
    cfg = TrainConfig(
        data=str(kept_file(tmp_path, n=2)), model=str(tiny_qwen),
        output_dir=str(tmp_path / "o"), max_length=4096,
    )  # fmt: skip
    with pytest.raises(DistillError, match="max_length 4096 is longer than the context"):
        run(cfg)
    assert not (tmp_path / "o").exists()
