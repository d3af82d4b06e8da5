"""The judge as a local model: a transformers reward model, or a causal LM's likelihood of the trace.

    distill select kept.jsonl --out sel.jsonl --judge-backend reward --judge ./my-reward-model --budget 100

ms-swift's `prm_model` / distilabel's reward-model steps, here through
AutoModelForSequenceClassification on this machine (no server, no rubric): each trace becomes
the chat the student trains on (the user turns, then the assistant turn with its reasoning in
<think> tags) through the model's own chat template, and the score is the model's output: its
logit when it has one label (the usual reward head), else the probability of its last label
(a good/bad classifier's "good"). Scores are the model's own scale, not 1-10: --min-score is a
threshold on that scale; ranking is highest first either way.

Scores are appended to the judge cache as each batch is scored (keyed by trace id, the trace's
chat, model and backend, and for a local folder its weight files' sizes and times: a model
retrained in place, or a trace rewritten under the same id, scores again), so a killed or
repeated run scores only what is missing.

`--judge-backend likelihood --judge LM` scores each trace by a causal LM's mean log-probability
per token of the assistant's reply given its prompt (nats per token, <= 0; higher is more
fluent), the perplexity filter of CCNet / DCLM data selection applied to a teacher's traces: a
verified trace whose answer is right but whose text is not (a mis-copied question, an aside
about Roman numerals) scores low under a model that knows the task. The chat is read as train
would train the model on it (examples.Renderer: its own chat template and generation prompt,
R1's `<think>\n` pre-fill included; the reply's tokens the whole chat's after the prompt's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill.errors import DistillError

BATCH = 8  # traces per forward pass: padding waste stays small on CPU, enough work on a GPU
MAX_LENGTH = 4096  # tokens scored at most per trace; longer ones keep their end (the answer)
# How the likelihood judge reads a chat's ids, in its cache key: 2 since it reads them as train
# does (R1-Distill's reasoning scored, not its answer alone): a score of the reading before is
# another number, scored again rather than ranked beside this one's. 3 since an R1 trace stored
# without its <think> ('R\n</think>\n\nA') reads as a whole think block on every template
# (examples.lone_close), as train reads it now.
LIKELIHOOD_READING = 3


def chat_of(rec: dict[str, Any]) -> list[dict[str, str]]:
    """The trace as the conversation it teaches: its prompt turns and the assistant's reply."""
    turns = [
        {"role": str(m.get("role")), "content": str(m.get("content") or "")}
        for m in rec.get("messages") or []
        if m.get("role") in ("system", "user", "assistant")
    ]
    reasoning, answer = rec.get("reasoning") or "", rec.get("answer") or ""
    reply = f"<think>\n{reasoning}\n</think>\n\n{answer}" if reasoning else answer
    return turns + [{"role": "assistant", "content": reply}]


def render(tok: Any, chat: list[dict[str, str]]) -> str:
    """The model's chat template when it has one; plain 'role: content' lines otherwise."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(chat, tokenize=False)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in chat)


def load(model: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.models import pick_device, resolve_model

    path = resolve_model(model)
    dev = pick_device("auto")
    dtype = torch.bfloat16 if dev == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    from transformers.utils import logging as hf_logging

    # transformers' load report (a table of missing / unexpected keys, on stderr) says what
    # `loading` holds, which is judged below: a checkpoint without a head is one line, not a table
    level, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tok = AutoTokenizer.from_pretrained(path)
        net, loading = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=dtype, output_loading_info=True
        )
    except (OSError, ValueError) as e:
        raise DistillError(
            f"--judge {model} (--judge-backend reward): cannot load it as a sequence classifier: "
            f"{str(e).splitlines()[0]}"
        ) from None
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()
    # A chat model (no reward head) loads too, its head newly initialised: random scores.
    # The output layer's bias alone may be absent (a value head trained without one,
    # converted): it shifts every score alike, so it is zero rather than refused (a bias
    # inside the head, before its activation, is not).
    base = f"{getattr(net, 'base_model_prefix', '') or '?'}."
    params = dict(net.named_parameters())
    labels = getattr(net.config, "num_labels", 1)
    missing = sorted(loading.get("missing_keys") or [])
    bias = [
        k
        for k in missing
        if k.endswith(".bias")
        and not k.startswith(base)
        and k in params
        and params[k].numel() == labels
    ]
    missing = [k for k in missing if k not in bias]
    if missing:
        # a head the checkpoint holds under its own code's names (ArmoRM's regression_layer,
        # trust_remote_code), not a chat model's lm_head
        own = sorted(
            k
            for k in loading.get("unexpected_keys") or []
            if not k.startswith(base) and not k.startswith("lm_head.")
        )
        raise DistillError(
            f"--judge {model} (--judge-backend reward) is no reward model: its checkpoint lacks "
            f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} (a sequence "
            "classifier's head), which would score at random"
            + (
                f"; it holds {', '.join(own[:3])}{' ...' if len(own) > 3 else ''}, a reward "
                "head of its own code (trust_remote_code), which is not run"
                if own
                else ""
            )
            + "; name a reward model, or an LLM judge on a server with --judge-backend openai"
        )
    if bias:
        import torch

        with torch.no_grad():
            for k in bias:
                params[k].zero_()
    net = net.to(dev)
    net.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if net.config.pad_token_id is None:  # a batch needs the last real token of each row
        net.config.pad_token_id = tok.pad_token_id
    tok.truncation_side = "left"
    return tok, net


def load_lm(model: str) -> tuple[Any, Any]:
    """A causal LM and its tokenizer, for --judge-backend likelihood: models.load_causal_lm's
    (its device and dtype, a LoRA adapter folder onto its base), loading errors one line."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from distill.models import load_causal_lm, resolve_model

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tok = AutoTokenizer.from_pretrained(resolve_model(model))
        net = load_causal_lm(model)
    except (OSError, ValueError, DistillError) as e:
        raise DistillError(
            f"--judge {model} (--judge-backend likelihood): cannot load it as a causal LM: "
            f"{str(e).splitlines()[0]}"
        ) from None
    finally:
        hf_logging.set_verbosity(level)
    return tok, net


def judge_renderer(tok: Any, net: Any) -> Any:
    """The Renderer that reads a chat as train would train `net` on it (its chat template, its
    generation_config's stop tokens: EOS after an end of turn that holds none), None for a model
    without a chat template."""
    if not getattr(tok, "chat_template", None):
        return None
    from distill.examples import Renderer

    eos = getattr(getattr(net, "generation_config", None), "eos_token_id", None)
    return Renderer(tok, "r1", eos, who="judge")


def reply_ids(
    tok: Any, chat: list[dict[str, str]], renderer: Any = None, where: str = "a trace"
) -> tuple[list[int], int]:
    """The chat's ids and where its last (assistant) turn's tokens start, as training reads a
    reply (Renderer.encode: the prompt as inference tokenizes it, with the generation prompt's
    pre-fill such as R1's `<think>\n`; the reply's tokens as the whole chat reads them after
    it, examples.ids_after). `renderer`: judge_renderer's (None: the tokenizer's own, without
    the model's stop tokens). Without a chat template: 'role: content' lines, the reply after
    'assistant: ', the whole text's ids as the tokenizer reads it (a base model reads the text
    whole: its BOS, and an EOS it adds after a text, at the end), the reply's from the first
    that differs from the prompt's (the prompt's last ' ' merged into its first word: 'Ġthe')."""
    from distill.examples import Example, Renderer

    if getattr(tok, "chat_template", None):
        renderer = renderer or Renderer(tok, "r1", who="judge")
        ex = Example(prompt=chat[:-1], completion=chat[-1]["content"], source={"where": where})
        prompt, reply = renderer.encode(ex)
        return prompt + reply, len(prompt)
    text = render(tok, chat[:-1]) + "\n\nassistant: "
    prompt = tok(text, add_special_tokens=True)["input_ids"]
    whole = tok(text + chat[-1]["content"], add_special_tokens=True)["input_ids"]
    # (not the prompt's ids then the reply's: a tokenizer that adds EOS after a text would put
    # it between them, and the reply be scored after an end of text)
    start = 0
    while start < min(len(prompt), len(whole)) and prompt[start] == whole[start]:
        start += 1
    return whole, start


def likelihood_batch(
    tok: Any,
    net: Any,
    chats: list[list[dict[str, str]]],
    renderer: Any = None,
    wheres: list[str] | None = None,
) -> list[float]:
    """Each chat's mean log-probability per reply token under `net` (nan: no reply token).
    `renderer`: judge_renderer(tok, net), made here where not given; `wheres`: each chat's
    name in a refusal (its trace id)."""
    import torch

    renderer = renderer or judge_renderer(tok, net)
    wheres = wheres or ["a trace"] * len(chats)
    limit = min(MAX_LENGTH, getattr(tok, "model_max_length", MAX_LENGTH) or MAX_LENGTH)
    rows = []
    for chat, where in zip(chats, wheres, strict=True):
        ids, start = reply_ids(tok, chat, renderer, where)
        cut = max(0, len(ids) - limit)  # a long one keeps its end (the answer)
        rows.append((ids[cut:], max(start - cut, 1)))  # the first token has no context
    width = max(len(ids) for ids, _ in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    x = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, _) in enumerate(rows):
        x[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
    with torch.inference_mode():
        logits = net(input_ids=x.to(net.device), attention_mask=mask.to(net.device)).logits
        lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        got = lp.gather(-1, x[:, 1:].to(net.device).unsqueeze(-1)).squeeze(-1).cpu()
    out = []
    for i, (ids, start) in enumerate(rows):
        part = got[i, start - 1 : len(ids) - 1]
        out.append(float(part.mean()) if len(part) else float("nan"))
    return out


def score_batch(tok: Any, net: Any, texts: list[str]) -> list[float]:
    import torch

    limit = min(MAX_LENGTH, getattr(tok, "model_max_length", MAX_LENGTH) or MAX_LENGTH)
    # A chat template writes its own BOS (Llama-3's <|begin_of_text|>): the tokenizer adding
    # another would score a sequence the reward model never saw (Skywork's card strips it too).
    special = not getattr(tok, "chat_template", None)
    enc = tok(
        texts,
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=limit,
        add_special_tokens=special,
    )
    enc = {k: v.to(net.device) for k, v in enc.items()}
    with torch.inference_mode():
        logits = net(**enc).logits.float()
    if logits.shape[-1] == 1:
        return [float(v) for v in logits[:, 0]]
    return [float(v) for v in logits.softmax(-1)[:, -1]]


def fingerprint(model: str) -> str | None:
    """What identifies the reward model's weights without reading them: each weight file's name,
    size and modification time, and config.json (a hub snapshot's path holds its revision too).
    None when `model` is no local folder (the name alone keys the cache then)."""
    from distill.records import stable_hash

    path = Path(model)
    if not path.is_dir():
        return None
    files = sorted(
        p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".json")
    )
    return stable_hash(
        [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files if p.is_file()], 16
    )


def model_stamp(model: str) -> str | None:
    """A local reward model's weights without reading them: eval's stamp of its model files and
    any .bin/.pt weights beside them (files written there since, an eval.json or notes, do not
    count); None for a Hub name."""
    from distill.eval import weights_stamp
    from distill.records import stable_hash

    path = Path(model).expanduser()  # `~/rm`: the folder it loads
    if not path.is_dir():
        return None
    return stable_hash([weights_stamp(model), other_weights(path)], 16)


def other_weights(path: Path) -> list[str]:
    """The weight files in `path` eval's stamp does not name (it stamps the safetensors train
    writes): pytorch_model.bin (or its shards), .pt, .pth, as name:size:mtime. New weights
    copied over the old, config.json as it was, are another model."""
    return sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in path.iterdir()
        if p.suffix in (".bin", ".pt", ".pth") and p.is_file()
    )


def score_traces(cfg: Any, wanted: set[str], cache: Path) -> tuple[dict[str, tuple], dict]:
    """The local judge's (reward model's, or causal LM's likelihood) score of every trace of cfg.input whose id is in `wanted` ->
    ({trace id: (score, '')}, stats); cached scores reused, the rest scored in batches."""
    import math

    from distill.manifest import kill_point
    from distill.records import RecordWriter, read_records, stable_hash

    # the model's weight files alone (eval's stamp, as a student's samples are keyed): a
    # README or eval.json written into the folder is the same judge, nothing scored again
    backend = cfg.judge_backend  # reward | likelihood: each its own cache key
    weights = model_stamp(cfg.judge)
    # the key before (every .json too): a reward model's scores of then still count
    legacy = fingerprint(cfg.judge) if backend == "reward" else None

    def rid(tid: str, rec: dict[str, Any], weights: str | None = weights) -> str:
        # the trace's chat too: one rewritten under the same id is scored again
        key = {
            "trace": tid,
            "judge": cfg.judge,
            "backend": backend,
            "chat": stable_hash(chat_of(rec), 32),
        }
        if weights:  # the model's files: one retrained in place is another judge
            key["weights"] = weights
        if backend == "likelihood":  # the reply's ids read as train reads them (e0713ed)
            key["reading"] = LIKELIHOOD_READING
        return stable_hash(key)

    cached: dict[str, float] = {}
    if cache.exists():
        for rec in read_records(cache, required=("id",)):
            if isinstance(rec.get("score"), (int, float)):
                cached[rec["id"]] = float(rec["score"])
    ids: dict[str, str] = {}
    todo: list[tuple[str, dict[str, Any]]] = []
    moved: list[dict[str, Any]] = []
    for rec in read_records(cfg.input, required=("id",)):
        tid = str(rec["id"])
        if tid not in wanted:
            continue
        ids[tid] = rid(tid, rec)
        before = rid(tid, rec, legacy) if legacy else None
        if ids[tid] not in cached and before in cached:  # scored under the key before:
            cached[ids[tid]] = cached[before]  # kept under this key too (written below)
            moved.append({"id": ids[tid], "trace_id": tid, "score": cached[before]})
        if ids[tid] not in cached:
            todo.append((tid, rec))
    if moved:
        with RecordWriter(cache) as writer:
            for row in moved:
                writer.write(row)
    if todo:
        tok, net = load(cfg.judge) if backend == "reward" else load_lm(cfg.judge)
        renderer = judge_renderer(tok, net) if backend == "likelihood" else None
        with RecordWriter(cache) as writer:
            for start in range(0, len(todo), BATCH):
                part = todo[start : start + BATCH]
                if backend == "reward":
                    values = score_batch(tok, net, [render(tok, chat_of(r)) for _, r in part])
                else:
                    chats = [chat_of(r) for _, r in part]
                    wheres = [f"{cfg.input}: trace {tid}" for tid, _ in part]
                    values = likelihood_batch(tok, net, chats, renderer, wheres)
                for (tid, _), value in zip(part, values):
                    writer.write({"id": ids[tid], "trace_id": tid, "score": value})
                    cached[ids[tid]] = value
                kill_point(f"select:scored:{writer.written}")  # tests kill a run here
    scores = {
        tid: (cached[jid], "") for tid, jid in ids.items() if math.isfinite(cached.get(jid, 0.0))
    }
    stats = {
        "model": cfg.judge,
        "backend": backend,
        "judged": len(ids),
        "scored": len(scores),
        "malformed": len(ids) - len(scores),  # a non-finite score (NaN) counts as none
        "requests_this_run": len(todo),
        "cached": len(ids) - len(todo),
        "cache": str(cache),
    }
    return scores, stats
