# ruff: noqa: F811 - the fixtures of tests/test_kd, test_kd2_s17 and test_kd_multi_s18, imported
"""Last read of 6530740 / ea19bb0 (kd: teacher_end_of_turn, the resume check, the counts),
64410d0 (publish's staging folder) and 15f4bc3 (train --resume's teacher fingerprint).

    .venv/bin/python -m pytest tests/test_last_read_kd_s18.py -q -p no:xdist
"""

from __future__ import annotations

import json

import pytest

from distill.errors import DistillError
from distill.train import build_trainer, run
from tests.test_kd import first_batch, kd_cfg, teacher  # noqa: F401 (fixture)
from tests.test_kd2_s17 import math_teacher, with_template  # noqa: F401 (fixture)
from tests.test_kd_multi_s18 import eot_teacher, plain  # noqa: F401 (fixture)


def rows_of(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _card(kw, state):
    from distill.config import read_saved
    from distill.train.config import TrainConfig
    from distill.train.kd import card_lines

    return "\n".join(card_lines(read_saved(TrainConfig, kw | {"method": "kd"}), state))


@pytest.mark.parametrize("how", ["one", "weighted"])
def test_tokens_scored_agree_in_kd_json_loss_jsonl_and_the_card(
    tmp_path, tiny_qwen, eot_teacher, plain, how
):
    out = tmp_path / "run"
    kw = dict(teacher_model=str(eot_teacher))
    if how == "weighted":
        kw = dict(teacher_model=[str(eot_teacher), str(plain)], teacher_weight=[0.6, 0.4])
    cfg = kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), max_steps=1,
                 per_device_train_batch_size=8, **kw)  # fmt: skip
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer, 8)
    completion_tokens = int((batch["labels"][:, 1:] != -100).sum())
    trainer.train()
    state = json.loads((out / "kd.json").read_text())
    logged = [r["teacher_tokens"] for r in rows_of(out / "loss.jsonl") if "teacher_tokens" in r]
    n = state["teacher_tokens_scored"]
    assert logged[-1] == n
    assert f"teacher scored in training: {n:,}." in _card(kw | {"data": cfg.data}, state)
    if how == "one":  # its own end: no term on the `\n` after each of the 8 rows' <|im_end|>
        assert n == completion_tokens - 8
    else:  # the other teacher scores those
        assert n == completion_tokens
        assert [t["tokens_scored"] for t in state["teachers"]] == [n - 8, n]


def _as_written_by(out, keep):
    """Each kd.json of the run (its own, its checkpoints') as an earlier distill wrote it:
    `keep(entry)` edits each teacher's entry in place."""
    for path in [out / "kd.json", *out.glob("checkpoint-*/kd.json")]:
        state = json.loads(path.read_text())
        for entry in state.get("teachers") or [state]:
            keep(entry)
        path.write_text(json.dumps(state))


def _resumes(tmp_path, tiny_qwen, base, edit=None):
    from tests.test_kd_multi_review_s18 import _saved_at_step_1

    out = tmp_path / "run"
    state = _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), **base))
    if edit is not None:
        _as_written_by(out, edit)
    run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), resume=True, **base))
    assert (out / "checkpoint-2").is_dir()
    return state, json.loads((out / "kd.json").read_text())


STEPS = dict(save_steps=1, per_device_train_batch_size=2, max_steps=2)


def test_a_teacher_of_the_students_template_resumes_with_no_new_key(tmp_path, tiny_qwen, teacher):
    state, after = _resumes(tmp_path, tiny_qwen, dict(teacher_model=str(teacher), **STEPS))
    for s in (state, after):
        assert "teacher_end_of_turn" not in s and "teacher_own_prompt" not in s
    assert after["teacher_tokens_scored"] > state["teacher_tokens_scored"]


def test_a_teacher_reading_its_own_prompt_and_the_students_end_resumes(
    tmp_path, tiny_qwen, math_teacher
):
    """Its own prompt, the same end of turn: kd.json as f9195d7 wrote it (no end key)."""
    state, _ = _resumes(tmp_path, tiny_qwen, dict(teacher_model=str(math_teacher), **STEPS))
    assert "teacher_own_prompt" in state and "teacher_end_of_turn" not in state


@pytest.mark.parametrize("several", [False, True])
def test_a_run_that_read_the_students_end_is_still_refused(
    tmp_path, tiny_qwen, eot_teacher, plain, several
):
    """A run of an earlier distill: one teacher, teacher_own_prompt and no end of turn kept;
    several, no teacher_own_prompt (the student's rendering, end included)."""
    from tests.test_kd_multi_review_s18 import _pre_commit, _saved_at_step_1

    names = [str(eot_teacher), str(plain)] if several else str(eot_teacher)
    base = dict(teacher_model=names, **STEPS)
    out = tmp_path / "run"
    _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), **base))
    _pre_commit(out, several)
    with pytest.raises(DistillError, match="its own end of turn"):
        run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), resume=True, **base))


# ------------------------------------------------------------------ publish --local-dir staging

MARKER = ".distill-publish.json"
WEIGHTS = b"weights-1" * 1000


@pytest.fixture
def student(tmp_path):
    s = tmp_path / "student"
    s.mkdir()
    (s / "config.json").write_text('{"model_type": "llama"}\n')
    (s / "model.safetensors").write_bytes(WEIGHTS)
    (s / "train.yaml").write_text("model: m\nformat: r1\n")
    return s


@pytest.fixture
def mnt(tmp_path, monkeypatch):
    """tmp_path/mnt another filesystem (a mounted volume): a rename across is EXDEV, shutil.move
    copies instead, and a staged model.safetensors's copy is cut halfway (Ctrl-C)."""
    import errno
    import os
    import shutil
    from pathlib import Path

    from distill import publish as P

    mount = tmp_path / "mnt"
    mount.mkdir()
    monkeypatch.setattr(P.tempfile, "tempdir", str(tmp_path))  # (the system's: not mnt's)

    def fs(p):
        real = Path(os.path.realpath(p))
        return "mnt" if real == mount or mount in real.parents else "root"

    monkeypatch.setattr(P, "_device", fs, raising=False)
    real_rename, real_copyfile = os.rename, shutil.copyfile

    def rename(src, dst, *a, **kw):
        if fs(src) != fs(Path(dst).parent):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst, *a, **kw)

    def copyfile(src, dst, *a, **kw):
        staged = Path(src).parent.name.startswith(".")  # (not _stage's copy from the student)
        if staged and Path(src).name == "model.safetensors" and fs(src) != fs(Path(dst).parent):
            Path(dst).write_bytes(Path(src).read_bytes()[:100])
            raise KeyboardInterrupt
        return real_copyfile(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    return mount


def _cut_then_again(student, local_dir, monkeypatch):
    """A publish cut (Ctrl-C) as model.safetensors lands in `local_dir`, then another."""
    from distill import publish as P
    from tests.inproc import distill

    real_move = P.shutil.move

    def move(src, dst):
        real_move(src, dst)
        if str(dst).endswith("model.safetensors"):
            raise KeyboardInterrupt

    with monkeypatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(P.shutil, "move", move)
        P.run(P.PublishConfig(dir=str(student), local_dir=str(local_dir)))
    return distill("publish", str(student), "--local-dir", str(local_dir))


def _staged_left(*folders):
    return [p for f in folders for p in f.rglob(".*") if p.name != MARKER]


def test_a_local_dir_that_is_a_symlink_is_staged_beside_its_target(
    student, tmp_path, mnt, monkeypatch
):
    """--local-dir out/pub, a symlink to a folder on a volume: staged beside the link (another
    filesystem), each move was a copy and a cut one left part of the file; the next publish
    refused it as the user's ('publish did not write it')."""
    target = mnt / "pub"
    target.mkdir()
    link = tmp_path / "out" / "pub"
    link.parent.mkdir()
    link.symlink_to(target)
    res = _cut_then_again(student, link, monkeypatch)
    assert res.returncode == 0, res.stderr
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert not _staged_left(tmp_path / "out", mnt)


def test_a_local_dir_that_is_a_mount_point_is_staged_on_it(student, tmp_path, mnt, monkeypatch):
    """--local-dir /models, a volume mounted there: staged above it (another filesystem)."""
    res = _cut_then_again(student, mnt, monkeypatch)
    assert res.returncode == 0, res.stderr
    assert (mnt / "model.safetensors").read_bytes() == WEIGHTS
    assert not _staged_left(tmp_path / "student", mnt) and not list(tmp_path.glob(".mnt.*"))


def test_a_symlink_to_a_folder_not_made_yet_is_published_into_it(student, tmp_path):
    """Before: 'error: .../pub: File exists' (mkdir on the link), though checked as its target."""
    from tests.inproc import distill

    link = tmp_path / "pub"
    link.symlink_to(tmp_path / "volume" / "pub")
    res = distill("publish", str(student), "--local-dir", str(link))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "volume" / "pub" / "model.safetensors").read_bytes() == WEIGHTS


def test_a_local_dir_under_the_home_folder_as_written_is_that_folder(student, tmp_path):
    """'~/models/pub' as written (quoted, a recipe's): check_local_dir checked ~/models/pub, the
    files were written into a folder named '~' under the working folder."""
    from tests.inproc import distill

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    res = distill("publish", str(student), "--local-dir", "~/models/pub", cwd=work,
                  env={"HOME": str(home)})  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (home / "models" / "pub" / "model.safetensors").read_bytes() == WEIGHTS
    assert not (work / "~").exists()


@pytest.mark.parametrize("end", ["done", "refused", "ctrl-c"])
@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_the_staging_folder_is_removed_however_publish_ends(
    student, tmp_path, monkeypatch, end, where
):
    """dest's parents all missing: staged in the nearest folder that exists (the working
    folder, or one far above), and removed there whether publish wrote, refused or was cut."""
    from distill import publish as P

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    dest = "a/b/pub" if where == "relative" else str(tmp_path / "x" / "y" / "pub")
    if end == "refused":  # a secret of this environment in a file it publishes
        monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijkl")
        (student / "train.yaml").write_text("model: m\nformat: r1\nnote: hf_abcdefghijkl\n")
    if end == "ctrl-c":
        monkeypatch.setattr(P, "_scrub_check", lambda folder: (_ for _ in ()).throw(
            KeyboardInterrupt))  # fmt: skip
    cfg = P.PublishConfig(dir=str(student), local_dir=dest)
    if end == "done":
        P.run(cfg)
        assert (tmp_path / "work" if where == "relative" else tmp_path).joinpath(
            dest, "model.safetensors"
        ).read_bytes() == WEIGHTS
    else:
        with pytest.raises(DistillError if end == "refused" else KeyboardInterrupt):
            P.run(cfg)
    assert not _staged_left(tmp_path)


# ------------------------------------------------------------------ train --resume's teacher record

HUB_ID = "tiny-org/tiny-teacher"


@pytest.fixture
def hf(tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "distill-cache"))
    return cache


def _in_cache(hf, folder, name=HUB_ID, revision="a" * 40):
    """`folder`'s files as the HF cache's snapshot of `name` at `revision`, its main there."""
    import shutil

    repo = hf / ("models--" + name.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(folder, repo / "snapshots" / revision)


def _adapter_on(base_dir, dest, base_name):
    """A LoRA adapter folder of `base_dir`'s model, its base named `base_name` (no tokenizer)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    lora = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(dest)
    config = json.loads((dest / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base_name
    (dest / "adapter_config.json").write_text(json.dumps(config))
    return dest


@pytest.mark.parametrize("kind", ["folder", "hub", "adapter", "served"])
def test_a_plain_resume_on_the_same_machine_goes_on(tmp_path, tiny_qwen, teacher, hf, kind, server):
    """A local teacher's folder, a Hub id in the HF cache, a LoRA adapter on a Hub base, a served
    teacher named by a Hub id: killed after its first save and resumed as it was, the run goes
    on (no teacher record refused) and its record still holds what a resume compares."""
    from tests.test_kd2_s17 import fake_scorer
    from tests.test_kd_multi_review_s18 import _saved_at_step_1

    base = dict(STEPS)
    if kind == "folder":
        base["teacher_model"] = str(teacher)
    else:
        _in_cache(hf, teacher)
        base["teacher_model"] = HUB_ID
    if kind == "adapter":
        base["teacher_model"] = str(_adapter_on(teacher, tmp_path / "adapter", HUB_ID))
    if kind == "served":
        server.model = HUB_ID
        server.scorer = fake_scorer(teacher)
        base["teacher_url"] = server.url
    out = tmp_path / "run"
    _saved_at_step_1(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), **base))
    run(kd_cfg(tmp_path, tiny_qwen, output_dir=str(out), resume=True, **base))
    assert (out / "checkpoint-2").is_dir()
    record = json.loads((out / "train_data.json").read_text())["rendered"]["teacher"]
    (t,) = record["teachers"]
    if kind == "hub":
        assert t["weights"] == {"revision": "a" * 40}
    if kind == "adapter":
        assert t["weights"]["base/revision"] == "a" * 40
        assert "adapter_model.safetensors" in t["weights"]
    if kind == "served":
        assert t["files"]["tokenizer_config.json"]
