"""distill eval with a baseline: delta_pass@1 compares the two models on the problems both were
scored on, not two pass rates over different sets of problems."""

from __future__ import annotations

import json

import pytest

from distill import eval as eval_stage
from distill.filter import verify
from tests.test_eval import rec

# An answer math-verify raises on (sympy on odd input): judge calls it unverifiable.
CRASH = "\\boxed{CRASH}"


@pytest.fixture
def crashing_verifier(monkeypatch):
    real = verify.judge

    def judge(r, mode, *args, **kwargs):
        if r.get("answer") == CRASH:
            return verify.UNVERIFIABLE, None
        return real(r, mode, *args, **kwargs)

    monkeypatch.setattr(verify, "judge", judge)


def evaluate(tmp_path, monkeypatch, samples):
    monkeypatch.setattr(eval_stage, "_generate", lambda cfg, model, which: samples[which])
    out = tmp_path / "eval.json"
    cfg = eval_stage.EvalConfig(
        model="student",
        baseline="base",
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        data="builtin:arithmetic?n=4",
        out=str(out),
    )
    eval_stage.run(cfg)
    return json.loads(out.read_text())


def test_delta_is_over_the_problems_both_models_were_scored_on(
    tmp_path, monkeypatch, crashing_verifier
):
    samples = {
        # right on p1-p3; its answer to p4 cannot be verified
        "student": [rec("p1", 0, "\\boxed{46}"), rec("p2", 0, "\\boxed{46}"),
                    rec("p3", 0, "\\boxed{46}"), rec("p4", 0, CRASH)],
        # wrong on p1, p2; p3 cannot be verified; right on p4
        "baseline": [rec("p1", 0, "\\boxed{1}"), rec("p2", 0, "\\boxed{1}"),
                     rec("p3", 0, CRASH), rec("p4", 0, "\\boxed{46}")],
    }  # fmt: skip
    result = evaluate(tmp_path, monkeypatch, samples)
    # each model's own pass@1, over the problems it could be scored on, as before
    assert result["student"]["pass@1"] == 1.0 and result["student"]["unverifiable"] == 1
    assert result["baseline"]["pass@1"] == 0.3333 and result["baseline"]["unverifiable"] == 1
    # on p1 and p2, the problems both were scored on, the student is right and the base wrong:
    # +1.0, not 1.0 - 0.3333 (which set the student's p3 against the base's p4)
    assert result["delta_pass@1"] == 1.0
    assert result["delta_problems"] == 2


def test_no_problem_scored_for_both_is_no_delta(tmp_path, monkeypatch, crashing_verifier):
    samples = {
        "student": [rec("p1", 0, "\\boxed{46}"), rec("p2", 0, CRASH)],
        "baseline": [rec("p1", 0, CRASH), rec("p2", 0, "\\boxed{1}")],
    }
    result = evaluate(tmp_path, monkeypatch, samples)
    assert result["student"]["pass@1"] == 1.0 and result["baseline"]["pass@1"] == 0.0
    assert result["delta_pass@1"] is None and result["delta_problems"] == 0


def test_on_the_same_problems_the_delta_is_the_difference_of_the_two_pass_rates(
    tmp_path, monkeypatch
):
    samples = {
        "student": [rec("p1", 0, "\\boxed{46}"), rec("p2", 0, "\\boxed{46}"),
                    rec("p3", 0, "\\boxed{1}")],
        "baseline": [rec("p1", 0, "\\boxed{46}"), rec("p2", 0, "\\boxed{1}"),
                     rec("p3", 0, "\\boxed{1}")],
    }  # fmt: skip
    result = evaluate(tmp_path, monkeypatch, samples)
    assert (result["student"]["pass@1"], result["baseline"]["pass@1"]) == (0.6667, 0.3333)
    assert result["delta_pass@1"] == 0.3334 and result["delta_problems"] == 3
