"""train --resume (kd/onpolicy; `distill run` resumes a killed train so): the fingerprint of the
teacher's data a run learns from left out a served cross-tokenizer teacher's local chat
template (it renders the teacher's prompts) and a local teacher's weights: a teacher folder
trained again in place, at the same path, resumed silently on other targets. The weights are
hashed once and read from a cache at every later start (the fingerprint is made at each)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import distill.train.fingerprint as fingerprint
from distill.train.fingerprint import teacher_differences, teacher_record


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """Two tiny teachers of one shape and tokenizer, other weights."""
    from tests.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("teachers")
    return make_tiny_model(root / "a", "qwen2", seed=1), make_tiny_model(
        root / "b", "qwen2", seed=2
    )


def cfg(teacher: Path, url: str | None = None, method: str = "kd") -> SimpleNamespace:
    return SimpleNamespace(method=method, teacher_model=str(teacher), teacher_url=url,
                           teacher_weight=None, teacher_route_field=None)  # fmt: skip


def test_a_local_teacher_trained_again_in_place_differs(tmp_path, teachers):
    teacher = shutil.copytree(teachers[0], tmp_path / "teacher")
    then = teacher_record(cfg(teacher))
    shutil.copy(teachers[1] / "model.safetensors", teacher / "model.safetensors")
    now = teacher_record(cfg(teacher))
    assert teacher_differences(then, now) == [
        f"model.safetensors of teacher {teacher} changed (its weights)"
    ]


def test_a_teachers_weights_rewritten_with_the_same_bytes_are_the_same_teacher(tmp_path, teachers):
    """A copy of the folder (another mtime) is the same teacher: hashed, not stamped."""
    teacher = shutil.copytree(teachers[0], tmp_path / "teacher")
    then = teacher_record(cfg(teacher))
    data = (teacher / "model.safetensors").read_bytes()
    (teacher / "model.safetensors").unlink()
    (teacher / "model.safetensors").write_bytes(data)
    assert teacher_differences(then, teacher_record(cfg(teacher))) == []


def test_the_weights_are_hashed_once_across_starts(tmp_path, teachers, monkeypatch):
    teacher = shutil.copytree(teachers[0], tmp_path / "teacher")
    hashed = []
    real = fingerprint._file_sha256
    monkeypatch.setattr(fingerprint, "_file_sha256", lambda p: hashed.append(p.name) or real(p))
    first = teacher_record(cfg(teacher))
    assert hashed.count("model.safetensors") == 1
    second = teacher_record(cfg(teacher))  # the next start: read from the cache
    assert hashed.count("model.safetensors") == 1 and first == second


def test_a_served_teachers_local_chat_template_changed_differs(tmp_path, teachers):
    """A served teacher of another tokenizer renders its prompts in the chat template its
    name loads here (xtok.served_xtok): a template edited there is other teacher targets."""
    teacher = shutil.copytree(teachers[0], tmp_path / "teacher")
    served = cfg(teacher, url="http://127.0.0.1:9/v1", method="onpolicy")
    then = teacher_record(served)
    conf = teacher / "tokenizer_config.json"
    doc = json.loads(conf.read_text())
    conf.write_text(json.dumps({**doc, "chat_template": "{{ messages[0]['content'] }}"}))
    said = teacher_differences(then, teacher_record(served))
    assert said == [f"tokenizer_config.json of teacher {teacher} changed"]


def test_a_record_from_before_the_new_keys_is_not_refused(tmp_path, teachers):
    teacher = shutil.copytree(teachers[0], tmp_path / "teacher")
    now = teacher_record(cfg(teacher))
    then = {"teachers": [{k: v for k, v in t.items() if k != "weights"} for t in now["teachers"]]}
    assert teacher_differences(then, now) == []
    served = teacher_record(cfg(teacher, url="http://127.0.0.1:9/v1"))
    assert (
        teacher_differences({"teachers": [{"model": str(teacher), "served": True}]}, served) == []
    )


# --------------------------------------------------------------------------- the resume itself

KD = dict(method="kd", max_length=128, per_device_train_batch_size=4, max_steps=2, save_steps=1,
          logging_steps=1, seed=0)  # fmt: skip


def test_a_kd_resume_after_the_local_teacher_was_trained_again_in_place_is_refused(
    tmp_path, tiny_qwen, teachers
):
    from distill.errors import DistillError
    from distill.train import TrainConfig, run
    from tests.test_train import kept_file

    teacher = shutil.copytree(teachers[0], tmp_path / "teacher")
    data = kept_file(tmp_path, n=8)
    out = tmp_path / "out"

    def train(**kw):
        return TrainConfig(data=str(data), model=str(tiny_qwen), output_dir=str(out),
                           teacher_model=str(teacher), **KD, **kw)  # fmt: skip

    run(train())
    shutil.rmtree(out / "checkpoint-2")  # killed after its first checkpoint
    for p in out.glob("adapter_*"):
        p.unlink()
    shutil.copy(teachers[1] / "model.safetensors", teacher / "model.safetensors")
    with pytest.raises(DistillError) as e:
        run(train(resume=True))
    said = str(e.value)
    assert "\n" not in said and "learned from other teacher data" in said
    assert f"model.safetensors of teacher {teacher} changed (its weights)" in said
    assert not (out / "checkpoint-2").exists()
