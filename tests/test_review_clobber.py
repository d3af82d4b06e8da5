"""Second-read review: paths where a stage destroyed a file the user owns.

.venv/bin/python -m pytest tests/test_review_clobber.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.errors import DistillError
from distill.records import RecordWriter, read_records


def test_a_one_line_file_at_out_that_is_no_record_is_not_truncated(tmp_path, monkeypatch):
    """`--out notes.txt`, a file of the user's whose one line has no newline: read as a killed
    writer's torn record (skipped), then cut to 0 bytes by the writer before the first request."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    Path("p.jsonl").write_text(json.dumps({"id": "a", "problem": "1 + 1?", "answer": "2"}) + "\n")
    Path("notes.txt").write_bytes(b"my notes, no newline")
    argv = ["generate", "--data", "p.jsonl", "--model", "m", "--out", "notes.txt"]
    argv += ["--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0"]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1
    assert Path("notes.txt").read_bytes() == b"my notes, no newline"
    assert "notes.txt:1: not valid JSON" in res.output
    assert not Path("notes.generate.yaml").exists()  # refused before anything is written


def test_the_writer_never_cuts_a_last_line_that_is_no_record(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(b'{"id": "a"}\nsome text of mine')
    with pytest.raises(DistillError, match=r"t\.jsonl: its last line is not a record"):
        RecordWriter(p)
    assert p.read_bytes() == b'{"id": "a"}\nsome text of mine'
    with pytest.raises(DistillError, match=r"t\.jsonl:2: not valid JSON"):
        list(read_records(p))


def test_a_killed_writers_half_record_is_still_skipped_and_cut(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b", "ans')
    assert [r["id"] for r in read_records(p)] == ["a"]
    with RecordWriter(p) as w:
        w.write({"id": "c"})
    assert p.read_text().splitlines() == ['{"id": "a"}', '{"id": "c"}']


@pytest.mark.parametrize("method", ["sft", "kd"])
def test_train_leaves_a_readme_of_the_users_in_output_dir_alone(tmp_path, tiny_qwen, method):
    """TRL wrote its model card over OUTPUT_DIR/README.md at every checkpoint, and peft at every
    adapter save: a README.md the user kept beside the run (as kept.jsonl may be) was lost."""
    from distill.train import run
    from tests.test_train import cfg

    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("my notes on this run\n")
    kw = {"teacher_model": str(tiny_qwen)} if method == "kd" else {}
    run(cfg(tmp_path, tiny_qwen, method=method, max_steps=2, save_steps=1, **kw))
    assert (out / "README.md").read_text() == "my notes on this run\n"
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    "name, section",
    [
        ("config", "train:\n  data: kept.jsonl\n  model: model\n  output_dir: '{run_dir}'\n"),
        ("kd", "train:\n  data: kept.jsonl\n  model: model\n  output_dir: '{run_dir}'\n"),
        ("card", "publish:\n  dir: model\n  local_dir: '{run_dir}'\n"),
    ],
)
def test_run_result_file_is_never_a_file_train_or_publish_writes(
    tmp_path, monkeypatch, name, section
):
    """`distill run --recipe config.yaml` training into {run_dir}: the result file
    {run_dir}/config.json, written last, replaced the student's config.json (kd.yaml: kd.json;
    publishing into {run_dir}: a file in publish's folder)."""
    monkeypatch.chdir(tmp_path)
    Path("kept.jsonl").write_text("{}\n")
    Path("model").mkdir()
    Path("model/config.json").write_text("{}")
    Path(f"{name}.yaml").write_text(section)
    res = CliRunner().invoke(
        app, ["run", "--recipe", f"{name}.yaml", "--run-dir", "r", "--dry-run"]
    )
    assert res.exit_code == 1, res.output
    assert f"{name}.json would replace" in res.output and "run.name" in res.output


def test_run_result_file_beside_train_files_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("kept.jsonl").write_text("{}\n")
    Path("model").mkdir()
    Path("model/config.json").write_text("{}")
    Path("exp.yaml").write_text(
        "train:\n  data: kept.jsonl\n  model: model\n  output_dir: '{run_dir}'\n"
    )
    res = CliRunner().invoke(app, ["run", "--recipe", "exp.yaml", "--run-dir", "r", "--dry-run"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("which", ["out", "requests"])
def test_instruct_refusing_an_unreadable_file_to_resume_writes_nothing(
    tmp_path, monkeypatch, which
):
    """The refusal came after <out>.instruct.yaml was written: one line, and a file left."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    seed = {"id": "s0", "name": "sum", "instruction": "Add the two numbers given."}
    seed |= {"instances": [{"input": "2 and 3", "output": "5"}], "is_classification": False}
    Path("seeds.jsonl").write_text(json.dumps(seed) + "\n")
    bad = Path("ins.jsonl" if which == "out" else "ins.requests.jsonl")
    bad.write_text("line one\nline two\n")
    argv = ["instruct", "--seed-tasks", "seeds.jsonl", "--model", "m", "--out", "ins.jsonl"]
    res = CliRunner().invoke(app, [*argv, "--base-url", "http://127.0.0.1:9/v1"])
    assert res.exit_code == 1 and f"{bad}:1: not valid JSON" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["seeds.jsonl", bad.name])


def test_a_tail_of_nuls_a_dead_machine_left_is_still_cut(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(b'{"id": "a"}\n' + b"\0" * 100)
    assert [r["id"] for r in read_records(p)] == ["a"]
    with RecordWriter(p) as w:
        w.write({"id": "c"})
    assert p.read_text().splitlines() == ['{"id": "a"}', '{"id": "c"}']
