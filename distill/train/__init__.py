"""The train stage (`export`, the examples train would train on as a dataset: distill/export.py).

    distill train --recipe recipes/smoke.yaml

Where things happen: config.py (TrainConfig, ExportConfig; no torch), sft.py (the SFT run:
dataset, trainer, checkpoints, resume, merge), callbacks.py (loss.jsonl, loss.png, train.yaml),
kd/ (token-level distillation: loss, data, trainer).
"""

from distill.train.config import DEFAULT_MAX_LENGTH, PRECISIONS, ExportConfig, TrainConfig

# The other names load on first use (PEP 562): `import distill.train.config` (the CLI, recipe
# checks) must not pull the stage's modules in through this package.
_LAZY: dict[str, str | None] = {
    "PACKING_NEEDS": "sft",
    "build_dataset": "sft",
    "build_trainer": "sft",
    "changed_run_keys": "sft",
    "check_output_dir": "sft",
    "checkpoints": "sft",
    "finished_run": "sft",
    "last_complete_checkpoint": "sft",
    "merge_adapter": "sft",
    "run": "sft",
    "student_config": "sft",
    "export": None,
    "rendered_pair": None,
    "loss_log_callback": "callbacks",
    "plot_loss": "callbacks",
    "run_config_callback": "callbacks",
}


def __getattr__(name: str):  # noqa: ANN202 - module __getattr__
    if name in _LAZY:
        from importlib import import_module

        # export is its own stage module (distill/export.py): a submodule named `export` here
        # would shadow the function of that name once imported.
        where = f"distill.train.{_LAZY[name]}" if _LAZY[name] else "distill.export"
        return getattr(import_module(where), name)
    raise AttributeError(f"module 'distill.train' has no attribute {name!r}")


__all__ = ["DEFAULT_MAX_LENGTH", "PRECISIONS", "ExportConfig", "TrainConfig", *_LAZY]
