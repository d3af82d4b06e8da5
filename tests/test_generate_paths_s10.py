"""A local teacher folder named another way is the same teacher: a rerun of a killed generate
(or eval) that spells the folder differently (./, a trailing slash, its absolute path, from
another working directory) pays for nothing already in the traces file and appends nothing."""

import json
import shutil

from distill.generate import GenerateConfig, build_jobs, generate_planned
from distill.records import read_records


def project(tmp_path, tiny_qwen, monkeypatch, names=("merged",)):
    """runs/x/teacher/<name> copies of the tiny model, the working directory at the top."""
    root = tmp_path / "proj"
    for name in names:
        shutil.copytree(tiny_qwen, root / "runs/x/teacher" / name)
    monkeypatch.chdir(root)
    return root


def gen(model, out="runs/x/traces.jsonl", **kw):
    return GenerateConfig(
        data="builtin:arithmetic",
        limit=2,
        n=2,
        teacher="hf",
        model=model,
        max_tokens=4,
        batch_size=4,
        seed=0,
        out=out,
        **kw,
    )


def lines(path):
    return list(read_records(path))


def test_a_file_written_before_resumes_under_every_name_of_its_folder(
    tiny_qwen, tmp_path, monkeypatch, paid, capsys
):
    root = project(tmp_path, tiny_qwen, monkeypatch)
    traces = root / "runs/x/traces.jsonl"
    generate_planned(gen("runs/x/teacher/merged"), progress=False)
    first = lines(traces)
    assert len(first) == 4 and paid == [4]
    # a traces file as generate wrote it until now: the teacher as typed, no folder key
    for r in first:
        assert r["teacher"]["model"] == "runs/x/teacher/merged"
        r["teacher"].pop("folder", None)
    traces.write_text("".join(json.dumps(r) + "\n" for r in first))
    capsys.readouterr()
    for model, out in [
        ("runs/x/teacher/merged", "runs/x/traces.jsonl"),  # as typed: as before
        ("./runs/x/teacher/merged", "runs/x/traces.jsonl"),
        ("runs/x/teacher/merged/", "./runs/x/traces.jsonl"),
        (f"{root}/runs/x/teacher/merged", str(traces)),
        (f"{root}/runs/x/teacher/../teacher/merged/", "runs/x/traces.jsonl"),
    ]:
        planned = generate_planned(gen(model, out), progress=False)
        said = capsys.readouterr().out
        assert "4 samples planned, 4 already in" in said and "0 to do" in said, model
        # this run's samples are the ones on disk (eval and `distill run` pick them by id)
        assert planned == {r["id"] for r in first}, model
    assert paid == [4]  # nothing bought again
    assert lines(traces) == first  # nothing appended


def test_a_rerun_from_another_working_directory_finds_the_samples(
    tiny_qwen, tmp_path, monkeypatch, paid
):
    root = project(tmp_path, tiny_qwen, monkeypatch)
    generate_planned(gen("runs/x/teacher/merged"), progress=False)
    first = lines(root / "runs/x/traces.jsonl")
    monkeypatch.chdir(root / "runs/x")
    generate_planned(gen("teacher/merged", out="traces.jsonl"), progress=False)
    moved = tmp_path / "elsewhere"
    shutil.move(root, moved)  # the whole project moved
    monkeypatch.chdir(moved)
    generate_planned(gen("./runs/x/teacher/merged/"), progress=False)
    assert paid == [4]
    assert lines(moved / "runs/x/traces.jsonl") == first
    # kept relative to the traces file: the run dir can move, the path stays true
    assert {r["teacher"].get("folder") for r in first} == {"teacher/merged"}


def test_several_local_teachers_each_find_their_own_samples(tiny_qwen, tmp_path, monkeypatch, paid):
    root = project(tmp_path, tiny_qwen, monkeypatch, names=("a", "b", "c"))
    teachers = [{"model": "runs/x/teacher/a"}, {"model": "runs/x/teacher/b"}]
    generate_planned(gen("runs/x/teacher/a", teachers=teachers), progress=False)
    first = lines(root / "runs/x/traces.jsonl")
    assert len(first) == 8 and paid == [4, 4]
    spelled = [{"model": "./runs/x/teacher/b/"}, {"model": f"{root}/runs/x/teacher/a"}]
    generate_planned(gen("runs/x/teacher/a", teachers=spelled), progress=False)
    assert paid == [4, 4] and lines(root / "runs/x/traces.jsonl") == first
    # another folder (a copy of the same weights) is another teacher: its samples are to do
    plan = build_jobs(gen("./runs/x/teacher/c"))[0]
    assert sum(len(j.samples) for _, jobs in plan for j in jobs) == 4


def test_eval_resamples_nothing_when_the_student_is_named_another_way(
    tiny_qwen, tmp_path, monkeypatch, paid
):
    from distill.eval import EvalConfig, run

    project(tmp_path, tiny_qwen, monkeypatch, names=("student",))

    def evaluate(model):
        run(
            EvalConfig(
                model=model,
                data="builtin:arithmetic?n=3",
                verify="math",
                max_tokens=4,
                out="runs/x/eval.json",
            )
        )
        return json.loads(open("runs/x/eval.json").read())["student"]

    first = evaluate("runs/x/teacher/student")
    again = evaluate("./runs/x/teacher/student/")
    assert paid == [3]
    assert again["samples"] == first["samples"] == 3
    assert len(lines("runs/x/eval.student.traces.jsonl")) == 3
