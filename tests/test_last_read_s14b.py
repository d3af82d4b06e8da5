"""The last read of today's change, area B: what falls between its commits.

A Hub publish's marker (6469e14) keeps each file's hashes, not its size and mtime: cloned or
downloaded into a folder that `publish --local-dir` then writes into, every file it lists was
taken for publish's by name, and the README.md the user edited in the clone was replaced."""

from __future__ import annotations

import pytest

from distill.errors import DistillError
from tests.test_third_read_eval import hub, student_folder

__all__ = ["hub"]  # the fixture, used by name


def publish(**kw):
    from distill.publish import PublishConfig, run

    return run(PublishConfig(**kw))


def cloned(hub, repo, to):
    """The repo's files as `git clone` / `hf download` leave them, its marker included."""
    to.mkdir()
    for name, data in hub[repo]["files"].items():
        (to / name).write_bytes(data)
    return to


@pytest.mark.parametrize("from_parent", [False, True])
def test_a_readme_edited_in_a_clone_of_a_hub_publish_is_the_users(
    tmp_path, hub, monkeypatch, from_parent
):
    student = student_folder(tmp_path / "student")
    publish(dir=str(student), repo_id="me/student")
    clone = cloned(hub, "me/student", tmp_path / "clone")
    (clone / "README.md").write_text("my own card, written in the clone\n")
    if from_parent:  # the marker names the student by its folder's name: found from here
        monkeypatch.chdir(tmp_path)
    with pytest.raises(DistillError) as e:
        publish(dir=str(student), local_dir=str(clone), overwrite=True)
    assert "README.md" in str(e.value) and "\n" not in str(e.value)
    assert (clone / "README.md").read_text() == "my own card, written in the clone\n"


def test_a_clone_of_a_hub_publish_left_as_it_came_is_publishs_to_replace(tmp_path, hub):
    student = student_folder(tmp_path / "student")
    publish(dir=str(student), repo_id="me/student")
    clone = cloned(hub, "me/student", tmp_path / "clone")
    (clone / "adapter_model.safetensors").write_bytes(b"adapter")  # (as published)
    (student / "adapter_model.safetensors").write_bytes(b"adapter, trained on")
    publish(dir=str(student), local_dir=str(clone), overwrite=True)
    assert (clone / "adapter_model.safetensors").read_bytes() == b"adapter, trained on"


def test_a_readme_edited_on_the_hub_after_a_local_publish_was_uploaded_is_the_users(
    tmp_path, hub, monkeypatch
):
    """A --local-dir publish uploaded by hand (`hf upload me/student published/`) holds the
    local marker: its sizes and mtimes, no hashes. Every file it listed was publish's by name,
    and a README.md the user edited on the Hub since was replaced by the card."""
    from tests.test_third_read_eval import FakeHub

    listed = FakeHub.get_paths_info

    def with_sizes(self, repo_id, paths, revision=None, **kw):  # as the Hub's RepoFile
        files = self._at(repo_id, revision)
        found = listed(self, repo_id, paths, revision=revision, **kw)
        for f in found:
            f.size = len(files[f.path])
        return found

    monkeypatch.setattr(FakeHub, "get_paths_info", with_sizes)
    student = student_folder(tmp_path / "student")
    published = tmp_path / "published"
    publish(dir=str(student), local_dir=str(published))
    hub["me/student"] = {
        "private": False,
        "files": {p.name: p.read_bytes() for p in published.iterdir()},
    }
    hub["me/student"]["files"]["README.md"] = b"my own card, edited on the Hub\n"
    with pytest.raises(DistillError) as e:
        publish(dir=str(student), repo_id="me/student")
    assert "README.md" in str(e.value) and "changed since" in str(e.value)
    assert hub["me/student"]["files"]["README.md"] == b"my own card, edited on the Hub\n"
    # left as the upload put it, the card is publish's to write again
    hub["me/student"]["files"]["README.md"] = (published / "README.md").read_bytes()
    publish(dir=str(student), repo_id="me/student")
    assert hub["me/student"]["files"]["README.md"].startswith(b"---")


# =========================================================================== a published copy
# `publish --local-dir` copies a student's train.yaml and train_data.json beside its weights:
# the recipes' {run_dir}/published was found (learned.py) as another student of kept.jsonl, so
# `distill run --set train.overwrite=true`, the way to train the recipe's student again on
# new data, was refused: 'move the student away' named the run's own publish.


def published_run(tmp_path):
    import json

    from tests import inproc
    from tests.test_filter_kill import make_traces
    from tests.test_user_files_s13 import student_of

    run = tmp_path / "run"
    run.mkdir()
    make_traces(run / "traces.jsonl", 30)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "filter:\n  input: '{run_dir}/traces.jsonl'\n  out: '{run_dir}/kept.jsonl'\n"
        "train:\n  data: '{run_dir}/kept.jsonl'\n  model: builtin:smollm2\n"
        "  output_dir: '{run_dir}/student'\n"
        "publish:\n  dir: '{run_dir}/student'\n  local_dir: '{run_dir}/published'\n"
    )
    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run, "--only", "filter")
    assert res.returncode == 0, res.stderr
    student = student_of(run, run / "kept.jsonl")
    counts = json.loads((student / "train_data.json").read_text())
    counts.update(dropped_overlong=0, truncated=0, completion_tokens=9)  # (as train writes)
    (student / "train_data.json").write_text(json.dumps(counts))
    res = inproc.distill("run", "--recipe", recipe, "--run-dir", run, "--only", "publish")
    assert res.returncode == 0, res.stderr
    return recipe, run, student


def test_a_run_that_trains_its_student_again_is_not_stopped_by_its_own_publish(tmp_path):
    from tests import inproc

    recipe, run, _ = published_run(tmp_path)
    kept = (run / "kept.jsonl").read_bytes()
    res = inproc.distill(
        "run", "--recipe", recipe, "--run-dir", run, "--only", "filter",
        "--set", "filter.verify=math", "--set", "train.overwrite=true",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (run / "kept.jsonl").read_bytes() != kept  # filtered again, as asked


def test_filter_on_its_own_names_the_student_not_its_published_copy(tmp_path):
    import shutil

    from tests import inproc
    from tests.test_cli import one_line_error

    _, run, student = published_run(tmp_path)
    traces, kept = run / "traces.jsonl", run / "kept.jsonl"
    res = inproc.distill("filter", traces, "--out", kept, "--verify", "math")
    one_line_error(res, rf"--out {kept} is the data {student} was trained on")
    # the student moved away, its published copy (its card names the data) is still guarded
    shutil.move(student, tmp_path / "elsewhere")
    res = inproc.distill("filter", traces, "--out", kept, "--verify", "math")
    one_line_error(res, rf"--out {kept} is the data {run / 'published'} was trained on")


# =========================================================================== train_data.json
# 16039f8 kept the tokenizer's resolved folder in train_data.json's fingerprint, a file publish
# uploads: a builtin student's path in this machine's cache, a `~/...` one under the home folder
# (the Hub marker of 6469e14 keeps the student by its folder's name for that reason).


def test_train_data_names_the_student_as_given_not_the_home_folder(
    tmp_path, tiny_qwen, monkeypatch
):
    import json
    import shutil

    from distill.train import TrainConfig, run
    from tests.test_train import kept_file

    home = tmp_path / "home"
    shutil.copytree(tiny_qwen, home / "student")
    monkeypatch.setenv("HOME", str(home))
    out = run(
        TrainConfig(
            data=str(kept_file(tmp_path, n=4)),
            model="~/student",
            output_dir=str(tmp_path / "out"),
            max_steps=1,
            max_length=96,
            per_device_train_batch_size=2,
        )
    )
    saved = (out / "train_data.json").read_text()
    assert str(home) not in saved
    assert json.loads(saved)["rendered"]["tokenizer"] == "~/student"
