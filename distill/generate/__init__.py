"""The generate stage: prompts -> teacher samples -> traces.jsonl (append-only, resumable).

    distill generate --data builtin:arithmetic --teacher hf --model builtin:smollm2 --out t.jsonl

config.py holds the settings (light: no numpy/torch/openai), stage.py the run; the teachers
themselves (openai, the Batch API, vllm, hf) live in distill.teachers.
"""

from distill.generate.config import PRICES, BatchConfig, GenerateConfig, TeacherConfig, cost_of

# The stage's names load on first use (PEP 562), so `import distill.generate.config` (the CLI,
# recipe checks) does not pull numpy and the teachers in through this package.
_STAGE = (
    "build_jobs",
    "generate_planned",
    "prompt_messages",
    "run",
    "source_messages",
    "source_template",
    "summarize",
)


def __getattr__(name: str):  # noqa: ANN202 - module __getattr__
    if name in _STAGE:
        from distill.generate import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'distill.generate' has no attribute {name!r}")


__all__ = [
    "PRICES",
    "BatchConfig",
    "GenerateConfig",
    "TeacherConfig",
    "build_jobs",
    "cost_of",
    "generate_planned",
    "prompt_messages",
    "run",
    "source_messages",
    "source_template",
    "summarize",
]
