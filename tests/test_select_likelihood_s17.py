"""The judge as a causal LM's likelihood (--judge-backend likelihood): each trace is scored by the
model's mean log-probability per token of the assistant's reply given its prompt, in the model's
chat template; the selection ranks by it, a threshold drops on its scale, a rerun scores none."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from distill.select.config import SelectConfig
from tests.test_select import select, trace, write


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-lm"), "qwen2", seed=3)


def reference(path, recs) -> dict[str, float]:
    """Each trace alone, straight through transformers: the chat's ids from apply_chat_template,
    the reply's tokens those after the generation prompt's, their mean log-probability."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    net = AutoModelForCausalLM.from_pretrained(path).eval()
    out = {}
    for r in recs:
        reply = f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}"
        chat = [*r["messages"], {"role": "assistant", "content": reply}]
        prompt = tok.apply_chat_template(r["messages"], add_generation_prompt=True, tokenize=True)
        ids = tok.apply_chat_template(chat, tokenize=True)
        prompt, ids = (
            list(getattr(prompt, "input_ids", prompt)),
            list(getattr(ids, "input_ids", ids)),
        )
        assert ids[: len(prompt)] == prompt
        with torch.inference_mode():
            lp = torch.log_softmax(net(torch.tensor([ids])).logits[0].float(), -1)
        got = [float(lp[i - 1, ids[i]]) for i in range(len(prompt), len(ids))]
        out[r["id"]] = sum(got) / len(got)
    return out


def test_traces_ranked_by_the_models_likelihood_of_their_reply(tmp_path, tiny_lm):
    recs = [
        trace(f"p{k}", f"What is {k} + {k}?", reasoning=f"{k} plus {k} is {2 * k}" + " ok" * k,
              answer=f"\\boxed{{{2 * k}}}")
        for k in range(7)
    ]  # fmt: skip
    src = write(tmp_path / "kept.jsonl", recs)
    ref = reference(tiny_lm, recs)
    assert len({round(v, 4) for v in ref.values()}) == 7
    assert all(v < 0 for v in ref.values())
    kw = dict(judge=str(tiny_lm), judge_backend="likelihood", criteria=["judge"])
    kept, rejects, rep = select(tmp_path, src, budget=3, **kw)
    best = sorted(ref, key=ref.get, reverse=True)[:3]
    assert sorted(r["id"] for r in kept) == sorted(best)
    for r in kept + rejects:  # padded batches score as each trace alone
        assert r["meta"]["select"]["judge"] == pytest.approx(ref[r["id"]], abs=1e-4)
    assert rep["judge"]["backend"] == "likelihood" and rep["judge"]["requests_this_run"] == 7

    # a threshold on its scale (nats per token, below 0): nothing scored again
    low = sorted(ref.values())
    cut = (low[1] + low[2]) / 2
    kept, _, rep = select(tmp_path, src, out="b.jsonl", budget=10, min_score=cut, **kw)
    assert rep["judge"]["requests_this_run"] == 0 and rep["judge"]["cached"] == 7
    assert len(kept) == 5 and rep["removed"]["judge"] == 2


def test_a_trace_rewritten_under_its_id_is_scored_again(tmp_path, tiny_lm):
    recs = [trace("p1", "What is 1 + 1?", answer="\\boxed{2}"), trace("p2", "What is 2 + 2?")]
    src = write(tmp_path / "kept.jsonl", recs)
    kw = dict(judge=str(tiny_lm), judge_backend="likelihood", criteria=["judge"])
    select(tmp_path, src, **kw)
    recs[0]["answer"] = "It is \\boxed{2}, since one and one make two."
    write(src, recs)
    kept, rejects, rep = select(tmp_path, src, out="b.jsonl", **kw)
    assert rep["judge"]["requests_this_run"] == 1
    score = {r["id"]: r["meta"]["select"]["judge"] for r in kept + rejects}
    assert score["p1-0"] == pytest.approx(reference(tiny_lm, recs)["p1-0"], abs=1e-4)


def test_bad_likelihood_judges_are_one_line(tmp_path):
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?")])
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(DistillError, match=r"^--judge .*notamodel \(--judge-backend likelihood\)"):
        select(tmp_path, src, judge=str(tmp_path / "notamodel"), judge_backend="likelihood")
    # its scale is log-probabilities: a threshold below 0 is taken, an LLM judge's 1-10 is not
    SelectConfig(input=str(src), out="s.jsonl", judge="m", judge_backend="likelihood",
                 min_score=-0.8)  # fmt: skip
    with pytest.raises(DistillError, match=r"--min-score 7: .*never above 0"):
        SelectConfig(input=str(src), out="s.jsonl", judge="m", judge_backend="likelihood",
                     min_score=7)  # fmt: skip
    with pytest.raises(DistillError, match=r"--min-score -0.8: must be in \[1, 10\]"):
        SelectConfig(input=str(src), out="s.jsonl", judge="m", min_score=-0.8)


def test_prompts_drawn_by_pass_rate_each_with_its_best_judged_trace(tmp_path, tiny_lm):
    """s1's order: the prompts the teacher fails most first, each with its best trace. With a
    judge's continuous score ranked before the pass rate (the order before), --prefer-failed
    never decided anything: the draw took the best-scored traces of any prompts."""
    kept_recs = [
        trace(f"p{k}", f"What is {k} + {k}?", s, checks={"verify": "correct"},
              reasoning="adding" + " it up" * (s + 2 * k), answer=f"{2 * k}")
        for k in range(4)
        for s in range(2)
    ]  # fmt: skip
    ref = reference(tiny_lm, kept_recs)
    best = {
        pid: max((r["id"] for r in kept_recs if r["prompt_id"] == pid), key=ref.get)
        for pid in ("p0", "p1", "p2", "p3")
    }
    # the prompts whose best traces score highest are the ones the teacher always solves
    by_score = sorted(best, key=lambda pid: ref[best[pid]], reverse=True)
    wrong = dict(zip(by_score, (0, 0, 1, 2)))  # of 4 samples each: 2 kept + 2 more
    traces = list(kept_recs)
    for pid, n in wrong.items():
        for s in (2, 3):
            verdict = "wrong" if s - 2 < n else "correct"
            traces.append(trace(pid, "?", s, checks={"verify": verdict}))
    all_traces = write(tmp_path / "traces.jsonl", traces)
    kept = write(tmp_path / "kept.jsonl", kept_recs)
    sel, _, rep = select(
        tmp_path,
        kept,
        teacher_traces=str(all_traces),
        prefer_failed=True,
        per_prompt=1,
        budget=2,
        judge=str(tiny_lm),
        judge_backend="likelihood",
        criteria=["difficulty", "judge", "length"],
    )
    drawn = [r["id"] for r in sorted(sel, key=lambda r: r["meta"]["select"]["rank"])]
    assert drawn == [best[by_score[3]], best[by_score[2]]]  # pass rate 0.5, then 0.75
    rates = [
        r["meta"]["select"]["pass_rate"]
        for r in sorted(sel, key=lambda r: r["meta"]["select"]["rank"])
    ]
    assert rates == [0.5, 0.75]
