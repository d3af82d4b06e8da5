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
    from distill.filter.code import _call_ok

    assert _call_ok("lcb", '{"t": [4, 5]}', [4, 5])
    assert not _call_ok("lcb", '[{"t": [1, 2]}]', [[1, 2]])
    assert not _call_ok("lcb", '{"d": [[1, 2]]}', {"1": 2})
    assert _call_ok("lcb", '{"d": [["1", 2]]}', {"1": 2})
    assert _call_ok("apps", "3", [3]) and not _call_ok("lcb", "3", [3])
    assert _call_ok("lcb", "1.0", 1) and not _call_ok("lcb", "true", 2)
    assert not _call_ok("lcb", "{not json", 1) and not _call_ok("lcb", '{"x": 1}', {"x": 1})


# ----------------------------------------------------------------------------- assert-based

ALWAYS = """
class AlwaysEqual:
    def __eq__(self, other):
        return True
    def __ne__(self, other):  # yes to != as well: passes `assert f(x) != y` too
        return True
    def __lt__(self, other):
        return True
    __gt__ = __le__ = __ge__ = __lt__
    def __bool__(self):
        return True
    def __hash__(self):
        return 0
    def __sub__(self, other):
        return 0
    __rsub__ = __sub__
"""

# Each: a solution that solves nothing, the row whose tests it passed.
MBPP = {
    "test_list": [
        "assert pairs(2) == [1, 2]",
        "assert pairs(3) != [0]",
        "assert total(3) in (6, 7)",
        "assert abs(mean([1, 2]) - 1.5) < 1e-6",
        "assert total(4) >= 10 and total(4) <= 10",
    ]
}
MBPP_HONEST = """
def pairs(n):
    return list(range(1, n + 1))
def total(n):
    return sum(range(n + 1))
def mean(xs):
    return sum(xs) / len(xs)
"""
HACKS = {
    "an object equal to anything": "def pairs(n):\n    return AlwaysEqual()\ntotal = mean = pairs",
    "an int subclass equal to anything": """
        class Yes(int):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __lt__(self, other):
                return True
            def __le__(self, other):
                return True
            def __ge__(self, other):
                return True
            def __sub__(self, other):
                return 0
            __hash__ = int.__hash__
        def pairs(n):
            return [Yes(0), Yes(0)]
        def total(n):
            return Yes(0)
        def mean(xs):
            return Yes(0)
    """,
    "a list subclass equal to anything": """
        class Yes(list):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return True
        class Num(float):
            def __eq__(self, other):
                return True
            def __ge__(self, other):
                return True
            def __le__(self, other):
                return True
            def __sub__(self, other):
                return 0.0
            __hash__ = float.__hash__
        def pairs(n):
            return Yes()
        def total(n):
            return Num(0)
        def mean(xs):
            return Num(0)
    """,
    "shadowing the builtins the tests call": """
        def abs(x):
            return 0
        def pairs(n):
            return [1, 2] if n == 2 else []
        def total(n):
            return 6 if n == 3 else 10
        def mean(xs):
            return 0
    """,
    "rebinding builtins.abs": """
        import builtins
        builtins.abs = lambda x: 0
        def pairs(n):
            return [1, 2] if n == 2 else []
        def total(n):
            return 6 if n == 3 else 10
        def mean(xs):
            return 0
    """,
}


def hack(name: str) -> str:
    return ALWAYS + textwrap.dedent(HACKS[name])


def test_mbpp_honest_solution_passes():
    assert verdict(MBPP_HONEST, MBPP) == ("correct", "asserts passed")


@pytest.mark.parametrize("name", list(HACKS))
def test_mbpp_asserts_are_not_fooled(name):
    assert verdict(hack(name), MBPP)[0] == "wrong"


HUMANEVAL = {
    "prompt": 'def mean(xs):\n    """The mean."""\n',
    "entry_point": "mean",
    "test": "def check(candidate):\n"
    "    assert candidate([1, 2]) == 1.5\n"
    "    assert abs(candidate([1, 2, 3]) - 2.0) < 1e-6\n",
}


def test_humaneval_check_is_not_fooled_by_an_object_equal_to_anything():
    assert verdict("def mean(xs):\n    return sum(xs) / len(xs)", HUMANEVAL)[0] == "correct"
    liar = ALWAYS + "def mean(xs):\n    return AlwaysEqual()"
    assert verdict(liar, HUMANEVAL)[0] == "wrong"


KODCODE = {
    "test": "from solution import mean, Point\n"
    "import pytest\n\n"
    "def test_mean():\n"
    "    assert mean([1, 2]) == 1.5\n"
    "    assert mean([2, 4]) == pytest.approx(3.0)\n\n"
    "@pytest.mark.parametrize('xs, want', [([1, 3], 2.0), ([5], 5.0)])\n"
    "def test_mean_param(xs, want):\n"
    "    assert mean(xs) == want\n\n"
    "def test_points():\n"
    "    assert Point(1, 2) + Point(3, 4) == Point(4, 6)\n"
    "    assert [Point(0, 0)] == [Point(0, 0)]\n"
}
KODCODE_HONEST = """
from dataclasses import dataclass
def mean(xs):
    return sum(xs) / len(xs)
@dataclass
class Point:
    x: int
    y: int
    def __add__(self, o):
        return Point(self.x + o.x, self.y + o.y)
"""


def test_kodcode_honest_solution_with_its_own_classes_passes():
    assert verdict(KODCODE_HONEST, KODCODE) == ("correct", "asserts passed")
    explicit_eq = KODCODE_HONEST.replace("@dataclass\n", "").replace(
        "    x: int\n    y: int\n",
        "    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
        "    def __eq__(self, o):\n        return (self.x, self.y) == (o.x, o.y)\n",
    )
    assert verdict(explicit_eq, KODCODE) == ("correct", "asserts passed")


def test_kodcode_tests_are_not_fooled_by_an_object_equal_to_anything():
    liar = ALWAYS + "def mean(xs):\n    return AlwaysEqual()\nPoint = lambda *a: AlwaysEqual()"
    assert verdict(liar, KODCODE)[0] == "wrong"
    # the class under test with an == that says yes to anything
    liar_class = KODCODE_HONEST.replace(
        "    def __add__", "    def __eq__(self, o):\n        return True\n    def __add__"
    ).replace("self.x + o.x", "0")
    assert verdict(liar_class, KODCODE)[0] == "wrong"


UNITTEST_KODCODE = {
    "test": "import unittest\nfrom solution import mean\n\n"
    "class TestMean(unittest.TestCase):\n"
    "    def test_mean(self):\n"
    "        self.assertEqual(mean([1, 2]), 1.5)\n"
    "        self.assertAlmostEqual(mean([1, 2, 4]), 2.3333333, places=5)\n"
    "        self.assertIn(mean([2, 2]), [2.0, 3.0])\n"
}


def test_unittest_asserts_are_not_fooled():
    honest = "def mean(xs):\n    return sum(xs) / len(xs)"
    assert verdict(honest, UNITTEST_KODCODE) == ("correct", "asserts passed")
    liar = ALWAYS + "def mean(xs):\n    return AlwaysEqual()"
    assert verdict(liar, UNITTEST_KODCODE)[0] == "wrong"
    # unittest itself rebound: TestCase's asserts, or the result that says it passed
    for patch in (
        "unittest.TestCase.assertEqual = unittest.TestCase.assertIn = lambda *a, **k: None\n"
        "unittest.TestCase.assertAlmostEqual = unittest.TestCase.assertEqual",
        "unittest.TestResult.wasSuccessful = lambda self: True",
    ):
        hacked = f"import unittest\n{patch}\ndef mean(xs):\n    return 0"
        assert verdict(hacked, UNITTEST_KODCODE)[0] == "wrong", patch


def test_a_patched_stdlib_function_the_tests_use_is_caught():
    row = {
        "test_list": ["assert math.isclose(mean([1, 2]), 1.5)"],
        "test_imports": ["import math"],
    }
    assert verdict("def mean(xs):\n    return sum(xs) / len(xs)", row)[0] == "correct"
    hacked = "import math\nmath.isclose = lambda *a, **k: True\ndef mean(xs):\n    return 0"
    assert verdict(hacked, row)[0] == "wrong"


def test_a_solution_cannot_replace_the_pytest_harness():
    """The harness was a global named __distill_pytest, defined before the solution: a
    solution defining its own ran no test and passed."""
    wrong = "def mean(xs):\n    return 0\nPoint = None\n"
    for name in ("__distill_pytest", "__distill_checks"):
        hacked = wrong + f"def {name}(*a, **k):\n    pass\n"
        assert verdict(hacked, KODCODE)[0] == "wrong", name


def test_a_solution_cannot_read_the_pytest_files_source():
    """The harness held the test file's source in a local: a solution walking up from its
    caller's frame read its asserts there (as written, or as the rewrite leaves them)."""
    peek = """
        import re, sys
        def mean(xs, seen={}):
            if repr(xs) not in seen:
                f = sys._getframe(1)
                while f is not None:
                    for v in list(f.f_locals.values()):
                        if isinstance(v, str) and "def test_mean" in v:
                            for a, b in re.findall(r"mean\\((\\[[^]]*\\])\\)\\)?(?: == |, )([^)\\n]+)", v):
                                seen[a] = eval(b)
                    f = f.f_back
            return seen.get(repr(xs), 0)
    """
    row = {
        "test": "from solution import mean\n\n"
        "def test_mean():\n"
        "    assert mean([1, 2]) == 1.5\n"
        "    assert mean([2, 4]) == 3.0\n"
    }
    assert verdict(peek, row)[0] == "wrong"
    # read by a call at the file's top level, kept for the tests
    row = {"test": row["test"].replace("\n\n", "\nmean([0])\n\n", 1)}
    assert verdict(peek, row)[0] == "wrong"


def test_honest_tests_of_many_shapes_still_pass():
    """What the rewrite keeps: chained comparisons, `is`, sets, sorted, floats with a
    tolerance, math.isclose, pytest.raises, a test's own class with an ==, an Enum, a
    Counter, cycles, super(), a generator of comparisons."""
    tests = textwrap.dedent(
        """
        import math
        import collections
        import enum
        import pytest
        from solution import stats, Color, paint, Node, ring, Box

        class Wrapped:
            def __init__(self, v):
                self.v = v
            def __eq__(self, o):
                return isinstance(o, Wrapped) and self.v == o.v

        class Base:
            def hello(self):
                return 1

        class TestThings(Base):
            def hello(self):
                return super().hello() + 1
            def test_super(self):
                assert self.hello() == 2

        def test_values():
            lo, hi, mean = stats([3, 1, 2])
            assert 0 <= lo < hi <= 3
            assert abs(mean - 2.0) < 1e-9 and math.isclose(mean, 2.0)
            assert stats([]) is None
            assert set(stats([1, 1])[:2]) == {1}
            assert sorted(stats([5, 4])[:2]) == [4, 5]
            assert mean == pytest.approx(2.0)
            assert all(x == y for x, y in zip(stats([1, 2])[:2], [1, 2]))
            assert Wrapped(stats([1])[0]) == Wrapped(1)
            assert collections.Counter("aab") == collections.Counter({"a": 2, "b": 1})
            assert collections.Counter(stats([1, 1])[:2]) == {1: 2}
            with pytest.raises(ValueError):
                stats(None)

        def test_classes():
            assert paint("red") is Color.RED and paint("red") == Color.RED
            a, b = ring()
            assert a.next is b and b.next is a
            assert Node(1, Node(2)) == Node(1, Node(2))
            assert Node(1, Node(2)) != Node(1, Node(3))
            assert Box(1) < Box(2) and not Box(3) < Box(2)
            assert Node(1) in [Node(0), Node(1)]
            assert {Node(1), Node(2)} == {Node(2), Node(1)}
        """
    )
    solution = """
        import enum
        class Color(enum.Enum):
            RED = 1
        def paint(name):
            return Color[name.upper()]
        def stats(xs):
            if xs is None:
                raise ValueError("no values")
            if not xs:
                return None
            return min(xs), max(xs), sum(xs) / len(xs)
        class Node:
            def __init__(self, val, next=None):
                self.val, self.next = val, next
            def __eq__(self, o):
                return isinstance(o, Node) and self.val == o.val and self.next == o.next
            def __hash__(self):
                return hash(self.val)
        def ring():
            a, b = Node(1), Node(2)
            a.next, b.next = b, a
            return a, b
        class Box:
            def __init__(self, v):
                self.v = v
            def __lt__(self, o):
                return self.v < o.v
    """
    assert verdict(solution, {"test": tests}) == ("correct", "asserts passed")
    wrong = solution.replace("sum(xs) / len(xs)", "sum(xs) / (len(xs) + 1)")
    assert verdict(wrong, {"test": tests})[0] == "wrong"


def test_strict_layouts_refuse_an_object_with_operators_of_its_own():
    """HumanEval and MBPP ask for values: an object whose - or abs is its own (its __sub__
    returning 0 passes `abs(f(x) - y) < 1e-6`) is no answer."""
    sub = ALWAYS.replace("    def __eq__(self, other):\n        return True\n", "")
    row = {"test_list": ["assert abs(mean([1, 2]) - 1.5) < 1e-6"]}
    assert verdict(sub + "def mean(xs):\n    return AlwaysEqual()", row)[0] == "wrong"
    assert verdict("def mean(xs):\n    return sum(xs) / len(xs)", row)[0] == "correct"


LOCALS = {
    "test": "from solution import mean\nimport pytest\n\n"
    "@pytest.mark.parametrize('xs, want', [([1, 3], 2.0), ([5], 5.0)])\n"
    "def test_mean_param(xs, want):\n"
    "    assert mean(xs) == want\n\n"
    "def test_local():\n"
    "    expected = 1.5\n"
    "    assert mean([1, 2]) == expected\n"
}


def test_a_kodcode_solution_cannot_read_the_tests_locals():
    """A test's locals hold its expected values (`expected = ...`, a parametrize argument):
    the solution, called from the test's frame, read them there."""
    peek = """
        import sys
        def mean(xs):
            f = sys._getframe(1)
            while f is not None:
                for k in ("want", "expected"):
                    if k in f.f_locals:
                        return f.f_locals[k]
                f = f.f_back
            return 0
    """
    assert verdict(peek, LOCALS)[0] == "wrong"
    assert verdict("def mean(xs):\n    return sum(xs) / len(xs)", LOCALS)[0] == "correct"


def test_kodcode_solutions_run_as_before_in_their_thread():
    """Called in a thread of its own: deep recursion, a callback into the tests that calls
    the solution again, exceptions the tests expect, a class, a generator."""
    tests = textwrap.dedent(
        """
        import pytest
        from solution import apply, deep, Counter2, gen, fail

        def test_all():
            assert apply(lambda v: apply(lambda w: w * 2, v), 1) == 4
            assert deep(20000) == 20000
            c = Counter2()
            c.add(3)
            assert c.total == 3 and c.get() == 3
            assert list(gen(3)) == [0, 1, 2]
            with pytest.raises(KeyError, match="nope"):
                fail()
        """
    )
    solution = """
        import sys
        sys.setrecursionlimit(100000)
        def apply(f, x):
            return f(x) + 1
        def deep(n):
            return 0 if n == 0 else 1 + deep(n - 1)
        class Counter2:
            def __init__(self):
                self.total = 0
            def add(self, n):
                self.total += n
            def get(self):
                return self.total
        def gen(n):
            yield from range(n)
        def fail():
            raise KeyError("nope")
    """
    assert verdict(solution, {"test": tests}) == ("correct", "asserts passed")
    assert verdict(solution.replace("+ 1", "+ 2"), {"test": tests})[0] == "wrong"
