"""Adversarial second read of the code verifier (s9): wrong solutions that passed assert-based
tests by an object the comparison trusted, and honest ones of the same shapes that must still
pass. Each `wrong` case here was judged correct before its fix."""

import textwrap

import pytest

from distill.filter.sandbox import MODES, probe
from distill.filter.verify import judge

ISOLATED = [m for m in MODES if probe(m) is None]
BEST = ISOLATED[0] if ISOLATED else "none"


def verdict(src: str, meta: dict, timeout: float = 5) -> tuple[str, str]:
    answer = f"```python\n{textwrap.dedent(src).strip()}\n```\n"
    return judge({"answer": answer, "meta": meta}, "code", timeout=timeout, sandbox=BEST)


def layouts(assertion: str) -> dict[str, dict]:
    """One assert (about f) as MBPP, HumanEval and KodCode hold it."""
    return {
        "MBPP": {"test_list": [assertion]},
        "HumanEval": {
            "test": f"def check(candidate):\n    {assertion.replace('f(', 'candidate(')}\n",
            "entry_point": "f",
            "prompt": "",
        },
        "KodCode": {"test": f"from solution import f\n\ndef test_f():\n    {assertion}\n"},
    }


LAYOUTS = ["MBPP", "HumanEval", "KodCode"]

# ---------------------------------------------------------------- the standard library's ==

# UserList's == is `self.data == other`: the library's code, on an attribute the solution set
# to an object equal to anything. The object's class had no operator of its own, so it was
# compared by the library's ==, as it was.
USERLIST_AE = """
    from collections import UserList, UserString
    class _Yes:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
    class L(UserList):
        pass
    def f(x):
        r = L()
        r.data = _Yes()
        return r
"""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_library_class_holding_an_object_equal_to_anything_is_no_answer(layout):
    assert verdict(USERLIST_AE, layouts("assert f(3) == [1, 2, 3]")[layout])[0] == "wrong"
    plain = USERLIST_AE.replace("r.data = _Yes()", "r.data = [1, 2, 3]")
    assert verdict(plain, layouts("assert f(3) == [1, 2, 3]")[layout])[0] == "correct"
    # the library's class itself, not a subclass
    direct = USERLIST_AE.replace("r = L()", "r = UserString('')")
    assert verdict(direct, layouts("assert f(3) == 'abc'")[layout])[0] == "wrong"


# isinstance(x, Fraction) asks x's __class__: an object whose __getattribute__ answered
# Fraction there, and the expected value (read from the comparing frame) as its _numerator,
# was rebuilt as that Fraction.
POSER = """
    import sys
    from fractions import Fraction
    class X:
        def __getattribute__(self, name):
            if name == "__class__":
                return Fraction
            if name == "_numerator":
                f = sys._getframe(1)
                while f is not None:
                    if "b" in f.f_locals and "op" in f.f_locals:
                        return f.f_locals["b"]
                    f = f.f_back
                return 0
            if name == "_denominator":
                return 1
            return object.__getattribute__(self, name)
    def f(x):
        return X()
"""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_object_posing_as_a_fraction_is_no_answer(layout):
    assert verdict(POSER, layouts("assert f(3) == 6")[layout])[0] == "wrong"


def test_a_class_whose_dict_is_its_own_is_not_compared_by_it():
    """KodCode compares the solution's objects by class and attributes; a class whose
    __dict__ was a property answered {} for every instance: every ListNode equal."""
    tests = {
        "test": textwrap.dedent("""
            from solution import ListNode, reverse
            def test_r():
                assert reverse(ListNode(1, ListNode(2))) == ListNode(2, ListNode(1))
        """)
    }
    honest = """
        class ListNode:
            def __init__(self, val=0, next=None):
                self.val, self.next = val, next
            def __eq__(self, o):
                return isinstance(o, ListNode) and (self.val, self.next) == (o.val, o.next)
        def reverse(h):
            prev = None
            while h:
                h.next, prev, h = prev, h, h.next
            return prev
    """
    assert verdict(honest, tests) == ("correct", "asserts passed")
    wrong = honest.replace("            prev = None", "            return ListNode(0)")
    assert verdict(wrong, tests)[0] == "wrong"
    hidden = wrong.replace(
        "        class ListNode:\n",
        "        class ListNode:\n            __dict__ = property(lambda self: {})\n",
    )
    assert verdict(hidden, tests)[0] == "wrong"


def test_honest_library_values_still_compare_as_the_library_compares_them():
    """What the rebuild keeps: a UserDict/UserList/UserString (subclassed or not), a ChainMap,
    an ip address, a path, a Fraction subclass, an enum member, a namedtuple."""
    src = """
        import enum, ipaddress, pathlib
        from collections import ChainMap, UserDict, UserList, UserString, namedtuple
        from fractions import Fraction
        class Registry(UserDict):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                self.note = "kept"
        class Half(Fraction):
            pass
        class Color(enum.Enum):
            RED = 1
        P = namedtuple("P", "x y")
        def f(k):
            return {
                "reg": Registry(a=1),
                "list": UserList([1, 2]),
                "str": UserString("ab"),
                "chain": ChainMap({"a": 1}, {"b": 2}),
                "ip": ipaddress.ip_address("10.0.0.1"),
                "path": pathlib.PurePosixPath("a") / "b",
                "half": Half(1, 2),
                "color": Color.RED,
                "p": P(1, 2),
            }[k]
    """
    asserts = [
        "import ipaddress, pathlib",
        "from fractions import Fraction",
        "assert f('reg') == {'a': 1} and 'a' in f('reg') and f('reg') != {'a': 2}",
        "assert f('list') == [1, 2] and f('list') != [2, 1]",
        "assert f('str') == 'ab' and f('str') != 'ba'",
        "assert f('chain') == {'a': 1, 'b': 2}",
        "assert f('ip') == ipaddress.ip_address('10.0.0.1')",
        "assert f('path') == pathlib.PurePosixPath('a/b')",
        "assert f('half') == Fraction(1, 2) and f('half') == 0.5",
        "assert f('color').value == 1",
        "assert f('p') == (1, 2)",
    ]
    assert verdict(src, {"test_list": asserts}) == ("correct", "asserts passed")
    kod = "from solution import f\nimport ipaddress, pathlib\nfrom fractions import Fraction\n"
    kod += "def test_f():\n" + "".join(f"    {a}\n" for a in asserts[2:])
    assert verdict(src, {"test": kod}) == ("correct", "asserts passed")


# ---------------------------------------------------------------- the harness itself

KOD_F = {"test": "from solution import f\n\ndef test_f():\n    assert f(3) == [1, 2, 3]\n"}
MBPP_F = {"test_list": ["assert f(3) == [1, 2, 3]"]}
# how a solution finds a class of the harness: every class is object's subclass
FIND = """
    def _find(name):
        todo, seen = [object], set()
        while todo:
            for c in type.__subclasses__(todo.pop()):
                if id(c) not in seen:
                    seen.add(id(c))
                    todo.append(c)
                    if c.__name__ == name:
                        return c
"""
HARNESS_ATTACKS = {
    # the runner and the checks were globals of the solution's namespace, named by a prefix
    "the runner replaced": """
        for _k in list(globals()):
            if _k.startswith("__distill"):
                globals()[_k] = lambda *a, **k: None
        def f(x):
            return 0
    """,
    "the checks' cmp replaced": """
        for _k, _v in list(globals().items()):
            if hasattr(_v, "cmp"):
                _v.cmp = lambda ops, *xs: True
        def f(x):
            return 0
    """,
    # a closure cell of the checks is writable
    "a closure cell of the checks rewritten": """
        for _v in list(globals().values()):
            for _c in getattr(getattr(_v, "cmp", None), "__closure__", None) or ():
                if getattr(_c.cell_contents, "__name__", "") == "one":
                    _c.cell_contents = lambda op, a, b: True
        def f(x):
            return 0
    """,
    # the builtins the checks looked up when they ran were a dict the solution could reach
    "the checks' builtins rewritten": """
        class _Yes:
            def __eq__(self, o):
                return True
            __hash__ = object.__hash__
        for _v in list(globals().values()):
            if hasattr(_v, "cmp"):
                _v.cmp.__builtins__["map"] = lambda f, x: ()
        def f(x):
            return [_Yes(), _Yes(), _Yes()]
    """,
    # the class the checks compare the solution's objects as, made equal to anything
    "the checks' Struct made equal to anything": FIND
    + """
    class P:
        def __init__(self, x):
            self.x = x
        def __eq__(self, o):
            return True
        __hash__ = object.__hash__
    def f(x):
        S = _find("Struct")
        S.__eq__ = lambda s, o: True
        S.__ne__ = lambda s, o: False
        return P(0)
    """,
}


@pytest.mark.parametrize("name", list(HARNESS_ATTACKS))
def test_a_solution_cannot_disable_or_rewrite_the_checks(name):
    src = HARNESS_ATTACKS[name]
    assert verdict(src, KOD_F)[0] == "wrong"
    if "Struct" not in name:  # KodCode's alone compares the solution's objects as Structs
        assert verdict(src, MBPP_F)[0] == "wrong"


# a class of pytest's the harness defines, rewritten by the solution's first call: approx equal
# to anything, raises swallowing "DID NOT RAISE"; the pytest module's raises replaced
APPROX = (
    FIND
    + """
    def f(x):
        A = _find("approx")
        if A is not None:
            A.__eq__ = lambda s, o: True
        return 0.0
"""
)
SWALLOW = (
    FIND
    + """
    import contextlib, sys
    def f(x):
        for name in ("Raises", "_GeneratorContextManager"):
            C = _find(name)
            if C is not None:
                C.__exit__ = lambda s, *a: True
        return 2 * x
"""
)
REPLACE = """
    import contextlib, sys
    def f(x):
        sys.modules["pytest"].raises = lambda *a, **k: contextlib.suppress(BaseException)
        return 2 * x
"""
RAISES_TESTS = """
    import pytest
    from solution import f
    def test_f():
        assert f(3) == 6
        with pytest.raises(ValueError):
            f(-1)
"""
APPROX_TESTS = """
    import pytest
    from solution import f
    def test_f():
        assert f(1) == 0.0
        assert f(0.375) == pytest.approx(0.75)
"""


@pytest.mark.parametrize(
    "cheat, tests",
    [(APPROX, APPROX_TESTS), (SWALLOW, RAISES_TESTS), (REPLACE, RAISES_TESTS)],
    ids=["approx made equal to anything", "raises made to swallow", "pytest.raises replaced"],
)
def test_a_solution_cannot_rewrite_pytests_helpers(cheat, tests):
    tests = {"test": textwrap.dedent(tests)}
    assert verdict(cheat, tests)[0] == "wrong"


def test_a_solution_cannot_rewrite_the_harness_functions_defaults():
    src = (
        FIND
        + """
    def f(x):
        _find("Struct").__eq__.__defaults__ = (lambda o: 1,)
        return [1, 2, 3]
    """
    )
    assert verdict(src, KOD_F) == ("wrong", "sandbox violation")


# ---------------------------------------------------------------- KodCode: indirect calls

# A solution reached other than by a direct call of the tests runs under the tests' frames: it
# walks up to the frame holding the expected value.
PEEK = textwrap.dedent("""
    import sys
    def _peek(name):
        f = sys._getframe(1)
        while f is not None:
            if name in f.f_locals:
                return f.f_locals[name]
            f = f.f_back
""")
INDIRECT = {
    "map": (
        PEEK + "def square(x):\n    e, xs = _peek('expected'), _peek('xs')\n"
        "    return e[xs.index(x)]\n",
        "xs = [1, 2, 3]\n    expected = [1, 4, 9]\n    assert list(map(square, xs)) == expected",
    ),
    "a generator the test iterates": (
        PEEK + "def square(n):\n    yield from _peek('expected')\n",
        "expected = [0, 1, 4]\n    assert list(square(3)) == expected",
    ),
    "a property": (
        PEEK + "class Sq:\n    def __init__(self, x):\n        self.x = x\n"
        "    @property\n    def value(self):\n        return _peek('expected')\n"
        "def square(x):\n    return Sq(x)\n",
        "s = square(3)\n    expected = 9\n    assert s.value == expected",
    ),
    "functools.partial": (
        PEEK + "def square(x, y=0):\n    return _peek('expected')\n",
        "import functools\n    g = functools.partial(square, 3)\n    expected = 9\n"
        "    assert g() == expected",
    ),
}


@pytest.mark.parametrize("name", list(INDIRECT))
def test_a_kodcode_solution_reached_indirectly_cannot_read_the_tests_frames(name):
    src, body = INDIRECT[name]
    tests = {"test": f"from solution import square\n\ndef test_sq():\n    {body}\n"}
    assert verdict(src, tests)[0] == "wrong"


def test_a_kodcode_solution_cannot_read_the_tests_frames_through_a_traceback():
    """An exception the solution raised (on its own thread) went up through the test's frame:
    its traceback led there, where the expected value was by the next call."""
    src = """
        E = []
        def f(x):
            if x < 0:
                e = ValueError("negative")
                E.append(e)
                raise e
            tb = E[0].__traceback__ if E else None
            while tb is not None:
                if "test_solution" in repr(tb.tb_frame):
                    return tb.tb_frame.f_locals.get("expected", 0)
                tb = tb.tb_next
            return 0
    """
    tests = {
        "test": textwrap.dedent("""
            import pytest
            from solution import f
            def test_f():
                with pytest.raises(ValueError):
                    f(-1)
                expected = 42
                assert f(7) == expected
        """)
    }
    assert verdict(src, tests)[0] == "wrong"


def test_a_kodcode_solution_cannot_read_the_parametrize_table():
    """A function the tests hand the solution shows their globals: the parametrize table of
    every test was an attribute of its function there, and a solution reached through map
    read it from the test's frame."""
    through_a_callback = """
        def apply(fn, x):
            for v in list(fn.__globals__.values()):
                for names, rows in getattr(v, "__dict__", {}).get("__distill_params", []):
                    for row in rows:
                        if row[0] == x:
                            return row[-1]
            return 0
    """
    tests = {
        "test": textwrap.dedent("""
            import pytest
            from solution import apply
            @pytest.mark.parametrize("x, want", [(1, 2), (5, 10)])
            def test_a(x, want):
                assert apply(lambda v: v * 2, x) == want
        """)
    }
    assert verdict(through_a_callback, tests)[0] == "wrong"
    assert verdict("def apply(fn, x):\n    return fn(x)\n", tests) == ("correct", "asserts passed")
    # a helper of the tests, rebound through those globals, is theirs still
    noop = """
        def apply(fn, x):
            fn.__globals__["check"] = lambda *a: None
            return 0
    """
    tests = {
        "test": textwrap.dedent("""
            from solution import apply
            def check(got, want):
                assert got == want
            def test_a():
                check(apply(lambda v: v * 2, 1), 2)
                check(apply(lambda v: v * 2, 5), 10)
        """)
    }
    assert verdict(noop, tests)[0] == "wrong"


def test_honest_kodcode_solutions_reached_indirectly_still_pass():
    """map, a comprehension, sorted's key, a helper of the tests, a lambda, partial, a
    generator (making a namedtuple), a property, dunders, parametrize, pytest.raises with
    match and approx, unittest's assertRaises of the solution's exception, setup_method."""
    src = """
        import traceback
        from collections import namedtuple
        def square(x):
            return x * x
        def fib(n):
            a, b = 0, 1
            for _ in range(n):
                yield namedtuple("P", "v")(a).v
                a, b = b, a + b
        class Rect:
            def __init__(self, w, h):
                self.w, self.h = w, h
            @property
            def area(self):
                return self.w * self.h
            def __str__(self):
                return f"Rect({self.w}x{self.h})"
            def __len__(self):
                return 2
            def __iter__(self):
                return iter((self.w, self.h))
            def __getitem__(self, i):
                return (self.w, self.h)[i]
        def add(a, b):
            return a + b
        def apply(fn, xs):
            return [fn(x) for x in xs]
        def safe_div(a, b):
            try:
                return a / b
            except ZeroDivisionError:
                traceback.format_exc()
                raise ValueError("division by zero")
        def mean(xs):
            return sum(xs) / len(xs)
    """
    tests = textwrap.dedent("""
        import enum
        import functools
        import unittest
        from collections import namedtuple
        import pytest
        from solution import square, fib, Rect, add, apply, safe_div, mean
        Pt = namedtuple("Pt", "x y")
        Color = enum.Enum("Color", "RED GREEN")
        CASES = [(1, 1), (2, 4), (3, 9)]
        def check_square(x, want):
            assert square(x) == want
        def test_map_and_helpers():
            xs = [1, 2, 3]
            expected = [1, 4, 9]
            assert list(map(square, xs)) == expected
            assert [square(x) for x in xs] == expected
            assert sorted([3, 1, 2], key=square) == [1, 2, 3]
            for x, want in CASES:
                check_square(x, want)
            g = lambda v: square(v) + 1
            assert g(2) == 5
            assert functools.partial(add, 1)(5) == 6
            assert apply(lambda v: v * 2, [1, 2]) == [2, 4]
            assert Pt(1, 2) == (1, 2) and Color.RED.value == 1
        def test_generator():
            expected = [0, 1, 1, 2, 3]
            assert list(fib(5)) == expected
            assert next(fib(3)) == 0
        def test_object():
            r = Rect(2, 3)
            assert r.area == 6 and str(r) == "Rect(2x3)"
            assert len(r) == 2 and list(r) == [2, 3] and r[1] == 3
        @pytest.mark.parametrize("a, b, want", [(1, 2, 3), (2, 2, 4)])
        def test_param(a, b, want):
            assert add(a, b) == want
        def test_raises():
            with pytest.raises(ValueError, match="zero"):
                safe_div(1, 0)
            assert safe_div(4, 2) == 2
            assert mean([0.1, 0.2]) == pytest.approx(0.15)
            assert [mean([1, 2])] == pytest.approx([1.5])
        class TestUnit(unittest.TestCase):
            def test_u(self):
                with self.assertRaises(ValueError):
                    safe_div(1, 0)
                self.assertEqual(add(1, 1), 2)
                self.assertAlmostEqual(mean([0.1, 0.2]), 0.15)
        class TestPlain:
            def setup_method(self, method):
                self.r = Rect(1, 1)
            def test_p(self):
                assert self.r.area == 1
    """)
    assert verdict(src, {"test": tests}) == ("correct", "asserts passed")
    wrong = src.replace("return x * x", "return x * x + (x == 3)")
    assert verdict(wrong, {"test": tests})[0] == "wrong"


def test_a_solution_cannot_reach_the_checks_from_the_frames_under_it():
    """MBPP's and HumanEval's tests call the solution from their frames, which it may read:
    the runner's frame was one of them, and its locals led to the checks (set their cmp to
    say yes: every later assert passed)."""
    src = """
        import sys
        def f(x):
            fr = sys._getframe(1)
            while fr is not None:
                for v in list(fr.f_locals.values()):
                    found = [v]
                    for c in getattr(v, "__closure__", None) or ():
                        try:
                            found.append(c.cell_contents)
                        except ValueError:
                            pass
                    for h in found:
                        if hasattr(h, "cmp") and hasattr(h, "val"):
                            h.cmp = lambda ops, *xs: True
                fr = fr.f_back
            return 0
    """
    mbpp = {"test_list": ["assert f(0) == 0", "assert f(3) == 6"]}
    humaneval = {
        "test": "def check(candidate):\n    assert candidate(0) == 0\n    assert candidate(3) == 6\n",
        "entry_point": "f",
        "prompt": "",
    }
    assert verdict(src, mbpp)[0] == "wrong"
    assert verdict(src, humaneval)[0] == "wrong"


def test_a_solution_cannot_reach_the_checks_through_a_lambda_of_the_tests():
    """A lambda the tests hand the solution (whose code it may read) holds the checks among
    its constants when it compares or calls."""
    src = """
        def apply(fn, x):
            for c in fn.__code__.co_consts:
                if type(c) is tuple and len(c) == 1 and hasattr(c[0], "cmp"):
                    c[0].cmp = lambda ops, *xs: True
            return 0
    """
    kod = {
        "test": "from solution import apply\n\ndef sq(v):\n    return v * v\n\n"
        "def test_a():\n    assert apply(lambda v: sq(v) == 4, 2) == 0\n"
        "    assert apply(lambda v: v, 3) == 3\n"
    }
    mbpp = {"test_list": ["assert apply(lambda v: v == 4, 2) == 0", "assert apply(abs, -3) == 3"]}
    assert verdict(src, kod)[0] == "wrong"
    assert verdict(src, mbpp)[0] == "wrong"
    # its signature, as inspect reads it, is the solution's to read
    honest = "import inspect\ndef apply(fn, x):\n    inspect.signature(fn)\n    return fn(x)\n"
    kod = {
        "test": "from solution import apply\n\ndef sq(v):\n    return v * v\n\n"
        "def test_a():\n    assert apply(lambda v: sq(v) + 1, 2) == 5\n"
    }
    assert verdict(honest, kod) == ("correct", "asserts passed")
