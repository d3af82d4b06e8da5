import json

import pytest

from distill.errors import DistillError
from distill.filter import FilterConfig, run
from distill.records import read_records

N = 0


def trace(
    answer="The answer is \\boxed{4}.",
    reasoning="2 plus 2 is 4.",
    gold="4",
    prompt="What is 2 + 2?",
    prompt_id=None,
    finish="stop",
    think="closed",
    teacher="m",
    meta=None,
    **kw,
):
    global N
    N += 1
    rec = {
        "id": f"t{N}",
        "prompt_id": prompt_id or f"p-{prompt}",
        "sample": 0,
        "messages": [{"role": "user", "content": prompt}],
        "reasoning": reasoning,
        "answer": answer,
        "gold": gold,
        "teacher": {"backend": "openai", "model": teacher, "params": {}},
        "finish_reason": finish,
        "usage": {"prompt_tokens": 5, "completion_tokens": 10},
        "meta": meta or {},
        "think": think,
    }
    rec.update(kw)
    return rec


def write(tmp_path, recs, name="t.jsonl", tail=""):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in recs) + tail)
    return p


def filt(tmp_path, recs, tail="", **kw):
    src = write(tmp_path, recs, tail=tail)
    cfg = FilterConfig(input=str(src), out=str(tmp_path / "kept.jsonl"), **kw)
    run(cfg, quiet=True)
    kept = list(read_records(tmp_path / "kept.jsonl"))
    rejects = list(read_records(tmp_path / "kept.rejects.jsonl"))
    report = json.loads((tmp_path / "kept.report.json").read_text())
    return kept, rejects, report


def test_math_verify_keeps_right_rejects_wrong_and_judges_only_the_final_answer(tmp_path):
    recs = [
        trace(),
        trace(answer="\\boxed{5}", reasoning="hmm", prompt="q2"),
        # The right answer is boxed only inside the reasoning: the final answer is wrong.
        trace(answer="So it is 5.", reasoning="maybe \\boxed{4}", prompt="q3"),
        trace(answer="\\boxed{x}", gold="not math at all ???", prompt="q4"),
    ]
    kept, rejects, report = filt(tmp_path, recs, verify="math")
    assert [r["id"] for r in kept] == [recs[0]["id"]]
    assert kept[0]["checks"]["verify"] == "correct" and kept[0]["checks"]["truncated"] == "pass"
    reasons = {r["id"]: r["reject_reason"] for r in rejects}
    assert reasons == {
        recs[1]["id"]: "wrong_answer",
        recs[2]["id"]: "wrong_answer",
        recs[3]["id"]: "unverifiable",
    }
    assert report["total"] == 4 and report["kept"] == 1 and report["rejected"] == 3
    assert report["verify"]["correct"] == 1 and report["verify"]["unverifiable"] == 1


def test_exact_dedup_removes_normalised_copies_and_keeps_distinct(tmp_path):
    base = "Let me think.  The sum is four."
    recs = [
        trace(reasoning=base, prompt_id="a"),
        trace(reasoning=base.upper(), prompt_id="a"),
        trace(reasoning="Let me think. The   sum is four.", prompt_id="a"),
        trace(reasoning="\uff2cet me think. The sum is four.", prompt_id="a"),  # fullwidth L: NFKC
        trace(reasoning="A different line of thought entirely.", prompt_id="a"),
    ]
    kept, rejects, _ = filt(tmp_path, recs, dedup="exact")
    assert [r["id"] for r in kept] == [recs[0]["id"], recs[4]["id"]]
    assert {r["reject_reason"] for r in rejects} == {"duplicate"}


def test_near_dedup_removes_close_copies_and_keeps_distinct(tmp_path):
    words = [f"w{i}" for i in range(200)]
    a = " ".join(words)
    b = " ".join(words[:199] + ["changed"])  # one word differs: Jaccard ~0.97
    c = " ".join(reversed(words))  # same words, different text
    recs = [
        trace(reasoning=a, prompt_id="x"),
        trace(reasoning=b, prompt_id="x"),
        trace(reasoning=c, prompt_id="x"),
    ]
    kept, rejects, _ = filt(tmp_path, recs, dedup="near")
    assert [r["id"] for r in kept] == [recs[0]["id"], recs[2]["id"]]
    assert rejects[0]["reject_reason"] == "near_duplicate"
    kept, _, _ = filt(tmp_path, recs, dedup="exact")
    assert len(kept) == 3


def test_duplicate_survivor_prefers_the_verified_correct_copy(tmp_path):
    recs = [trace(gold="not parseable ???", prompt_id="a"), trace(gold="4", prompt_id="a")]
    kept, rejects, _ = filt(tmp_path, recs, verify="math", keep_unverifiable=True, dedup="exact")
    assert [r["id"] for r in kept] == [recs[1]["id"]]
    assert rejects[0]["id"] == recs[0]["id"] and rejects[0]["reject_reason"] == "duplicate"


def test_duplicate_prompts_keep_the_first(tmp_path):
    recs = [
        trace(prompt="What is 2 + 2?", prompt_id="a", reasoning="r1"),
        trace(prompt="what is  2 + 2?", prompt_id="b", reasoning="r2"),
    ]
    kept, rejects, _ = filt(tmp_path, recs, dedup="exact")
    assert [r["prompt_id"] for r in kept] == ["a"] and rejects[0][
        "reject_reason"
    ] == "duplicate_prompt"


def test_checks_each_reject_with_their_reason(tmp_path):
    recs = [
        trace(finish="length", think="unclosed", answer="", prompt="q1"),
        trace(reasoning="fine", answer="<think>again</think> \\boxed{4}", prompt="q2"),
        trace(
            reasoning="让我们计算这个问题 " * 20 + "so 4", prompt="q3"
        ),  # Chinese chain for an English prompt
        trace(reasoning="I will check again and again. " * 60, prompt="q4"),  # a loop
        trace(reasoning="```python\nprint(4)\n```", prompt="q5"),
        trace(reasoning="x" * 4000, prompt="q6"),
        trace(reasoning="", prompt="q7"),
    ]
    kept, rejects, report = filt(tmp_path, recs, verify="math")
    got = {r["id"]: r["reject_reason"] for r in rejects}
    assert got == {
        recs[0]["id"]: "truncated",
        recs[1]["id"]: "duplicated_think",
        recs[2]["id"]: "language_mix",
        recs[3]["id"]: "repetition",
        recs[4]["id"]: "code_block",
        recs[5]["id"]: "long_paragraph",
        recs[6]["id"]: "empty_reasoning",
    }
    assert not kept
    # All failures are listed, the first is the reason.
    first = next(r for r in rejects if r["id"] == recs[0]["id"])
    assert first["reject_reasons"][:3] == ["truncated", "unclosed_think", "empty_answer"]
    assert report["reject_reasons"]["truncated"] == 1


def test_chinese_prompt_allows_chinese_reasoning(tmp_path):
    recs = [trace(prompt="计算二加二等于多少", reasoning="二加二等于四 " * 10, answer="\\boxed{4}")]
    kept, _, _ = filt(tmp_path, recs, verify="math")
    assert len(kept) == 1


def test_skip_and_select_checks(tmp_path):
    recs = [trace(finish="length")]
    kept, _, _ = filt(tmp_path, recs, skip_checks=["truncated"])
    assert len(kept) == 1
    with pytest.raises(DistillError, match="unknown check 'nope'"):
        FilterConfig(input="t.jsonl", out="k.jsonl", checks=["nope"])


def test_length_bounds_with_a_student_tokenizer(tmp_path, tiny_qwen):
    recs = [trace(reasoning="4 " * 5, prompt="a"), trace(reasoning="4 " * 300, prompt="b")]
    kept, rejects, _ = filt(tmp_path, recs, max_tokens=100, tokenizer=str(tiny_qwen))
    assert [r["prompt_id"] for r in kept] == ["p-a"] and rejects[0]["reject_reason"] == "too_long"


def test_majority_vote_without_gold(tmp_path):
    recs = [
        trace(answer=f"\\boxed{{{a}}}", gold=None, prompt_id="p", reasoning=f"r{i}")
        for i, a in enumerate(["4", "4", "4.0", "5"])
    ]
    recs += [
        trace(answer=f"\\boxed{{{a}}}", gold=None, prompt_id="q", reasoning=f"s{i}")
        for i, a in enumerate(["1", "2", "3", "4"])
    ]  # no agreement
    kept, rejects, _ = filt(tmp_path, recs, verify="majority", min_agreement=0.5)
    assert [r["id"] for r in kept] == [r["id"] for r in recs[:3]]
    reasons = {r["id"]: r["reject_reason"] for r in rejects}
    assert reasons[recs[3]["id"]] == "wrong_answer"
    assert all(reasons[r["id"]] == "unverifiable" for r in recs[4:])


def test_selection_and_difficulty(tmp_path):
    easy = [trace(prompt="easy", reasoning="x" * (10 * (i + 1)) + f" {i}") for i in range(4)]
    hard = [
        trace(prompt="hard", reasoning=f"r{i}", answer="\\boxed{4}" if i == 0 else "\\boxed{3}")
        for i in range(4)
    ]
    kept, _, report = filt(
        tmp_path, easy + hard, verify="math", select="shortest", skip_checks=["repetition"]
    )
    assert sorted(r["id"] for r in kept) == sorted([easy[0]["id"], hard[0]["id"]])
    kept, rejects, report = filt(
        tmp_path,
        easy + hard,
        verify="math",
        max_per_prompt=2,
        max_pass_rate=0.99,
        skip_checks=["repetition"],
    )
    assert [r["id"] for r in kept] == [hard[0]["id"]]  # the always-solved prompt is dropped
    assert {r["reject_reason"] for r in rejects if r["prompt_id"] == "p-easy"} == {"difficulty"}
    assert (
        report["prompts"]["solved_all"] == 1
        and report["prompts"]["pass_rate_histogram"]["0.2-0.3"] == 1
    )


def test_decontamination_names_the_benchmark(tmp_path):
    bench = tmp_path / "math500.jsonl"
    problem = "Find the number of ordered pairs of positive integers whose product is one hundred"
    bench.write_text(json.dumps({"problem": problem, "answer": "9"}) + "\n")
    recs = [trace(prompt=problem + "\nPlease reason step by step."), trace(prompt="What is 2 + 2?")]
    kept, rejects, report = filt(tmp_path, recs, decontam=[str(bench)])
    assert len(kept) == 1 and rejects[0]["reject_reason"] == "contaminated:math500"
    assert report["decontam"] == {"math500": 1}


def test_countdown_and_code_modes(tmp_path):
    cd = [
        trace(
            answer="<answer>(3 + 5) * 2</answer>",
            gold="16",
            meta={"numbers": [3, 5, 2], "target": 16},
        ),
        trace(
            answer="<answer>3 + 5 + 2</answer>",
            gold="16",
            meta={"numbers": [3, 5, 2], "target": 16},
            reasoning="other",
        ),
    ]
    kept, rejects, _ = filt(tmp_path, cd, verify="countdown")
    assert len(kept) == 1 and rejects[0]["reject_reason"] == "wrong_answer"
    code = [
        trace(
            answer="```python\nprint(int(input()) + 1)\n```",
            meta={"tests": {"inputs": ["1"], "outputs": ["2"]}},
            gold=None,
        ),
        trace(
            answer="```python\nwhile True: pass\n```",
            meta={"tests": {"inputs": ["1"], "outputs": ["2"]}},
            gold=None,
            reasoning="x",
        ),
    ]
    # unsafe_sandbox: the verdicts are the point here, on any host (tests/test_sandbox.py
    # tests the isolation, which is used whenever it works).
    kept, rejects, _ = filt(tmp_path, code, verify="code", verify_timeout=1, unsafe_sandbox=True)
    verdict = rejects[0]["checks"]["verify"]
    assert len(kept) == 1 and verdict.startswith("wrong (test 0: ")
    assert "timeout" in verdict or "SIGXCPU" in verdict  # wall clock or CPU limit, whichever first


def test_torn_last_line_is_ignored(tmp_path):
    kept, rejects, report = filt(tmp_path, [trace()], tail='{"id": "torn", "prompt_')
    assert len(kept) == 1 and report["total"] == 1


@pytest.mark.real_plots  # its plot's bytes (tests/conftest.py)
def test_report_counts_teachers_and_png(tmp_path):
    recs = [trace(teacher="a"), trace(teacher="b", answer="\\boxed{5}", prompt="q")]
    _, _, report = filt(tmp_path, recs, verify="math")
    assert report["by_teacher"] == {
        "openai:a": {"total": 1, "kept": 1, "correct": 1},
        "openai:b": {"total": 1, "kept": 0, "correct": 0},
    }
    assert report["verify"]["pass_rate"] == 0.5
    assert (tmp_path / "kept.report.png").stat().st_size > 1000
    assert (tmp_path / "kept.filter.yaml").is_file()


def test_parallel_gives_the_same_result(tmp_path):
    recs = [
        trace(prompt=f"q{i}", answer=f"\\boxed{{{i % 3}}}", gold="1", reasoning=f"r{i % 5}")
        for i in range(60)
    ]
    a = filt(tmp_path, recs, verify="math", dedup="near")
    b = filt(tmp_path, recs, verify="math", dedup="near", num_proc=2)
    assert [r["id"] for r in a[0]] == [r["id"] for r in b[0]] and a[2] == b[2]


def test_bad_input_fails_before_writing_anything(tmp_path):
    bad = [trace(), {"id": "x", "messages": []}]
    with pytest.raises(
        DistillError, match=r"t\.jsonl:2: not a trace record: missing field 'prompt_id'"
    ):
        filt(tmp_path, bad)
    assert not (tmp_path / "kept.jsonl").exists()
    with pytest.raises(
        DistillError, match="no gold answer for --verify math; use --verify majority"
    ):
        filt(tmp_path, [trace(gold=None)], verify="math")
    assert not (tmp_path / "kept.jsonl").exists()
