"""A prompt the hf/vllm teacher's chat template refuses (Gemma-2's 'System role not supported'
for a --system-prompt turn or a chat's own, two user turns in a row) stopped generate after the
model had loaded with a bare `TemplateError` naming no row. Every prompt still to sample is
rendered with the tokenizer alone first: a refused one is one line naming its row and the
template's message, before the weights load (the loaders here fail the test if called) and before
anything is written; one that renders is sent as the same text as before."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from distill.errors import DistillError

GEMMA2 = Path(__file__).parent / "fixtures" / "chat_templates" / "gemma-2.jinja"


@pytest.fixture(scope="module")
def gemma_like(tmp_path_factory) -> Path:
    """The tiny Qwen2 model with Gemma-2's real chat template."""
    from transformers import AutoTokenizer

    from tests.tiny import make_tiny_model

    path = make_tiny_model(tmp_path_factory.mktemp("tiny-gemma-tmpl"), "qwen2")
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = GEMMA2.read_text()
    tok.save_pretrained(path)
    return path


@pytest.fixture
def no_weights(monkeypatch):
    """Loading the weights fails the test: the refusal must come before."""
    import distill.teachers.hf as hf

    def refuse(*a, **k):
        raise AssertionError("the model's weights were loaded")

    monkeypatch.setattr(hf, "load_causal_lm", refuse)


def rows(path: Path, items: list) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return str(path)


def generate(tmp_path: Path, model: Path, data: str, **kw):
    from distill.generate import GenerateConfig, run

    cfg = GenerateConfig(
        data=data,
        teacher=kw.pop("teacher", "hf"),
        model=str(model),
        out=str(tmp_path / "t.jsonl"),
        max_tokens=4,
        device="cpu",
        seed=0,
        **kw,
    )
    return run(cfg, progress=False)


def test_a_system_prompt_gemma_refuses_is_one_line_naming_the_row_before_the_weights_load(
    tmp_path, gemma_like, no_weights
):
    data = rows(tmp_path / "q.jsonl", [{"question": "What is 1 + 1?"}, {"question": "2 + 2?"}])
    with pytest.raises(DistillError) as e:
        generate(tmp_path, gemma_like, data, system_prompt="Be brief.")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{data} row 1: ")
    assert "System role not supported" in msg and "roles: system, user" in msg
    assert "drop --system-prompt" in msg and msg.endswith("(and 1 more prompt)")
    # nothing written: no traces file, no saved config
    assert not (tmp_path / "t.jsonl").exists() and not (tmp_path / "t.generate.yaml").exists()


def test_two_user_turns_in_a_row_name_their_row(tmp_path, gemma_like, no_weights):
    chat = [{"role": "user", "content": "Hi."}, {"role": "user", "content": "What is 3 + 4?"}]
    data = rows(
        tmp_path / "c.jsonl",
        [{"prompt": [{"role": "user", "content": "What is 1 + 2?"}]}, {"prompt": chat}],
    )
    with pytest.raises(DistillError) as e:
        generate(tmp_path, gemma_like, data)
    msg = str(e.value)
    assert msg.startswith(f"{data} row 2: ") and "roles must alternate" in msg
    assert "roles: user, user" in msg and "drop or fix the row" in msg


def test_a_chats_own_system_turn_says_to_drop_that_turn(tmp_path, gemma_like, no_weights):
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1 + 2?"}]
    data = rows(tmp_path / "c.jsonl", [{"prompt": chat}])
    with pytest.raises(DistillError, match=r"row 1: .*drop the row's system turn"):
        generate(tmp_path, gemma_like, data)


def test_a_prompt_that_renders_is_sent_as_the_template_renders_it(tmp_path, gemma_like):
    """The prompt tokens the model is given decode to apply_chat_template's text, bitwise."""
    import distill.teachers.hf as hf
    from distill.models import load_tokenizer

    seen = []
    real = hf.load_causal_lm

    def spying(*a, **k):
        model = real(*a, **k)
        generate_ = model.generate

        def recording(**kw):
            seen.extend(kw["input_ids"].tolist())
            return generate_(**kw)

        model.generate = recording
        return model

    hf.load_causal_lm, saved = spying, hf.load_causal_lm
    try:
        data = rows(tmp_path / "q.jsonl", [{"question": "What is 1 + 1?"}, {"question": "2 + 2?"}])
        generate(tmp_path, gemma_like, data, temperature=0.0)
    finally:
        hf.load_causal_lm = saved
    tok = load_tokenizer(str(gemma_like))
    want = [
        tok.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in ("What is 1 + 1?", "2 + 2?")
    ]
    got = [tok.decode([t for t in ids if t != tok.pad_token_id]) for ids in seen]
    assert sorted(got) == sorted(want)
    recs = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(recs) == 2


def test_the_hf_teacher_driven_directly_refuses_in_one_line(gemma_like):
    """A caller that did not check first (instruct's teacher): a DistillError, not a traceback."""
    from distill.generate import GenerateConfig
    from distill.teachers.base import Job
    from distill.teachers.hf import HFTeacher

    cfg = GenerateConfig(data="builtin:arithmetic", teacher="hf", model=str(gemma_like),
                         out="unused.jsonl", max_tokens=2, device="cpu")  # fmt: skip
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    with pytest.raises(DistillError, match="prompt p7: .*System role not supported"):
        HFTeacher(cfg).run([Job("p7", msgs, [0])], sink=None)


def test_the_vllm_teacher_refuses_before_the_engine_starts(tmp_path, gemma_like, monkeypatch):
    vllm = types.ModuleType("vllm")

    class LLM:
        def __init__(self, **kw):
            raise AssertionError("vLLM's engine was started")

    vllm.LLM = LLM
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    data = rows(tmp_path / "q.jsonl", [{"question": "What is 1 + 1?"}])
    with pytest.raises(DistillError, match=rf"^{data} row 1: .*System role not supported"):
        generate(tmp_path, gemma_like, data, teacher="vllm", system_prompt="Be brief.")


def test_eval_refuses_before_the_student_loads(tmp_path, gemma_like, no_weights):
    from distill.eval import EvalConfig, run

    data = rows(tmp_path / "q.jsonl", [{"question": "What is 1 + 1?", "answer": "2"}])
    cfg = EvalConfig(model=str(gemma_like), data=data, out=str(tmp_path / "eval.json"),
                     system_prompt="Be brief.", max_tokens=2, device="cpu")  # fmt: skip
    with pytest.raises(DistillError, match=rf"^{data} row 1: .*drop --system-prompt"):
        run(cfg)


def test_select_refuses_before_the_student_loads(tmp_path, gemma_like, no_weights):
    from distill.select import SelectConfig
    from distill.select.stage import run

    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "What is 1 + 1?"}]
    rec = {"id": "a-0", "prompt_id": "a", "sample": 0, "messages": msgs, "reasoning": "",
           "answer": "\\boxed{2}", "gold": "2", "finish_reason": "stop",
           "teacher": {"backend": "openai", "model": "t", "params": {}},
           "usage": {"prompt_tokens": 5, "completion_tokens": 5}, "meta": {}}  # fmt: skip
    src = tmp_path / "kept.jsonl"
    src.write_text(json.dumps(rec) + "\n")
    cfg = SelectConfig(input=str(src), out=str(tmp_path / "sel.jsonl"), student=str(gemma_like),
                       student_backend="hf", samples=1, student_max_tokens=2)  # fmt: skip
    with pytest.raises(DistillError, match=rf"^{src}:1: .*System role not supported"):
        run(cfg, quiet=True)
