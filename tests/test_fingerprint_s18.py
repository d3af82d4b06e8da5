"""`distill train --resume` of a kd/onpolicy run whose teacher is named by a Hub id, loaded from
the local HF cache (offline here: a fake cache layout, models--ORG--NAME/refs/main and
snapshots/REV/, under a tmp HF_HUB_CACHE).

1. The fingerprint was made before the teacher loads: on a fresh cache (the load downloads the
   teacher after it) it kept no revision, and a resume after the cache moved to another
   revision went on, the steps after the checkpoint learning another teacher's targets. The
   record is completed once the teacher loaded (fingerprint.loaded_teacher).
2. A resume on a machine whose cache holds none of the teacher was refused as 'revision of
   teacher X changed'; it says now that the teacher cannot be checked there, and what to do.
3. A run fingerprinted before (no revision in its record, or no teacher field) still resumes.
4. A served teacher's context (vLLM --max-model-len) is compared on purpose (RoPE scaling): the
   refusal names the setting and the value to restart the server with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from distill.errors import DistillError

HUB_ID = "tiny-org/tiny-teacher"
A, B = "a" * 40, "b" * 40


@pytest.fixture
def hf(tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "distill-cache"))
    return cache


def cache_snapshot(hf: Path, revision: str, files: dict[str, bytes], name: str = HUB_ID) -> None:
    """`name` at `revision` in the HF cache, its main pointing there (as a download leaves it)."""
    repo = hf / ("models--" + name.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    for f, data in files.items():
        (snap / f).write_bytes(data)


def local(name: str = HUB_ID) -> SimpleNamespace:
    return SimpleNamespace(method="kd", teacher_model=name, teacher_url=None,
                           teacher_weight=None, teacher_route_field=None)  # fmt: skip


def served(url: str, name: str = HUB_ID) -> SimpleNamespace:
    return SimpleNamespace(method="onpolicy", teacher_model=name, teacher_url=url,
                           teacher_weight=None, teacher_route_field=None)  # fmt: skip


def began(out: Path, teacher: dict | None) -> None:
    """train_data.json as a run's start wrote it (its token fingerprint, its teacher record)."""
    out.mkdir(parents=True, exist_ok=True)
    rendered = {"sha256": "0" * 64, "units": 1, "rows": 1, "dropped": 0}
    if teacher is not None:
        rendered["teacher"] = teacher
    (out / "train_data.json").write_text(json.dumps({"kept": 1, "rendered": rendered}))


def resumed(out: Path, cfg: SimpleNamespace) -> None:
    """check_rendered as a resume runs it (the same tokens, the teacher record made now), then
    train_data.json written again with that record, as build_trainer does before the load."""
    from distill.train.fingerprint import check_rendered, teacher_record

    now = {"sha256": "0" * 64, "units": 1, "rows": 1, "dropped": 0, "teacher": teacher_record(cfg)}
    check_rendered(out, f"{out}/checkpoint-2", now, "kept.jsonl")
    (out / "train_data.json").write_text(json.dumps({"kept": 1, "rendered": now}))


def saved_teacher(out: Path) -> dict:
    return json.loads((out / "train_data.json").read_text())["rendered"]["teacher"]


# ------------------------------------------------------------------ 1. a fresh cache


def test_a_run_begun_on_a_fresh_cache_keeps_the_revision_its_teacher_loaded(hf, tmp_path):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    out = tmp_path / "out"
    began(out, teacher_record(local()))  # the cache holds none of it yet
    assert "revision" not in saved_teacher(out)["teachers"][0]["weights"]
    cache_snapshot(hf, A, {"config.json": b"{}"})  # the teacher's load downloads it
    loaded_teacher(out, compared=False)
    assert saved_teacher(out)["teachers"][0]["weights"]["revision"] == A
    resumed(out, local())  # the same revision: goes on
    cache_snapshot(hf, B, {"config.json": b"{}"})  # the cache moved on
    with pytest.raises(DistillError, match=f"revision of teacher {HUB_ID} changed"):
        resumed(out, local())


def test_a_revision_the_load_moved_is_the_runs_and_a_resume_on_it_is_refused(hf, tmp_path):
    """With a network the load fetches main: a newer revision than the cache held when the
    fingerprint was made is the one the run trains on. On a resume, the steps after the
    checkpoint would learn it while those before learned the other: refused, in one line."""
    from distill.train.fingerprint import loaded_teacher, teacher_record

    cache_snapshot(hf, A, {"config.json": b"{}"})
    out = tmp_path / "out"
    began(out, teacher_record(local()))
    cache_snapshot(hf, B, {"config.json": b"{}"})  # downloaded by the load
    loaded_teacher(out, compared=False)
    assert saved_teacher(out)["teachers"][0]["weights"]["revision"] == B
    cache_snapshot(hf, A, {"config.json": b"{}"})
    began(out, teacher_record(local()))  # a resume, compared at A
    cache_snapshot(hf, B, {"config.json": b"{}"})  # and moved to B as it loaded
    with pytest.raises(DistillError) as e:
        loaded_teacher(out, compared=True)
    said = str(e.value)
    assert "\n" not in said and f"teacher {HUB_ID} loaded at revision {B[:12]}" in said
    assert f"not {A[:12]} its run began on" in said and "HF_HUB_OFFLINE=1" in said
    assert saved_teacher(out)["teachers"][0]["weights"]["revision"] == A  # as it began


def test_a_served_teachers_tokenizer_files_are_kept_once_its_tokenizer_loaded(hf, tmp_path):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    url = "http://127.0.0.1:9/v1"  # no server: no card
    out = tmp_path / "out"
    began(out, teacher_record(served(url)))
    assert saved_teacher(out)["teachers"][0]["files"] == {}
    cache_snapshot(hf, A, {"tokenizer_config.json": b'{"chat_template": "A"}'})
    loaded_teacher(out, compared=False)
    assert "tokenizer_config.json" in saved_teacher(out)["teachers"][0]["files"]
    cache_snapshot(hf, B, {"tokenizer_config.json": b'{"chat_template": "B"}'})
    with pytest.raises(DistillError, match=f"tokenizer_config.json of teacher {HUB_ID} changed"):
        resumed(out, served(url))


# ------------------------------------------------------------------ 2. another machine


def test_a_resume_where_the_cache_holds_no_teacher_says_it_cannot_check(hf, tmp_path):
    from distill.train.fingerprint import teacher_record

    cache_snapshot(hf, A, {"config.json": b"{}"})
    out = tmp_path / "out"
    began(out, teacher_record(local()))
    shutil.rmtree(hf)  # another machine, its cache empty
    with pytest.raises(DistillError) as e:
        resumed(out, local())
    said = str(e.value)
    # before: '... learned from other teacher data ... (revision of teacher X changed ...)'
    assert "\n" not in said and "changed" not in said
    assert said.startswith(f"--resume: cannot check teacher {HUB_ID}: not in this machine's HF")
    assert f"({A[:12]})" in said and f"hf download {HUB_ID}" in said and "--overwrite" in said
    cache_snapshot(hf, A, {"config.json": b"{}"})  # downloaded as the line says: goes on
    resumed(out, local())


def test_a_served_teachers_resume_where_the_cache_holds_no_tokenizer_says_so(hf, tmp_path):
    from distill.train.fingerprint import teacher_record

    url = "http://127.0.0.1:9/v1"
    cache_snapshot(hf, A, {"tokenizer_config.json": b"{}", "tokenizer.json": b"{}"})
    out = tmp_path / "out"
    began(out, teacher_record(served(url)))
    shutil.rmtree(hf)
    with pytest.raises(DistillError) as e:
        resumed(out, served(url))
    said = str(e.value)
    assert f"cannot check teacher {HUB_ID}: its tokenizer files are not in" in said
    assert f"hf download {HUB_ID} tokenizer.json tokenizer_config.json" in said
    assert "changed" not in said


# ------------------------------------------------------------------ 3. runs fingerprinted before


@pytest.mark.parametrize(
    "teacher",
    [
        {"teachers": [{"model": HUB_ID, "files": {}, "weights": {}}]},  # no revision kept
        {"teachers": [{"model": HUB_ID, "files": {}}]},  # no weights kept
        None,  # no teacher field
    ],
    ids=["no-revision", "no-weights", "no-teacher"],
)
def test_a_run_fingerprinted_before_still_resumes(hf, tmp_path, teacher):
    from distill.train.fingerprint import loaded_teacher

    out = tmp_path / "out"
    began(out, teacher)
    shutil.rmtree(hf, ignore_errors=True)
    resumed(out, local())  # an empty cache: nothing to compare
    began(out, teacher)
    cache_snapshot(hf, A, {"config.json": b"{}"})
    resumed(out, local())  # a cache holding it: nothing it can be compared with either
    # nor is the revision the load then moved to (a newer main fetched) another than the run's
    cache_snapshot(hf, B, {"config.json": b"{}"})
    loaded_teacher(out, compared=True)  # the record the resume wrote, completed
    assert saved_teacher(out)["teachers"][0]["weights"]["revision"] == B  # the next one compares


# ------------------------------------------------------------------ end to end: train --resume


@pytest.fixture
def hub_teacher_run(hf, tmp_path, tiny_qwen, monkeypatch):
    """A 3-step kd run (checkpoint-2, checkpoint-3) whose teacher, named by a Hub id, is not in
    the cache when the run starts: its load "downloads" it (copies the tiny model in at A)."""
    from distill.teachers import scorers
    from distill.train import TrainConfig, run
    from tests.test_resume_render_s14 import killed_after_checkpoint_2
    from tests.test_train import kept_file

    files = {p.name: p.read_bytes() for p in Path(tiny_qwen).iterdir() if p.is_file()}
    real = scorers.LocalTeacher.__init__

    def downloading(self, name, *args, **kw):
        if name == HUB_ID and not hf.exists():
            cache_snapshot(hf, A, files)
        real(self, name, *args, **kw)

    monkeypatch.setattr(scorers.LocalTeacher, "__init__", downloading)
    data = kept_file(tmp_path, n=8)

    def cfg(out, **kw):
        return TrainConfig(
            data=str(data), model=str(tiny_qwen), output_dir=str(out), method="kd",
            teacher_model=HUB_ID, max_length=128, per_device_train_batch_size=4, seed=0,
            logging_steps=1, max_steps=3, save_steps=2, **kw,
        )  # fmt: skip

    whole = Path(run(cfg(tmp_path / "whole")))
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    return SimpleNamespace(cfg=cfg, out=out, files=files)


def test_train_resume_after_the_cache_moved_to_another_revision_is_refused(hf, hub_teacher_run):
    from distill.train import run

    r = hub_teacher_run
    assert saved_teacher(r.out)["teachers"][0]["weights"] == {"revision": A}  # before: {}
    cache_snapshot(hf, B, r.files)  # the same name, another revision (a `hf download` since)
    with pytest.raises(DistillError, match=f"revision of teacher {HUB_ID} changed"):
        run(r.cfg(r.out, resume=True))  # before: went on, on the other revision's targets
    assert not (r.out / "checkpoint-3").exists()
    shutil.rmtree(hf)  # another machine: said as such, not 'changed'
    with pytest.raises(DistillError, match=f"cannot check teacher {HUB_ID}: not in this"):
        run(r.cfg(r.out, resume=True))
    cache_snapshot(hf, A, r.files)  # back at the run's revision: goes on
    run(r.cfg(r.out, resume=True))
    assert (r.out / "checkpoint-3").is_dir()
    assert saved_teacher(r.out)["teachers"][0]["weights"] == {"revision": A}


# ------------------------------------------------------------------ 4. a served teacher's context


def test_a_served_teachers_other_context_names_the_setting_and_its_value(tmp_path, monkeypatch):
    from tests.test_run_s17 import CardServer

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    s = CardServer().start()
    try:
        from distill.train.fingerprint import teacher_record

        name = s.card["id"]
        out = tmp_path / "out"
        began(out, teacher_record(served(s.url, name)))
        s.card = {**s.card, "max_model_len": 4096}  # restarted with another --max-model-len
        with pytest.raises(DistillError) as e:
            resumed(out, served(s.url, name))
    finally:
        s.stop()
    said = str(e.value)
    assert "\n" not in said
    assert f"teacher {name}'s server lists max_model_len 4096 now, not 32768" in said
    assert "restart it with --max-model-len 32768" in said  # before: no value to restart with
