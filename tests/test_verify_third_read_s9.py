"""Third read of the code verifier's s9 changes (the solution's module name, its __future__
imports going first).

_future_first (69ba155) moved every top-level `from __future__` line before the harness:
- a line it shared with other code moved whole, and that code ran before the harness was made:
  `from __future__ import annotations; import builtins; builtins.abs = lambda x: 0` and a wrong
  solution passed `assert abs(f(1.0) - 1.5) < 1e-6` (the checks took the rebound abs);
- an import after other code, a SyntaxError under every grader (and under Python), was moved
  where it is legal: a solution that does not compile was judged correct."""

import json

import pytest

from tests.test_verify_main_block_s9 import FUNCTION_LAYOUTS, RIGHT, verdict

ABS_LAYOUTS = {
    "MBPP": {"test_list": ["assert abs(f(1.0) - 2.0) < 1e-6", "assert abs(f(3) - 6) < 1e-6"]},
    "HumanEval": {
        "test": "def check(candidate):\n    assert abs(candidate(1.0) - 2.0) < 1e-6\n",
        "entry_point": "f",
        "prompt": "",
    },
    "KodCode": {
        "test": "from solution import f\n\ndef test_f():\n    assert abs(f(1.0) - 2.0) < 1e-6\n"
    },
}


@pytest.mark.parametrize("layout", ABS_LAYOUTS)
def test_code_sharing_the_future_line_runs_after_the_harness(layout):
    src = (
        "from __future__ import annotations; import builtins; builtins.abs = lambda x: 0\n"
        "def f(x):\n    return 0\n"
    )
    assert verdict(src, ABS_LAYOUTS[layout])[0] == "wrong"
    honest = "from __future__ import annotations; import math\n" + RIGHT
    assert verdict(honest, ABS_LAYOUTS[layout])[0] == "correct"


STDIN = {"input_output": json.dumps({"inputs": ["3\n"], "outputs": ["6\n"]})}


@pytest.mark.parametrize("layout", [*FUNCTION_LAYOUTS, "APPS stdin"])
def test_a_future_import_after_other_code_stays_a_syntax_error(layout):
    meta = STDIN if layout == "APPS stdin" else FUNCTION_LAYOUTS[layout]
    body = "print(2 * int(input()))\n" if layout == "APPS stdin" else RIGHT
    src = "import os\nfrom __future__ import annotations\n" + body
    assert verdict(src, meta)[0] == "wrong"


@pytest.mark.parametrize("layout", FUNCTION_LAYOUTS)
def test_future_imports_as_typed_code_writes_them(layout):
    """Shebang, comments and a docstring before them (kept the module's __doc__), a
    parenthesized import over lines, two of them, Windows line ends, a form feed in the
    docstring (str.splitlines counted it as a line end: the wrong line moved)."""
    sources = [
        '#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n"""Doubles. \\u00e9"""\n\n'
        "from __future__ import (\n    annotations,\n    division,\n)  # typed\n"
        "from __future__ import generator_stop\n\n"
        "def f(x: int) -> int:\n    assert __doc__.startswith('Doubles')\n    return 2 * x\n",
        '"""Page one.\x0cPage two."""\r\nfrom __future__ import annotations\r\n\r\n'
        "def f(x: int) -> int:\r\n    return 2 * x\r\n",
    ]
    for src in sources:
        assert verdict(src, FUNCTION_LAYOUTS[layout])[0] == "correct", src


# KodCode's tests import the solution as `solution` (0a1fedb named its module so): they were
# handed a copy of its names, taken before they ran. A test reading a global the solution's
# functions change, setting one, or patching one (mock.patch("solution.helper")) saw or changed
# the copy, never what the solution's functions read: an honest solution was "tests failed".
MODULE_TESTS = {
    "a global it changes": (
        "COUNT = 0\n\ndef increment():\n    global COUNT\n    COUNT += 1\n    return COUNT\n",
        "import solution\n\ndef test_counter():\n    solution.increment()\n"
        "    assert solution.COUNT == 1\n",
    ),
    "mock.patch": (
        "def helper():\n    return 1\n\ndef f():\n    return helper() + 1\n",
        "from unittest.mock import patch\nfrom solution import f\n\ndef test_f():\n"
        "    with patch('solution.helper', return_value=5):\n        assert f() == 6\n"
        "    assert f() == 2\n",
    ),
    "a name set on the module": (
        "def helper():\n    return 1\n\ndef f():\n    return helper() + 1\n",
        "import solution\n\ndef test_f():\n    old, solution.helper = solution.helper, lambda: 5\n"
        "    try:\n        assert solution.f() == 6\n    finally:\n        solution.helper = old\n",
    ),
    "its docstring": (
        '"""Counts."""\nfrom __future__ import annotations\n\ndef f(x: int) -> int:\n'
        "    return 2 * x\n",
        "import solution\n\ndef test_doc():\n    assert solution.__doc__ == 'Counts.'\n"
        "    assert solution.f(3) == 6\n",
    ),
}


@pytest.mark.parametrize("case", MODULE_TESTS)
def test_kodcode_tests_get_the_solutions_module(case):
    src, test = MODULE_TESTS[case]
    assert verdict(src, {"test": test}) == ("correct", "asserts passed")
    wrong = src.replace("COUNT += 1", "COUNT += 2").replace("return helper() + 1", "return 2")
    wrong = wrong.replace("return 2 * x", "return x * x")
    assert verdict(wrong, {"test": test})[0] == "wrong"
