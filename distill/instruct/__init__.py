"""The instruct stage: seed tasks -> a teacher writes new instructions -> instructions.jsonl.

    distill instruct --seed-tasks prompts/seed_tasks.jsonl --teacher openai --model gpt-4o \
        --num-instructions 52000 --out runs/alpaca/instructions.jsonl

config.py holds the settings (light), stage.py the rounds, filters and resume.
"""

from distill.instruct.config import BLACKLIST, DEDUP, FILTERS, METHODS, InstructConfig

# The stage's names load on first use (PEP 562): `import distill.instruct.config` (the CLI)
# does not pull numpy and the teachers in through this package.
_STAGE = (
    "Filters",
    "NearIndex",
    "RougeIndex",
    "format_task",
    "is_english",
    "load_seed_tasks",
    "magpie_prefix",
    "parse_tasks",
    "rouge_tokens",
    "run",
    "stopped_short",
)


def __getattr__(name: str):  # noqa: ANN202 - module __getattr__
    if name in _STAGE:
        from distill.instruct import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'distill.instruct' has no attribute {name!r}")


__all__ = ["BLACKLIST", "DEDUP", "FILTERS", "METHODS", "InstructConfig", *_STAGE]
