"""Teacher running a local model with transformers `generate` (CPU or GPU).

    distill generate --teacher hf --model builtin:smollm2 --data builtin:arithmetic --n 4 --out t.jsonl

For small models, self-distillation (name the student as teacher) and tests. Prompts are
rendered with the model's own chat template and generated in left-padded batches. Under --seed
each sample draws from a random stream of its own (RowSampler), so a run resumed after a kill, or
rerun at a larger --n, draws each sample's numbers as an unbroken run does: in float32 (CPU) it
writes the same samples; in bfloat16 (a GPU's default here) the logits also depend on the
padding the batch gives a row, and a resumed sample soon parts ways with the unbroken run's
(measured on SmolLM2: 14 of 16 within 40 tokens), another sample from the same distribution.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from distill.errors import DistillError
from distill.models import check_model_loadable, load_causal_lm, load_tokenizer
from distill.teachers.base import Completion, Job, Sink, no_chat_template


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


def check_rendering(
    tok: Any, model: str, jobs: Sequence[Job], system_prompt: str | None = None
) -> None:
    """Render every job's prompt with `tok` (the tokenizer alone: fast) and refuse, in one line,
    the first one its chat template refuses (Gemma's 'System role not supported', two user
    turns in a row), naming where that prompt comes from and the template's own message. Called
    before the weights load: the generate stage stopped minutes into a run, after the model had
    loaded, on a bare `TemplateError` that named no row. Costs ~50 us a prompt (measured on a
    2-core machine: 100k prompts in ~5 s), paid once per prompt still to sample."""
    from jinja2 import TemplateError

    first: tuple[Job, TemplateError] | None = None
    refused = 0
    for job in jobs:
        try:
            render_prompt(tok, job.messages)
        except TemplateError as e:
            refused += 1
            first = first or (job, e)
    if first is not None:
        raise template_refusal(tok, model, *first, system_prompt, refused - 1)


def template_refusal(
    tok: Any,
    model: str,
    job: Job,
    error: Exception,
    system_prompt: str | None = None,
    others: int = 0,
) -> DistillError:
    """The one line that refuses a prompt `model`'s chat template will not render: where it comes
    from, the template's message, its roles and what to do (a system turn it takes none of:
    drop --system-prompt, where that flag put it there)."""
    from jinja2 import TemplateError

    msgs = job.messages
    roles = ", ".join(str(m.get("role")) for m in msgs)
    where = job.where or f"prompt {job.prompt_id}"
    fix = "drop or fix the row"
    if len(msgs) > 1 and msgs[0].get("role") == "system":
        try:
            render_prompt(tok, msgs[1:])
        except TemplateError:
            pass
        else:  # renders without its system turn: that turn is what the template refuses
            fix = (
                "it takes no system turn: drop --system-prompt"
                if system_prompt is not None and msgs[0].get("content") == system_prompt
                else "it takes no system turn: drop the row's system turn"
            )
    more = f" (and {others} more prompt{'s' if others > 1 else ''})" if others else ""
    why = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return DistillError(
        f"{where}: {model}'s chat template refuses this prompt ({why}; roles: {roles}); {fix}{more}"
    )


def opens_think(model: str, messages: list[dict[str, Any]], backend: str = "hf") -> bool:
    """Whether `model`'s chat template ends its generation prompt with `<think>` (DeepSeek-R1-
    Distill's does) so that a sample with no tag of its own is all reasoning, read as the
    `backend`'s teacher marks its samples (`in_think`): the hf teacher keeps the tags it
    decodes (decode_keeping_think); vLLM's decode drops a `</think>` the tokenizer marks
    special (drops_think), and then no tag says nothing."""
    tok = load_tokenizer(model)
    # none of its own: vLLM rendered with the processor's template (a multimodal model's)
    if not getattr(tok, "chat_template", None):
        return False
    if backend == "vllm" and drops_think(tok):
        return False
    return prompt_opens_think(render_prompt(tok, messages))


def prompt_opens_think(prompt: str) -> bool:
    """A rendered prompt that opened `<think>` itself: its sample starts inside the block."""
    return prompt.rstrip().endswith("<think>")


def drops_think(tok: Any) -> bool:
    """Whether a decode that skips special tokens (vLLM's) drops `</think>`: one of the named
    special tokens, or an added token marked special (tokenizer.json's "special": true, as
    `add_tokens(..., special_tokens=True)` makes it), which all_special_tokens does not list."""
    if "</think>" in getattr(tok, "all_special_tokens", ()):
        return True
    added = getattr(tok, "added_tokens_decoder", None) or {}
    return any(t.content == "</think>" and t.special for t in added.values())


# The tokens a chat template marks a reply's reasoning with, kept in a decode that otherwise
# skips special tokens (a tokenizer may mark any of them special, and a skipping decode drops
# them): the think block's tags, `<think>` (some R1-style tokenizers) and Mistral's `[THINK]`
# (Magistral, Ministral-3 Reasoning: control tokens), Gemma 4's thought channel `<|channel>` /
# `<channel|>` (control tokens of its tokenizer: skipped, its reply read 'thought\nR...A', all
# answer); and, in a harmony tokenizer (gpt-oss: it has `<|channel|>` and `<|message|>`), the
# tokens that frame its messages, for the channel says which message is reasoning
# (distill.reasoning). The stop tokens <|return|> / <|call|> (Gemma 4's <turn|>) stay dropped.
THINK_MARKERS = ("<think>", "</think>", "[THINK]", "[/THINK]", "<|channel>", "<channel|>")
HARMONY_MARKERS = ("<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>")


def reasoning_markers(tok: Any) -> set[int]:
    """Ids of the reasoning markers `tok` has as added tokens (THINK_MARKERS, HARMONY_MARKERS)."""
    added = getattr(tok, "added_tokens_encoder", None) or {}
    names = THINK_MARKERS
    if "<|channel|>" in added and "<|message|>" in added:
        names += HARMONY_MARKERS
    return {added[t] for t in names if t in added}


def drops_markers(tok: Any) -> bool:
    """Whether a decode that skips special tokens (vLLM's, with a Hugging Face tokenizer) drops
    the `[THINK]` tags, Gemma 4's thought channel or harmony framing `tok` marks special:
    gpt-oss's reply read 'analysisR...assistantfinalA', Gemma 4's 'thought R...A', all answer.
    (A `</think>` it drops: drops_think. vLLM's own Mistral tokenizer keeps [THINK] itself and
    has no added tokens: False.)"""
    added = getattr(tok, "added_tokens_decoder", None) or {}
    keep = reasoning_markers(tok)
    return any(
        t.special and t.content not in ("<think>", "</think>")
        for i, t in added.items()
        if i in keep
    )


def decode_keeping_think(tok: Any, ids: list[int]) -> str:
    """`ids` decoded without special tokens, but with the reasoning markers its template writes
    (reasoning_markers) where the tokenizer marks them special: a `<think>`/`</think>` (it would
    drop the tag the model wrote: generate read every sample after a prompt that opened <think>
    as never closing it, and a block the model opened itself as answer text), Mistral's
    [THINK]/[/THINK] (a Magistral sample read as all answer), Gemma 4's `<|channel>`/`<channel|>`
    (its thought read as answer: 'thought R...A') and gpt-oss's channels (its analysis read as
    answer: 'analysisR...assistantfinalA')."""
    keep = reasoning_markers(tok)
    if not keep.intersection(ids):
        return tok.decode(ids, skip_special_tokens=True)
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    drop = (set(tok.all_special_ids) | special) - keep
    return tok.decode([i for i in ids if i not in drop], skip_special_tokens=False)


class TopKRecorder:
    """A logits processor that records, per generated step, the top-K of log_softmax(logits)
    and the log-prob of the token sampled at the previous step; it changes nothing.

    transformers runs user processors after the generation config's own (e.g. a repetition
    penalty, if the model sets one) and before the sampling warpers (temperature, top-p), so
    these are the model's distribution at temperature 1. Keeping top-K per step, not every
    step's full logits (`output_logits`), holds memory at one vocab row per sequence.
    """

    def __init__(self, k: int):
        self.k = k
        self.topk: list[tuple[Any, Any]] = []  # per step: ([B, K] ids, [B, K] log-probs)
        self.sampled: list[Any] = []  # per step: [B] log-prob of the token chosen
        self._last: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        logp = torch.log_softmax(scores.float(), dim=-1)
        if self._last is not None:
            self.sampled.append(self._last.gather(1, input_ids[:, -1:]).squeeze(1))
        values, ids = logp.topk(min(self.k, logp.shape[-1]), dim=-1)
        if ids.shape[-1] < self.k:  # --logprobs K past the vocabulary: -1 (no token) pads to K,
            # as the side file says K (a rerun read its records as another K and refused them)
            pad = self.k - ids.shape[-1]
            ids = torch.nn.functional.pad(ids, (0, pad), value=-1)
            values = torch.nn.functional.pad(values, (0, pad), value=float("-inf"))
        self.topk.append((ids, values))
        self._last = logp
        return scores

    def finish(self, last_tokens: Any) -> tuple[Any, Any, Any]:
        """([B, T] sampled log-probs, [B, T, K] ids, [B, T, K] log-probs) for T steps."""
        import torch

        self.sampled.append(self._last.gather(1, last_tokens[:, None]).squeeze(1))
        ids = torch.stack([i for i, _ in self.topk], dim=1)
        values = torch.stack([v for _, v in self.topk], dim=1)
        return torch.stack(self.sampled, dim=1).cpu(), ids.cpu(), values.cpu()


def _row_seed(seed: int, prompt_id: str, sample: int, repeat: int = 0) -> int:
    """The generator seed of one sample: --seed, its prompt id and sample index, and how many
    times this run drew that same sample before (instruct's magpie sends one prompt as sample 0
    many times: without it each drew the first one's numbers)."""
    from distill.records import stable_hash

    return int(stable_hash([seed, prompt_id, sample] + ([repeat] if repeat else [])), 16)


def sampling_warpers(
    gen_config: Any, temperature: float, top_p: float, device: Any = "cpu"
) -> list[Any]:
    """The warpers `generate(do_sample=True, temperature=, top_p=, top_k=0)` applies, in its
    order: --temperature and --top-p, then what the model's generation_config.json sets of
    top_h, min_p, typical_p and the epsilon/eta cutoffs (top_k is 0: none, as unseeded)."""
    import transformers as tf

    g = gen_config
    warpers: list[Any] = []
    if temperature != 1.0:
        warpers.append(tf.TemperatureLogitsWarper(temperature))
    if getattr(g, "top_h", None) is not None:
        warpers.append(tf.TopHLogitsWarper(top_h=g.top_h))
    if top_p < 1.0:
        warpers.append(tf.TopPLogitsWarper(top_p))
    if g.min_p is not None:
        warpers.append(tf.MinPLogitsWarper(min_p=g.min_p))
    if g.typical_p is not None and g.typical_p < 1.0:
        warpers.append(tf.TypicalLogitsWarper(mass=g.typical_p))
    if g.epsilon_cutoff is not None and 0.0 < g.epsilon_cutoff < 1.0:
        warpers.append(tf.EpsilonLogitsWarper(epsilon=g.epsilon_cutoff))
    if g.eta_cutoff is not None and 0.0 < g.eta_cutoff < 1.0:
        warpers.append(tf.EtaLogitsWarper(epsilon=g.eta_cutoff, device=device))
    return warpers


class RowSampler:
    """A logits processor that draws each row's next token with a random stream of its own,
    seeded by `_row_seed`, out of transformers' sampling warpers (`sampling_warpers`); it
    leaves that token alone possible, so a greedy `generate` takes it.

    transformers samples a whole batch from the global generator: what a row drew depended on
    the rows beside it, and a resumed run (whose batches start at another sample) drew other
    samples than an unbroken one. A row's draws now depend on its seed and step alone: one
    uniform number per step from the row's own `random.Random` (on any device, so CPU and GPU
    draw alike from the same probabilities), turned into a token by the inverse of the
    distribution's cumulative sum, for the whole batch at once (a `torch.multinomial` per row
    cost more than the model's own step on CPU). The probabilities themselves depend, in the
    last bits of a float, on the padding the batch around a row gives it: a draw that lands
    within that much of a boundary between two tokens, rare, can go the other way.
    """

    def __init__(self, seeds: list[int], warpers: list[Any]):
        import random

        self.rngs = [random.Random(seed) for seed in seeds]
        self.warpers = warpers

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        for warp in self.warpers:
            scores = warp(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1)
        cdf = probs.cumsum(dim=-1)
        u = torch.tensor([[r.random()] for r in self.rngs], dtype=cdf.dtype, device=cdf.device)
        drawn = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
        over = drawn[:, 0] == probs.shape[-1]  # u * total rounded up to the total (rare):
        if over.any():  # the last token with any probability
            tail = (probs[over].flip(-1) > 0).int().argmax(dim=-1, keepdim=True)
            drawn[over] = probs.shape[-1] - 1 - tail
        return torch.full_like(scores, float("-inf")).scatter_(1, drawn, 0.0)


class HFTeacher:
    @staticmethod
    def check(model: str, flag: str = "--model") -> None:
        """A model the load would refuse (a missing folder, a hub name not cached offline), as
        one line before the stage writes anything (teachers.check_teacher)."""
        check_model_loadable(model, flag)

    @staticmethod
    def check_prompts(cfg: Any, jobs: Sequence[Job], system_prompt: str | None = None) -> None:
        """Each prompt rendered with the model's tokenizer before its weights load, a refused
        one as one line (check_rendering; teachers.check_prompts)."""
        if not cfg.chat_template:
            return  # --raw-prompt: sent as it is
        tok = load_tokenizer(cfg.model)
        if not tok.chat_template:
            raise no_chat_template(cfg.model)
        check_rendering(tok, cfg.model, jobs, system_prompt)

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.tok = load_tokenizer(cfg.model)
        if cfg.chat_template and not self.tok.chat_template:
            raise no_chat_template(cfg.model)  # before the model loads
        self.tok.padding_side = "left"
        self.model = load_causal_lm(cfg.model, cfg.device)
        self.stops = stop_ids(self.model, self.tok)
        self.tokenizer = None
        if cfg.logprobs:
            from distill.logprobs import vocab_hash

            self.tokenizer = (cfg.model, vocab_hash(self.tok))

    def _render(self, job: Job) -> str:
        """render_prompt, a refusal as one line (a caller that did not check the prompts first:
        check_prompts)."""
        from jinja2 import TemplateError

        try:
            return render_prompt(self.tok, job.messages)
        except TemplateError as e:
            raise template_refusal(self.tok, self.cfg.model, job, e) from None

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        import torch

        cfg = self.cfg
        items = [(job, s) for job in jobs for s in job.samples]
        seen: dict[str, int] = {}  # times each (prompt id, sample) was drawn so far (_row_seed)
        for start in range(0, len(items), cfg.batch_size):
            batch = items[start : start + cfg.batch_size]
            if cfg.chat_template:
                texts = [self._render(job) for job, _ in batch]
            else:  # a raw prompt (e.g. Alpaca): the tokenizer adds BOS itself, as in training
                texts = [job.messages[-1]["content"] for job, _ in batch]
            enc = self.tok(
                texts, return_tensors="pt", padding=True, add_special_tokens=not cfg.chat_template
            )
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            sampling = cfg.temperature > 0
            sampler = None
            if sampling and cfg.seed is not None:
                # Each sample seeded by what it is, not by its place in this run or its batch:
                # a rerun at a larger --n, or one resumed after a kill, draws what the unbroken
                # run drew for each sample.
                seeds = []
                for job, s in batch:
                    key = json.dumps([job.prompt_id, s])
                    seeds.append(_row_seed(cfg.seed, job.prompt_id, s, seen.get(key, 0)))
                    seen[key] = seen.get(key, 0) + 1
                warpers = sampling_warpers(
                    self.model.generation_config, cfg.temperature, cfg.top_p, self.model.device
                )
                sampler = RowSampler(seeds, warpers)
            recorder = TopKRecorder(cfg.logprobs) if cfg.logprobs else None
            # the recorder before the sampler: it keeps the model's distribution, not the draw
            processors = [p for p in (recorder, sampler) if p is not None]
            transformers_samples = sampling and sampler is None  # no --seed
            with torch.no_grad():
                out = self.model.generate(
                    **enc,
                    do_sample=transformers_samples,
                    temperature=cfg.temperature if transformers_samples else None,
                    top_p=cfg.top_p if transformers_samples else None,
                    top_k=0 if transformers_samples else None,
                    max_new_tokens=cfg.max_tokens,
                    eos_token_id=self.stops,
                    pad_token_id=self.tok.pad_token_id,
                    logits_processor=processors or None,
                )
            gen_ids = out[:, enc["input_ids"].shape[1] :]
            gen = gen_ids.tolist()
            if recorder:
                sampled_lp, topk_ids, topk_lp = recorder.finish(gen_ids[:, -1])
            prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
            for row, ((job, s), tokens, plen) in enumerate(zip(batch, gen, prompt_lens)):
                cut = next((i for i, t in enumerate(tokens) if t in self.stops), None)
                finish = "stop" if cut is not None else "length"
                kept = tokens[:cut] if cut is not None else tokens
                # a prompt that opened <think>: the sample starts inside the block (generate
                # reads one with no </think> as all reasoning), so its text keeps the tags
                in_think = cfg.chat_template and prompt_opens_think(texts[row])
                c = Completion(
                    # the tags the model wrote, after any prompt: where its tokenizer marks them
                    # special, a plain decode recorded a block that followed ChatML's prompt
                    # as answer text (think 'none')
                    text=decode_keeping_think(self.tok, kept),
                    finish_reason=finish,
                    prompt_tokens=int(plen),
                    completion_tokens=len(kept) + (cut is not None),
                )
                if in_think:
                    c.extra["in_think"] = True
                if recorder:  # the stop token is stored too: its prediction is trained on
                    from distill.logprobs import TokenLogprobs, with_texts

                    n = c.completion_tokens
                    c.token_logprobs = with_texts(  # + token texts, offsets (cross-tokenizer kd)
                        TokenLogprobs(
                            tokens[:n],
                            sampled_lp[row, :n].numpy(),
                            topk_ids[row, :n].numpy(),
                            topk_lp[row, :n].numpy(),
                        ),
                        self.tok,
                    )
                    c.stop_token, c.tokenizer = cut is not None, self.tokenizer
                sink.done(job, s, c)
