"""What the KD trainer reads: the stored teacher top-K beside the traces, the collator, and
the prompt-only source of on-policy runs.

    distill train --data kept.jsonl --model S --output-dir out --method kd   # stored top-K
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from distill.errors import DistillError

# =========================================================================== stored top-K


def fit_completion(prompt: list[int], completion: list[int], cfg: Any) -> list[int] | None:
    """The completion within cfg.max_length after its prompt: whole, cut (--overlong
    truncate), or None where the example is left out (--overlong drop, or nothing left)."""
    if len(prompt) + len(completion) <= cfg.max_length:
        return completion
    if cfg.overlong == "drop":
        return None
    return completion[: max(0, cfg.max_length - len(prompt))] or None


def stored_topk(
    rows: list[dict[str, Any]],
    data_path: str,
    completions: list[list[int]],
    stops: set[int],
    student_tok: Any,
    student_name: str,
) -> tuple[list[list[int]], list[Any], list[Any], dict[str, int]]:
    """Align each record's stored teacher top-K with the student's tokenized completion.

    The stored ids are the teacher's own generated tokens. When the student's tokenization of
    the rendered completion starts with them (same tokenizer, the usual case) the completion is
    kept as is; otherwise the teacher's ids + the template's end of turn replace it, so every
    stored distribution still sits on the token it was computed for. Positions past the teacher's
    tokens (an end of turn the teacher did not generate) get cross-entropy only.
    -> (completion ids, per-example ids [C, K], log-probs [C, K], counts)."""
    import numpy as np

    from distill.logprobs import load_many, vocab_hash

    for row in rows:
        if not isinstance(row.get("logprobs"), dict):
            raise DistillError(
                f"{data_path}: record {row.get('id')} has no teacher log-probs (generate with "
                "--logprobs K, or give --teacher-model / --teacher-url)"
            )
    mine = vocab_hash(student_tok)
    for ptr in {(r["logprobs"].get("tokenizer"), r["logprobs"].get("vocab_hash")) for r in rows}:
        if ptr[1] and ptr[1] != mine:
            raise DistillError(
                f"student tokenizer '{student_name}' (vocab hash {mine}) and the teacher tokenizer "
                f"'{ptr[0]}' of the stored log-probs (vocab hash {ptr[1]}) differ: kd compares "
                "next-token distributions over one vocabulary (across tokenizers: a local "
                "--teacher-model, not stored top-K)"
            )
    out_c, out_ids, out_lp = [], [], []
    counts = {"aligned": 0, "realigned": 0, "kd_positions": 0}
    stored = load_many(rows, data_path)
    # Records of two generate runs may keep different K: all get the widest, padded with id -1
    # (no token: bucket_logprobs leaves it out), so they batch together.
    k = max((tl.k for tl in stored), default=0)
    vocab = len(student_tok)
    for row, tl in zip(rows, stored, strict=True):
        # Without a vocab hash (a served teacher's tokenizer is not known at generate time) an id
        # the student has no row for is the one sign of another vocabulary left to check.
        worst = max(int(tl.topk_ids.max(initial=-1)), int(tl.token_ids.max(initial=-1)))
        if worst >= vocab:
            raise DistillError(
                f"{data_path}: record {row.get('id')} stores token id {worst}, outside the "
                f"vocabulary of student tokenizer '{student_name}' ({vocab} tokens): its teacher "
                f"tokenizer '{row['logprobs'].get('tokenizer')}' differs: re-run distill generate "
                "--logprobs K (it records the token texts and offsets cross-tokenizer kd reads)"
            )
    for comp, tl in zip(completions, stored, strict=True):
        t = tl.token_ids.tolist()
        core = list(t)
        while core and core[-1] in stops:
            core.pop()
        if comp[: len(core)] == core:
            counts["aligned"] += 1
        else:
            comp = core + _end_of_turn(comp, stops)
            counts["realigned"] += 1
        n = next(
            (j for j in range(min(len(t), len(comp))) if comp[j] != t[j]), min(len(t), len(comp))
        )
        ids = np.full((len(comp), k), -1, dtype=np.int64)
        lp = np.zeros((len(comp), k), dtype=np.float32)
        ids[:n, : tl.k], lp[:n, : tl.k] = tl.topk_ids[:n], tl.topk_logprobs[:n]
        counts["kd_positions"] += n
        out_c.append(comp)
        out_ids.append(ids)
        out_lp.append(lp)
    return out_c, out_ids, out_lp, counts


def _end_of_turn(comp: list[int], stops: set[int]) -> list[int]:
    """The completion's tail from its first stop token (the template's end of turn)."""
    for j, x in enumerate(comp):
        if x in stops:
            return comp[j:]
    return []


# =========================================================================== data


class Collator:
    """Pads pre-tokenized examples: input_ids/attention_mask/labels right-padded (loss on the
    completion only, as SFT), the prompt alone left-padded for on-policy sampling, and the
    stored teacher top-K aligned to token positions."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in feats)
        # A prompt-only example (on-policy from a prompt source) is all prompt.
        plen = [
            f["completion_mask"].index(1) if 1 in f["completion_mask"] else len(f["input_ids"])
            for f in feats
        ]
        pwidth = max(plen)
        b = len(feats)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((b, width), dtype=torch.long)
        labels = torch.full((b, width), -100, dtype=torch.long)
        prompts = torch.full((b, pwidth), self.pad_id, dtype=torch.long)
        pattn = torch.zeros((b, pwidth), dtype=torch.long)
        for i, f in enumerate(feats):
            x, m, n = f["input_ids"], f["completion_mask"], len(f["input_ids"])
            ids[i, :n] = torch.tensor(x)
            attn[i, :n] = 1
            labels[i, :n] = torch.tensor([t if k else -100 for t, k in zip(x, m, strict=True)])
            prompts[i, pwidth - plen[i] :] = torch.tensor(x[: plen[i]])
            pattn[i, pwidth - plen[i] :] = 1
        batch = {
            "input_ids": ids,
            "attention_mask": attn,
            "labels": labels,
            "prompts": prompts,
            "prompt_attention_mask": pattn,
        }
        if "teacher_ids" in feats[0]:
            k = len(feats[0]["teacher_ids"][0])
            tids = torch.full((b, width, k), -1, dtype=torch.long)
            tlp = torch.zeros((b, width, k))
            for i, f in enumerate(feats):
                c = len(f["teacher_ids"])
                tids[i, plen[i] : plen[i] + c] = torch.tensor(f["teacher_ids"])
                tlp[i, plen[i] : plen[i] + c] = torch.tensor(f["teacher_logprobs"])
            batch["teacher_ids"], batch["teacher_logprobs"] = tids, tlp
        return batch


def trained_rows(cfg: Any) -> tuple[list[Any], list[dict[str, Any]], list[int]]:
    """`cfg.data`'s examples, rows and row indices, those with something to train alone: a row
    whose every assistant turn has weight 0 is left out (SFT counts it all-masked), its stored
    top-K never read (it needs none); a chat whose stored top-K belong to a reply of weight 0 is
    refused (_check_stored_reply)."""
    import itertools

    from distill.data import iter_source
    from distill.examples import load_examples

    exs = list(load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers))
    rows = list(itertools.islice(iter_source(cfg.data, cfg.split, strict=True), cfg.limit))
    at = [i for i, ex in enumerate(exs) if ex.trains]
    for i in at:
        if isinstance(rows[i].get("logprobs"), dict):
            _check_stored_reply(rows[i], exs[i], cfg)
    return [exs[i] for i in at], [rows[i] for i in at], at


def _check_stored_reply(row: dict[str, Any], ex: Any, cfg: Any) -> None:
    """Refuse a chat row whose stored top-K would land on another turn than their own.

    A row's stored top-K are the teacher's distributions over the reply it ends with (a trace's
    answer; a chat's last assistant message). A chat whose last assistant turn has weight 0 is
    trained up to its last turn that trains (examples._last_assistant), so the example's
    completion is an earlier turn: stored_topk realigned the last reply's tokens onto it (the
    answer to the last question trained as the answer to an earlier one)."""
    from distill.data import SHAREGPT_ROLES, chat_json, pairs_chat
    from distill.examples import CHAT_COLUMNS

    if not ex.trains_history:  # a trace record or a prompt/completion row: its reply is it
        return
    texts = (cfg.prompt_field, cfg.answer_field, cfg.reasoning_field, cfg.context_field)
    if cfg.messages_field is None and any(texts):
        return  # read from its text columns: one turn, the reply
    column = cfg.messages_field or next((k for k in CHAT_COLUMNS if k in row), None)
    msgs = pairs_chat(chat_json(row.get(column))) if column else None
    if not (isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict)):
        return
    last = msgs[-1]
    role = last.get("role") or SHAREGPT_ROLES.get(str(last.get("from")))
    w = last.get("weight")
    if role != "assistant" or not isinstance(w, (int, float)) or w != 0:
        return
    where = ex.source.get("where") or cfg.data
    raise DistillError(
        f"{where}: its last assistant turn ({column}[{len(msgs) - 1}]) has weight 0, and the "
        f"stored teacher log-probs of record {row.get('id')} are that reply's: kd would train "
        "them on an earlier turn they were not written for; give that turn weight 1, drop the "
        "row, or let a teacher score the trained turns (--teacher-model / --teacher-url)"
    )


def stored_dataset(
    cfg: Any, tok: Any, model_eos: Any, picked: Any = None
) -> tuple[Any, dict[str, int]]:
    """SFT's examples (same rendering, same mask) + the stored teacher top-K per completion token.
    `picked`: trained_rows(cfg), when the caller has read them already."""
    from datasets import Dataset

    from distill.examples import Renderer

    renderer = Renderer(tok, cfg.format, model_eos, "last", cfg.chat)
    exs, rows, _ = picked or trained_rows(cfg)
    encoded = []
    for ex, row in zip(exs, rows, strict=True):
        encoded.append(renderer.encode(ex))
        if renderer.reasoning_dropped:
            # stored_topk would put the teacher's whole reply (its think block) back in place of
            # the answer --format alpaca trains: the student trained on the reasoning the format
            # leaves out, while the pre-flight showed the answer alone
            raise DistillError(
                f"{cfg.data}: record {row.get('id')}: --format alpaca trains the answer alone, "
                "and the stored top-K are the teacher's distributions over its whole reply, "
                "reasoning included (the answer's given that reasoning): train with --format "
                "r1, or let a teacher score the Alpaca answer (--teacher-model / --teacher-url)"
            )
    prompts, comps = zip(*encoded, strict=True) if exs else ((), ())
    mine = list(comps)
    comps, t_ids, t_lps, _ = stored_topk(rows, cfg.data, mine, renderer.stops, tok, cfg.model)
    # counted over what --max-length keeps (an example dropped, a completion cut: not trained)
    counts = {"aligned": 0, "realigned": 0, "kd_positions": 0}
    cols: dict[str, list] = {
        "input_ids": [],
        "completion_mask": [],
        "teacher_ids": [],
        "teacher_logprobs": [],
    }
    for p, c, ti, tl, own in zip(prompts, comps, t_ids, t_lps, mine, strict=True):
        realigned = list(c) != list(own)
        fitted = fit_completion(p, c, cfg)
        if fitted is None:
            continue
        if len(fitted) < len(c):
            c, ti, tl = fitted, ti[: len(fitted)], tl[: len(fitted)]
        counts["realigned" if realigned else "aligned"] += 1
        counts["kd_positions"] += int((ti >= 0).any(-1).sum())
        cols["input_ids"].append(p + c)
        cols["completion_mask"].append([0] * len(p) + [1] * len(c))
        cols["teacher_ids"].append(ti.tolist())
        cols["teacher_logprobs"].append(tl.tolist())
    if not cols["input_ids"]:
        raise DistillError(f"{cfg.data}: no training examples left for kd")
    return Dataset.from_dict(cols), counts


def prompt_source(cfg: Any) -> bool:
    """Whether the run trains on prompts alone: a template, prompt field or system prompt is
    named (then a row's completion, if any, is never read: OpenR1-Math's `messages`), or
    `cfg.data`'s first row carries no completion."""
    from distill.data import iter_source
    from distill.examples import has_completion

    if cfg.template or (cfg.prompt_field and not cfg.answer_field) or cfg.system_prompt:
        return True
    first = next(iter(iter_source(cfg.data, cfg.split)), None)
    return first is not None and not has_completion(first, cfg)


def prompt_dataset(
    cfg: Any, tok: Any, model_eos: Any, extra: Any = None
) -> tuple[Any, dict[str, Any]]:
    """On-policy examples from a prompt source (no teacher text anywhere): each prompt rendered
    as `distill generate` sends it (prompt field + template, or a chat ending with a user turn),
    then as training renders a prompt (the student's chat template + generation prompt). The
    completion mask is empty: every batch is the student's own samples (lmbda 1.0). `extra`
    (example, where -> columns) adds columns per kept prompt (a teacher of another tokenizer's
    rendering of it, xtok.py)."""
    from datasets import Dataset

    from distill.examples import Renderer, TokenStats, say_halves

    chats = prompt_chats(cfg)
    renderer = Renderer(tok, cfg.format, model_eos)
    st, ids, more = TokenStats(), [], []
    for i, (msgs, fields) in enumerate(chats):
        st.examples += 1
        ex = prompt_example(msgs, fields, cfg)
        p = renderer.prompt_ids(ex)
        if len(p) + cfg.max_new_tokens > cfg.max_length:  # the samples would not fit
            st.dropped_overlong += 1
            continue
        ids.append(p)
        if extra is not None:
            more.append(extra(ex, f"{cfg.data} row {i + 1}"))
        st.kept += 1
        st.prompt_tokens += len(p)
    say_halves(renderer)
    if not ids:
        raise DistillError(
            f"{cfg.data}: no prompts left ({st.examples} read, {st.dropped_overlong} longer than "
            f"max_length {cfg.max_length} - max_new_tokens {cfg.max_new_tokens})"
        )
    data = {"input_ids": ids, "completion_mask": [[0] * len(p) for p in ids]}
    for key in more[0] if more else ():
        data[key] = [m[key] for m in more]
    return Dataset.from_dict(data), {**st.__dict__, "prompts_only": True}


def prompt_example(msgs: list[dict[str, str]], fields: dict[str, Any], cfg: Any) -> Any:
    """A prompt source's prompt (`msgs` as generate sends it, `fields` its row's) as the Example
    training renders. Alpaca students see the row's own instruction and input where the
    instruction is what was asked (a trace of it carries them in its meta), the --context-field
    column as the input (examples.alpaca_parts), else the prompt sent alone: as train renders
    the row's trace and eval asks it (eval.asks_instruction)."""
    from distill.eval import asks_instruction
    from distill.examples import Example, alpaca_parts

    asked = asks_instruction(fields, cfg.prompt_field)
    inst, inp = (fields.get("instruction"), fields.get("input")) if asked else (None, None)
    user = msgs[-1]["content"]
    instruction, inp = user if inst is None else str(inst), "" if inp is None else str(inp)
    if cfg.context_field:
        instruction, inp = alpaca_parts(user, inst, fields, cfg.context_field)
    return Example(prompt=msgs, completion="", instruction=instruction, input=inp)


def prompt_chats(cfg: Any) -> Iterator[tuple[list[dict[str, str]], dict[str, Any]]]:
    """Each prompt of a prompt source as generate sends it (prompt field + template, or a chat
    ending with a user turn) with the row's own fields ({} for a chat), each row refused in
    one line as prompt_dataset refuses it. Needs no model: `distill run` reads a local source
    through it before its first stage (on-policy train found a bad row only when it started,
    after generate had bought its samples)."""
    if cfg.lmbda < 1.0:
        raise DistillError(
            f"{cfg.data}: prompts alone (no completion in its first row, or a template, prompt "
            f"field or system prompt named); lmbda {cfg.lmbda} mixes in the teacher's traces: give kept traces, "
            "or lmbda 1.0 to train on prompts alone"
        )
    chats = ((m, {} if row is None else fields) for m, fields, row in source_prompts(cfg))
    return _user_ended(cfg, chats)


def source_prompts(cfg: Any) -> Iterator[tuple[list[dict[str, str]], dict[str, Any], Any]]:
    """(chat messages, the row's fields, generate's Row or None) for each prompt of a prompt
    source: a chat row's own messages (with --system-prompt; its raw row, Row None), unless a
    prompt field, template or context field is named (then the row's prompt field rendered,
    whatever else the row holds, as generate does; a chat with a context field is refused
    there). prompt_chats and the reward's references (reward._references) read it alike."""
    import itertools

    from distill.data import iter_source
    from distill.examples import chat_prompt, with_system_prompt
    from distill.generate import prompt_messages

    first = next(iter(iter_source(cfg.data, cfg.split)), {})
    named = cfg.prompt_field or cfg.template or cfg.context_field
    if not named and chat_prompt(first, f"{cfg.data} row 1", cfg):
        rows = itertools.islice(iter_source(cfg.data, cfg.split, strict=True), cfg.limit)
        for i, r in enumerate(rows):
            where = f"{cfg.data} row {i + 1}"
            yield (
                with_system_prompt(chat_prompt(r, where, cfg) or [], cfg.system_prompt, where),
                r,
                None,
            )
        return
    for row, msgs in prompt_messages(
        cfg.data,
        cfg.split,
        cfg.prompt_field,
        cfg.template,
        cfg.system_prompt,
        limit=cfg.limit,
        context_field=cfg.context_field,
    ):
        yield msgs, row.fields, row


def _user_ended(cfg: Any, chats: Any) -> Iterator[tuple[list[dict[str, str]], dict[str, Any]]]:
    for i, (msgs, fields) in enumerate(chats):
        if not msgs or msgs[-1]["role"] != "user":
            raise DistillError(f"{cfg.data} row {i + 1}: a prompt must end with a user message")
        yield msgs, fields
