"""Teachers: one per backend behind one small protocol.

A teacher gets `Job`s (one prompt and the sample indices still missing for it) and calls
`sink.done(job, sample, completion)` as soon as each sample exists, so the generate stage can
write it to disk at once. A sample that failed for good goes to `sink.failed(job, sample, why)`
and is retried by the next run; a fatal problem (bad key, unreachable server) raises
DistillError and stops the run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from distill.teachers.base import Completion, Job, Sink, Teacher

__all__ = ["TEACHERS", "Completion", "Job", "Sink", "Teacher", "check_prompts", "check_teacher"]


class _Backend:
    """A TEACHERS entry: builds the backend's class, imported only when that backend is used."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def cls(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, cfg: Any) -> Teacher:
        return self.cls()(cfg)


# Explicit registry; heavy imports happen only for the backend in use.
TEACHERS: dict[str, Callable[[Any], Teacher]] = {
    "openai": _Backend("distill.teachers.openai", "OpenAITeacher"),
    "vllm": _Backend("distill.teachers.vllm", "VLLMTeacher"),
    "hf": _Backend("distill.teachers.hf", "HFTeacher"),
}


def check_teacher(backend: str, cfg: Any, models: list[tuple[str, str]] | None = None) -> None:
    """What a teacher needs that is known before it loads (an API key, a URL without a
    user:password@, vLLM installed, a local backend's model on disk or in the offline cache),
    as one line: stages call it before they write anything, so a refused teacher leaves no
    empty traces file or saved config behind. models: the (flag, name) a local backend loads
    (default --model cfg.model); each is checked by its class's `check` where it has one."""
    if backend == "openai":
        from distill.teachers.openai import check_settings

        check_settings(cfg)
    # (vllm's check imports vLLM first: not installed is its one line)
    entry = TEACHERS.get(backend)
    check = getattr(entry.cls() if isinstance(entry, _Backend) else entry, "check", None)
    if check is not None:
        for flag, name in models or [("--model", cfg.model)]:
            check(name, flag)


def check_prompts(
    backend: str, cfg: Any, jobs: Sequence[Job], system_prompt: str | None = None
) -> None:
    """Every prompt a local teacher (hf, vllm) would render with its chat template, rendered with
    its tokenizer alone, before the weights load and before any sample is drawn: one the
    template refuses is one line naming its `job.where` (data file and row) and the template's
    message. `system_prompt`: the --system-prompt the turns were built with (the line then says
    to drop it). A backend without a `check_prompts` (a served model) checks nothing."""
    entry = TEACHERS.get(backend)
    check = getattr(entry.cls() if isinstance(entry, _Backend) else entry, "check_prompts", None)
    if check is not None and jobs:
        check(cfg, jobs, system_prompt)
