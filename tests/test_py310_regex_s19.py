"""pyproject says Python >= 3.10: a regex using 3.11's possessive quantifiers or atomic groups
(`[ \\t]++`, `(?>...)`) compiles on 3.11 and fails at import on 3.10 (re.error: multiple
repeat), so `distill filter` would not start there. Every compiled pattern of the package is
checked for that syntax."""

from __future__ import annotations

import importlib
import pkgutil
import re

import distill

# a quantifier (not escaped) followed by '+', or an atomic group
_NEW_SYNTAX = re.compile(r"(?<!\\)(?:[+*?]|\})\+|\(\?>")


def _patterns():
    for mod in pkgutil.walk_packages(distill.__path__, "distill."):
        if mod.name.endswith("__main__"):
            continue
        try:
            m = importlib.import_module(mod.name)
        except ImportError:  # an optional extra (vllm) not installed here
            continue
        for name, value in vars(m).items():
            if isinstance(value, re.Pattern):
                yield f"{mod.name}.{name}", value.pattern


def test_no_regex_needs_python_3_11():
    found = [
        (where, _NEW_SYNTAX.search(p).group(0))
        for where, p in _patterns()
        if isinstance(p, str) and _NEW_SYNTAX.search(p)
    ]
    assert found == []


def test_the_check_finds_a_possessive_quantifier():
    assert _NEW_SYNTAX.search(r"(?=[ \t]++since)") and _NEW_SYNTAX.search(r"(?>a|b)")
    assert not _NEW_SYNTAX.search(r"(?<!\*)\*+x") and not _NEW_SYNTAX.search(r"[+*]+")
