"""No output may be an input (issue 30): every command refuses, in one line and before it writes
anything, an output path that is one of its inputs (by name, through a symlink or a hard link),
a side file that is an input, two outputs that are one file, and an output it cannot write;
`publish --local-dir` never writes over the student nor deletes a file it did not write."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

# Every command here is `distill ARGS` in this process (tests/inproc.py): the tests read its exit
# code, its one `error:` line and the files on disk, which a subprocess of the CLI gave the same
# way after paying python's start each time (~0.5 CPU s a call, 60 calls).
from tests.inproc import distill

TRACE = {
    "id": "t1",
    "prompt_id": "p1",
    "sample": 0,
    "messages": [{"role": "user", "content": "What is 1 + 1?"}],
    "reasoning": "1 plus 1 is 2.",
    "answer": "\\boxed{2}",
    "gold": "2",
    "teacher": {"backend": "openai", "model": "m", "params": {}},
    "finish_reason": "stop",
    "usage": {"prompt_tokens": 5, "completion_tokens": 5},
    "meta": {},
}
SEED = {
    "id": "s1",
    "name": "add",
    "instruction": "Add the two numbers given.",
    "instances": [{"input": "1 and 1", "output": "2"}],
    "is_classification": False,
}


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root: a file's sha256, a link's target, a folder's mark."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            key = str(p.relative_to(root))
            if p.is_symlink():
                found[key] = "-> " + os.readlink(p)
            elif p.is_dir():
                found[key] = "dir"
            else:
                found[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def refused(res, pattern: str) -> None:
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The inputs every case reads, in one folder the cases snapshot before and after."""
    (tmp_path / "prompts.jsonl").write_text('{"id": "a", "question": "1 + 1", "answer": "2"}\n')
    (tmp_path / "traces.jsonl").write_text(json.dumps(TRACE) + "\n")
    (tmp_path / "kept.jsonl").write_text(json.dumps(TRACE) + "\n")
    (tmp_path / "seeds.jsonl").write_text(json.dumps(SEED) + "\n")
    (tmp_path / "tmpl.txt").write_text("Solve: {prompt}\n")
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "traces.link.jsonl").symlink_to("traces.jsonl")
    os.link(tmp_path / "traces.jsonl", tmp_path / "traces.hard.jsonl")
    (tmp_path / "prompts.link.jsonl").symlink_to("prompts.jsonl")
    os.link(tmp_path / "prompts.jsonl", tmp_path / "prompts.hard.jsonl")
    (tmp_path / "seeds.link.jsonl").symlink_to("seeds.jsonl")
    # side files that are (by a user's odd choice) inputs
    for name in (
        "t.summary.json",
        "t.generate.yaml",
        "t.jsonl.batches.json",
        "i.requests.jsonl",
        "k.filter.yaml",
        "k.manifest.json",
        "e.student.traces.jsonl",
    ):
        (tmp_path / name).write_text((tmp_path / "prompts.jsonl").read_text())
    (tmp_path / "t.logprobs").mkdir()
    (tmp_path / "t.logprobs" / "prompts.jsonl").write_text("{}\n")
    run = tmp_path / "run"  # a train --output-dir holding the user's data and an old run
    (run / "checkpoint-2").mkdir(parents=True)
    (run / "loss.jsonl").write_text(json.dumps(TRACE) + "\n")
    (run / "checkpoint-2" / "kept.jsonl").write_text(json.dumps(TRACE) + "\n")
    (run / "kept.jsonl").write_text(json.dumps(TRACE) + "\n")
    (run / "config.json").write_text('{"model_type": "llama"}\n')  # also a model folder
    return tmp_path


GEN = ["generate", "--model", "m"]
# (case, argv with {d} for the folder, the flag/path the line must name)
CASES = [
    ("generate out=data", [*GEN, "--data", "{d}/prompts.jsonl", "--out", "{d}/prompts.jsonl"],
     r"--out \S*prompts\.jsonl is the input --data \S*prompts\.jsonl"),
    ("generate out=symlink to data",
     [*GEN, "--data", "{d}/prompts.jsonl", "--out", "{d}/prompts.link.jsonl"],
     r"--out \S*prompts\.link\.jsonl is the input --data \S*prompts\.jsonl \(through a link\)"),
    ("generate out=hard link to data",
     [*GEN, "--data", "{d}/prompts.jsonl", "--out", "{d}/prompts.hard.jsonl"],
     r"--out \S*prompts\.hard\.jsonl is the input --data \S*prompts\.jsonl \(through a link\)"),
    ("generate summary=data", [*GEN, "--data", "{d}/t.summary.json", "--out", "{d}/t.jsonl"],
     r"--out \S*t\.jsonl would also write \S*t\.summary\.json, which is the input --data"),
    ("generate config=data", [*GEN, "--data", "{d}/t.generate.yaml", "--out", "{d}/t.jsonl"],
     r"would also write \S*t\.generate\.yaml, which is the input --data"),
    ("generate batch state=data",
     [*GEN, "--batch", "--data", "{d}/t.jsonl.batches.json", "--out", "{d}/t.jsonl"],
     r"would also write \S*t\.jsonl\.batches\.json, which is the input --data"),
    ("generate logprobs dir holds data",
     [*GEN, "--teacher", "hf", "--logprobs", "2", "--data", "{d}/t.logprobs/prompts.jsonl",
      "--out", "{d}/t.jsonl"],
     r"would also write \S*t\.logprobs, which holds the input --data \S*t\.logprobs/prompts\.jsonl"),
    ("generate out=template",
     [*GEN, "--data", "{d}/prompts.jsonl", "--template", "{d}/tmpl.txt", "--out", "{d}/tmpl.txt"],
     r"--out \S*tmpl\.txt is the input --template"),
    ("generate out is a directory", [*GEN, "--data", "{d}/prompts.jsonl", "--out", "{d}/adir"],
     r"--out \S*adir is a directory"),
    ("generate out under a file",
     [*GEN, "--data", "{d}/prompts.jsonl", "--out", "{d}/a-file/t.jsonl"],
     r"--out \S*a-file/t\.jsonl: \S*a-file is a file, not a folder"),
    ("instruct out=seeds",
     ["instruct", "--model", "m", "--seed-tasks", "{d}/seeds.jsonl", "--out", "{d}/seeds.jsonl"],
     r"--out \S*seeds\.jsonl is the input --seed-tasks \S*seeds\.jsonl"),
    ("instruct out=symlink to seeds",
     ["instruct", "--model", "m", "--seed-tasks", "{d}/seeds.jsonl", "--out",
      "{d}/seeds.link.jsonl"],
     r"--out \S*seeds\.link\.jsonl is the input --seed-tasks \S*seeds\.jsonl \(through a link\)"),
    ("instruct requests=seeds",
     ["instruct", "--model", "m", "--seed-tasks", "{d}/i.requests.jsonl", "--out",
      "{d}/i.jsonl"],
     r"would also write \S*i\.requests\.jsonl, which is the input --seed-tasks"),
    ("instruct out is a directory",
     ["instruct", "--model", "m", "--seed-tasks", "{d}/seeds.jsonl", "--out", "{d}/adir"],
     r"--out \S*adir is a directory"),
    ("filter out=input", ["filter", "{d}/traces.jsonl", "--out", "{d}/traces.jsonl"],
     r"--out \S*traces\.jsonl is the input traces \S*traces\.jsonl"),
    ("filter rejects=input",
     ["filter", "{d}/traces.jsonl", "--out", "{d}/k.jsonl", "--rejects", "{d}/traces.jsonl"],
     r"--rejects \S*traces\.jsonl is the input traces"),
    ("filter report=input",
     ["filter", "{d}/traces.jsonl", "--out", "{d}/k.jsonl", "--report", "{d}/traces.jsonl"],
     r"--report \S*traces\.jsonl is the input traces"),
    ("filter out=symlink to input", ["filter", "{d}/traces.jsonl", "--out", "{d}/traces.link.jsonl"],
     r"--out \S*traces\.link\.jsonl is the input traces \S*traces\.jsonl \(through a link\)"),
    ("filter out=hard link to input",
     ["filter", "{d}/traces.jsonl", "--out", "{d}/traces.hard.jsonl"],
     r"--out \S*traces\.hard\.jsonl is the input traces \S*traces\.jsonl \(through a link\)"),
    ("filter input through a symlink",
     ["filter", "{d}/traces.link.jsonl", "--out", "{d}/traces.jsonl"],
     r"--out \S*traces\.jsonl is the input traces \S*traces\.link\.jsonl"),
    ("filter out=rejects",
     ["filter", "{d}/traces.jsonl", "--out", "{d}/k.jsonl", "--rejects", "{d}/k.jsonl"],
     r"--rejects \S*k\.jsonl is the same file as --out \S*k\.jsonl"),
    ("filter report=default rejects",
     ["filter", "{d}/traces.jsonl", "--out", "{d}/k.jsonl", "--report", "{d}/k.rejects.jsonl"],
     r"--report \S*k\.rejects\.jsonl is the same file as --rejects \S*k\.rejects\.jsonl"),
    ("filter config=input", ["filter", "{d}/k.filter.yaml", "--out", "{d}/k.jsonl"],
     r"--report \S*k\.report\.json would also write \S*k\.filter\.yaml, which is the input traces"),
    ("filter manifest=input", ["filter", "{d}/k.manifest.json", "--out", "{d}/k.jsonl"],
     r"--out \S*k\.jsonl would also write \S*k\.manifest\.json, which is the input traces"),
    ("filter out=decontam",
     ["filter", "{d}/traces.jsonl", "--decontam", "{d}/prompts.jsonl", "--out",
      "{d}/prompts.jsonl"],
     r"--out \S*prompts\.jsonl is the input --decontam"),
    ("filter out is a directory", ["filter", "{d}/traces.jsonl", "--out", "{d}/adir"],
     r"--out \S*adir is a directory"),
    ("export out=data", ["export", "{d}/kept.jsonl", "--out", "{d}/kept.jsonl"],
     r"--out \S*kept\.jsonl is the input data \S*kept\.jsonl"),
    ("export out=symlink to data", ["export", "{d}/traces.jsonl", "--out", "{d}/traces.link.jsonl"],
     r"--out \S*traces\.link\.jsonl is the input data \S*traces\.jsonl \(through a link\)"),
    ("export out=hard link to data", ["export", "{d}/traces.jsonl", "--out", "{d}/traces.hard.jsonl"],
     r"--out \S*traces\.hard\.jsonl is the input data \S*traces\.jsonl \(through a link\)"),
    ("eval out=data", ["eval", "--model", "m", "--data", "{d}/prompts.jsonl", "--out",
                       "{d}/prompts.jsonl"],
     r"--out \S*prompts\.jsonl is the input --data"),
    ("eval samples=data", ["eval", "--model", "m", "--data", "{d}/e.student.traces.jsonl",
                           "--out", "{d}/e.json"],
     r"--out \S*e\.json would also write \S*e\.student\.traces\.jsonl, which is the input --data"),
    ("eval out=model folder", ["eval", "--model", "{d}/run", "--data", "{d}/prompts.jsonl",
                               "--out", "{d}/run"],
     r"--out \S*run is the input --model"),
    ("train output-dir=data", ["train", "--model", "m", "--data", "{d}/kept.jsonl",
                               "--output-dir", "{d}/kept.jsonl"],
     r"--output-dir \S*kept\.jsonl is the input --data"),
    ("train data=its loss log", ["train", "--model", "m", "--data", "{d}/run/loss.jsonl",
                                 "--output-dir", "{d}/run"],
     r"--output-dir \S*run would also write \S*run/loss\.jsonl, which is the input --data"),
    ("train data inside a checkpoint",
     ["train", "--model", "m", "--data", "{d}/run/checkpoint-2/kept.jsonl", "--output-dir",
      "{d}/run", "--overwrite"],
     r"would also write \S*run/checkpoint-2, which holds the input --data"),
    ("train output-dir=model", ["train", "--model", "{d}/run", "--data", "{d}/kept.jsonl",
                                "--output-dir", "{d}/run"],
     r"--output-dir \S*run is the input --model"),
]  # fmt: skip


@pytest.mark.parametrize("case, argv, pattern", CASES, ids=[c[0] for c in CASES])
def test_an_output_that_is_an_input_is_refused(files, case, argv, pattern):
    before = snapshot(files)
    res = distill(*[a.replace("{d}", str(files)) for a in argv])
    refused(res, pattern)
    assert snapshot(files) == before  # every input byte-identical, nothing new written


def test_data_beside_the_adapter_is_not_refused(files):
    """A kept file the user keeps in --output-dir is no clash: train writes other names there.
    The run goes past the guard (and stops later at the model, not found here)."""
    res = distill(
        "train", "--model", str(files / "no-model"), "--data", str(files / "run" / "kept.jsonl"),
        "--output-dir", str(files / "run"), "--overwrite",
    )  # fmt: skip
    assert "is the input" not in res.stderr and "would also write" not in res.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_named(files):
    ro = files / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = distill("filter", str(files / "traces.jsonl"), "--out", str(ro / "k.jsonl"))
        refused(res, r"--out \S*ro/k\.jsonl: cannot write in \S*ro/ \(read-only folder\)")
    finally:
        ro.chmod(0o755)


def test_check_outputs_names_a_read_only_folder(tmp_path, monkeypatch):
    """The same check without needing a non-root user: os.access is what it asks."""
    from distill.errors import DistillError
    from distill.paths import check_outputs, outputs

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode)
    )
    with pytest.raises(DistillError, match=r"cannot write in \S*ro/ \(read-only folder\)"):
        check_outputs({}, outputs("--out", ro / "sub" / "k.jsonl"))


# =========================================================================== publish


@pytest.fixture
def student(tmp_path: Path) -> Path:
    """A train output folder as train leaves it: weights, run files, a checkpoint, the loss log."""
    s = tmp_path / "student"
    (s / "checkpoint-1").mkdir(parents=True)
    (s / "config.json").write_text('{"model_type": "llama"}\n')
    (s / "model.safetensors").write_bytes(b"weights-1")
    (s / "train.yaml").write_text("model: m\nformat: r1\n")
    (s / "loss.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    (s / "training_args.bin").write_bytes(b"args")
    (s / "checkpoint-1" / "model.safetensors").write_bytes(b"ckpt")
    return s


def publish(student: Path, dest: Path, *extra: str):
    return distill("publish", str(student), "--local-dir", str(dest), *extra)


@pytest.mark.parametrize(
    "where, pattern",
    [
        (lambda s: s, r"--local-dir \S*student is the student folder"),
        (lambda s: s / "published", r"--local-dir \S*student/published is inside the student"),
        (lambda s: s / "checkpoint-1", r"is inside the student folder"),
        (lambda s: s.parent, r"--local-dir \S* contains the student folder"),
    ],
    ids=["student", "inside", "checkpoint", "around"],
)
def test_publish_never_writes_over_the_student(student, where, pattern):
    before = snapshot(student.parent)
    refused(publish(student, where(student)), pattern)
    assert snapshot(student.parent) == before


def test_publish_into_a_user_folder_is_refused_and_its_files_survive(student, tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("my notes\n")
    (user / "README.md").write_text("my readme\n")
    before = snapshot(tmp_path)
    refused(publish(student, user), r"--local-dir \S*mine is a non-empty folder .* --overwrite")
    assert snapshot(tmp_path) == before
    # --overwrite does not replace a file publish did not write either: named, nothing written
    refused(
        publish(student, user, "--overwrite"), r"README\.md is already there and publish did not"
    )
    assert snapshot(tmp_path) == before


def test_overwrite_keeps_a_user_file_publish_did_not_write(student, tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("my notes\n")
    res = publish(student, user, "--overwrite")
    assert res.returncode == 0, res.stderr
    assert (user / "notes.txt").read_text() == "my notes\n"
    marker = json.loads((user / ".distill-publish.json").read_text())
    assert "notes.txt" not in marker["files"]
    assert set(marker["files"]) == {"README.md", "config.json", "model.safetensors", "train.yaml"}
    assert (user / "model.safetensors").read_bytes() == b"weights-1"


def test_publish_twice_replaces_only_its_own_files(student, tmp_path):
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    assert not (dest / "loss.jsonl").exists() and not (dest / "checkpoint-1").exists()
    (dest / "notes.txt").write_text("added by the user\n")
    # the student changes: new weights, no train.yaml any more
    (student / "model.safetensors").write_bytes(b"weights-2")
    (student / "train.yaml").unlink()
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == b"weights-2"
    assert not (dest / "train.yaml").exists()  # publish's own stale file: removed
    assert (dest / "notes.txt").read_text() == "added by the user\n"  # the user's: kept
    assert json.loads((dest / ".distill-publish.json").read_text())["files"] == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pub.")]  # no staging left


def test_publish_of_another_student_needs_overwrite(student, tmp_path):
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "qwen2"}\n')
    (other / "model.safetensors").write_bytes(b"other")
    before = snapshot(tmp_path)
    refused(publish(other, dest), r"--local-dir \S*pub holds a publish of another student")
    assert snapshot(tmp_path) == before
    res = publish(other, dest, "--overwrite")
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == b"other"
    assert not (dest / "train.yaml").exists()  # the first publish's file, not the other's


def test_publish_into_a_file_is_refused(student, tmp_path):
    (tmp_path / "pub").write_text("a file\n")
    before = snapshot(tmp_path)
    refused(publish(student, tmp_path / "pub"), r"--local-dir \S*pub is a file")
    refused(publish(student, tmp_path / "pub" / "x"), r"--local-dir \S*pub/x is under a file")
    assert snapshot(tmp_path) == before


def test_run_result_file_that_is_a_stage_output_is_refused(tmp_path):
    """`distill run` writes RUN_DIR/NAME.json at the end; a recipe whose name makes that a
    stage's own output (here filter's --report) must be refused before any stage runs, not
    overwrite the report (whose manifest then no longer matches: every rerun filters again)."""
    (tmp_path / "traces.jsonl").write_text(json.dumps(TRACE) + "\n")
    (tmp_path / "r.yaml").write_text(
        f"run: {{name: report}}\nfilter:\n  input: {tmp_path}/traces.jsonl\n"
        "  out: '{run_dir}/kept.jsonl'\n  report: '{run_dir}/report.json'\n"
    )
    before = snapshot(tmp_path)
    res = distill("run", "--recipe", str(tmp_path / "r.yaml"), "--run-dir", str(tmp_path))
    refused(res, r"report\.json.*--report|--report.*report\.json")
    assert snapshot(tmp_path) == before


def test_a_user_file_under_a_name_publish_once_wrote_is_not_replaced(student, tmp_path):
    """The marker names the files publish wrote; a file the user has since written under one of
    those names (their own train.yaml) is theirs: a republish that would replace it refuses it
    by name, and one that no longer writes that name leaves it (was: replaced / removed)."""
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    mine = "my own notes, not the run's config\n"
    (dest / "train.yaml").write_text(mine)
    before = snapshot(tmp_path)
    refused(publish(student, dest), r"train\.yaml is already there and publish did not write it")
    assert snapshot(tmp_path) == before
    (student / "train.yaml").unlink()  # the student no longer has one: publish would remove it
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "train.yaml").read_text() == mine
    assert "train.yaml" not in json.loads((dest / ".distill-publish.json").read_text())["files"]


def test_publish_killed_while_placing_files_can_publish_again(student, tmp_path, monkeypatch):
    """A publish cut off between moving its files in (the marker lists old and new): the rerun
    takes the files it had placed as its own, not as the user's, and finishes."""
    import shutil

    from distill import publish as P

    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    (student / "model.safetensors").write_bytes(b"weights-2")
    real_move, moved = shutil.move, []

    def move(src, dst):
        if moved:
            raise KeyboardInterrupt  # the kill, after the first file went in
        moved.append(dst)
        return real_move(src, dst)

    monkeypatch.setattr(P.shutil, "move", move)
    with pytest.raises(KeyboardInterrupt):
        P.run(P.PublishConfig(dir=str(student), local_dir=str(dest)))
    monkeypatch.undo()
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == b"weights-2"
