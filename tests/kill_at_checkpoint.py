"""`python tests/kill_at_checkpoint.py STEP saved|mid-save train ARGS...` runs `distill train ARGS`
and SIGKILLs itself at the checkpoint of step STEP, so where a kill test's kill lands does not
depend on how fast or busy the machine is (no polling, no wall clock):

- saved: right after checkpoint-STEP is complete: after every callback's on_save (the rotation of
  older checkpoints, kd.json), where a kill between two steps leaves a run;
- mid-save: while checkpoint-STEP is written: its weights and optimizer are on disk, its
  trainer_state.json (written last) is not.
"""

import os
import runpy
import signal
import sys

from transformers.trainer_callback import CallbackHandler, TrainerState


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as `kill -9`: no handler, no cleanup, no flush


def install(at: int, where: str) -> None:
    """Make this process SIGKILL itself at the checkpoint of step `at` (`where`: see above); also
    run in a child forked from a test (tests/forked.py)."""
    if where == "saved":
        on_save = CallbackHandler.on_save

        def after_save(self, args, state, control):
            control = on_save(self, args, state, control)
            if state.global_step == at:
                die()
            return control

        CallbackHandler.on_save = after_save
    elif where == "mid-save":
        save_to_json = TrainerState.save_to_json

        def before_state(self, path):
            if os.path.basename(os.path.dirname(path)) == f"checkpoint-{at}":
                die()
            save_to_json(self, path)

        TrainerState.save_to_json = before_state
    else:
        sys.exit(f"kill_at_checkpoint: where is saved or mid-save, got {where!r}")


def main() -> None:
    install(int(sys.argv[1]), sys.argv[2])
    sys.argv = ["distill", *sys.argv[3:]]
    runpy.run_module("distill", run_name="__main__")


if __name__ == "__main__":
    main()
