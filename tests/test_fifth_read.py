"""Fifth read of the filter core (094993c..5cb0901, 33a9647), --lora-trainable-tokens
(4f1dd81, 74d204b, 9066c13), the fresh kd.json (438a702) and --batch errors (19953d6, c88e346)."""

from __future__ import annotations

from distill.records import read_records
from tests.test_filter import filt, trace
from tests.test_select import select


def test_select_keeps_no_earlier_reject_reason_on_a_kept_record(tmp_path):
    # a4091db dropped the old verdict in filter only: select over a rejects file (filter's, or
    # its own with a bigger --budget) wrote kept records still saying why they were rejected.
    recs = [trace(prompt="q1", answer="\\boxed{5}"), trace(prompt="q2", answer="\\boxed{6}")]
    filt(tmp_path, recs, verify="math")
    rejects = tmp_path / "kept.rejects.jsonl"
    assert all(r["reject_reason"] == "wrong_answer" for r in read_records(rejects))
    kept, _, _ = select(tmp_path, rejects, criteria=["length"])
    assert len(kept) == 2
    assert all("reject_reason" not in r and "reject_reasons" not in r for r in kept)


def test_full_fine_tuning_with_lora_trainable_tokens_is_refused(tmp_path, tiny_qwen):
    # 4f1dd81's refusal sat in trainable_token_ids, which build_trainer calls for a LoRA
    # student only: `--no-lora --lora-trainable-tokens template` trained in silence without it.
    import pytest

    from distill.errors import DistillError
    from distill.train.sft import build_trainer
    from tests.test_kd import kd_cfg

    cfg = kd_cfg(tmp_path, tiny_qwen, method="sft", lora=False, lora_trainable_tokens=["template"])
    with pytest.raises(DistillError, match="--lora-trainable-tokens is for a LoRA student"):
        build_trainer(cfg)


def _peak_in_a_fork() -> list[str]:
    """untrained_template_tokens on a 200k x 1024 bf16 embedding (390 MiB), in a child forked
    from the test's process -> [its result, the MiB its peak RSS grew by while it ran].

    A fork, not a fresh python: the child has torch and distill.train.sft imported already
    (a subprocess paid ~4 CPU s for them). Its peak RSS starts at its RSS when forked (Linux:
    the new mm's high-water mark), so the growth is what the call allocates, as it was in a
    fresh process."""
    import os
    import resource
    import signal
    import time

    import torch

    import distill.train.sft as S

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            torch.set_num_threads(1)
            S.template_token_ids = lambda tok: [5, 70000, 150000]

            class Tok:
                def convert_ids_to_tokens(self, i):
                    return str(i)

            emb = torch.randn(200000, 1024, dtype=torch.bfloat16)
            emb[100:200] = emb[5]  # 100 rows alike: named
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            named = S.untrained_template_tokens(Tok(), emb)
            grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024
            os.write(write, f"{named}\n{grew}".encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 120
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child did not end in 120 s")
        time.sleep(0.01)
    with os.fdopen(read) as f:
        return f.read().split("\n")


def test_the_untrained_rows_warning_makes_no_float_copy_of_the_embedding():
    # 9066c13 said "in chunks: no float copy of a whole (bf16) embedding matrix", but its row
    # norms cast the whole matrix to float32: 2 GiB more host memory on a 152k x 3584 Qwen
    # embedding, on every DDP process at once.
    out = _peak_in_a_fork()
    assert out[0] == "['5']"
    # the bf16 matrix is 390 MiB, a float copy 780 MiB, one float chunk 256 MiB
    assert int(out[1]) < 600, out
