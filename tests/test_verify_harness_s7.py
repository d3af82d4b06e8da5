"""Model-written code must not pass tests it fails by reading or beating the harness: the
call-based harness's expected values (never in the sandboxed process now), an object whose
== says yes to anything (the "AlwaysEqual" hack) against assert-based tests, and the pytest
harness's own state."""

import json
import textwrap

import pytest

from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def fenced(src: str) -> str:
    return f"```python\n{textwrap.dedent(src).strip()}\n```\n"


def verdict(src: str, meta: dict, timeout: float = 5) -> tuple[str, str]:
    return judge({"answer": fenced(src), "meta": meta}, "code", timeout=timeout, sandbox=BEST)


# ----------------------------------------------------------------------------- call-based

APPS = {
    "input_output": json.dumps({"fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [3, 10]})
}
LCB = {
    "public_test_cases": json.dumps(
        [{"input": "[1, 2]\n3", "output": "[4, 5]", "testtype": "functional"}]
    ),
    "private_test_cases": json.dumps(
        [{"input": "[]\n7", "output": "[]", "testtype": "functional"}]
    ),
    "metadata": json.dumps({"func_name": "addAll"}),
}

# What a solution that reads the caller's expected value writes.
PEEKS = {
    "the caller's locals": """
        import sys
        def add(a, b):
            return sys._getframe(1).f_locals["want"]
    """,
    "any frame up the stack": """
        import sys
        def add(a, b):
            f = sys._getframe(1)
            while f is not None:
                for k in ("want", "expected", "output", "out"):
                    if k in f.f_locals:
                        return f.f_locals[k]
                f = f.f_back
            return 0
    """,
    "the case list": """
        import sys
        def add(a, b):
            f = sys._getframe(1)
            while f is not None:
                for v in f.f_locals.values():
                    if isinstance(v, list) and v and isinstance(v[0], list) and len(v[0]) == 2:
                        for args, want in v:
                            if args == [a, b]:
                                return want
                f = f.f_back
            return 0
    """,
    "the payload's json": """
        import sys, json
        def add(a, b):
            f = sys._getframe(1)
            while f is not None:
                for v in f.f_locals.values():
                    if isinstance(v, str) and v.startswith("[["):
                        for args, want in json.loads(v):
                            if args == [a, b]:
                                return want
                f = f.f_back
            return 0
    """,
}


@pytest.mark.parametrize("name", list(PEEKS))
def test_a_call_based_solution_cannot_read_the_expected_values(name):
    assert verdict(PEEKS[name], APPS)[0] == "wrong"


def test_a_functional_solution_cannot_read_the_expected_values():
    peek = """
        import sys
        class Solution:
            def addAll(self, nums, k):
                return sys._getframe(1).f_locals["want"]
    """
    assert verdict(peek, LCB)[0] == "wrong"


def test_call_based_honest_wrong_and_slow_solutions_keep_their_verdicts():
    assert verdict("def add(a, b):\n    return a + b", APPS) == ("correct", "2 tests")
    assert verdict("def add(a, b):\n    return a * b", APPS) == ("wrong", "test 0: wrong answer")
    half = "def add(a, b):\n    return a + b if a == 1 else 0"
    assert verdict(half, APPS) == ("wrong", "test 1: wrong answer")
    slow = "def add(a, b):\n    while a == 5:\n        pass\n    return a + b"
    assert verdict(slow, APPS, timeout=1) == ("wrong", "timeout")
    # APPS holds some single values as [value]; tuples are lists; floats as today
    wrapped = {"input_output": json.dumps({"fn_name": "f", "inputs": [[2]], "outputs": [[[2, 3]]]})}
    assert verdict("def f(x):\n    return (x, x + 1)", wrapped) == ("correct", "1 tests")
    honest = """
        class Solution:
            def addAll(self, nums, k):
                return tuple(x + k for x in nums)
    """
    assert verdict(honest, LCB) == ("correct", "2 tests")
    assert verdict(honest.replace("x + k", "x * k"), LCB) == ("wrong", "test 0: wrong answer")


PRINTERS = {
    "prints nothing, exits": "import os\ndef add(a, b):\n    os._exit(0)",
    "prints garbage": "print('garbage')\ndef add(a, b):\n    print('[3, 10]')\n    return None",
    "prints a result line per case": (
        'import sys\ndef add(a, b):\n    print(3)\n    print(\'{"i": 0, "got": 3}\')\n    return 0'
    ),
    "exits from the first call": "import sys\ndef add(a, b):\n    sys.exit(0)",
    "redirects stdout": "import sys, io\nsys.stdout = io.StringIO()\ndef add(a, b):\n    return a + 1",
    "closes stdout": "import os\nos.close(1)\ndef add(a, b):\n    return a * b",
}


@pytest.mark.parametrize("name", list(PRINTERS))
def test_a_call_based_solution_that_prints_or_exits_is_wrong(name):
    assert verdict(PRINTERS[name], APPS)[0] == "wrong"


def test_a_call_based_solution_printing_its_own_output_still_passes():
    chatty = "def add(a, b):\n    print('debug', a, b)\n    return a + b"
    assert verdict(chatty, APPS) == ("correct", "2 tests")


def test_a_call_based_solution_that_replaces_stdout_still_passes():
    quiet = "import sys, io, os\nsys.stdout = io.StringIO()\nos.close(1)\ndef add(a, b):\n    return a + b"
    assert verdict(quiet, APPS) == ("correct", "2 tests")


def test_call_values_compare_as_the_harness_compared_them():
    """Host-side: nested tuples are not lists, int keys not str keys (as == said in the
    sandbox before); the top-level tuple is a list; APPS's [value]."""
    from distill.filter.verify import _call_ok

    assert _call_ok("lcb", '{"t": [4, 5]}', [4, 5])
    assert not _call_ok("lcb", '[{"t": [1, 2]}]', [[1, 2]])
    assert not _call_ok("lcb", '{"d": [[1, 2]]}', {"1": 2})
    assert _call_ok("lcb", '{"d": [["1", 2]]}', {"1": 2})
    assert _call_ok("apps", "3", [3]) and not _call_ok("lcb", "3", [3])
    assert _call_ok("lcb", "1.0", 1) and not _call_ok("lcb", "true", 2)
    assert not _call_ok("lcb", "{not json", 1) and not _call_ok("lcb", '{"x": 1}', {"x": 1})
