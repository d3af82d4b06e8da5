"""Second read of cfeefe2 / 7b9120f / 6381490: what they left open.

train into a folder no train run wrote into that holds the user's merged/: 6381490 refused it
under --merge and --overwrite only. A run without them went on, wrote its adapter and train.yaml
beside the user's merged model, and from then on merged/ passed for the run's own: the next
`train --merge --overwrite` (or --resume --merge) wrote the student over it, and publish --merged
shipped the user's model as the student."""

from __future__ import annotations


def _tree(d):
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def test_a_plain_run_beside_the_users_merged_folder_is_refused(tmp_path, tiny_qwen):
    from tests.inproc import distill
    from tests.test_filter_kill import make_traces

    make_traces(tmp_path / "kept.jsonl", 4)
    out = tmp_path / "mine"
    (out / "merged").mkdir(parents=True)
    theirs = {"config.json": b'{"model_type": "mine"}', "model.safetensors": b"my weights"}
    for name, data in theirs.items():
        (out / "merged" / name).write_bytes(data)
    argv = ["train", "--data", tmp_path / "kept.jsonl", "--model", tiny_qwen]
    argv += ["--output-dir", out, "--max-steps", "1"]
    res = distill(*argv)  # went on before the fix: train.yaml then vouched for merged/
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "holds merged/" in line and "no train run wrote into it" in line, line
    # (before the fix, this next run wrote the student's config.json over the user's model)
    res = distill(*argv, "--merge", "--overwrite")
    assert res.returncode == 1, res.stderr
    assert _tree(out / "merged") == theirs
    assert sorted(p.name for p in out.iterdir()) == ["merged"]


def test_a_runs_own_merged_folder_is_replaced_after_its_checkpoints_are_gone(tmp_path, tiny_qwen):
    """No false refusal: a run's merged/ beside its train.yaml, its checkpoints deleted (disk),
    is replaced by a run with --merge --overwrite."""
    import shutil

    from tests.inproc import distill
    from tests.test_filter_kill import make_traces

    make_traces(tmp_path / "kept.jsonl", 4)
    out = tmp_path / "run"
    argv = ["train", "--data", tmp_path / "kept.jsonl", "--model", tiny_qwen]
    argv += ["--output-dir", out, "--max-steps", "1", "--merge"]
    res = distill(*argv)
    assert res.returncode == 0, res.stderr
    for ckpt in out.glob("checkpoint-*"):
        shutil.rmtree(ckpt)
    (out / "merged" / "model.safetensors").write_bytes(b"stale")
    res = distill(*argv, "--overwrite")
    assert res.returncode == 0, res.stderr
    assert (out / "merged" / "model.safetensors").read_bytes() != b"stale"
