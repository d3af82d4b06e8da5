"""Teachers: one per backend behind one small protocol.

A teacher gets `Job`s (one prompt and the sample indices still missing for it) and calls
`sink.done(job, sample, completion)` as soon as each sample exists, so the generate stage can
write it to disk at once. A sample that failed for good goes to `sink.failed(job, sample, why)`
and is retried by the next run; a fatal problem (bad key, unreachable server) raises
DistillError and stops the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distill.teachers.base import Completion, Job, Sink, Teacher

__all__ = ["TEACHERS", "Completion", "Job", "Sink", "Teacher", "check_teacher"]


def _openai(cfg: Any) -> Teacher:
    from distill.teachers.openai import OpenAITeacher

    return OpenAITeacher(cfg)


def _vllm(cfg: Any) -> Teacher:
    from distill.teachers.vllm import VLLMTeacher

    return VLLMTeacher(cfg)


def _hf(cfg: Any) -> Teacher:
    from distill.teachers.hf import HFTeacher

    return HFTeacher(cfg)


# Explicit registry; heavy imports happen only for the backend in use.
TEACHERS: dict[str, Callable[[Any], Teacher]] = {"openai": _openai, "vllm": _vllm, "hf": _hf}


def check_teacher(backend: str, cfg: Any) -> None:
    """What a teacher needs that is known before it loads (an API key, a URL without a
    user:password@, vLLM installed), as one line: stages call it before they write anything,
    so a refused teacher leaves no empty traces file or saved config behind."""
    if backend == "openai":
        from distill.teachers.openai import check_settings

        check_settings(cfg)
    elif backend == "vllm":
        from distill.teachers.vllm import require_vllm

        require_vllm()
