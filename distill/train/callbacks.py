"""What a training run writes as it goes: loss.jsonl (and loss.png at the end), train.yaml.

distill train --recipe recipes/smoke.yaml     # -> out/loss.jsonl, out/loss.png, out/train.yaml
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from distill.train.config import TrainConfig


def loss_log_callback(path: Path) -> Any:
    """A TrainerCallback: loss.jsonl (appended across resumes), tokens/s, a console line per log."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
            self.t0, self.tokens0 = time.monotonic(), state.num_input_tokens_seen or 0

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
            # Every process logs the (already all-reduced) loss; one line per step is rank 0's.
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            dt = max(1e-9, time.monotonic() - self.t0)
            tok_s = ((state.num_input_tokens_seen or 0) - self.tokens0) / dt
            row = {
                "step": state.global_step,
                "epoch": round(state.epoch or 0, 4),
                "loss": logs["loss"],
                "learning_rate": logs.get("learning_rate"),
                "tokens_seen": state.num_input_tokens_seen,
                "tokens_per_s": round(tok_s, 1),
            }
            # pg and reward: --reward's policy-gradient term and mean reward (kd/reward.py)
            keys = ("kl", "ce", "pg", "reward", "teacher_tokens", "aligned_share", "samples_ended")
            keys += ("onpolicy_fallback",)  # --mask-truncated (kd/trainer.py)
            row.update({k: logs[k] for k in keys if k in logs})
            # --rollout vllm's counters (distill/train/kd/rollout.py: stale drops, sync time);
            # several teachers: aligned_share_<i> of each of another tokenizer (kd/trainer.py)
            named = ("rollout", "sync_s", "aligned_share_")
            row.update({k: v for k, v in logs.items() if k.startswith(named)})
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")
            logs["tokens_per_s"] = row["tokens_per_s"]  # shown on the progress line too

    return LossLog()


def run_config_callback(cfg: TrainConfig, record: dict[str, Any] | None = None) -> Any:
    """A TrainerCallback: each checkpoint keeps the run config it was trained with (train.yaml),
    so `--resume` can tell whether it is continuing the same run. `record`: as the run's own
    train.yaml (sft.precision_record: the precision of each part of a resumed run)."""
    from transformers import TrainerCallback

    from distill.config import save_config

    class RunConfig(TrainerCallback):
        def on_save(self, args, state, control, **kw):  # noqa: ANN001
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and ckpt.is_dir():
                save_config(cfg, ckpt / "train.yaml", record)

    return RunConfig()


def own_checkpoint(p: Path) -> bool:
    """A checkpoint-N folder as the Trainer names them, not a copy named after one
    (checkpoint-4-best, checkpoint-2-keep): only these are rotated or removed as cut off."""
    return p.is_dir() and p.name.startswith("checkpoint-") and p.name[11:].isdigit()


def rotate_callback(limit: int | None) -> Any:
    """A TrainerCallback: after each save, the run's checkpoint-N folders beyond the newest
    `limit` removed (save_total_limit). The Trainer's own rotation counts every checkpoint-*
    folder, and deleted a copy the user kept aside (checkpoint-200-best); this one rotates only
    the folders the Trainer names, and never the one just saved."""
    import shutil

    from transformers import TrainerCallback

    class Rotate(TrainerCallback):
        def on_save(self, args, state, control, **kw):  # noqa: ANN001
            if not limit or limit <= 0 or not args.should_save:
                return
            out = Path(args.output_dir)
            steps = sorted(
                int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if own_checkpoint(p)
            )
            for step in steps[: max(0, len(steps) - limit)]:
                if step != state.global_step:
                    shutil.rmtree(out / f"checkpoint-{step}", ignore_errors=True)

    return Rotate()


def trim_log(log: Path, step: int) -> None:
    """A resumed run's loss.jsonl (or rollouts.jsonl): the rows of steps up to `step`, the
    checkpoint it resumes from. The killed run logged the steps after that checkpoint too (the
    resumed run logs them again) and may have been killed mid-line (the resumed run's first row
    would be glued to that half line)."""
    from distill.records import write_atomic

    if not log.is_file():
        return
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a half line a kill left: the row is logged again after the resume
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            rows.append(line + "\n")
    write_atomic(log, "".join(rows))


def plot_loss(log: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (
        [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.exists() else []
    )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], marker=".")
    if any("kl" in r for r in rows):  # kd / onpolicy: the divergence to the teacher too
        ax.plot([r["step"] for r in rows], [r.get("kl") for r in rows], marker=".", label="kl")
        ax.legend(["loss", "kl (teacher)"])
    ax.set(title="training loss", xlabel="step", ylabel="loss (completion tokens)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
