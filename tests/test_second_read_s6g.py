"""Second read (s6g) of the code-layout fixes (d83941c, 02e3fab, 38484b0): false accepts.

The call-based and pytest harnesses ran in the solution's own namespace, so the builtins and
modules they used were the solution's to replace: a wrong solution that redefined `enumerate`
(no case was ever called), `exec` (the pytest file never ran, a test of its own did) or
`json.loads` (the expected values were its own) passed. Each runs through the real sandbox.
"""

import json
import textwrap

import pytest

from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def verdict(src: str, meta: dict, timeout: float = 5) -> tuple[str, str]:
    answer = f"```python\n{textwrap.dedent(src).strip()}\n```\n"
    return judge({"answer": answer, "meta": meta}, "code", timeout=timeout, sandbox=BEST)


LCB = {
    "public_test_cases": json.dumps(
        [{"input": "[1, 2]\n3", "output": "[4, 5]", "testtype": "functional"}]
    ),
    "metadata": json.dumps({"func_name": "addAll"}),
}
APPS = {"input_output": json.dumps({"fn_name": "solve", "inputs": [[1, 2]], "outputs": [3]})}
KODCODE = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def test_honest_solutions_still_pass():
    lcb = "class Solution:\n    def addAll(self, nums, k):\n        return [x + k for x in nums]"
    assert verdict(lcb, LCB) == ("correct", "1 tests")
    assert verdict("def solve(a, b):\n    return a + b", APPS) == ("correct", "1 tests")
    # a solution's own global named as a builtin is its business, not the harness's
    own = "input = None\nlist = tuple\ndef add(a, b):\n    return a + b"
    assert verdict(own, {"test": KODCODE}) == ("correct", "asserts passed")


@pytest.mark.parametrize(
    "trick",
    [
        "def enumerate(x):\n    return iter(())",  # no case called
        "import builtins\nbuiltins.enumerate = lambda x: iter(())",
        "__builtins__ = dict(vars(__import__('builtins')), enumerate=lambda x: iter(()))",
        "import json\njson.loads = lambda s: []",  # no expected value
    ],
)
def test_a_call_based_harness_is_not_the_solutions_to_rewrite(trick):
    wrong_lcb = "class Solution:\n    def addAll(self, nums, k):\n        return 0\n" + trick
    assert verdict(wrong_lcb, LCB)[0] == "wrong"
    wrong_apps = "def solve(a, b):\n    return 0\n" + trick
    assert verdict(wrong_apps, APPS)[0] == "wrong"


@pytest.mark.parametrize(
    "trick",
    [
        "def exec(src, ns):\n    ns['test_ok'] = lambda: None",  # its own test ran
        "def compile(*a):\n    return 'test_ok = lambda: None'",
        "__builtins__ = dict(vars(__import__('builtins')), compile=lambda *a: 'def test_ok(): pass')",
    ],
)
def test_the_pytest_harness_is_not_the_solutions_to_rewrite(trick):
    wrong = "def add(a, b):\n    return 0\n" + trick
    assert verdict(wrong, {"test": KODCODE})[0] == "wrong"
