"""scripts/kd_smoke.py on a rerun in the same RUN: a student folder holding weights is reused
only when it was trained as this run would train it (review of 6cc5eec)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _cfg(tmp_path: Path, **kw):
    from distill.train.config import TrainConfig

    data = tmp_path / "kept.jsonl"
    if not data.exists():
        data.write_text('{"id": "a"}\n')
    teacher = tmp_path / "teacher" / "merged"
    teacher.mkdir(parents=True, exist_ok=True)
    (teacher / "config.json").write_text("{}")
    (teacher / "model.safetensors").write_bytes(b"w0")
    base = dict(
        data=str(data),
        model="builtin:smollm2",
        output_dir=str(tmp_path / "onpolicy-reward"),
        method="onpolicy",
        teacher_model=str(teacher),
        reward="math",
        max_length=256,
        max_steps=30,
    )
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def fake_train(monkeypatch):
    """distill.train.run writing what a finished run leaves: train.yaml and the adapter."""
    from distill import train
    from distill.config import save_config

    calls = []

    def run(cfg):
        calls.append(cfg)
        out = Path(cfg.output_dir)
        save_config(cfg, out / "train.yaml")
        (out / "checkpoint-30").mkdir(parents=True, exist_ok=True)
        (out / "adapter_model.safetensors").write_bytes(b"a")
        return out

    monkeypatch.setattr(train, "run", run)
    return calls


def test_a_student_trained_with_other_settings_is_trained_again_not_evaluated(tmp_path, fake_train):
    """make smoke-kd ran onpolicy_reward with --reward-rollouts 4; the default is now 1: a
    rerun in the same RUN evaluated the k = 4 student as k = 1's (trained() looked only at the
    weights). So too another recipe key or seed, another kept.jsonl at the same path, or a
    teacher (an SFT start) rebuilt in place."""
    from scripts.kd_smoke import train_once, trained

    k4 = _cfg(tmp_path, rollouts_per_prompt=4, per_device_train_batch_size=2)
    train_once(k4)
    assert len(fake_train) == 1
    assert trained(tmp_path / "onpolicy-reward")  # weights there: the plain check says done
    train_once(k4)  # the same settings: kept
    assert len(fake_train) == 1

    k1 = _cfg(tmp_path, rollouts_per_prompt=1, per_device_train_batch_size=8)
    assert not trained(tmp_path / "onpolicy-reward", k1)
    train_once(k1)
    assert len(fake_train) == 2 and fake_train[-1].rollouts_per_prompt == 1
    assert fake_train[-1].overwrite  # over the earlier run's checkpoint-30
    train_once(k1)
    assert len(fake_train) == 2

    for change in (
        lambda: _cfg(tmp_path, seed=1),
        lambda: _cfg(tmp_path, learning_rate=1e-3),
    ):
        assert not trained(tmp_path / "onpolicy-reward", change())

    (tmp_path / "kept.jsonl").write_text('{"id": "b"}\n')  # another generate/filter: same path
    assert not trained(tmp_path / "onpolicy-reward", k1)
    train_once(k1)
    assert len(fake_train) == 3

    w = tmp_path / "teacher" / "merged" / "model.safetensors"
    w.write_bytes(b"w1-rebuilt")  # the teacher (or onpolicy's SFT start) trained again
    assert not trained(tmp_path / "onpolicy-reward", _cfg(tmp_path, rollouts_per_prompt=1))

    # a folder trained before the stamp existed: its train.yaml's settings alone decide
    (tmp_path / "onpolicy-reward" / "smoke.inputs.sha256").unlink()
    assert trained(tmp_path / "onpolicy-reward", _cfg(tmp_path, rollouts_per_prompt=1))
    assert not trained(tmp_path / "onpolicy-reward", _cfg(tmp_path, rollouts_per_prompt=4))


def test_an_sft_start_stopped_while_merging_is_trained_again(tmp_path, fake_train):
    from scripts.kd_smoke import train_once

    warm = _cfg(tmp_path, method="sft", teacher_model=None, reward="none", merge=True)
    warm = warm.__class__(**{**warm.__dict__, "output_dir": str(tmp_path / "onpolicy-sft")})
    train_once(warm)
    assert len(fake_train) == 1  # the fake writes no merged/: as a run cut off there
    train_once(warm)
    assert len(fake_train) == 2
    (tmp_path / "onpolicy-sft" / "merged").mkdir()
    (tmp_path / "onpolicy-sft" / "merged" / "config.json").write_text("{}")
    train_once(warm)
    assert len(fake_train) == 2
