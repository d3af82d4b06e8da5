"""Second read of the verifier's anti-reward-hacking harnesses (d61cb6f cc73c54 69c0f87 0cfda0d):
an honest, correct solution must still be judged correct. Each case here was judged wrong
by those commits (or, where said, before them) and is right under its dataset's own grader."""

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


def kodcode(test: str) -> dict:
    return {"test": textwrap.dedent(test)}


def mbpp(*asserts: str) -> dict:
    return {"test_list": list(asserts), "test_setup_code": "", "test_imports": []}


# ---------------------------------------------------------------- KodCode: threads of the tests

QUEUE = """
    import threading
    class BlockingQueue:
        def __init__(self):
            self.c, self.a = threading.Condition(), []
        def put(self, x):
            with self.c:
                self.a.append(x)
                self.c.notify_all()
        def get(self):
            with self.c:
                while not self.a:
                    self.c.wait()
                return self.a.pop(0)
"""


def test_a_solution_called_from_a_thread_of_the_tests_while_another_call_waits():
    # 0cfda0d ran every call of the solution on one worker thread: the test's q.get()
    # held it while the thread's q.put(5) waited for it (a deadlock: "timeout")
    tests = kodcode("""
        import threading
        from solution import BlockingQueue
        def test_q():
            q = BlockingQueue()
            got = []
            t = threading.Thread(target=lambda: q.put(5))
            t.start()
            got.append(q.get())
            t.join()
            assert got == [5]
    """)
    assert verdict(QUEUE, tests) == ("correct", "asserts passed")


def test_a_solution_called_from_several_threads_of_the_tests_at_once():
    # the worker's one box was shared by the tests' threads: calls crossed ("tests failed")
    tests = kodcode("""
        import threading
        from solution import SafeCounter
        def test_c():
            c = SafeCounter()
            def work():
                for _ in range(300):
                    c.increment()
            ts = [threading.Thread(target=work) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert c.value() == 1200
    """)
    src = """
        import threading
        class SafeCounter:
            def __init__(self):
                self.v, self.lock = 0, threading.Lock()
            def increment(self):
                with self.lock:
                    self.v += 1
            def value(self):
                return self.v
    """
    assert verdict(src, tests) == ("correct", "asserts passed")


# ---------------------------------------------------------------- the standard library's classes


@pytest.mark.parametrize(
    "src, asserts",
    [
        (
            "from fractions import Fraction\ndef f():\n    return Fraction(1, 3)",
            ["from fractions import Fraction", "assert f() == Fraction(1, 3)"],
        ),
        (
            "from pathlib import PurePosixPath\ndef f():\n    return PurePosixPath('a') / 'b'",
            ["from pathlib import PurePosixPath", "assert f() == PurePosixPath('a/b')"],
        ),
    ],
    ids=["Fraction", "PurePosixPath"],
)
def test_mbpp_a_standard_library_value_compared_with_its_own_kind(src, asserts):
    # cc73c54 took Fraction's and pathlib's operators (classes written in Python) for the
    # solution's own: "got a Fraction, whose operators are its own"
    assert verdict(src, mbpp(*asserts)) == ("correct", "asserts passed")


def test_kodcode_a_userdict_compared_with_a_dict():
    # the ==, len, in of UserDict (collections.abc's Mapping) were taken for the solution's:
    # the object was compared as its attributes, never equal to the dict
    tests = kodcode("""
        from solution import Registry
        def test_r():
            r = Registry()
            r['a'] = 1
            assert r == {'a': 1}
            assert 'a' in r
    """)
    src = "from collections import UserDict\nclass Registry(UserDict):\n    pass"
    assert verdict(src, tests) == ("correct", "asserts passed")


def test_a_trusted_library_class_patched_by_the_solution_is_its_own():
    # trusting the library's classes must not trust what the solution put in them
    src = """
        from fractions import Fraction
        Fraction.__eq__ = lambda self, other: True
        def f():
            return Fraction(1, 2)
    """
    asserts = ["from fractions import Fraction", "assert f() == Fraction(1, 3)"]
    assert verdict(src, mbpp(*asserts))[0] == "wrong"


# ---------------------------------------------------------------- strict (MBPP, HumanEval)


def test_mbpp_an_object_whose_attributes_the_tests_read():
    # cc73c54's val refused any call's value of a class with operators of its own, even
    # one the tests only read an attribute of (a dataclass's generated __eq__) or take the
    # len() of: "got a P, whose operators are its own"
    src = """
        from dataclasses import dataclass
        @dataclass
        class P:
            x: int
        def f():
            return P(1)
        class Stack:
            def __init__(self, items):
                self.items = list(items)
            def __len__(self):
                return len(self.items)
    """
    tests = mbpp("assert f().x == 1", "assert len(Stack([1, 2])) == 2")
    assert verdict(src, tests) == ("correct", "asserts passed")


def test_mbpp_an_object_with_its_own_operators_still_no_answer():
    src = """
        class Sneaky:
            def __sub__(self, other):
                return 0
            def __eq__(self, other):
                return True
        def f(x):
            return Sneaky()
    """
    for line in ("assert abs(f(1) - 1.5) < 1e-6", "assert f(1) == 2", "assert f(1).real == 2"):
        assert verdict(src, mbpp(line))[0] == "wrong", line


# ---------------------------------------------------------------- pytest.raises(...) as excinfo


def test_kodcode_pytest_raises_as_excinfo():
    # before these commits too: the harness's raises yielded None, so excinfo.value failed
    tests = kodcode("""
        import pytest
        from solution import parse
        def test_bad():
            with pytest.raises(ValueError) as excinfo:
                parse('x')
            assert str(excinfo.value) == 'not a number: x'
            assert excinfo.type is ValueError
            assert excinfo.match('number')
        def test_good():
            assert parse('3') == 3
    """)
    src = """
        def parse(s):
            if not s.isdigit():
                raise ValueError('not a number: ' + s)
            return int(s)
    """
    assert verdict(src, tests) == ("correct", "asserts passed")
    wrong = src.replace("'not a number: ' + s", "'bad'")
    assert verdict(wrong, tests)[0] == "wrong"


# ---------------------------------------------------------------- APPS's call-based grader


def apps(fn: str, inputs: list, outputs: list) -> dict:
    return {"input_output": json.dumps({"fn_name": fn, "inputs": inputs, "outputs": outputs})}


def test_apps_a_list_of_tuples_against_its_lists():
    # APPS's grader: [list(x) for x in output] == outputs[0] when output[0] is a tuple
    src = "def pairs(n):\n    return [(i, i * i) for i in range(n)]"
    tests = apps("pairs", [[2], [1]], [[[[0, 0], [1, 1]]], [[[0, 0]]]])
    assert verdict(src, tests) == ("correct", "2 tests")
    assert verdict(src.replace("i * i", "i + i"), tests)[0] == "wrong"


def test_apps_a_dict_with_int_keys():
    # JSON's keys are strings; APPS's grader reads an expected dict's keys back as ints
    src = (
        "def count(xs):\n    d = {}\n    for x in xs:\n        d[x] = d.get(x, 0) + 1\n    return d"
    )
    tests = apps("count", [[[1, 1, 2]]], [{"1": 2, "2": 1}])
    assert verdict(src, tests) == ("correct", "1 tests")
    assert verdict(src.replace("+ 1", "+ 2"), tests)[0] == "wrong"
