"""make smoke-select's driver on a rerun in the same RUN: a student that finished its steps on
the same bytes is kept only if it was trained with this run's settings (review of d4169a0 /
8bb5b9a: `SEED=1 ... TRACES=... GEN_SEED=0` into seed 0's RUN kept seed 0's `all` student)."""

from __future__ import annotations

from pathlib import Path

from tests.test_select_smoke import driver


def _cfg(tmp_path: Path, **kw):
    from distill.train.config import TrainConfig

    base = dict(
        data=str(tmp_path / "kept.jsonl"),
        model="builtin:smollm2",
        output_dir=str(tmp_path / "all"),
        max_length=256,
        max_steps=30,
        seed=0,
    )
    return TrainConfig(**{**base, **kw})


def _finish(cfg) -> None:
    """What `distill train` leaves after cfg ran to the end."""
    from distill.config import save_config

    out = Path(cfg.output_dir)
    save_config(cfg, out / "train.yaml")
    (out / f"checkpoint-{cfg.max_steps}").mkdir(parents=True, exist_ok=True)
    (out / "adapter_model.safetensors").write_bytes(b"a")


def test_a_finished_student_of_another_seed_or_recipe_is_trained_again(tmp_path):
    plan = driver()._plan_student
    data, out = tmp_path / "kept.jsonl", tmp_path / "all"
    data.write_text('{"id": "a"}\n')
    seed0 = _cfg(tmp_path)
    first = plan(out, data, seed0)
    assert first is not None and first.overwrite  # nothing there yet
    _finish(first)
    assert plan(out, data, seed0) is None  # the same run again: kept, evaluated as it is

    for other in (_cfg(tmp_path, seed=1), _cfg(tmp_path, learning_rate=1e-3)):
        todo = plan(out, data, other)  # the same bytes, other settings: not seed 0's student
        assert todo is not None and todo.overwrite and not todo.resume
        assert todo.seed == other.seed and todo.learning_rate == other.learning_rate


def test_a_killed_student_resumes_on_the_same_data_and_settings(tmp_path):
    plan = driver()._plan_student
    data, out = tmp_path / "kept.jsonl", tmp_path / "all"
    data.write_text('{"id": "a"}\n')
    cfg = _cfg(tmp_path)
    _finish(plan(out, data, cfg))
    (out / "adapter_model.safetensors").unlink()  # stopped before its last save
    todo = plan(out, data, cfg)
    assert todo is not None and todo.resume
