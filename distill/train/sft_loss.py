"""SFT's cross-entropy in chunks of completion tokens from the hidden states (--method sft on CPU).

    distill train --data kept.jsonl --model S --output-dir out --loss-chunk-size 128

TRL's SFTTrainer already applies its LM head in tiles (its fused head), but off CUDA/XPU it
scores every position, prompt included, in tiles of 4,096 tokens x 32,768 vocabulary: one SFT step
at a 152k vocabulary and 4k completion tokens peaked ~4.4 GB over the model
(benchmarks/bench_kd_memory.py). Here only completion positions reach the head, a chunk at a time
under activation checkpointing (distill.train.kd.loss.chunked_sum). On GPUs TRL's own Triton path
is kept. Imported only when used (it imports torch and trl).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from distill.train.kd.loss import chunked_sum, lm_head


class ChunkedSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer with the same loss (summed cross-entropy over the completion tokens,
    divided by the batch's token count) computed chunk by chunk from the hidden states."""

    def __init__(self, *a: Any, loss_chunk_size: int, **kw: Any):
        super().__init__(*a, **kw)
        self.loss_chunk_size = loss_chunk_size

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
        mode = "train" if self.model.training else "eval"
        labels = inputs["labels"]
        fwd = {k: v for k, v in inputs.items() if k != "labels"}
        out = model(**fwd, use_cache=False, output_hidden_states=True, logits_to_keep=1)
        tgt = labels[:, 1:]
        mask = tgt != -100
        head = lm_head(self.accelerator.unwrap_model(model))

        def sums(h, y):  # noqa: ANN001, ANN202 - [cross-entropy, correct top-1, entropy] summed
            logits = head(h).float()
            ce = F.cross_entropy(logits, y, reduction="sum")
            with torch.no_grad():
                top1 = (logits.argmax(-1) == y).sum().float()
                lp = torch.log_softmax(logits, -1)
                entropy = -(lp.exp() * lp).sum()
            return torch.stack([ce, top1, entropy])

        total = chunked_sum(
            sums, self.loss_chunk_size, out.hidden_states[-1][:, :-1][mask], tgt[mask]
        )
        n = mask.sum()
        denom = n if num_items_in_batch is None else num_items_in_batch
        loss = total[0] / torch.as_tensor(denom).clamp(min=1)
        # As TRL's: the count is global across processes and DDP averages the gradients.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        # TRL's metrics (mean_token_accuracy, entropy, num_tokens) from the same chunks, summed
        # over processes as TRL's.
        gather = self.accelerator.gather_for_metrics
        valid, correct, entropy = gather(torch.stack([n.float(), *total[1:].detach()])[None]).sum(0)
        valid = max(float(valid), 1.0)
        self._metrics[mode]["mean_token_accuracy"].append(float(correct) / valid)
        self._metrics[mode]["entropy"].append(float(entropy) / valid)
        if mode == "train":
            # padding-free (--packing) batches have no attention_mask: their row is all tokens
            if "attention_mask" in inputs:
                local = inputs["attention_mask"].sum()
            else:
                local = torch.tensor(inputs["input_ids"].numel(), device=n.device)
            self._total_train_tokens += int(gather(local.reshape(1)).sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, out) if return_outputs else loss
