"""A second read of eval's think / gold / maj@k fixes and publish's Hub deletions and --private:
what each fix left in the paths it did not test (a served model, a model without a chat
template, a program's indentation, a user's files in a subfolder, a visibility not reported)."""

from __future__ import annotations

import json

import pytest

from distill.eval import EvalConfig, run
from distill.teachers import TEACHERS
from tests.test_third_read_eval import (
    R1_DISTILL,
    fake_local_teacher,
    hub,
    model_folder,
    student_folder,
)

__all__ = ["hub"]  # the fixture, used by name


CUT_OFF_AND_CLOSED = [
    ("59 + 63 = \\boxed{122}, but let me check that ag", "length"),  # cut off in the thinking
    ("59 + 63 = 122.\n</think>\n\nThe answer is \\boxed{122}.", "stop"),
]


# =========================================================================== think


def test_a_served_model_that_prefills_think_and_is_cut_off_has_no_answer(tmp_path, monkeypatch):
    """A served R1-distill model with no reasoning parser: its replies hold `</think>` and no
    `<think>` (the server's template opened it). One cut off before `</think>` was read whole
    as the answer, and the \\boxed{} drafted in its thinking scored it correct (cff413c left the
    openai backend out: no tokenizer to ask; its own samples say so)."""
    monkeypatch.setitem(TEACHERS, "openai", fake_local_teacher(CUT_OFF_AND_CLOSED))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret-000")
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="deepseek-r1-distill",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        data="builtin:arithmetic?n=1",
        n=2,
        temperature=0.6,
        out=str(out),
    )
    run(cfg)
    result = json.loads(out.read_text())
    assert result["student"]["pass@1"] == 0.5


def test_a_served_model_that_writes_no_think_tags_keeps_its_answers(tmp_path, monkeypatch):
    """The other side: a served model with no think block at all is scored on its text."""
    monkeypatch.setitem(
        TEACHERS,
        "openai",
        fake_local_teacher([("\\boxed{122}", "stop"), ("So \\boxed{122}", "length")]),
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret-000")
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="plain",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        data="builtin:arithmetic?n=1",
        n=2,
        temperature=0.6,
        out=str(out),
    )
    run(cfg)
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0


def test_a_model_whose_tokenizer_has_no_chat_template_is_scored_not_a_crash(tmp_path, monkeypatch):
    """vLLM renders a multimodal model's prompt with its processor's template (vllm.py); its
    tokenizer may have none. opens_think rendered with the tokenizer's and raised ValueError
    after every sample was drawn."""
    from tests.tiny import make_tokenizer

    path = tmp_path / "vlm"
    tok = make_tokenizer("qwen2")
    tok.chat_template = None
    tok.save_pretrained(path)
    (path / "config.json").write_text('{"model_type": "qwen2"}')
    monkeypatch.setitem(TEACHERS, "hf", fake_local_teacher([("\\boxed{122}", "stop")]))
    out = tmp_path / "eval.json"
    run(EvalConfig(model=str(path), data="builtin:arithmetic?n=1", out=str(out)))
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0


def test_a_local_r1_distill_sample_that_closes_think_is_unchanged(tmp_path, monkeypatch):
    """in_think reads only samples with no tag of their own; a closed block stays as split it."""
    from distill.eval import in_think

    rec = {"reasoning": "r", "answer": "\\boxed{1}", "think": "prefilled"}
    assert in_think(rec) is rec
    model = model_folder(tmp_path / "r1", R1_DISTILL)
    monkeypatch.setitem(TEACHERS, "hf", fake_local_teacher([CUT_OFF_AND_CLOSED[1]]))
    out = tmp_path / "eval.json"
    run(EvalConfig(model=str(model), data="builtin:arithmetic?n=1", out=str(out)))
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0


# =========================================================================== maj@k


def test_code_maj_at_k_keeps_programs_that_differ_in_indentation_apart():
    """code_key collapsed every run of whitespace, newlines and indentation too: two programs
    that differ in one line's indentation (another program in Python) were one vote, and the
    majority's wrong program counted as right because the right one shared its key."""
    from distill.eval import score
    from distill.filter.sandbox import require_isolation

    def rec(i, code):
        return {
            "id": f"p-{i}",
            "prompt_id": "p",
            "answer": f"```python\n{code}\n```\n",
            "meta": {"tests": {"inputs": ["21\n"], "outputs": ["22\n"]}},
        }

    right = "n = int(input())\nif n > 100:\n    n = 0\nprint(n + 1)"
    wrong = "n = int(input())\nif n > 100:\n    n = 0\n    print(n + 1)"
    recs = [rec(0, wrong), rec(1, wrong), rec(2, right)]
    s = score(recs, "code", sandbox=require_isolation(True))
    assert s["pass@1"] == round(1 / 3, 4) and s["maj@3"] == 0.0
    # trailing spaces and blank lines are no other program
    same = [rec(0, right + "   \n\n"), rec(1, right), rec(2, wrong)]
    assert score(same, "code", sandbox=require_isolation(True))["maj@3"] == 1.0


def test_math_maj_at_k_is_unchanged():
    from distill.eval import score

    recs = [
        {"id": f"p-{i}", "prompt_id": "p", "answer": a, "gold": "4"}
        for i, a in enumerate(["\\boxed{4}", "\\boxed{5}", "5", "\\boxed{5}"])
    ]
    s = score(recs, "math")
    assert s["pass@1"] == 0.25 and s["maj@4"] == 0.0


# =========================================================================== publish


def test_a_publish_keeps_the_users_safetensors_in_a_subfolder(tmp_path, hub):
    """delete_patterns match with fnmatch, whose `*` crosses '/': 'model-*.safetensors' deleted
    a user's quantised copy in model-awq/model.safetensors (or model-gguf/...) on every publish."""
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = student_folder(tmp_path / "student", merged=True)
    (student / "merged" / "model.safetensors").unlink()
    (student / "merged" / "model-00001-of-00002.safetensors").write_bytes(b"1")
    (student / "merged" / "model-00002-of-00002.safetensors").write_bytes(b"2")
    publish(PublishConfig(dir=str(student), repo_id="me/student", merged=True))
    files = hub["me/student"]["files"]
    files["model-awq/model.safetensors"] = b"the user's own quantised copy"
    files["model-awq/config.json"] = b"its config"
    files["eval/results.json"] = b"the user's eval"
    publish(PublishConfig(dir=str(student), repo_id="me/student"))
    assert set(files) == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "train.yaml",
        "README.md",
        ".distill-publish.json",  # the marker: which files publish wrote
        "model-awq/model.safetensors",
        "model-awq/config.json",
        "eval/results.json",
    }


def test_private_is_refused_where_the_hub_does_not_say_the_repo_is_private(tmp_path, hub):
    """repo_info's `private` is Optional (huggingface_hub's ModelInfo: bool | None): where it is
    None the repo was called 'a public repo already'; it is refused, saying what is known."""
    from distill.errors import DistillError
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = student_folder(tmp_path / "student")
    hub["me/student"] = {"private": None, "files": {}}
    with pytest.raises(DistillError) as e:
        publish(PublishConfig(dir=str(student), repo_id="me/student", private=True))
    assert "does not say" in str(e.value) and "\n" not in str(e.value)
    assert hub["me/student"]["files"] == {}


def test_opens_think_by_family(tmp_path):
    """QwQ's generation prompt opens <think> (as R1-distill's); Qwen3's does not (its model
    writes the tag), nor does its enable_thinking=False prompt, which closes an empty block."""
    from distill.teachers.hf import opens_think
    from tests.tiny import CHATML

    turns = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    qwq = (
        turns + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n<think>\n' }}{% endif %}"
    )
    qwen3 = turns + (
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% if enable_thinking is "
        "defined and enable_thinking is false %}{{ '<think>\n\n</think>\n\n' }}{% endif %}{% endif %}"
    )
    msgs = [{"role": "user", "content": "What is 2 + 2?"}]
    assert opens_think(str(model_folder(tmp_path / "qwq", qwq)), msgs)
    assert not opens_think(str(model_folder(tmp_path / "qwen3", qwen3)), msgs)
    assert not opens_think(str(model_folder(tmp_path / "chatml", CHATML)), msgs)
