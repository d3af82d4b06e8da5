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

__all__ = ["TEACHERS", "Completion", "Job", "Sink", "Teacher"]


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
