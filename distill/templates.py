"""Prompt templates: plain text files in prompts/ with named {placeholders}.

    distill generate --template prompts/r1-math.txt ...   (or just --template r1-math)

Only `{name}` with a Python identifier inside is a placeholder, so LaTeX such as `\\boxed{}`
stays literal; write `{{name}}` for a literal `{name}`. `{prompt}` is the row's prompt field;
every other placeholder is a field of the row by name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.errors import DistillError

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}|\{([A-Za-z_]\w*)\}")

PACKAGE_PROMPTS = Path(__file__).parent / "prompts"  # wheel installs
REPO_PROMPTS = Path(__file__).parent.parent / "prompts"  # editable installs, checkouts


@dataclass(frozen=True)
class Template:
    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def placeholders(self) -> list[str]:
        return [m.group(2) for m in _PLACEHOLDER.finditer(self.text) if m.group(2)]

    def render(self, context: dict[str, Any], where: str = "") -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(1):
                return "{" + m.group(1) + "}"
            key = m.group(2)
            if key not in context or context[key] is None:
                fields = ", ".join(k for k in context if k != "prompt")
                raise DistillError(
                    f"template {self.name}: placeholder '{{{key}}}' has no value in {where or 'the row'}"
                    f" (fields: {fields}; '{{prompt}}' is the prompt field)"
                )
            return str(context[key])

        return _PLACEHOLDER.sub(sub, self.text)


def load_template(name_or_path: str) -> Template:
    """A path, or the name of a file in prompts/ (with or without .txt)."""
    p = Path(name_or_path)
    candidates = [p]
    if not p.is_absolute():
        for base in (PACKAGE_PROMPTS, REPO_PROMPTS):
            candidates += [base / p.name, base / f"{p.name}.txt"]
    for c in candidates:
        if c.is_file():
            text = c.read_text(encoding="utf-8")
            return Template(name=str(name_or_path), text=text.rstrip("\n"))
    have = sorted(
        f.stem
        for base in (PACKAGE_PROMPTS, REPO_PROMPTS)
        if base.is_dir()
        for f in base.glob("*.txt")
    )
    raise DistillError(f"template not found: {name_or_path} (built-in: {', '.join(have)})")


def seed_path(name: str) -> Path:
    """Self-instruct's seed tasks: a file, or a name in prompts/ (seed_tasks -> prompts/seed_tasks.jsonl)."""
    p = Path(name)
    if p.is_file():
        return p
    for c in (REPO_PROMPTS / p.name, REPO_PROMPTS / f"{p.name}.jsonl"):
        if c.is_file() and not p.is_absolute() and len(p.parts) == 1:
            return c
    raise DistillError(f"seed tasks not found: {name}")
