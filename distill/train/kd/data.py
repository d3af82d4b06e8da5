"""What the KD trainer reads: the stored teacher top-K beside the traces, the collator, the
prompt-only source of on-policy runs, and the prompt a teacher of the student's vocabulary reads
in its own chat template.

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
        if "teacher_input_ids" in feats[0]:  # a teacher reading its own prompt (own_row)
            batch.update(_padded([f["teacher_input_ids"] for f in feats], self.pad_id))
            where = torch.full((b, width), -1, dtype=torch.long)
            for i, f in enumerate(feats):
                where[i, : len(f["teacher_pos"])] = torch.tensor(f["teacher_pos"], dtype=torch.long)
            batch["teacher_pos"] = where
            if "teacher_own_row" in feats[0]:  # whether each row is read in its own rendering
                batch["teacher_own_row"] = torch.tensor([bool(f["teacher_own_row"]) for f in feats])
        if "teacher_prompt" in feats[0]:  # on policy: what own_sampled puts a sample after
            got = _padded([f["teacher_prompt"] for f in feats], self.pad_id)
            batch["teacher_prompt"] = got["teacher_input_ids"]
            batch["teacher_prompt_len"] = got["teacher_attention_mask"].sum(-1)
            batch["teacher_lead"] = torch.tensor([f["teacher_lead"] for f in feats])
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


# =========================================================================== the teacher's prompt


def renders_alike(tok: Any, t_tok: Any, fmt: str) -> bool:
    """Whether a teacher of the student's vocabulary renders every prompt as the student does:
    the same chat template and the special tokens it writes (or --format alpaca, the run's own
    template). Then it reads the student's rows, as before (nothing rendered twice)."""
    if fmt == "alpaca":
        return True
    return all(
        getattr(tok, k, None) == getattr(t_tok, k, None)
        for k in ("chat_template", "bos_token", "eos_token")
    )


def prompt_lead(prompt: str) -> str:
    """The `<think>` (and the whitespace after it) a rendered prompt ends with: a template that
    opens the think block itself; "" for none."""
    body = prompt.rstrip()
    return prompt[len(body) - len("<think>") :] if body.endswith("<think>") else ""


def lead_len(tok: Any, ids: list[int]) -> int:
    """How many of a prompt's last tokens spell the `<think>` its template opens the reply with
    (prompt_lead: R1-Distill's, Qwen3-Thinking-2507's generation prompt); 0 for none."""
    dec = dict(skip_special_tokens=False, clean_up_tokenization_spaces=False)
    lead = prompt_lead(tok.decode(ids[-8:], **dec))
    if not lead:
        return 0
    return next(
        (n for n in range(1, min(8, len(ids)) + 1) if tok.decode(ids[-n:], **dec) == lead), 0
    )


def before(prompt: list[int], lead: int, completion: list[int]) -> list[int]:
    """The teacher's prompt ids as they are read before `completion`: without its last `lead`
    tokens (the `<think>` its template opens and the student's template does not) where the
    completion starts with them, so the block is opened once."""
    if lead and completion[:lead] == prompt[-lead:]:
        return prompt[:-lead]
    return prompt


def runs(mask: list[int]) -> list[tuple[int, int, int]]:
    """The runs of a loss mask: (start, end, value), in order."""
    out: list[tuple[int, int, int]] = []
    for j, m in enumerate(mask):
        if out and out[-1][2] == m:
            out[-1] = (out[-1][0], j + 1, m)
        else:
            out.append((j, j + 1, m))
    return out


def own_context(
    tok: Any, t_tok: Any, s_prompt: list[int], t_prompt: list[int]
) -> tuple[list[int], int]:
    """(the teacher's prompt ids, its lead) before a completion the student writes after
    `s_prompt`: the teacher's own `t_prompt`, with the `<think>` the student's prompt opens
    where the teacher's does not (the completion goes on inside the block), or the number of
    tokens of the one the teacher's prompt opens alone (before() drops them where the
    completion opens the block itself)."""
    n_s, n_t = lead_len(tok, s_prompt), lead_len(t_tok, t_prompt)
    dec = dict(skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if n_s and n_t and tok.decode(s_prompt[-n_s:], **dec) == t_tok.decode(t_prompt[-n_t:], **dec):
        return t_prompt, 0
    if n_s and not n_t:
        return t_prompt + s_prompt[-n_s:], 0
    return t_prompt, n_t


def turn_ends(mine: Any, theirs: Any) -> tuple[list[int], list[int]] | None:
    """(the student's, the teacher's) end-of-turn ids: the text each chat template writes after
    a completion (Renderer.suffix: ChatML's `<|im_end|>\\n`, Llama-3's `<|eot_id|>`), where the
    two differ; None where alike or no chat template renders them (--format alpaca)."""
    if mine.fmt != "r1":
        return None
    s = mine.tok(mine.suffix, add_special_tokens=False)["input_ids"]
    t = theirs.tok(theirs.suffix, add_special_tokens=False)["input_ids"]
    return None if s == t else (s, t)


def end_split(ends: Any) -> int:
    """The index of the first token where the two ends of turn (turn_ends) differ; the shorter
    one's length where one starts the other."""
    s_end, t_end = ends
    return next((j for j, (a, b) in enumerate(zip(s_end, t_end)) if a != b), min(map(len, ends)))


def end_pair(ends: Any, stops: Any, t_stops: Any = ()) -> tuple[int, int] | None:
    """(student id, teacher id): the two templates' first end-of-turn tokens, where they differ
    and the student's is one of its stops, as one outcome (xtok's pair_ends): at every position
    the teacher's probability of ending its turn (its own end token) is compared with the
    student's of ending its own; spelled apart, the loss at the end of a turn taught the student
    the teacher's end token, and the teacher's mass on it counted against the student's stop.
    Where the two ends begin alike (`<|im_end|>\n` / `<|im_end|><|endoftext|>`): the first
    tokens that differ, where both are stops (`t_stops`: the teacher's) and no stop of either
    comes before them; none where the turn ends at a token both spell alike (`<|im_end|>`, the
    student's stop: one outcome already, the tokens after it are past its end)."""
    if not ends or not ends[0] or not ends[1]:
        return None
    s_end, t_end = ends
    k = end_split(ends)
    if k >= len(s_end) or k >= len(t_end) or s_end[k] not in stops:
        return None
    if k and (set(s_end[:k]) & (set(stops) | set(t_stops)) or t_end[k] not in t_stops):
        return None
    return s_end[k], t_end[k]


def own_end(c: list[int], ends: Any, paired: bool) -> tuple[list[int], list[int]]:
    """A completion run `c` as the teacher reads it: where it ends with the student's end of
    turn (`ends`: turn_ends), with the teacher's instead (the text its template writes there,
    what it reads as the turn's end in a later turn's history) -> (its tokens, the index among
    them of each token of `c`, -1: none). As the cross-tokenizer path pairs them: the end's
    tokens both spell alike each at its own, the first that differs at the teacher's (`paired`:
    end_pair's outcome), the student's after it at none (the teacher's turn has ended)."""
    same = (c, list(range(len(c))))
    if not ends:
        return same
    s_end, t_end = ends
    n = len(s_end)
    if not n or c[len(c) - n :] != s_end:
        return same  # (a completion cut to max_length: no end of turn)
    k = end_split(ends)
    body = len(c) - n
    where = list(range(body + k))
    if k < n:
        where.append(body + k if paired and k < len(t_end) else -1)
    where += [-1] * (len(c) - len(where))
    return c[:body] + t_end, where


def own_row(
    tok: Any,
    t_tok: Any,
    row: list[int],
    mask: list[int],
    t_seq: Any,
    ends: Any = None,
    paired: bool = False,
) -> tuple[list[int], list[int], list[int], int, bool]:
    """One student row (ids, loss mask) as the teacher reads it, given the teacher's rendering
    of the same sequence `t_seq` (ids, mask; None: read the student's): each prompt run the
    teacher's own (own_context), each completion run the student's ids, ended as the teacher's
    template ends a turn where the two differ (own_end; `ends`: turn_ends, `paired`: end_pair's).
    -> (teacher ids, the teacher's index of each student token (-1 for a prompt token and a
    token of the student's end of turn the teacher has none for), the teacher's prompt before
    the last completion (own_sampled's, on policy), its lead, whether the row is read in the
    teacher's rendering: False where it is the student's row as it is, its end the student's,
    whose end token the trainer then compares as it is, never exchanged (end_pair))."""
    spans = runs(mask)
    first = mask.index(1) if 1 in mask else len(row)
    same = (row, [j if k else -1 for j, k in enumerate(mask)], row[:first], 0, False)
    if t_seq is None or not spans or spans[0][2] != 0:
        return same
    t_ids, t_mask = t_seq
    t_spans = runs(t_mask)
    if [v for *_, v in t_spans][: len(spans)] != [v for *_, v in spans]:
        return same  # the turns render otherwise (R1-Distill's history without its reasoning)
    if len(spans) == 1:  # a prompt alone (on policy from a prompt source)
        t_prompt, lead = own_context(tok, t_tok, row, t_ids)
        return t_prompt, [-1] * len(row), t_prompt, lead, True
    out: list[int] = []  # the teacher's row so far
    pos = [-1] * len(row)
    seg, lead, t_prompt = [], 0, []
    for i, (a, b, v) in enumerate(spans):
        if v == 0:  # (a row cut inside a later prompt: that prompt is read by no loss)
            ta, tb, _ = t_spans[i]
            seg, lead = own_context(tok, t_tok, row[a:b], t_ids[ta:tb])
            continue
        c, where = own_end(row[a:b], ends, paired)
        t_prompt = out + seg
        out += before(seg, lead, c)
        pos[a:b] = [len(out) + j if j >= 0 else -1 for j in where]
        out += c
    return out, pos, t_prompt, lead, True


def teacher_template(name: str, teacher: Any) -> tuple[Any, Any]:
    """(tokenizer, eos ids) of a teacher of the student's vocabulary, whose chat template it
    reads its prompts in: a local one's own (LocalTeacher.own_tok); a served one's where its
    tokenizer loads here (`name`, its --teacher-model: a local folder, a builtin or a cached hub
    name, as served_xtok reads it), else (None, None): the student's template stands in."""
    own = getattr(teacher, "own_tok", None)
    if own is not None:
        return own, teacher.model.generation_config.eos_token_id
    from distill.models import load_tokenizer

    try:
        return load_tokenizer(name), None
    except Exception:  # noqa: BLE001 - a served name only
        return None, None


def own_prompt_dataset(
    cfg: Any,
    tok: Any,
    model_eos: Any,
    t_tok: Any,
    t_eos: Any,
    dataset: Any,
    name: str,
    teacher: Any = None,
    only: list[bool] | None = None,
) -> tuple[Any, dict[str, Any] | None]:
    """A teacher of the student's vocabulary whose chat template renders a prompt otherwise
    (Qwen2.5-Math-Instruct's default system prompt for a Qwen2.5-Instruct student, Llama-3.1's
    date header for Llama-3.2's) reads each completion after its OWN rendering of the prompt,
    as it was trained to: its prompt ids, then the student's completion ids (the loss is on
    the completion: the teacher's logits there are compared with the student's at theirs, the
    positions shifted by the prompts' difference). A chat trained on every turn: each turn's
    prompt its own, each completion the student's. -> (`dataset` + teacher_input_ids and
    teacher_pos, the teacher's index of each student token (-1: a prompt token), and on policy
    teacher_prompt / teacher_lead, what own_sampled puts a sample after; counts), or
    (`dataset`, None) where every row's prompt renders alike (the rows as they were). A row
    whose prompt the teacher's template refuses (Gemma's: no system role), or whose turns it
    renders otherwise, is read in the student's.

    Where the two templates end a turn otherwise (`<|im_end|>` / `<|eot_id|>`), the teacher
    reads its own end after each completion (own_end) and `teacher.end_pair` (set here, None
    where alike or where no row is read in its own template: the trainer's) makes the two first
    end tokens one outcome (end_pair) in the rows it reads in its own rendering (the column
    teacher_own_row: a row read in the student's ends with the student's end, as it is);
    `teacher.own_ends` (the two ends, paired or not) tells own_sampled which end tokens of a
    sample have no teacher term, as own_end's of a kept completion. counts["end"] records the
    two ends. `only` (several teachers, routed): per row, whether this teacher reads it; the
    others are left as the student's and counted nowhere."""
    from distill.examples import Renderer, load_examples

    if teacher is not None:
        teacher.end_pair = teacher.own_ends = None
    if t_tok is None or renders_alike(tok, t_tok, cfg.format):
        return dataset, None
    onpolicy = cfg.method == "onpolicy"
    train_on = "last" if onpolicy else cfg.train_on
    ids_col, mask_col = dataset["input_ids"], dataset["completion_mask"]
    mine = Renderer(tok, cfg.format, model_eos, train_on, cfg.chat)
    theirs = Renderer(t_tok, cfg.format, t_eos, train_on, cfg.chat, who="teacher")
    ends = turn_ends(mine, theirs)
    pair = end_pair(ends, mine.stops, theirs.stops)
    end = None  # kd.json's teacher_end_of_turn (what a --resume compares: KDState, trainer.py)
    if ends:
        dec = dict(skip_special_tokens=False, clean_up_tokenization_spaces=False)
        end = {
            "student": tok.decode(ends[0], **dec),
            "teacher": t_tok.decode(ends[1], **dec),
            "paired": pair is not None,
        }
        if pair is not None and pair[0] != ends[0][0]:  # (the two differ past a first token)
            end["pair"] = [tok.decode(pair[:1], **dec), t_tok.decode(pair[1:], **dec)]
    if not any(1 in m for m in mask_col):  # a prompt source: prompt_dataset's rows, in order
        exs = [prompt_example(m, f, cfg) for m, f in prompt_chats(cfg)]

        def rows_of(r: Any, ex: Any) -> list[tuple[list[int], list[int]]]:
            p = r.prompt_ids(ex)
            return [(p, [0] * len(p))]
    else:
        exs = load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers)

        def rows_of(r: Any, ex: Any) -> list[tuple[list[int], list[int]]]:
            return r.sequences(ex)

    # teacher_own_row: per row, whether the teacher reads it in its own rendering (its own end
    # of turn: the trainer exchanges its end token with the student's in those rows alone)
    cols: dict[str, list] = {"teacher_input_ids": [], "teacher_pos": [], "teacher_own_row": []}
    if onpolicy:
        cols.update(teacher_prompt=[], teacher_lead=[])
    mine_too = [True] * len(ids_col) if only is None else list(only)
    counts: dict[str, Any] = {"rows": sum(mine_too), "own": 0, "student": 0}
    r = 0
    for ex in exs:
        if r == len(ids_col):
            break
        s_rows, t_rows = rows_of(mine, ex), None
        for k, (ids, mask) in enumerate(s_rows):
            if r == len(ids_col):
                break
            row, m = ids_col[r], mask_col[r]
            if row != ids[: len(row)] or m != mask[: len(row)]:
                continue  # a row build_dataset left out (--overlong drop)
            if t_rows is None:
                try:
                    t_rows = rows_of(theirs, ex)
                except DistillError:
                    t_rows = []
            t_seq = t_rows[k] if len(t_rows) == len(s_rows) else None
            ours = mine_too[r]  # (routed to another teacher: the student's row, never read)
            t_ids, t_pos, t_prompt, lead, theirs_row = own_row(
                tok, t_tok, row, m, t_seq if ours else None, ends, pair is not None
            )
            # on policy the samples follow the teacher's prompt (a kept row may read alike: its
            # completion opens the `<think>` the teacher's prompt holds)
            first = m.index(1) if 1 in m else len(row)
            counts["own"] += t_ids != row or (onpolicy and (t_prompt != row[:first] or lead > 0))
            counts["student"] += ours and not theirs_row
            cols["teacher_input_ids"].append(t_ids)
            cols["teacher_pos"].append(t_pos)
            cols["teacher_own_row"].append(theirs_row)
            if onpolicy:
                cols["teacher_prompt"].append(t_prompt)
                cols["teacher_lead"].append(lead)
            r += 1
    if r != len(ids_col):  # never: the same examples through the same renderer
        raise DistillError(f"{cfg.data}: the teacher's rows could not be matched to the student's")
    if not counts["own"]:
        if counts["student"]:  # (said: the teacher reads the student's template after all)
            print(
                f"{cfg.method}: teacher '{name}' has another chat template than the student's, "
                f"but its template refuses or renders in other turns {counts['student']:,} of "
                f"{counts['rows']:,} rows, read in the student's (the others render alike)"
            )
        return dataset, None  # (no row of its own template: its end of turn never read either)
    if teacher is not None:  # (own_ends: own_sampled's, on policy)
        teacher.end_pair, teacher.own_ends = pair, (ends, pair is not None) if ends else None
    if end is not None:
        counts["end"] = end
        read = "it reads its own end after each completion"
        if onpolicy:  # (own_sampled: each sample as the student sampled it, its end the student's)
            read = "it reads the end of turn the student samples after each of its samples" + (
                " and its own end after each kept completion" if kept_traces(cfg) else ""
            )
        if counts["student"]:  # (its end token compared as it is there: teacher_own_row)
            read += f", the student's in the {counts['student']:,} rows read in the student's"
        if pair:
            read += (
                f", and its {t_tok.decode(pair[1:], **dec)!r} is compared as the student's "
                f"{tok.decode(pair[:1], **dec)!r}"
            )
        k = end_split(ends)
        if not pair and k and set(ends[0][:k]) & mine.stops:  # (end_pair: nothing to pair)
            read += f"; the turn ends alike at {tok.decode(ends[0][:k], **dec)!r}, a stop"
        after = ends[0][k + (pair is not None) :]  # own_end's -1: the teacher has none for them
        if after:
            read += (
                f"; the student's {tok.decode(after, **dec)!r} at the end of a completion"
                f"{' or sample' if onpolicy else ''} gets no teacher term"
            )
        print(
            f"{cfg.method}: teacher '{name}' ends a turn with {end['teacher']!r} where the "
            f"student's template writes {end['student']!r}: {read}"
        )
    for key, v in cols.items():
        dataset = dataset.add_column(key, v)
    print(
        f"{cfg.method}: teacher '{name}' reads its own chat template's prompt before the "
        f"student's completion in {counts['own']:,} of {counts['rows']:,} rows (the student's "
        "template renders them otherwise)"
        + (
            f"; {counts['student']:,} its template refuses or renders in other turns are read "
            "in the student's"
            if counts["student"]
            else ""
        )
    )
    return dataset, counts


def kept_traces(train: Any) -> bool:
    """Whether an onpolicy run trains batches of the kept traces too: GKD's lmbda < 1, or
    --mask-truncated's fallback where every sample ran on (xtok_dataset's kept_too)."""
    lmbda = getattr(train, "lmbda", 1.0)
    return (lmbda is not None and float(lmbda) < 1.0) or bool(getattr(train, "mask_truncated", 0))


def own_sampled(
    ids: Any, labels: Any, inputs: dict[str, Any], pad_id: int, ends: Any = None
) -> dict[str, Any]:
    """On policy, a teacher reading its own prompt (own_prompt_dataset): each sample's tokens
    after the teacher's prompt of its row (before(): once its `<think>`) -> teacher_input_ids,
    teacher_attention_mask and teacher_pos as the Collator gives them for a kept completion.
    `ends` (the teacher's `own_ends`: turn_ends and whether end_pair paired them): a sample
    ending with the student's end of turn, in a row read in the teacher's rendering
    (teacher_own_row), has no teacher term at the end tokens a kept completion has none at
    (own_end: a base student's `<|endoftext|>` after `<|im_end|>\n`, where the teacher's turn
    is over and its distribution is the next turn's)."""
    import torch

    width = ids.shape[1]
    rows, where = [], []
    own = inputs.get("teacher_own_row")
    for i in range(ids.shape[0]):
        at = (labels[i] != -100).nonzero().flatten().tolist()
        c = ids[i, at].tolist()
        n = int(inputs["teacher_prompt_len"][i])
        p = before(inputs["teacher_prompt"][i, :n].tolist(), int(inputs["teacher_lead"][i]), c)
        pos = [-1] * width
        # (read as sampled: own_end's indices only say which tokens have no teacher term)
        none = own_end(c, *ends)[1] if ends and (own is None or bool(own[i])) else []
        for j, a in enumerate(at):
            if j >= len(none) or none[j] >= 0:
                pos[a] = len(p) + j
        rows.append(p + c)
        where.append(pos)
    return {
        **_padded(rows, pad_id, ids.device),
        "teacher_pos": torch.tensor(where, device=ids.device),
    }


def _padded(rows: list[list[int]], pad_id: int, device: Any = None) -> dict[str, Any]:
    """teacher_input_ids / teacher_attention_mask: the teacher's rows, right-padded."""
    import torch

    t_width = max(len(x) for x in rows)
    t_ids = torch.full((len(rows), t_width), pad_id, dtype=torch.long)
    t_attn = torch.zeros((len(rows), t_width), dtype=torch.long)
    for i, x in enumerate(rows):
        t_ids[i, : len(x)], t_attn[i, : len(x)] = torch.tensor(x, dtype=torch.long), 1
    return {"teacher_input_ids": t_ids.to(device), "teacher_attention_mask": t_attn.to(device)}
