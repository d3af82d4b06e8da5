"""Nothing the user owns is destroyed by train or `distill run`: every file train reads is
checked against the folders it writes and removes, and each refusal names the way to start over
of the command that gave it.

OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_user_files_s10.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inproc import distill

# train's own folders and files in its --output-dir: merged/, a checkpoint, the on-policy syncs'
# (removed at every weight sync), its record of the student's rollouts
WHERE = [
    "merged/x",
    "checkpoint-2/x",
    "rollout-weights/step-000002/x",
    "rollout-adapters/x",
    "rollouts.jsonl",
]


def _setup(tmp_path: Path) -> None:
    """A student folder the checks accept (nothing here loads it) and one kept trace."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "kept.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "1+1"}, '
        '{"role": "assistant", "content": "2"}]}\n'
    )


def _one_error_line(res) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = [x for x in (res.stdout + res.stderr).splitlines() if x.startswith("error:")]
    assert len(lines) == 1, res.stdout + res.stderr
    return lines[0]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("flag", ["--gate-traces", "--template"])
def test_train_refuses_a_gate_traces_or_template_file_it_would_remove(
    tmp_path, monkeypatch, flag, where
):
    """`--gate-traces OUT/merged/traces.jsonl` or `--template OUT/rollout-weights/.../t.txt`:
    guard_train checked --data, --model, --tokenizer and --teacher-model only, and train
    removed (--overwrite, the checkpoint rotation, every on-policy sync) or rewrote the file.
    Refused in one line naming the flag, before anything is written."""
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    f = Path("out") / where
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text('{"id": "mine"}\n')
    args = ["--method", "onpolicy", "--teacher-model", "model"]
    if flag == "--gate-traces":  # the second of two: each one is an input
        args += ["--gate-teacher", "--gate-traces", f"kept.jsonl,{f}"]
    else:
        args += ["--template", str(f)]
    res = distill("train", "--data", "kept.jsonl", "--model", "model", "--output-dir", "out", *args)
    line = _one_error_line(res)
    assert f"the input {flag}" in line and str(f) in line, line
    assert f.read_text() == '{"id": "mine"}\n'


@pytest.mark.parametrize("folder", ["rollout-weights", "rollout-adapters", "merged"])
def test_run_refuses_eval_data_in_a_folder_train_removes(tmp_path, monkeypatch, folder):
    """A recipe whose eval --data lies in train's OUT/rollout-weights (removed at every sync of
    --rollout vllm) or OUT/merged/ (removed by overwrite): train ran, removed it, and eval
    stopped on `not found` after the training was spent. Refused before any stage runs."""
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    data = Path("r/student") / folder / "step-000002" / "test.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text('{"problem": "1+1", "answer": "2"}\n')
    Path("exp.yaml").write_text(
        "train:\n  data: kept.jsonl\n  model: model\n  output_dir: '{run_dir}/student'\n"
        f"eval:\n  data: '{{run_dir}}/student/{folder}/step-000002/test.jsonl'\n"
        "  model: '{run_dir}/student'\n  out: '{run_dir}/eval.json'\n"
    )
    for dry in (["--dry-run"], []):
        line = _one_error_line(distill("run", "--recipe", "exp.yaml", "--run-dir", "r", *dry))
        assert f"eval's input --data {data} lies in r/student/{folder}" in line, line
    assert data.read_text() == '{"problem": "1+1", "answer": "2"}\n'
    assert sorted(p.name for p in Path("r/student").iterdir()) == [folder]  # nothing written


def test_run_still_evaluates_the_students_merged_folder(tmp_path, monkeypatch):
    """The chain itself: eval --model OUT/merged (the folder, not a file in it) is train's
    result, read after train wrote it."""
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    Path("test.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n')
    Path("exp.yaml").write_text(
        "train:\n  data: kept.jsonl\n  model: model\n  output_dir: '{run_dir}/student'\n"
        "  merge: true\n"
        "eval:\n  data: test.jsonl\n  model: '{run_dir}/student/merged'\n"
        "  out: '{run_dir}/eval.json'\n"
    )
    res = distill("run", "--recipe", "exp.yaml", "--run-dir", "r", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("folder", ["rollout-weights", "rollout-adapters"])
def test_run_result_file_is_never_in_trains_rollout_folders(tmp_path, monkeypatch, folder):
    """`--run-dir OUT/rollout-weights` beside a recipe training into OUT: the result file was
    written into the folder the next on-policy run removes at its first sync. Refused first."""
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    Path("exp.yaml").write_text("train:\n  data: kept.jsonl\n  model: model\n  output_dir: out\n")
    res = distill("run", "--recipe", "exp.yaml", "--run-dir", f"out/{folder}", "--dry-run")
    line = _one_error_line(res)
    assert f"result file out/{folder}/exp.json would replace train's files" in line, line
    assert "run.name" in line


def _a_model_of_the_users(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "mine"}')
    (folder / "model.safetensors").write_bytes(b"weights")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_train_cli_refusal_of_a_model_folder_says_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    before = _a_model_of_the_users(Path("mine"))
    res = distill("train", "--data", "kept.jsonl", "--model", "model", "--output-dir", "mine")
    line = _one_error_line(res)
    assert "mine holds a model" in line and "pass --overwrite to replace it" in line, line
    assert {p.name: p.read_bytes() for p in Path("mine").iterdir()} == before


def test_run_refusal_of_a_model_folder_says_the_recipe_key(tmp_path, monkeypatch):
    """Under `distill run` the refusal told the user to pass --overwrite, a flag `distill run`
    does not take: it names --set train.overwrite=true (or the recipe key), as run's other
    train refusals do."""
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    before = _a_model_of_the_users(Path("mine"))
    Path("exp.yaml").write_text("train:\n  data: kept.jsonl\n  model: model\n  output_dir: mine\n")
    for dry in (["--dry-run"], []):
        line = _one_error_line(distill("run", "--recipe", "exp.yaml", "--run-dir", "r", *dry))
        assert "mine holds a model" in line, line
        assert "--set train.overwrite=true" in line and "overwrite: true" in line, line
        assert "pass --overwrite" not in line, line
    assert {p.name: p.read_bytes() for p in Path("mine").iterdir()} == before
