"""distill eval: the verifier's counts, pass@1 / maj@k arithmetic, rendering as trained."""

import json

import pytest

from distill.data import load_rows
from distill.errors import DistillError
from distill.eval import EvalConfig, run, score
from distill.train import run as train
from tests.test_train import cfg as train_config


def rec(prompt_id, sample, answer, gold="46", finish="stop", tokens=10):
    return {
        "id": f"{prompt_id}-{sample}",
        "prompt_id": prompt_id,
        "sample": sample,
        "answer": answer,
        "gold": gold,
        "finish_reason": finish,
        "usage": {"completion_tokens": tokens},
    }


def test_pass_at_1_and_maj_at_k_arithmetic():
    records = [
        # p1: 2 of 3 right, and the majority is right
        rec("p1", 0, "\\boxed{46}"),
        rec("p1", 1, "so \\boxed{45}"),
        rec("p1", 2, "The answer is 46", tokens=40),
        # p2: 1 of 3 right, the majority (two 5s) is wrong
        rec("p2", 0, "\\boxed{5}", gold="7"),
        rec("p2", 1, "\\boxed{5.0}", gold="7"),
        rec("p2", 2, "\\boxed{7}", gold="7", finish="length"),
        # p3: nothing right, one answer missing altogether
        rec("p3", 0, "", gold="1/2"),
        rec("p3", 1, "\\boxed{0.25}", gold="1/2"),
        rec("p3", 2, "\\boxed{\\frac{1}{3}}", gold="1/2"),
        # p4: all right in different spellings: 1/2 = 0.5 = \frac{1}{2}
        rec("p4", 0, "\\boxed{\\frac{1}{2}}", gold="1/2"),
        rec("p4", 1, "\\boxed{0.5}", gold="1/2"),
        rec("p4", 2, "\\boxed{1/2}", gold="1/2"),
    ]
    s = score(records, "math")
    assert s["problems"] == 4 and s["samples"] == 12
    assert s["pass@1"] == round((2 / 3 + 1 / 3 + 0 + 1) / 4, 4)
    assert s["maj@3"] == 0.5  # p1 and p4
    assert s["truncation_rate"] == round(1 / 12, 4)
    assert s["mean_completion_tokens"] == round((11 * 10 + 40) / 12, 1)


def test_majority_mode_scores_self_consistency_without_gold():
    records = [
        rec("p1", 0, "\\boxed{3}", gold=None),
        rec("p1", 1, "\\boxed{3}", gold=None),
        rec("p1", 2, "\\boxed{4}", gold=None),
        rec("p2", 0, "no idea", gold=None),
    ]
    s = score(records, "majority")
    # p1: 2 of 3 agree with the vote; p2: its only answer is its own majority
    assert s["pass@1"] == round((2 / 3 + 1) / 2, 4)


def test_served_student_counts_match_its_known_answers(server, tmp_path):
    """The loopback server is a student whose answers are known: right on every sum except
    those divisible by 7. pass@1 and maj@k must be exactly that share."""
    data = "builtin:arithmetic?n=40&seed=3"
    golds = [int(r.gold) for r in load_rows(data, "test", None, None, None, None)]
    expected = sum(g % 7 != 0 for g in golds) / len(golds)
    assert 0 < expected < 1
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=data,
        verify="math",
        n=3,
        temperature=0.7,
        max_tokens=512,
        out=str(out),
    )
    run(cfg)
    result = json.loads(out.read_text())["student"]
    assert result["problems"] == 40 and result["samples"] == 120
    assert result["pass@1"] == round(expected, 4)
    assert result["maj@3"] == round(expected, 4)
    assert result["truncation_rate"] == 0.0
    # A rerun resumes from the samples on disk: no new request.
    before = len(server.log)
    run(cfg)
    assert len(server.log) == before
    # Truncation is counted: a 5-token cap cuts every reply.
    cfg.max_tokens, cfg.out = 5, str(tmp_path / "short.json")
    run(cfg)
    short = json.loads((tmp_path / "short.json").read_text())["student"]
    assert short["truncation_rate"] == 1.0 and short["pass@1"] == 0.0


def test_adapter_eval_renders_prompts_exactly_as_training_did(tmp_path, tiny_qwen, monkeypatch):
    import transformers
    from transformers import AutoTokenizer

    from distill.examples import Example, Renderer

    student = train(
        train_config(tmp_path, tiny_qwen, output_dir=str(tmp_path / "student"), max_steps=1)
    )
    seen = []
    original = transformers.GenerationMixin.generate

    def spy(self, *args, **kwargs):
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        seen.extend(row[m.bool()].tolist() for row, m in zip(ids, mask))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(transformers.GenerationMixin, "generate", spy)
    data = "builtin:arithmetic?n=3"
    out = tmp_path / "eval.json"
    run(
        EvalConfig(
            model=str(student),
            baseline=str(tiny_qwen),
            data=data,
            verify="math",
            max_tokens=6,
            out=str(out),
        )
    )
    result = json.loads(out.read_text())
    assert result["student"]["model"] == str(student)
    assert result["student"]["samples"] == 3 and result["baseline"]["samples"] == 3
    assert result["delta_pass@1"] == round(
        result["student"]["pass@1"] - result["baseline"]["pass@1"], 4
    )
    # The ids the student saw are the ids training put before each completion.
    tok = AutoTokenizer.from_pretrained(student)
    renderer = Renderer(tok, "r1")
    from distill.templates import load_template

    template = load_template("r1-math")
    expected = [
        renderer.prompt_ids(
            Example(
                prompt=[
                    {"role": "user", "content": template.render({**r.fields, "prompt": r.prompt})}
                ],
                completion="",
            )
        )
        for r in load_rows(data, "test", None, None, None, None)
    ]
    assert sorted(seen[:3]) == sorted(expected)
    assert sorted(seen[3:]) == sorted(expected)  # the baseline, rendered the same way


def test_eval_without_gold_needs_majority(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "What is 2 + 2?"}\n')
    cfg = EvalConfig(
        model="m",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        data=str(data),
        prompt_field="question",
        out=str(tmp_path / "e.json"),
    )
    with pytest.raises(DistillError, match="no gold answer .* use --verify majority"):
        run(cfg)
    assert not (tmp_path / "e.json").exists()


def test_a_student_retrained_in_place_is_sampled_afresh_not_scored_on_old_samples(tmp_path):
    import os

    from distill.eval import set_aside_if_retrained

    student = tmp_path / "student"
    student.mkdir()
    weights = student / "adapter_model.safetensors"
    weights.write_bytes(b"old weights")
    traces = tmp_path / "eval.student.traces.jsonl"
    set_aside_if_retrained(traces, str(student))  # first eval: nothing to set aside
    traces.write_text('{"id": "a", "answer": "old student"}\n')
    set_aside_if_retrained(traces, str(student))  # same weights: the samples are resumed
    assert traces.read_text() == '{"id": "a", "answer": "old student"}\n'
    weights.write_bytes(b"new weights!")  # train rewrote the folder
    os.utime(weights, ns=(1, 2))
    set_aside_if_retrained(traces, str(student))
    assert not traces.exists()  # the new student is sampled afresh
    [aside] = tmp_path.glob("eval.student.traces.*.jsonl")
    assert aside.read_text() == '{"id": "a", "answer": "old student"}\n'  # kept, not deleted


def test_a_first_problem_without_gold_does_not_refuse_a_set_whose_others_have_one(server, tmp_path):
    """eval looked at the first row alone: a set whose first problem's gold is null (a
    Parquet gap) was refused whole ("problems have no gold answer"), as the filter refused a
    file by its first trace (fixed there in add89d3)."""
    data = tmp_path / "q.jsonl"
    rows = [{"question": "What is 3 + 5?", "answer": None}]
    rows += [{"question": f"What is {a} + 2?", "answer": str(a + 2)} for a in (10, 11, 13)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = EvalConfig(
        model="fake-r1",
        backend="openai",
        base_url=server.url,
        data=str(data),
        prompt_field="question",
        answer_field="answer",
        out=str(tmp_path / "e.json"),
    )
    student = json.loads(run(cfg).read_text())["student"]
    assert student["problems"] == 4 and student["samples"] == 4
    # the problem with no gold is unverifiable (as the filter counts it), said and left out:
    # it was scored 0, and a student right on every problem it could be checked on showed 0.75
    assert student["unverifiable"] == 1
    assert student["pass@1"] == 1.0 and student["maj@1"] == 1.0  # the fake answers 12, 13, 15
