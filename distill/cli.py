"""The `distill` command. Each command parses flags (+ an optional recipe) into its stage's
config dataclass and calls that stage's `run`. Heavy libraries load inside the stages, so
`distill --help` is instant.

    distill --help
    distill generate --recipe recipes/smoke.yaml --n 8

Precedence: CLI flags > recipe keys > defaults. Bad input exits 1 with one line on stderr;
`--debug` (or DISTILL_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from distill.errors import DistillError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Knowledge distillation: teacher traces -> filter -> student SFT -> eval -> publish.",
)
_state = {"debug": False}


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
) -> None:
    _state["debug"] = debug or os.environ.get("DISTILL_DEBUG") == "1"


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except DistillError as e:
        if _state["debug"]:
            raise
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        print(
            "interrupted: everything finished so far is saved; rerun the same command to resume",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001 - last resort: still one line, never a raw traceback
        if _state["debug"]:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(
            f"error: {type(e).__name__}: {msg} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        raise typer.Exit(1) from None


RecipeOpt = typer.Option(None, "--recipe", help="Recipe YAML; CLI flags override its keys.")


@app.command()
def generate(
    recipe: Path | None = RecipeOpt,
    data: str | None = typer.Option(
        None,
        help="builtin:arithmetic | builtin:countdown | .jsonl/.json/.parquet/.csv | HF dataset name",
    ),
    split: str | None = typer.Option(None, help="Dataset split (hub datasets)."),
    prompt_field: str | None = typer.Option(
        None, help="Field holding the prompt (default: problem/question/prompt/instruction)."
    ),
    answer_field: str | None = typer.Option(
        None, help="Field holding the gold answer (default: answer)."
    ),
    id_field: str | None = typer.Option(
        None, help="Field holding a stable row id (default: id, else a hash of the prompt)."
    ),
    limit: int | None = typer.Option(None, help="Use only the first L rows."),
    template: str | None = typer.Option(
        None, help="Prompt template: prompts/X.txt or a name (r1-math, alpaca, code, countdown)."
    ),
    system_prompt: str | None = typer.Option(
        None, help="System message (DeepSeek advises none for R1)."
    ),
    teacher: str | None = typer.Option(None, help="Backend: openai | vllm | hf."),
    model: str | None = typer.Option(
        None, help="Teacher model: API name, HF path/name, or builtin:smollm2."
    ),
    base_url: str | None = typer.Option(
        None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    ),
    api_key_env: str | None = typer.Option(
        None, help="Env var holding the API key (default OPENAI_API_KEY)."
    ),
    n: int | None = typer.Option(None, help="Samples per prompt."),
    temperature: float | None = typer.Option(None, help="Sampling temperature (default 0.6)."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling (default 0.95)."),
    max_tokens: int | None = typer.Option(None, help="Max new tokens per sample (default 4096)."),
    seed: int | None = typer.Option(None, help="Sampling seed."),
    concurrency: int | None = typer.Option(
        None, help="Requests in flight (openai teacher; default 32)."
    ),
    max_retries: int | None = typer.Option(
        None, help="Retries on connection errors/408/409/429/5xx (default 6)."
    ),
    request_timeout: float | None = typer.Option(
        None, help="Seconds per request try (default 600)."
    ),
    rpm: float | None = typer.Option(None, help="Max requests per minute."),
    tpm: float | None = typer.Option(None, help="Max tokens per minute."),
    n_per_request: bool | None = typer.Option(
        None,
        "--n-per-request/--separate-requests",
        help="Use the API's n, or one request per sample.",
    ),
    price_input: float | None = typer.Option(
        None, help="$ per 1M prompt tokens (overrides the built-in table)."
    ),
    price_output: float | None = typer.Option(None, help="$ per 1M completion tokens."),
    tensor_parallel_size: int | None = typer.Option(None, help="vllm: GPUs per model."),
    gpu_memory_utilization: float | None = typer.Option(
        None, help="vllm: fraction of memory to reserve."
    ),
    dtype: str | None = typer.Option(None, help="vllm: auto | bfloat16 | float16 | float32."),
    max_model_len: int | None = typer.Option(None, help="vllm: context length cap."),
    shard_size: int | None = typer.Option(
        None, help="vllm: prompts per shard written before the next starts."
    ),
    logprobs: int | None = typer.Option(None, help="vllm: keep top-k logprobs per token."),
    batch_size: int | None = typer.Option(None, help="hf: sequences per generate batch."),
    device: str | None = typer.Option(None, help="hf: auto | cpu | cuda."),
    out: str | None = typer.Option(
        None, help="Traces file to append to (resumes from what it holds)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Generate teacher traces into an append-only, resumable JSONL file."""
    overrides = {k: v for k, v in locals().items() if k not in ("recipe", "quiet")}

    def go() -> None:
        from distill.config import load_config
        from distill.generate import GenerateConfig, run

        cfg = load_config(GenerateConfig, "generate", recipe, overrides)
        run(cfg, progress=not quiet and sys.stderr.isatty())

    _run(go)


if __name__ == "__main__":
    app()
