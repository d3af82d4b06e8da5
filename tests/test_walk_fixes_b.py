"""Walkthrough fixes (b): the filter report and the card name every decontamination set, 0 hits
included (an older report: the sets its kept.filter.yaml asked for); the card closes each
table with a blank line; select refuses --teacher-traces it would ignore, and --by a field no
trace has (the traces that lack it, of some that have it, are one group: '(missing)')."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from distill.errors import DistillError
from distill.publish import PublishConfig, build_card
from distill.select.config import SelectConfig
from tests.test_filter import filt
from tests.test_filter import trace as filter_trace
from tests.test_publish import run_folder
from tests.test_select import planted, select, trace, write

# =========================================================================== decontamination


def card_of(student) -> str:
    return str(build_card(student, student, PublishConfig(dir=str(student), local_dir="x")))


def decontam_line(card: str) -> str:
    return next(line for line in card.splitlines() if line.startswith("Decontamination:"))


def test_a_decontam_set_without_hits_is_in_the_report_and_on_the_card(tmp_path):
    clean = tmp_path / "aime.jsonl"  # shares no prompt with the traces
    clean.write_text(json.dumps({"problem": "An unrelated olympiad problem about circles and "
                                 "their tangent lines in the plane", "answer": "1"}) + "\n")  # fmt: skip
    hit = tmp_path / "math500.jsonl"
    problem = "Find the number of ordered pairs of positive integers whose product is one hundred"
    hit.write_text(json.dumps({"problem": problem, "answer": "9"}) + "\n")
    recs = [filter_trace(prompt=problem), filter_trace(prompt="What is 2 + 2?")]
    _, _, report = filt(tmp_path, recs, decontam=[str(clean), str(hit)])
    assert report["decontam"] == {"aime": 0, "math500": 1}

    student = tmp_path / "student"
    student.mkdir()
    (student / "adapter_config.json").write_text("{}")
    (student / "train.yaml").write_text(yaml.safe_dump({"data": str(tmp_path / "kept.jsonl")}))
    line = decontam_line(card_of(student))
    assert "none requested" not in line
    assert "`aime` (0 removed)" in line and "`math500` (1 removed)" in line


def old_report(tmp_path, decontam: dict, config: dict | None):
    """run_folder's card, its report as an older filter wrote it (only sets that hit)."""
    student = run_folder(tmp_path)
    rep = json.loads((tmp_path / "kept.report.json").read_text())
    rep["decontam"] = decontam
    (tmp_path / "kept.report.json").write_text(json.dumps(rep))
    if config is not None:
        (tmp_path / "kept.filter.yaml").write_text(yaml.safe_dump(config))
    return decontam_line(card_of(student))


def test_an_older_report_names_the_sets_its_filter_config_asked_for(tmp_path):
    line = old_report(tmp_path, {}, {"decontam": ["bench.jsonl", "openai/gsm8k:main@test"]})
    assert "none requested" not in line
    assert "`bench.jsonl` (0 removed)" in line and "`openai/gsm8k:main` (0 removed)" in line


def test_an_older_report_with_some_hits_adds_the_sets_without(tmp_path):
    (tmp_path / "math500.jsonl").write_text("")
    config = {"decontam": [str(tmp_path / "math500.jsonl"), "aime.jsonl"]}
    line = old_report(tmp_path, {"math500": 2}, config)
    assert "`math500` (2 removed)" in line and "`aime.jsonl` (0 removed)" in line
    assert line.count("math500") == 1


def test_none_requested_only_when_the_filter_config_asked_for_none(tmp_path):
    assert old_report(tmp_path, {}, {"decontam": []}) == "Decontamination: none requested."


def test_without_a_filter_config_the_card_claims_no_none_requested(tmp_path):
    line = old_report(tmp_path, {}, None)
    assert "none requested" not in line and "filter.yaml" in line


# =========================================================================== tables


def unclosed_tables(card: str) -> list[str]:
    """Lines that follow a table row with no blank line between: GitHub reads them as a row."""
    lines = card.splitlines()
    return [b for a, b in zip(lines, lines[1:]) if a.startswith("|") and b and b[0] != "|"]


@pytest.mark.parametrize(
    "verify",
    [
        {},  # --verify none
        {"mode": "code", "sandbox": "bwrap"},  # a sandbox, no trace judged
        {"mode": "math", "pass_rate": 0.5},
    ],
)
def test_every_table_on_the_card_ends_in_a_blank_line(tmp_path, verify):
    student = run_folder(tmp_path)
    rep = json.loads((tmp_path / "kept.report.json").read_text())
    rep["verify"], rep["reject_reasons"] = verify, {"wrong_answer": 7}
    (tmp_path / "kept.report.json").write_text(json.dumps(rep))
    card = card_of(student)
    assert "Decontamination:" in card
    assert unclosed_tables(card) == []


@pytest.mark.parametrize(
    "extra",
    [
        {"judge": {"model": "j", "scored": 3, "judged": 3}},
        {"diversity": {"groups": 3, "by": "meta.domain", "groups_selected": 3}},
        {"difficulty": {"student": "s"}, "judge": {"model": "j", "scored": 3, "judged": 3}},
    ],
)
def test_the_select_table_ends_in_a_blank_line(tmp_path, extra):
    student = run_folder(tmp_path)
    rep = json.loads((tmp_path / "kept.report.json").read_text())
    rep["verify"] = {"mode": "math", "pass_rate": 0.5}  # the filter's part closes its table
    (tmp_path / "kept.report.json").write_text(json.dumps(rep))
    sel = {"input": str(tmp_path / "kept.jsonl"), "criteria": ["judge"], "total": 5,
           "selected": 3, "removed": {"judge": 2}, "seed": 0, **extra}  # fmt: skip
    (tmp_path / "sel.report.json").write_text(json.dumps(sel))
    train = yaml.safe_load((student / "train.yaml").read_text())
    train["data"] = str(tmp_path / "sel.jsonl")
    (student / "train.yaml").write_text(yaml.safe_dump(train))
    card = card_of(student)
    assert "Selected with `distill select`" in card
    assert unclosed_tables(card) == []


# =========================================================================== select flags


def test_teacher_traces_without_the_difficulty_criterion_is_refused(tmp_path):
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?")])
    with pytest.raises(DistillError, match="--teacher-traces needs the difficulty criterion"):
        SelectConfig(input=str(src), out=str(tmp_path / "s.jsonl"), teacher_traces="nope.jsonl")
    with pytest.raises(DistillError, match="--teacher-traces"):
        SelectConfig(input=str(src), out=str(tmp_path / "s.jsonl"), teacher_traces="nope.jsonl",
                     criteria=["length"], per_prompt=1)  # fmt: skip


def test_teacher_traces_with_a_student_is_refused(tmp_path):
    # the student's samples measure difficulty then: the teacher's traces would go unread
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?")])
    with pytest.raises(
        DistillError, match="--teacher-traces.*--student|--student.*--teacher-traces"
    ):
        SelectConfig(input=str(src), out=str(tmp_path / "s.jsonl"), teacher_traces="t.jsonl",
                     student="m", student_base_url="http://localhost:1/v1")  # fmt: skip


def test_a_teacher_traces_file_that_does_not_exist_is_one_line(tmp_path):
    src = write(tmp_path / "kept.jsonl", [trace("a", "A?"), trace("b", "B?")])
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DistillError, match=rf"--teacher-traces {re.escape(str(missing))}"):
        select(tmp_path, src, teacher_traces=str(missing), prefer_failed=True)
    assert not (tmp_path / "sel.jsonl").exists()


def test_by_a_field_no_trace_has_names_the_keys_seen(tmp_path):
    src = planted(tmp_path, {"geometry": 4, "algebra": 4})
    with pytest.raises(DistillError) as e:
        select(tmp_path, src, budget=4, by="meta.nofield")
    msg = str(e.value)
    assert "--by meta.nofield" in msg and "domain" in msg and "prompt_id" in msg
    assert "\n" not in msg


def test_by_a_field_some_traces_lack_groups_them_as_missing(tmp_path):
    src = planted(tmp_path, {"geometry": 6, "algebra": 6})
    recs = [json.loads(line) for line in src.read_text().splitlines()]
    recs += [trace(f"plain{k}", f"an untagged problem number {k}") for k in range(6)]
    write(src, recs)
    kept, rejects, rep = select(tmp_path, src, budget=6, by="meta.domain")
    groups = [r["meta"]["select"]["cluster"] for r in kept]
    # three groups drawn round-robin: the untagged prompts are one more domain, not a flood
    assert sorted(groups) == ["(missing)"] * 2 + ["algebra"] * 2 + ["geometry"] * 2
    assert rep["diversity"]["groups"] == 3
    assert rep["diversity"]["per_group"]["(missing)"] == {"pool": 6, "selected": 2}
    assert any("6 of 18 traces have no meta.domain" in n for n in rep["notes"])
