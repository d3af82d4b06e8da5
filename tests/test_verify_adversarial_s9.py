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
