"""Review of 1244d1c (train --resume: the teacher record completed once the teachers loaded).

1. A LoRA adapter folder as the teacher, its base named by a Hub id: the base is loaded from
   the HF cache, and its revision was never kept (its `base/` files are none: no folder here);
   a resume after the cache moved the base to another revision went on, learning another
   teacher's targets. Kept now as `base/revision`, completed by loaded_teacher, named when this
   machine's cache lacks it; a record without it (fingerprinted before) resumes as it did.
2. A served teacher named by a Hub id: its tokenizer files were completed only where the record
   held none. A load that moved the cache's main (a newer tokenizer_config.json: another chat
   template) kept the files read before it: a resume went on rendering the prompts in the other
   template, and a run begun so was refused on a resume at the files it did render with.
   Completed now as the revision is: kept, on a resume refused in one line.
3. A local teacher's folder not on the machine a run resumes on was refused as each of its
   files 'changed', with 'start over with --overwrite': said now as a folder not there.

Offline: a fake HF cache layout under a tmp HF_HUB_CACHE (tests/test_fingerprint_s18.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from distill.errors import DistillError
from tests.test_fingerprint_s18 import HUB_ID, began, cache_snapshot, saved_teacher

BASE = "tiny-org/tiny-base"
A, B = "a" * 40, "b" * 40
URL = "http://127.0.0.1:9/v1"  # no server: no card


@pytest.fixture
def hf(tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "distill-cache"))
    return cache


def teachers(*names: str, url: str | None = None) -> SimpleNamespace:
    several = list(names) if len(names) > 1 else names[0]
    method = "onpolicy" if url else "kd"
    return SimpleNamespace(method=method, teacher_model=several, teacher_url=url,
                           teacher_weight=None, teacher_route_field=None)  # fmt: skip


@pytest.fixture
def adapter(tmp_path) -> str:
    """A LoRA adapter folder whose base is the Hub model BASE (no tokenizer of its own)."""
    a = tmp_path / "teacher-adapter"
    a.mkdir()
    (a / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": BASE}))
    (a / "adapter_model.safetensors").write_bytes(b"lora")
    return str(a)


def resumed(out: Path, cfg: SimpleNamespace) -> dict:
    """check_rendered as a resume runs it, then train_data.json written again with the record
    it left (as build_trainer does before the teachers load)."""
    from distill.train.fingerprint import check_rendered, teacher_record

    now = {"sha256": "0" * 64, "units": 1, "rows": 1, "dropped": 0, "teacher": teacher_record(cfg)}
    check_rendered(out, f"{out}/checkpoint-2", now, "kept.jsonl")
    (out / "train_data.json").write_text(json.dumps({"kept": 1, "rendered": now}))
    return now


# ------------------------------------------------------------------ 1. an adapter's Hub base


def test_an_adapters_hub_base_moved_to_another_revision_is_refused(hf, tmp_path, adapter):
    from distill.train.fingerprint import teacher_record

    cache_snapshot(hf, A, {"config.json": b"{}"}, name=BASE)
    out = tmp_path / "out"
    began(out, teacher_record(teachers(adapter)))
    assert saved_teacher(out)["teachers"][0]["weights"]["base/revision"] == A
    resumed(out, teachers(adapter))  # the same base: goes on
    cache_snapshot(hf, B, {"config.json": b"{}"}, name=BASE)  # the base moved on
    # before: went on, the adapter on another base (other teacher targets)
    with pytest.raises(DistillError, match=r"base/revision of teacher .*teacher-adapter changed"):
        resumed(out, teachers(adapter))


def test_an_adapters_hub_base_downloaded_by_the_load_is_kept_and_checked(hf, tmp_path, adapter):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    out = tmp_path / "out"
    began(out, teacher_record(teachers(adapter)))  # a fresh cache: the load downloads the base
    cache_snapshot(hf, A, {"config.json": b"{}"}, name=BASE)
    loaded_teacher(out, compared=False)
    assert saved_teacher(out)["teachers"][0]["weights"]["base/revision"] == A  # before: none
    resumed(out, teachers(adapter))
    cache_snapshot(hf, B, {"config.json": b"{}"}, name=BASE)  # main moved on as it loaded
    with pytest.raises(DistillError) as e:
        loaded_teacher(out, compared=True)
    said = str(e.value)
    assert "\n" not in said and f"teacher-adapter's base {BASE} loaded at revision {B[:12]}" in said
    assert f"not {A[:12]} its run began on" in said and "models--tiny-org--tiny-base" in said


def test_an_adapters_hub_base_not_in_this_machines_cache_says_it_cannot_check(
    hf, tmp_path, adapter
):
    from distill.train.fingerprint import teacher_record

    cache_snapshot(hf, A, {"config.json": b"{}"}, name=BASE)
    out = tmp_path / "out"
    began(out, teacher_record(teachers(adapter)))
    shutil.rmtree(hf)
    with pytest.raises(DistillError) as e:
        resumed(out, teachers(adapter))
    said = str(e.value)
    assert "\n" not in said and "changed" not in said
    assert f"cannot check teacher {adapter}: its base model {BASE} is not in this machine" in said
    assert f"({A[:12]})" in said and f"hf download {BASE}" in said
    cache_snapshot(hf, A, {"config.json": b"{}"}, name=BASE)
    resumed(out, teachers(adapter))


def test_an_adapter_record_fingerprinted_before_resumes(hf, tmp_path, adapter):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    cache_snapshot(hf, A, {"config.json": b"{}"}, name=BASE)
    out = tmp_path / "out"
    record = teacher_record(teachers(adapter))
    del record["teachers"][0]["weights"]["base/revision"]  # as 1244d1c wrote it
    began(out, record)
    now = resumed(out, teachers(adapter))  # nothing to compare the base with: goes on
    assert "base/revision" not in now["teacher"]["teachers"][0]["weights"]
    cache_snapshot(hf, B, {"config.json": b"{}"}, name=BASE)
    loaded_teacher(out, compared=True)  # nor is the revision its load moved to another's
    assert saved_teacher(out)["teachers"][0]["weights"]["base/revision"] == B


def test_several_teachers_a_hub_id_and_an_adapter_on_a_hub_base(hf, tmp_path, adapter):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    out = tmp_path / "out"
    began(out, teacher_record(teachers(HUB_ID, adapter)))
    cache_snapshot(hf, A, {"config.json": b"{}"})
    cache_snapshot(hf, B, {"config.json": b"{}"}, name=BASE)
    loaded_teacher(out, compared=False)
    first, second = saved_teacher(out)["teachers"]
    assert first["weights"] == {"revision": A}
    assert second["weights"]["base/revision"] == B
    other = json.loads((out / "train_data.json").read_text())
    assert other["kept"] == 1 and other["rendered"]["sha256"] == "0" * 64  # the rest kept
    shutil.rmtree(hf / "models--tiny-org--tiny-base")
    with pytest.raises(DistillError, match=f"its base model {BASE} is not in this machine"):
        resumed(out, teachers(HUB_ID, adapter))


# ------------------------------------------------------------------ 2. a served teacher's files


def test_a_served_teachers_files_its_load_moved_are_the_runs(hf, tmp_path):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    cache_snapshot(hf, A, {"tokenizer_config.json": b'{"chat_template": "A"}'})
    out = tmp_path / "out"
    began(out, teacher_record(teachers(HUB_ID, url=URL)))
    cache_snapshot(hf, B, {"tokenizer_config.json": b'{"chat_template": "B"}'})  # the load's
    loaded_teacher(out, compared=False)
    resumed(out, teachers(HUB_ID, url=URL))  # before: refused, the files read before the load
    cache_snapshot(hf, A, {"tokenizer_config.json": b'{"chat_template": "A"}'})
    with pytest.raises(DistillError, match=f"tokenizer_config.json of teacher {HUB_ID} changed"):
        resumed(out, teachers(HUB_ID, url=URL))  # before: went on, on template A


def test_a_served_teachers_files_moved_by_a_resumes_load_are_refused(hf, tmp_path):
    from distill.train.fingerprint import loaded_teacher, teacher_record

    cache_snapshot(hf, A, {"tokenizer_config.json": b'{"chat_template": "A"}'})
    out = tmp_path / "out"
    began(out, teacher_record(teachers(HUB_ID, url=URL)))
    resumed(out, teachers(HUB_ID, url=URL))
    cache_snapshot(hf, B, {"tokenizer_config.json": b'{"chat_template": "B"}'})
    with pytest.raises(DistillError) as e:  # before: went on, the prompts in template B
        loaded_teacher(out, compared=True)
    said = str(e.value)
    assert "\n" not in said and f"teacher {HUB_ID}'s tokenizer files" in said
    assert "(tokenizer_config.json: its main moved on)" in said and "--overwrite" in said
    assert saved_teacher(out)["teachers"][0]["files"]["tokenizer_config.json"]  # as it began
    loaded_teacher(out, compared=False)  # started over (--overwrite): the loaded ones kept
    began_with = saved_teacher(out)["teachers"][0]["files"]
    resumed(out, teachers(HUB_ID, url=URL))
    assert saved_teacher(out)["teachers"][0]["files"] == began_with


def test_a_served_record_without_files_resumes_and_keeps_the_loaded_ones(hf, tmp_path):
    out = tmp_path / "out"
    began(out, {"teachers": [{"model": HUB_ID, "served": True, "files": {}, "url": URL}]})
    cache_snapshot(hf, A, {"tokenizer_config.json": b'{"chat_template": "A"}'})
    resumed(out, teachers(HUB_ID, url=URL))  # nothing to compare: goes on
    from distill.train.fingerprint import loaded_teacher

    cache_snapshot(hf, B, {"tokenizer_config.json": b'{"chat_template": "B"}'})
    loaded_teacher(out, compared=True)  # not refused: the run's files were never known
    assert saved_teacher(out)["teachers"][0]["files"]["tokenizer_config.json"]


# ------------------------------------------------------------------ 3. a local teacher's folder


def test_a_local_teachers_folder_not_on_this_machine_is_said_so(hf, tmp_path):
    """`distill train --resume` on another machine, the teacher's folder not there (train's
    config lets a missing folder pass: a recipe's earlier step may write it)."""
    from distill.train.fingerprint import teacher_record

    folder = tmp_path / "teacher"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tokenizer_config.json").write_text("{}")
    out = tmp_path / "out"
    began(out, teacher_record(teachers(str(folder))))
    (folder / "model.safetensors").write_bytes(b"trained again")
    with pytest.raises(DistillError, match=r"model\.safetensors of teacher .* changed"):
        resumed(out, teachers(str(folder)))  # there, and other weights: changed, as before
    (folder / "model.safetensors").write_bytes(b"weights")
    folder.rename(tmp_path / "elsewhere")
    with pytest.raises(DistillError) as e:
        resumed(out, teachers(str(folder)))
    said = str(e.value)
    # before: 'config.json of teacher X changed (its weights); ...; start over with --overwrite'
    assert "\n" not in said and "changed" not in said and "--overwrite" not in said
    assert f"cannot check teacher {folder}: no folder {folder} on this machine" in said
    (tmp_path / "elsewhere").rename(folder)
    resumed(out, teachers(str(folder)))
