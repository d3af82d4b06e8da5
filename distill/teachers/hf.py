"""Teacher running a local model with transformers `generate` (CPU or GPU).

    distill generate --teacher hf --model builtin:smollm2 --data builtin:arithmetic --n 4 --out t.jsonl

For small models, self-distillation (name the student as teacher) and tests. Prompts are
rendered with the model's own chat template and generated in left-padded batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distill.models import load_causal_lm, load_tokenizer
from distill.teachers import Completion, Job, Sink


def stop_ids(model: Any, tok: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tok.eos_token_id is not None and tok.eos_token_id not in ids:
        ids.append(tok.eos_token_id)
    return ids


def render_prompt(tok: Any, messages: list[dict[str, str]]) -> str:
    """The exact string the student sees at inference: chat template + generation prompt
    (including any `<think>` pre-fill the template adds). Train and eval use the same."""
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


class HFTeacher:
    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.tok = load_tokenizer(cfg.model)
        self.tok.padding_side = "left"
        self.model = load_causal_lm(cfg.model, cfg.device)
        self.stops = stop_ids(self.model, self.tok)

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        import torch

        cfg = self.cfg
        items = [(job, s) for job in jobs for s in job.samples]
        for start in range(0, len(items), cfg.batch_size):
            batch = items[start : start + cfg.batch_size]
            if cfg.chat_template:
                texts = [render_prompt(self.tok, job.messages) for job, _ in batch]
            else:  # a raw prompt (e.g. Alpaca): the tokenizer adds BOS itself, as in training
                texts = [job.messages[-1]["content"] for job, _ in batch]
            enc = self.tok(
                texts, return_tensors="pt", padding=True, add_special_tokens=not cfg.chat_template
            )
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            if cfg.seed is not None:
                torch.manual_seed(cfg.seed + start)
            sampling = cfg.temperature > 0
            with torch.no_grad():
                out = self.model.generate(
                    **enc,
                    do_sample=sampling,
                    temperature=cfg.temperature if sampling else None,
                    top_p=cfg.top_p if sampling else None,
                    top_k=0 if sampling else None,
                    max_new_tokens=cfg.max_tokens,
                    eos_token_id=self.stops,
                    pad_token_id=self.tok.pad_token_id,
                )
            gen = out[:, enc["input_ids"].shape[1] :].tolist()
            prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
            for (job, s), tokens, plen in zip(batch, gen, prompt_lens):
                cut = next((i for i, t in enumerate(tokens) if t in self.stops), None)
                finish = "stop" if cut is not None else "length"
                kept = tokens[:cut] if cut is not None else tokens
                text = self.tok.decode(kept, skip_special_tokens=True)
                sink.done(
                    job,
                    s,
                    Completion(
                        text=text,
                        finish_reason=finish,
                        prompt_tokens=int(plen),
                        completion_tokens=len(kept) + (cut is not None),
                    ),
                )
