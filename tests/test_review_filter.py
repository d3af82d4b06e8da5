"""Review of the filter stage's core: dedup scope, decontamination of short benchmark problems,
records of other tools, which duplicate prompt survives, kept records of a re-filtered rejects
file."""

import json

import pytest

from distill.errors import DistillError
from distill.filter import FilterConfig, run
from distill.filter.decontam import Decontaminator
from distill.records import read_records
from tests.test_filter import filt, trace, write


@pytest.mark.parametrize("dedup", ["exact", "near"])
def test_the_same_short_answer_to_two_different_prompts_is_no_duplicate(tmp_path, dedup):
    # A classification set: many different prompts whose right answer is the same word. Each
    # (prompt, answer) pair is its own training example; dedup dropped all but the first.
    recs = [
        trace(prompt="Classify the sentiment: I love it.", reasoning=None, answer="Positive"),
        trace(prompt="Classify the sentiment: a great film.", reasoning=None, answer="Positive"),
        trace(prompt="Classify the sentiment: a great film.", reasoning=None, answer="positive"),
    ]
    kept, rejects, report = filt(tmp_path, recs, dedup=dedup)
    assert [r["id"] for r in kept] == [recs[0]["id"], recs[1]["id"]]
    # Two samples of one prompt with the same answer still are duplicates.
    assert [(r["id"], r["reject_reason"]) for r in rejects] == [(recs[2]["id"], "duplicate")]
    assert report["kept"] + report["rejected"] == report["total"] == 3


def test_near_duplicate_samples_of_one_prompt_are_still_found(tmp_path):
    words = [f"w{i}" for i in range(200)]
    a, b = " ".join(words), " ".join(words[:199] + ["changed"])
    recs = [trace(reasoning=a, prompt="q1"), trace(reasoning=b, prompt="q1")]
    recs += [trace(reasoning=b, prompt="q2")]  # the same text for another prompt: kept
    kept, rejects, _ = filt(tmp_path, recs, dedup="near")
    assert [r["id"] for r in kept] == [recs[0]["id"], recs[2]["id"]]
    assert rejects[0]["reject_reason"] == "near_duplicate"


def test_a_short_benchmark_problem_inside_a_templated_prompt_is_contamination(tmp_path):
    # MATH-500 has problems of fewer than 8 words; r1-math's template adds a sentence after them.
    bench = tmp_path / "math500.jsonl"
    bench.write_text(
        json.dumps({"problem": "Compute $\\dbinom{31}{28}$.", "answer": "4495"}) + "\n"
    )
    d = Decontaminator([str(bench)])
    r1 = "\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert d.hit("Compute $\\dbinom{31}{28}$." + r1) == "math500"
    assert d.hit("Compute $\\dbinom{31}{28}$.") == "math500"
    assert d.hit("Compute $\\dbinom{31}{27}$." + r1) is None
    assert d.hit("Please compute $\\dbinom{31}{28}$ and then add 1.") == "math500"
    # Long problems keep their 8-gram rule.
    long = "A rectangle has a perimeter of 30 units and its length is twice its width"
    bench.write_text(json.dumps({"problem": long, "answer": "50"}) + "\n")
    d = Decontaminator([str(bench)])
    assert d.hit("Q: " + long[:60] + " blah") == "math500"
    assert d.hit("A rectangle has a perimeter of 31 units") is None


def test_filter_drops_a_templated_copy_of_a_short_held_out_problem(tmp_path):
    held_out = "builtin:arithmetic?start=1000&n=100"
    from distill.data import load_rows

    problem = next(iter(load_rows(held_out, split="test"))).prompt  # "What is a + b?"
    recs = [
        trace(prompt=problem + "\nPlease reason step by step.", answer="x", gold=None),
        trace(prompt="What is 1 + 1?\nPlease reason step by step.", answer="y", gold=None),
    ]
    kept, rejects, report = filt(tmp_path, recs, decontam=[held_out])
    assert [r["id"] for r in kept] == [recs[1]["id"]]
    assert rejects[0]["reject_reason"] == f"contaminated:{held_out}"


BAD = [
    ("messages", "hi", "'messages' is a str"),
    ("messages", ["hi"], "'messages[0]' is a str"),
    ("messages", [{"role": "user", "content": None}], "'messages[0].content' is null"),
    (
        "messages",
        [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "'messages[0].content' is a list",
    ),
    ("teacher", "gpt-4o", "'teacher' is a str"),
    ("reasoning", 5, "'reasoning' is a int"),
    ("reasoning", ["a"], "'reasoning' is a list"),
    ("answer", {"text": "4"}, "'answer' is a dict"),
    ("prompt_id", None, "'prompt_id' is null"),
]


@pytest.mark.parametrize("field,value,says", BAD, ids=[b[2] for b in BAD])
@pytest.mark.parametrize("num_proc", [1, 2])
def test_a_field_of_the_wrong_type_is_one_line_naming_file_line_field(
    tmp_path, field, value, says, num_proc
):
    bad = trace(prompt="q2")
    bad[field] = value
    src = write(tmp_path, [trace(), bad])
    cfg = FilterConfig(input=str(src), out=str(tmp_path / "kept.jsonl"), num_proc=num_proc)
    with pytest.raises(DistillError) as e:
        run(cfg, quiet=True)
    msg = str(e.value)
    assert msg.startswith(f"{src}:2: ") and says in msg and "\n" not in msg
    assert not (tmp_path / "kept.jsonl").exists()


def test_a_null_reasoning_answer_and_teacher_are_still_read(tmp_path):
    rec = trace(reasoning=None, teacher=None)
    rec["teacher"] = None
    kept, _, report = filt(tmp_path, [rec, trace(prompt="q2", answer=None)])
    assert [r["id"] for r in kept] == [rec["id"]]
    assert report["reject_reasons"] == {"empty_answer": 1}


def test_a_duplicate_prompt_whose_copy_has_the_passing_traces_keeps_them(tmp_path):
    # Two sources merged: the same problem under two ids; the first copy's traces are all
    # wrong, the second's right. The first in file order won, so the problem lost every trace.
    recs = [
        trace(prompt="What is 2 + 2?", prompt_id="a", answer="\\boxed{5}", reasoning="r1"),
        trace(prompt="What is 2 + 2?", prompt_id="a", answer="\\boxed{3}", reasoning="r2"),
        trace(prompt="what is  2 + 2?", prompt_id="b", answer="\\boxed{4}", reasoning="r3"),
        trace(prompt="What is 3 + 3?", prompt_id="c", answer="\\boxed{6}", gold="6"),
        trace(prompt="What is 3 + 3?", prompt_id="d", answer="\\boxed{6}", gold="6", reasoning="x"),
    ]
    kept, rejects, _ = filt(tmp_path, recs, verify="math", dedup="exact")
    assert [r["id"] for r in kept] == [recs[2]["id"], recs[3]["id"]]
    why = {r["id"]: r["reject_reasons"] for r in rejects}
    assert why[recs[0]["id"]] == ["wrong_answer", "duplicate_prompt"]
    assert why[recs[4]["id"]] == ["duplicate_prompt"]  # both pass: the first in file order wins


def test_a_kept_record_of_a_refiltered_rejects_file_carries_no_reject_reason(tmp_path):
    recs = [trace(gold="not parseable ???"), trace(prompt="q2", answer="\\boxed{5}")]
    filt(tmp_path, recs, verify="math")
    rejects = tmp_path / "kept.rejects.jsonl"
    assert len(list(read_records(rejects))) == 2
    run(
        FilterConfig(
            input=str(rejects),
            out=str(tmp_path / "again.jsonl"),
            verify="math",
            keep_unverifiable=True,
        ),
        quiet=True,
    )
    kept = list(read_records(tmp_path / "again.jsonl"))
    assert [r["id"] for r in kept] == [recs[0]["id"]]
    assert "reject_reason" not in kept[0] and "reject_reasons" not in kept[0]
    again = list(read_records(tmp_path / "again.rejects.jsonl"))
    assert again[0]["reject_reasons"] == ["wrong_answer"]


def test_reading_stops_at_a_line_still_being_written(tmp_path):
    # generate appends while filter reads: the reader meets a record half written (no newline
    # yet), and the writer's next bytes arrive before the reader's next read. The rest of that
    # record was read as a line of its own: 'not valid JSON' at the next line number.
    from distill.records import read_records, scan_lines

    p = tmp_path / "traces.jsonl"
    whole = json.dumps(trace()) + "\n"
    half = json.dumps(trace(prompt="q2"))
    p.write_text(whole + half[:20])
    lines = scan_lines(p)
    assert next(lines) == (1, whole.encode(), False)
    assert next(lines) == (2, half[:20].encode(), True)
    with open(p, "a") as f:  # the writer finishes its line and writes one more
        f.write(half[20:] + "\n" + whole)
    assert list(lines) == []
    recs = read_records(p)
    assert next(recs)["id"] == json.loads(whole)["id"]
    with open(p, "a") as f:
        f.write(half[:10])
    assert [r["id"] for r in recs] == [json.loads(half)["id"], json.loads(whole)["id"]]
