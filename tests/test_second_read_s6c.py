"""A second read of select's third-read fixes (e4e6804, cb7365f, ba4b37a, 3bea31d, abb53d8): a
judge's verdict that quotes a '</think>' tag, a judge or student server that refuses every
request, --by values 1 and "1", a reward checkpoint whose head lacks only its bias."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.select.judge import parse_score
from tests.test_select import select, trace, write


@pytest.mark.parametrize(
    "reply,score",
    [
        # a judge citing a trace's stray tag in its verdict: the text after the quoted tag held
        # no score, and the whole verdict was dropped as malformed (e4e6804)
        ('{"score": 4, "reason": "the answer leaks a stray </think> tag"}', 4.0),
        ("Score: 4\nReason: the answer ends with a stray `</think>` tag.", 4.0),
        ('**Score:** 3 - the trace closes "</think>" twice', 3.0),
        ("Score: 8/10. The reasoning closes its block (</think>) before the answer.", 8.0),
    ],
)
def test_a_verdict_that_quotes_a_close_tag_is_still_read(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "reply,score",
    [
        # what e4e6804 fixed stays fixed: R1's thinking before a lone </think> is no verdict
        ('Draft {"score": 3}. Hmm.\n</think>\n\n{"score": 8, "reason": "ok"}', 8.0),
        ("Score: 3? no.\n</think>\n\nScore: 8/10", 8.0),
        ("Score: 3 maybe.\n</think>\n\nI am not sure.", None),  # its verdict holds no score
        ("Score: 8/10", 8.0),
        ("**Score:** 7", 7.0),
        ('{"score": 9, "reason": "exemplary"}', 9.0),
    ],
)
def test_a_reasoning_judges_lone_close_tag_still_ends_its_thinking(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize(
    "reply,score",
    [
        # a verdict citing a trace's unclosed tag was read as the judge's own reply cut off
        ('{"score": 4, "reason": "the answer opens <think> and never closes it"}', 4.0),
        ("Score: 2 - the reasoning opens `<think>` twice.", 2.0),
        # the judge's own thinking cut off by max_tokens stays no verdict
        ("<think>Score: 9 but cut off", None),
        ("  <think>\nHmm, Score: 9 then", None),
    ],
)
def test_a_verdict_that_quotes_an_open_tag_is_not_a_reply_cut_off(reply, score):
    assert parse_score(reply)[0] == score


def test_a_judge_server_that_refuses_every_request_is_one_line_naming_the_refusal(tmp_path):
    # a bad request for every trace (a parameter the model does not take, --judge-max-tokens
    # over its context), fewer traces than the 8 identical 4xx that stop the openai teacher:
    # every trace was judge_no_score and the line blamed the replies' format ('first reply:
    # None', "must end with 'Score: N'")
    from tests.test_select import FakeJudge, judged_traces

    src = judged_traces(tmp_path, ["Score: 9", "Score: 6", "Score: 8"])
    j = FakeJudge().start()
    try:
        j.faults.extend({"status": 400} for _ in range(3))
        with pytest.raises(DistillError) as e:
            select(tmp_path, src, judge="judge", judge_base_url=j.url, concurrency=1)
        line = str(e.value)
        assert "refused all 3" in line and "HTTP 400" in line and "injected 400" in line, line
        assert "Score: N" not in line and "\n" not in line
    finally:
        j.stop()


def test_a_student_server_that_refuses_every_prompt_is_one_line_not_an_empty_selection(tmp_path):
    # --student-max-tokens over the student's context: every prompt refused. The run ended
    # with every trace rejected for 'difficulty' (0 kept) and a note
    from tests.test_select import FakeStudent

    rates = {f"What is {k} + 1?": 0.5 for k in range(2)}
    src = write(tmp_path / "kept.jsonl", [trace(f"p{k}", q) for k, q in enumerate(rates)])
    s = FakeStudent(rates).start()
    try:
        s.faults.extend({"status": 400} for _ in range(2))
        kw = dict(student="student", student_base_url=s.url, samples=2, pass_rate="0.1:0.9")
        with pytest.raises(DistillError) as e:
            select(tmp_path, src, concurrency=1, **kw)
        line = str(e.value)
        assert "refused all 4" in line and "HTTP 400" in line and "injected 400" in line, line
        assert "\n" not in line
    finally:
        s.stop()


def test_by_values_1_and_the_string_1_are_one_group(tmp_path):
    # a column written as 1 by one source and "1" by another: two groups in the draw (each a
    # share of the round-robin), one line in the report's per_group (keyed "1": the second
    # overwrote the first's counts) beside "groups": 3
    recs = [trace(f"a{k}", f"Q a{k}?", meta={"level": 1}) for k in range(3)]
    recs += [trace(f"b{k}", f"Q b{k}?", meta={"level": "1"}) for k in range(3)]
    recs += [trace(f"c{k}", f"Q c{k}?", meta={"level": 2}) for k in range(6)]
    src = write(tmp_path / "kept.jsonl", recs)
    kept, rejects, rep = select(tmp_path, src, budget=6, by="meta.level")
    div = rep["diversity"]
    assert div["groups"] == len(div["per_group"]) == 2
    assert div["per_group"] == {"1": {"pool": 6, "selected": 3}, "2": {"pool": 6, "selected": 3}}
    # each trace still says its own value
    assert {r["prompt_id"][0]: r["meta"]["select"]["cluster"] for r in kept + rejects} == {
        "a": 1,
        "b": "1",
        "c": 2,
    }


def _classifier_without(path, drop: str, family: str = "roberta", extra: dict | None = None):
    """A tiny sequence classifier saved, then `drop` taken out of its weights (and `extra` in)."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForSequenceClassification, LlamaConfig, RobertaConfig

    from tests.tiny import make_tokenizer

    torch.manual_seed(0)
    tok = make_tokenizer("qwen2")
    kw = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
              num_attention_heads=4, pad_token_id=tok.pad_token_id, num_labels=1)  # fmt: skip
    if family == "roberta":
        config = RobertaConfig(**kw, max_position_embeddings=600)
    else:
        config = LlamaConfig(**kw, num_key_value_heads=2, max_position_embeddings=512)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    tok.save_pretrained(path)
    weights = load_file(path / "model.safetensors")
    del weights[drop]
    weights.update(extra or {})
    save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    return path


def test_a_reward_head_saved_without_its_bias_loads_with_a_zero_bias(tmp_path):
    # a head trained without a bias (OpenRLHF's value head, bias=False) converted into a
    # classifier whose head has one: abb53d8 refused it as 'no reward model'; the bias it lacks
    # only shifts every score alike, so it is zero, not refused
    from distill.select.reward import load

    path = _classifier_without(tmp_path / "rm", "classifier.out_proj.bias")
    _tok, net = load(str(path))
    assert float(net.classifier.out_proj.bias.detach().abs().sum()) == 0.0


def test_a_reward_head_without_its_weight_is_still_refused(tmp_path):
    from distill.select.reward import load

    path = _classifier_without(tmp_path / "rm", "classifier.out_proj.weight")
    with pytest.raises(DistillError, match="no reward model: .*classifier.out_proj.weight"):
        load(str(path))


def test_a_reward_model_with_a_head_of_its_own_code_says_so(tmp_path):
    # ArmoRM-style: a Llama checkpoint whose reward head (regression_layer) is its own code's
    # (trust_remote_code): 'is no reward model' sent the user looking for another model
    import torch

    from distill.select.reward import load

    head = {"regression_layer.weight": torch.zeros(19, 32)}
    path = _classifier_without(tmp_path / "rm", "score.weight", family="llama", extra=head)
    with pytest.raises(DistillError) as e:
        load(str(path))
    line = str(e.value)
    assert "regression_layer.weight" in line and "\n" not in line, line


def test_a_bias_inside_the_reward_head_is_still_refused(tmp_path):
    # before the head's activation a bias is no shift of every score: zero would be another head
    from distill.select.reward import load

    path = _classifier_without(tmp_path / "rm", "classifier.dense.bias")
    with pytest.raises(DistillError, match="no reward model: .*classifier.dense.bias"):
        load(str(path))


@pytest.mark.parametrize(
    "reply,score",
    [
        # a count after the score's dash is no range: e4e6804 skipped the score as the start of
        # a range ('1-10') and dropped the verdict (read as 9 before it)
        ("Score: 9 - 1 minor typo", 9.0),
        ("Score: 3 - 2 major errors, otherwise fine", 3.0),
        ("Score: 10 - 0 errors", 10.0),
        # what it fixed stays fixed: a range is skipped, the score after it read
        ("Score 1-10: 8", 8.0),
        ("Score: 8\n(on a rating 1-10 scale)", 8.0),
        ("Rating: 4 to 5 would be fair. Final score: 4", 4.0),
    ],
)
def test_a_count_after_the_scores_dash_is_not_a_range(reply, score):
    assert parse_score(reply)[0] == score
