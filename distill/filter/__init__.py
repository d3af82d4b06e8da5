"""The filter stage: traces.jsonl -> kept.jsonl + rejects.jsonl + report.json (+ report.png).

    distill filter t.jsonl --out kept.jsonl --verify math --dedup near --decontam math500.jsonl

Where things happen: config.py (FilterConfig, output names), facts.py (pass 1: checks, verdict,
dedup keys per trace), stage.py (the decisions, pass 2 writing kept/rejects, `run`), report.py
(report.json, the plot, the table), verify.py (math, choice, exact, countdown verdicts; `judge`,
the one entry point), code.py (code verdicts: each dataset's tests), sandbox.py (running
model-written code), verdicts.py, dedup.py, checks.py, decontam.py.
"""

from distill.filter.config import (
    DEDUP_MODES,
    SELECT_MODES,
    VERIFY_MODES,
    FilterConfig,
    config_path,
    manifest_of,
    output_base,
)

# The stage's names load on first use (PEP 562), so `import distill.filter.config` (the CLI,
# recipe checks) does not pull in the stage's modules through this package.
_STAGE = ("build_report", "collect_facts", "config_hash", "decide", "done", "inputs_of", "run")


def __getattr__(name: str):  # noqa: ANN202 - module __getattr__
    if name in _STAGE:
        from distill.filter import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'distill.filter' has no attribute {name!r}")


__all__ = [
    "DEDUP_MODES",
    "SELECT_MODES",
    "VERIFY_MODES",
    "FilterConfig",
    "config_path",
    "manifest_of",
    "output_base",
    *_STAGE,
]
