"""The export stage: kept traces -> the examples `distill train` would train on, as a dataset
TRL, LLaMA-Factory, axolotl and `datasets` read as is.

    distill export kept.jsonl --format r1 --out sft.jsonl --model Qwen/Qwen2.5-Math-1.5B

With --model the rows are prompt/completion text rendered as `distill train` renders them for
that student. Without it, `--format r1` writes `messages` for the other trainer to render with
the student's template, and where the reasoning goes is the one choice left: inline by default,
`<think>\nR\n</think>\n\nA` in the assistant content, the layout of open-r1's Mixture-of-Thoughts
(role/content messages only), which every template that reads the content trains (Llama and
Qwen2.5 instruct models, SmolLM3, Phi-4-reasoning, OLMo-3 Think) and Qwen3's and GLM's split
themselves. A student whose template reads the reasoning under a message key of its own trains
the tags as text there: --reasoning-key writes it under that key and the answer alone as content
(`thinking` for gpt-oss, as HuggingFaceH4/Multilingual-Thinking; `reasoning_content` for
Qwen3/GLM; `chunks` for Mistral's reasoning models, a thinking content chunk). A key is no
default: a template that reads none would drop the reasoning without a word. The key goes in a
message: a text prompt/completion row (no chat template) holding a reasoning is refused with it
(--chat makes it a chat), and `chunks` (a content that is a list) is for .jsonl, not Parquet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.train.config import ExportConfig


def rendered_pair(renderer: Any, ex: Any) -> dict[str, str]:
    """{prompt, completion}: the text `distill train` tokenizes, for a trainer that tokenizes the
    prompt with the tokenizer's own special tokens (TRL does) and the completion without. So a
    BOS the chat template writes is left out where the tokenizer adds it anyway."""
    tok = renderer.tok
    prompt = renderer.prompt_text(ex)
    bos = tok.bos_token
    if (
        renderer.fmt == "r1"
        and bos
        and prompt.startswith(bos)
        and tok("x")["input_ids"][:1] == [tok.bos_token_id]
    ):
        prompt = prompt[len(bos) :]
    return {"prompt": prompt, "completion": renderer.completion_text(ex)}


def _model_eos(name: str) -> Any:
    """The model's own stop tokens (generation_config.json), as build_trainer passes them to the
    Renderer: with them an end of turn already holding a stop token gets no extra EOS."""
    from transformers import GenerationConfig

    from distill.models import adapter_base, is_adapter, resolve_model

    path = resolve_model(name)
    # a LoRA folder saves none: train loads base + adapter and stops on the base's
    for src in (path, adapter_base(path)) if is_adapter(path) else (path,):
        try:
            return GenerationConfig.from_pretrained(src).eos_token_id
        except (OSError, ValueError):  # none saved: the tokenizer's EOS only
            continue
    return None


def export(cfg: ExportConfig) -> Path:
    """The trainer's examples as a dataset TRL, LLaMA-Factory, axolotl and `datasets` read as is."""

    from distill.examples import REASONING_CHUNKS
    from distill.paths import guard_export

    if cfg.reasoning_key == REASONING_CHUNKS and Path(cfg.out).suffix == ".parquet":
        # (refused up front: Parquet's Arrow schema refused it once every row was built)
        raise DistillError(
            f"--reasoning-key {REASONING_CHUNKS} with --out {cfg.out}: a thinking chunk makes an "
            "assistant content a list of chunks where every other message's is text, and one "
            "Parquet column holds one type: export to .jsonl (TRL and datasets read it as is)"
        )
    guard_export(cfg)  # --out is never the data it reads: checked before any write

    from distill.examples import (
        Renderer,
        alpaca_only,
        alpaca_output,
        as_template_reads_reasoning,
        head_of,
        load_examples,
        object_args,
        opened,
        raw_prompt,
        reply_of,
        think_block,
        trained_turns,
    )

    renderer = None
    if cfg.model:
        from distill.models import load_tokenizer

        renderer = Renderer(
            load_tokenizer(cfg.model), cfg.format, _model_eos(cfg.model), cfg.train_on, cfg.chat
        )
    elif cfg.format == "r1" and not cfg.reasoning_key:
        print(
            "export: warning: the reasoning is written inline (<think>...</think> before the "
            "answer in each assistant message), and other trainers render `messages` with the "
            "student's chat template: one that reads it under a key of its own would train the "
            "tags as text (gpt-oss: --reasoning-key thinking; Mistral's reasoning models: "
            "--reasoning-key chunks), and some drop the text before </think> "
            "(DeepSeek-R1-Distill's does); pass --model STUDENT to export prompt/completion text "
            "exactly as distill train renders it"  # stdout: a failed export's stderr is its error
        )
    examples = list(load_examples(cfg.data, cfg.split, cfg.limit, cfg, cfg.keep_markers))
    # A row whose every assistant turn has weight 0 trains nothing: left out (train counts it
    # all-masked); as a `messages` row another trainer would train the turns it marks as context.
    untrained = sum(not ex.trains for ex in examples)
    examples = [ex for ex in examples if ex.trains]
    if renderer is not None and examples:
        from distill.examples import tokenize_examples
        from distill.preflight import preflight

        cols, _ = tokenize_examples(examples[: max(cfg.show_example, 1)], renderer, sys.maxsize)
        preflight(
            renderer.tok,
            zip(cols["input_ids"], cols["completion_mask"]),
            renderer.stops,
            cfg.show_example,
            stage="export",
        )

    # A trace record whose teacher was sent earlier assistant turns trains them as context only
    # (Example.trains_history): as `messages` distill train, TRL (assistant_only_loss, or every
    # token by default) and LLaMA-Factory would put a loss on replies the teacher never wrote. In
    # a prompt/completion row they are the prompt, which TRL and distill train without a loss.
    # The file is one layout: then every row with no trained earlier turn is written so. A
    # dataset's chat with turns of weight 0 (ShareGPT, OpenAI's format: Example.context_turns) is
    # one too: as `messages` TRL, LLaMA-Factory and axolotl (by default) would train those turns.
    history = sum(
        bool(ex.context_turns)
        or (not ex.trains_history and any(m["role"] == "assistant" for m in ex.prompt))
        for ex in examples
    )

    def rows_of(ex: Any) -> list[dict[str, Any]]:
        if renderer is not None:
            # a pair trains one completion: each assistant turn of a chat is a pair of its own
            # (its history as the template renders it), unless --train-on last
            turns = trained_turns(ex)
            if cfg.format != "r1" or cfg.train_on == "last":
                turns = []
            msgs = [*ex.prompt, reply_of(ex)]
            pairs = [rendered_pair(renderer, head_of(ex, msgs, i)) for i in turns]
            return [*pairs, rendered_pair(renderer, ex)]
        if ex.raw and not cfg.chat and cfg.format == "r1":  # TRL's text prompt/completion
            if cfg.reasoning_key and think_block(ex.completion) is not None:
                # no message to hold the key: its reasoning stayed inline without a word
                where = ex.source.get("where") or "an example"
                raise DistillError(
                    f"{where}: a text prompt/completion row (a raw continuation, no chat "
                    f"template) has no message to hold --reasoning-key {cfg.reasoning_key}: its "
                    "reasoning would stay inline in the completion; add --chat to export it as "
                    "a chat, its reasoning under the key, or leave --reasoning-key out"
                )
            return [{"prompt": raw_prompt(ex), "completion": ex.completion}]
        # a tool-calling row keeps its tools as TRL's `tools` column (JSON text, which TRL parses:
        # one Arrow type whatever each row's function specs hold), its calls beside the content
        tools = {"tools": json.dumps(ex.tools, ensure_ascii=False)} if ex.tools else {}
        # its calls' arguments as objects: TRL hands them to the template as they are (text
        # would be trained as a quoted string by `arguments | tojson`), and one Parquet type
        # and a DeepSeek-R1 trace stored without its `<think>` ('R\n</think>\n\nA') as the
        # whole block, as distill train reads it (examples.opened): a template would train it
        # as written, a `</think>` the student never opened (gpt-oss's: as the final answer)
        msgs = [opened(object_args(m)) for m in [*ex.prompt, reply_of(ex)]]
        if cfg.reasoning_key:  # the think block each assistant content opens with, under the key
            # (a content that opens with none is an answer alone, kept whole where it names
            # `</think>`: the text before it is no reasoning)
            msgs = [as_template_reads_reasoning(m, cfg.reasoning_key) for m in msgs]
        if cfg.format == "r1" and history:
            # one layout for the file (a row holding `messages` beside prompt/completion ones
            # reads back with prompt None: TRL and a Parquet reader fail on it): a chat whose
            # earlier turns train is a row per trained turn, each with its history, as --model
            # writes its pairs
            turns = [] if cfg.train_on == "last" else trained_turns(ex)
            return [
                {"prompt": msgs[:i], "completion": [msgs[i]], **tools}
                for i in [*turns, len(ex.prompt)]
            ]
        if cfg.format == "r1":
            return [{"messages": msgs, **tools}]
        alpaca_only(ex)
        return [{"instruction": ex.instruction, "input": ex.input, "output": alpaca_output(ex)}]

    rows: list[dict[str, Any]] = []
    where: list[str] = []  # the example each row came from, for a refusal
    for n, ex in enumerate(examples):
        new = rows_of(ex)
        rows += new
        where += [ex.source.get("where") or f"{cfg.data} example {n + 1}"] * len(new)
    out = Path(cfg.out)
    # Written aside, renamed, then data.jsonl.manifest.json (distill/manifest.py): `distill train
    # --data` refuses a file its manifest does not match.
    from distill.manifest import OutputSet, config_hash, manifest_path
    from distill.records import json_line

    with OutputSet("export", manifest_path(out), config_hash(cfg), [cfg.data]) as outputs:
        tmp = outputs.tmp(out)
        if out.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            # every row's columns (from_pylist takes the first row's alone: a text prompt/completion
            # row after a chat lost its data); the jsonl holds each row as it is
            texts = [
                w for r, w in zip(rows, where, strict=True) if isinstance(r.get("prompt"), str)
            ]
            if texts and any(isinstance(r.get("prompt"), list) for r in rows):
                answer = "1 record answers" if history == 1 else f"{history} records answer"
                raise DistillError(
                    f"{texts[0]}: a text prompt/completion row (no chat template) cannot share "
                    f"Parquet's 'prompt' column with the chat rows, written as prompt/completion "
                    f"since {answer} a chat with earlier assistant turns: export to .jsonl (TRL "
                    "reads each row's own layout), add --chat, or export them apart"
                )
            for r, w in zip(rows, where, strict=True):
                try:
                    json.dumps(r, ensure_ascii=False).encode("utf-8")
                except UnicodeEncodeError as e:  # Parquet's strings are UTF-8: no place for it
                    bad = e.object[e.start : e.end].encode("unicode_escape").decode()
                    raise DistillError(
                        f"{w}: holds a lone surrogate ({bad}, half of a character another tool "
                        "cut), which Parquet cannot store: fix the row, or export to .jsonl "
                        "(it keeps it as its \\u escape)"
                    ) from None
            names = dict.fromkeys(k for r in rows for k in r)
            try:
                table = pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in names})
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:  # a tool call's arguments as text
                # that is no JSON object beside another's object: one column holds one type
                raise DistillError(
                    f"{out}: the rows do not fit one Parquet schema ({e}); export to .jsonl, which "
                    "keeps each row as it is"
                ) from None
            pq.write_table(table, tmp)
        else:  # a lone surrogate (valid JSON, no UTF-8) kept as its \u escape, as filter does
            tmp.write_text("".join(json_line(r) for r in rows), "utf-8")
        outputs.commit()
    print(
        f"export: {len(rows)} {cfg.format} examples -> {out}"
        + (
            f" ({untrained} row{'s' * (untrained != 1)} left out: every assistant turn has "
            "weight 0, nothing to train)"
            if untrained
            else ""
        )
    )
    if history and renderer is None and cfg.format == "r1":
        print(
            f"export: {history} of {len(examples)} examples answer a chat that holds earlier "
            "assistant turns that are context (the history a teacher was sent, or turns of "
            "weight 0): rows are prompt/completion (conversational), which trains the completion "
            "alone"
        )
    eos = renderer.tok.eos_token if renderer is not None else None
    unended = [r["completion"] for r in rows if eos and not r["completion"].endswith(eos)]
    if unended:  # TRL's add_eos: a text completion gets the EOS it does not end with
        print(
            f"export: note: {len(unended)} of {len(rows)} completions end with "
            f"{unended[0][-12:]!r} (the template's end of turn), not the tokenizer's EOS "
            f"{eos!r}: TRL's SFTTrainer appends {eos!r} to each and trains it, a token "
            "distill train does not train"
        )
    dropped = sum("</think>" in ex.completion for ex in examples) if cfg.format == "alpaca" else 0
    if dropped:
        print(
            f"export: warning: --format alpaca holds the answer only: the reasoning of {dropped} "
            f"of {len(examples)} examples is left out (--format r1 keeps it)"
        )
    return out
