"""Honest second read of the s9 hardening of the assert harnesses (9abb856 4476db5 96c9411): a
correct solution must still be judged correct in MBPP, HumanEval and KodCode. Each case here was
judged wrong (or, where said, a wrong one right) by those commits."""

import textwrap

import pytest

from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"
LAYOUTS = ["MBPP", "HumanEval", "KodCode"]


def verdict(src: str, meta: dict, timeout: float = 5) -> tuple[str, str]:
    answer = f"```python\n{textwrap.dedent(src).strip()}\n```\n"
    return judge({"answer": answer, "meta": meta}, "code", timeout=timeout, sandbox=BEST)


def layouts(imports: str, assertion: str) -> dict[str, dict]:
    """One assert (about f, after `imports`) as MBPP, HumanEval and KodCode hold it."""
    return {
        "MBPP": {"test_list": [assertion], "test_imports": [imports], "test_setup_code": ""},
        "HumanEval": {
            "test": f"{imports}\n\ndef check(candidate):\n"
            f"    {assertion.replace('f(', 'candidate(')}\n",
            "entry_point": "f",
            "prompt": "",
        },
        "KodCode": {
            "test": f"{imports}\nfrom solution import f\n\ndef test_f():\n    {assertion}\n"
        },
    }


# ---------------------------------------------------------------- the standard library's C classes

# array.array and re.Pattern are C classes made on the heap (Py_TPFLAGS_HEAPTYPE, as a class
# statement's): 9abb856 took their C == for the standard library's Python code and rebuilt the
# object from its attributes, which they refuse ("got a array, whose operators are its own");
# KodCode compared them by their attributes, which they have none of: every array was equal.
C_HEAP = [
    (
        "import array",
        "import array\ndef f(xs):\n    return array.array('i', xs)",
        "assert f([1, 2]) == array.array('i', [1, 2])",
        "assert f([1, 3]) == array.array('i', [1, 2])",
    ),
    (
        "import re",
        "import re\ndef f(p):\n    return re.compile(p)",
        "assert f(r'\\d+') == re.compile(r'\\d+')",
        "assert f(r'\\w+') == re.compile(r'\\d+')",
    ),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("imports, src, right, wrong", C_HEAP, ids=["array", "re.Pattern"])
def test_a_standard_library_c_class_on_the_heap_compared_by_its_own_eq(
    layout, imports, src, right, wrong
):
    assert verdict(src, layouts(imports, right)[layout]) == ("correct", "asserts passed")
    assert verdict(src, layouts(imports, wrong)[layout])[0] == "wrong"


# ---------------------------------------------------------------- KodCode: pytest's collection
# (before these commits too)


def kodcode(test: str) -> dict:
    return {"test": textwrap.dedent(test)}


ADD = "def add(a, b):\n    return a + b\ndef boom(k):\n    raise KeyError(k)"


def test_kodcode_a_unittest_case_whose_name_is_not_test_star():
    # pytest collects a unittest.TestCase subclass whatever its name; the runner took only
    # Test* classes: "no test ran"
    tests = kodcode("""
        import unittest
        from solution import add

        class AddCases(unittest.TestCase):
            def test_add(self):
                self.assertEqual(add(1, 2), 3)
    """)
    assert verdict(ADD, tests) == ("correct", "asserts passed")
    assert verdict(ADD.replace("a + b", "a - b"), tests)[0] == "wrong"


def test_kodcode_a_setup_method_without_the_method_argument():
    # pytest calls setup_method(self) without the method when it takes none; the runner always
    # passed it: "setup_method() takes 1 positional argument but 2 were given"
    tests = kodcode("""
        from solution import add

        class TestAdd:
            def setup_method(self):
                self.base = 1

            def test_add(self):
                assert add(self.base, 2) == 3
    """)
    assert verdict(ADD, tests) == ("correct", "asserts passed")
    assert verdict(ADD.replace("a + b", "a - b"), tests)[0] == "wrong"


def test_kodcode_pytest_raises_in_its_call_form():
    # pytest.raises(E, f, *args) calls f; the harness's took f for `match`: "'int' object is
    # not callable"
    tests = kodcode("""
        import pytest
        from solution import boom

        def test_boom():
            info = pytest.raises(KeyError, boom, 'x')
            assert info.value.args[0] == 'x'
    """)
    assert verdict(ADD, tests) == ("correct", "asserts passed")
    assert verdict(ADD.replace("raise KeyError(k)", "return k"), tests)[0] == "wrong"
