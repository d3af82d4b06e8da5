r"""The code verifier: does a trace's program pass its row's tests? The program runs in
distill.filter.sandbox; the tests and how an output is compared are each dataset's grader's.

    python -c 'from distill.filter.code import verify_code; f = chr(96) * 3; print(verify_code(f"{f}python\nprint(2 * int(input()))\n{f}", {"inputs": ["2"], "outputs": ["4"]}))'

Verdicts: distill.filter.verdicts, as for math. distill.filter.verify.judge (the one entry
point) dispatches `--verify code` here.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from functools import lru_cache
from typing import Any

from distill.filter.verdicts import CORRECT, NO_ANSWER, UNVERIFIABLE, WRONG

# =========================================================================== code
# The code runs in distill.filter.sandbox; the verdict is decided here, as for math. Which tests
# run, and how an output is compared, is each dataset's own grader's (code_tests below).


def extract_code(answer: str) -> str | None:
    """The last fenced code block (```python preferred)."""
    blocks = _fenced_blocks(answer or "") or re.findall(
        r"```(\w*)\n(.*?)```", answer or "", flags=re.DOTALL
    )
    if not blocks:
        return None
    py = [b for lang, b in blocks if lang.lower() in ("python", "py", "python3")]
    return (py or [b for _, b in blocks])[-1]


# A fence as markdown reads one: on a line of its own, maybe indented (a block in a list
# item), its language maybe followed by more ("```python title=sol.py", "```python "); closed
# by a line of as many backticks or more. Read as `(\w*)\n ... ````, "```python \n" was no block
# and its closing fence opened one: the explanation after it ran as the program; an indented
# block kept its indentation: IndentationError, a right solution judged wrong.
_FENCE_OPEN = re.compile(r"([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`{]*)[^`\n]*")


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each closed fenced block, its fence's indentation taken off."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE_OPEN.fullmatch(lines[i])
        i += 1
        if not m:
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3)
        close = re.compile(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        end = next((j for j in range(i, len(lines)) if close.fullmatch(lines[j])), None)
        if end is None:
            # no closing line: closed inside a line ("print(x)```", "``` Done."), as the
            # regex read it (an earlier draft ran instead of the last block), or cut off
            rest = "\n".join(lines[i:])
            cut = rest.find(fence)
            if cut >= 0:
                body = [
                    re.sub(rf"^[ \t]{{0,{indent}}}", "", line) for line in rest[:cut].split("\n")
                ]
                blocks.append((lang, "\n".join(body)))
            break
        body = [re.sub(rf"^[ \t]{{0,{indent}}}", "", line) for line in lines[i:end]]
        blocks.append((lang, "".join(line + "\n" for line in body)))
        i = end + 1
    return blocks


class CodeTests:
    """A row's tests as its dataset's grader runs them.

    kind: "stdin" (each input on stdin, stdout compared by `compare`), "call" (fn_name called
    with each input's arguments, the value compared as `compare` says) or "script" (Python run
    after the solution in its namespace; passing is running to the end). `prelude` goes before
    the solution (the imports the grader puts there, HumanEval's prompt)."""

    def __init__(
        self,
        kind: str,
        inputs: tuple = (),
        outputs: tuple = (),
        compare: str = "tokens",
        fn_name: str | None = None,
        script: str = "",
        prelude: str = "",
        layout: str = "",
    ):
        self.kind, self.inputs, self.outputs, self.compare = kind, inputs, outputs, compare
        self.fn_name, self.script, self.prelude, self.layout = fn_name, script, prelude, layout


class _Refused(str):
    """Why a row's tests cannot run (never test code to run)."""


# LiveCodeBench's grader (lcb_runner testing_util) puts these imports before every solution,
# stdin and functional alike: `from m import *` then `import m`, and a deep recursion limit.
_LCB_MODULES = (
    "string re datetime collections heapq bisect copy math random statistics itertools "
    "functools operator io sys json builtins typing"
).split()
_LCB_PRELUDE = (
    "".join(f"from {m} import *\n" for m in _LCB_MODULES)
    + "".join(f"import {m}\n" for m in _LCB_MODULES if m != "builtins")
    + "sys.setrecursionlimit(50000)\n"
)
# APPS's (and TACO's) call-based grader imports these before the solution (numpy left out: the
# sandbox has the standard library only).
_APPS_PRELUDE = (
    "import sys\nimport time\nimport itertools\n"
    "from itertools import accumulate, product, permutations, combinations\nimport collections\n"
    "from collections import Counter, OrderedDict, deque, defaultdict, ChainMap\n"
    "from functools import lru_cache\nimport math\n"
    "from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2\n"
    "import fractions\nfrom typing import List, Tuple\nimport random\nimport heapq\n"
    "from heapq import *\n"
)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _lcb_cases(value: Any) -> list | None:
    """LiveCodeBench's public_test_cases / private_test_cases: a JSON list, or (newer releases'
    private ones) that JSON zlib-compressed, pickled and base64-encoded. None: not that."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        pass
    import base64
    import io
    import pickle
    import zlib

    class NoGlobals(pickle.Unpickler):  # a pickled string: never an object, never code
        def find_class(self, module: str, name: str) -> Any:
            raise pickle.UnpicklingError(f"{module}.{name} is not a test")

    try:
        raw = zlib.decompress(base64.b64decode(value.encode("utf-8")))
        text = NoGlobals(io.BytesIO(raw)).load()
        return json.loads(text) if isinstance(text, (str, bytes)) else None
    except Exception:  # noqa: BLE001 - not that encoding: not LiveCodeBench's tests
        return None


def _lcb_suite(cases: Any, metadata: Any, layout: str) -> CodeTests | str:
    """LiveCodeBench's [{"input", "output", "testtype"}] -> its tests, or why they do not run."""
    if not isinstance(cases, list) or not all(
        isinstance(t, dict) and "input" in t and "output" in t for t in cases
    ):
        return _Refused("unrecognised tests")
    if not cases:
        return _Refused("no tests")
    types = {t.get("testtype", "stdin") for t in cases}
    inputs = tuple(str(t["input"]) for t in cases)
    outputs = tuple(str(t["output"]) for t in cases)
    if types == {"stdin"}:
        return CodeTests("stdin", inputs, outputs, "lines", prelude=_LCB_PRELUDE, layout=layout)
    if types != {"functional"}:
        return _Refused("call-based tests are not supported")
    fn = (_json(metadata) or {}).get("func_name") if isinstance(_json(metadata), dict) else None
    if not isinstance(fn, str) or not fn.isidentifier():
        return _Refused("functional tests without metadata.func_name")
    return CodeTests(
        "call", inputs, outputs, "lcb", fn_name=fn, prelude=_LCB_PRELUDE, layout=layout
    )


def _io_lists(t: Any) -> tuple[list, list] | None:
    """code_contests' {"input": [...], "output": [...]}."""
    if (
        isinstance(t, dict)
        and isinstance(t.get("input"), list)
        and isinstance(t.get("output"), list)
    ):
        return t["input"], t["output"]
    return None


def _script_of_mbpp(meta: dict[str, Any]) -> Any:
    """MBPP: test_list, after test_imports (sanitized) and test_setup_code, as its grader."""
    tests = meta["test_list"]
    imports, setup = meta.get("test_imports"), meta.get("test_setup_code")
    head = [str(x) for x in imports] if isinstance(imports, list) else []
    if isinstance(setup, str) and setup.strip():
        head.append(setup)
    if not head or not isinstance(tests, list) or not tests:
        return tests  # as it always ran
    return "\n".join(head + [str(t) for t in tests])


_KODCODE = re.compile(r"^\s*(?:from\s+solution\s+import|import\s+solution\b)", re.MULTILINE)


def _calls_of(tests: Any) -> Any:
    """APPS / TACO call-based tests ({"fn_name", "inputs", "outputs"}) as the calls they are;
    any other tests as they are."""
    parsed = _json(tests)
    if isinstance(parsed, dict) and parsed.get("fn_name"):
        suite = _suite(parsed, calls=True)
        return suite if isinstance(suite, CodeTests) else _Refused(suite or "no tests")
    return tests


def runnable_tests(meta: dict[str, Any]) -> bool:
    """Whether a row holds tests judge can run (code_tests found some it does not refuse:
    non-Python verification_info, a problem with its own checker or file input are refused)."""
    tests = code_tests(meta)
    return tests is not None and not isinstance(tests, _Refused)


def code_tests(meta: dict[str, Any]) -> Any:
    """The tests a row holds, in the first layout found (None: none):

    - `tests`: {"inputs", "outputs"[, "fn_name"]}, a LiveCodeBench list, assert lines or code;
    - MBPP `test_list` (+ `test_imports`, `test_setup_code`);
    - APPS / TACO `input_output` (JSON; `fn_name`: call-based);
    - LiveCodeBench `public_test_cases` + `private_test_cases` (+ `metadata.func_name`);
    - deepmind/code_contests `public_tests` + `private_tests` + `generated_tests`;
    - open-r1 `verification_info` {"language", "test_cases"} and open-r1/codeforces
      `official_tests` (+ `generated_tests`);
    - HumanEval `test` defining check(candidate) + `entry_point` (after `prompt`);
    - KodCode `test` / `test_code`: pytest functions importing from `solution`.
    """
    if "tests" in meta:
        return _calls_of(meta["tests"])
    if "test_list" in meta:
        return _script_of_mbpp(meta)
    if "input_output" in meta:
        return _calls_of(meta["input_output"])
    if "public_test_cases" in meta or "private_test_cases" in meta:
        cases: list = []
        for key in ("public_test_cases", "private_test_cases"):
            if meta.get(key) in (None, ""):
                continue
            got = _lcb_cases(meta[key])
            if got is None:
                return _Refused(f"unrecognised {key}")
            cases += got
        return _lcb_suite(cases, meta.get("metadata"), "LiveCodeBench")
    contests = [
        _io_lists(meta.get(k)) for k in ("public_tests", "private_tests", "generated_tests")
    ]
    if any(c is not None for c in contests):
        if meta.get("input_file") or meta.get("output_file"):  # a few read and write files
            return _Refused("file input or output is not supported")
        ins, outs = [], []
        for c in contests:
            if c is not None:
                if len(c[0]) != len(c[1]):
                    return _Refused("inputs/outputs differ in number")
                ins += c[0]
                outs += c[1]
        return CodeTests(
            "stdin", tuple(map(str, ins)), tuple(map(str, outs)), "contests", layout="code_contests"
        )
    if "verification_info" in meta:
        info = _json(meta["verification_info"])
        if not isinstance(info, dict) or not isinstance(info.get("test_cases"), list):
            return _Refused("unrecognised verification_info")
        if str(info.get("language", "python")).lower() not in ("python", "python3", "py"):
            return _Refused(f"tests for {info.get('language')}, not Python")
        cases = info["test_cases"]
        if not all(isinstance(t, dict) and "input" in t and "output" in t for t in cases):
            return _Refused("unrecognised verification_info")
        if any(t.get("type", "stdin_stdout") != "stdin_stdout" for t in cases):
            return _Refused("call-based tests are not supported")
        return CodeTests(
            "stdin",
            tuple(str(t["input"]) for t in cases),
            tuple(str(t["output"]) for t in cases),
            "lines_exact",
            layout="open-r1",
        )
    if isinstance(meta.get("official_tests"), list):
        if meta.get("generated_checker"):
            return _Refused("the problem's answers are judged by its checker, which is not run")
        if meta.get("input_mode", "stdio") != "stdio" or meta.get("interaction_format"):
            return _Refused("file or interactive input is not supported")
        cases = meta["official_tests"] + (
            meta["generated_tests"] if isinstance(meta.get("generated_tests"), list) else []
        )
        if not all(isinstance(t, dict) and "input" in t and "output" in t for t in cases):
            return _Refused("unrecognised official_tests")
        return CodeTests(
            "stdin",
            tuple(str(t["input"]) for t in cases),
            tuple(str(t["output"]) for t in cases),
            "tokens",
            layout="codeforces",
        )
    test, entry = meta.get("test"), meta.get("entry_point")
    if isinstance(test, str) and isinstance(entry, str) and "def check(" in test:
        if not entry.isidentifier():
            return _Refused("entry_point is not a name")
        prompt = meta.get("prompt")
        return CodeTests(
            "script",
            script=f"{test}\ncheck({entry})\n",
            prelude=prompt + "\n" if isinstance(prompt, str) else "",
            layout="HumanEval",
        )
    test = test if isinstance(test, str) else meta.get("test_code")
    if isinstance(test, str) and _KODCODE.search(test):
        return _pytest_suite(test)
    return None


# ----------------------------------------------------------------------------- comparing


def _decimals(line: str) -> list | None:
    from decimal import Decimal

    try:
        return [Decimal(x) for x in line.split()]
    except ArithmeticError:
        return None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _same_lines(out: str, exp: str, numbers: bool) -> bool:
    """LiveCodeBench: the output and the answer stripped, as many lines, each line equal once
    stripped, or (numbers) equal as its whitespace-separated decimals ("1.0" is "1")."""
    got, want = _lines(out), _lines(exp)
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if a == b:
            continue
        da, db = (_decimals(a), _decimals(b)) if numbers else (None, None)
        if da is None or db is None or da != db:
            return False
    return True


def _number(tok: str) -> int | float | None:
    if "_" in tok:  # Python reads 1_000; the graders' number parsers do not
        return None
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return float(tok)
    except ValueError:
        return None


def _apps_match(out: str, exp: str) -> bool:
    """APPS's testing_util (TACO's is its copy): after the exact comparisons, the output's
    numbers are compared to the answer's with np.allclose (rtol 1e-5, atol 1e-8), and rounded to
    3 decimals: "4.0" is "4", 0.333333 is 0.3333333333. Here token by token, in order, and only
    where one of the two is not an integer: APPS's last comparison is of sets (tokens in any
    order, repeats dropped) and its allclose takes 1000000001 for 1000000000; both pass wrong
    programs, so neither is copied."""
    got, want = out.split(), exp.split()
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if a == b:
            continue
        x, y = _number(a), _number(b)
        if x is None or y is None or (isinstance(x, int) and isinstance(y, int)):
            return False
        x, y = float(x), float(y)
        if not (abs(x - y) <= 1e-8 + 1e-5 * abs(y) or round(x, 3) == round(y, 3)):
            return False
    return True


def _contests_match(out: str, exp: str) -> bool:
    """code_contests' OutputsMatch: whitespace-separated tokens, case-insensitive; where both
    are numbers and one is not an integer, equal within 1e-5."""
    got, want = out.lower().split(), exp.lower().split()
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        x, y = _number(a), _number(b)
        if x is None or y is None:
            if a != b:
                return False
        elif isinstance(x, int) and isinstance(y, int):
            if x != y:
                return False
        elif not abs(float(x) - float(y)) < 1e-5:
            return False
    return True


def _output_ok(compare: str, out: str, exp: str) -> bool:
    if compare == "lines":  # LiveCodeBench
        return _same_lines(out, exp, numbers=True)
    if compare == "lines_exact":  # open-r1's code reward (line by line, stripped)
        return _same_lines(out, exp, numbers=False)
    if compare == "contests":  # deepmind/code_contests
        return _contests_match(out, exp)
    if compare == "apps":  # APPS / TACO stdin: tokens, decimals within its tolerance
        return _apps_match(out, exp)
    return out.split() == exp.split()  # whitespace-separated tokens


# ----------------------------------------------------------------------------- call-based


# The solution runs as a module named as its dataset's grader names it, never "__main__":
# KodCode's pytest imports it as `solution`; human-eval (and MBPP through it) exec it in a
# fresh dict, whose `__name__` is the builtins module's; APPS's and LiveCodeBench's call-based
# graders make it a module `tmp_sol`. Its `if __name__ == "__main__":` block (a demo reading
# input(), which teachers often add) never runs there: run here, it read the harness's token
# on stdin, or nothing, and a correct solution was "error before the tests ran". The stdin
# layouts keep "__main__": their solutions read the input in exactly that block. Registered in
# sys.modules as a module is on import (a dataclass with a string annotation looks its
# module up there); "builtins" stays the real one.
def _module_name(suite: CodeTests) -> str:
    if suite.layout == "KodCode":
        return "solution"
    return "tmp_sol" if suite.kind == "call" else "builtins"


def _named(fn: str, name: str) -> str:
    """Python going first: names the solution's module `name` (see _module_name)."""
    return (
        f"def {fn}(ns, name):\n"
        "    import sys\n"
        "    ns['__name__'] = name\n"
        "    if name != 'builtins':\n"
        "        sys.modules[name] = sys.modules['__main__']\n"
        f"{fn}(globals(), {name!r})\n"
        f"del {fn}\n"
    )


# A harness is defined before the solution runs (its prelude), in a namespace of its own
# holding a copy of the builtins taken then, and the functions it calls taken then too: the
# solution's globals are not its globals. It ran in the solution's namespace: a wrong solution
# that defined enumerate (no case called), exec (the pytest file never ran, a test of its own
# did), a __builtins__ of its own, or patched json.loads (its own expected values) passed. `ns`
# is the solution's namespace (the module's globals, where the solution's names will be).
def _harness(name: str, source: str, as_name: str | None = None) -> str:
    """Python going before the solution: binds `as_name` (a name new each run; default
    `name`) to the function `name` that `source` defines (the call-based harness; the
    assert-based ones go through _setup, bound to no name at all)."""
    as_name = as_name or name
    return (
        f"def {as_name}(src, ns):\n"
        "    import builtins\n"
        "    g = {'__builtins__': dict(vars(builtins)), '_ns': ns}\n"
        "    exec(src, g)\n"
        f"    return g[{name!r}]\n"
        f"{as_name} = {as_name}({source!r}, globals())\n"
    )


# Called after the solution: each case's value written to the host, which compares it with
# the expected value (_call_verdict). The expected values never enter the sandboxed process: the
# harness held them in its frame while it called the solution, and a solution returning
# sys._getframe(1).f_locals["want"] passed every case. A case past the time limit ends the
# process (SIGALRM's default action); a value that is not made of plain data (an object whose
# == says yes to anything) is wrong. Each value is one line "<marker> <i> <JSON>" written with
# its own os.write on a copy of stdout taken before the solution ran (the solution may close
# or replace stdout); the marker is new each run. A solution that finds the marker (the
# harness's locals) can add lines, but without the expected values only lines that make the
# count or the order wrong, or a value that is wrong: the host wants exactly one per case, in
# order. JSON cannot tell a tuple from a list or a dict's int key from a str: the value is
# tagged ({"t": [..]} a tuple, {"d": [[k, v], ..]} a dict), as the host's == saw it before.
_CALL_HARNESS = r"""
import json as _json, os as _os, signal as _signal, time as _time
def __distill_calls(payload, fn_name, limit, marker, _loads=_json.loads, _dumps=_json.dumps,
                    _write=_os.write, _fd=_os.dup(1), _sig=_signal.signal,
                    _timer=_signal.setitimer, _now=_time.monotonic, _ALRM=_signal.SIGALRM,
                    _DFL=_signal.SIG_DFL, _REAL=_signal.ITIMER_REAL):
    cases = _loads(payload)
    del payload
    def plain(x, depth=0):
        if depth > 100:
            raise AssertionError("the value is nested too deep")
        # rebuilt from the builtin types' own methods: a subclass's __eq__ or __iter__ is not
        # asked (OrderedDict is a dict, a tuple a tuple)
        if x is None or x is True or x is False:
            return x
        if isinstance(x, int):
            return int.__int__(x)
        if isinstance(x, float):
            return float.__float__(x)
        if isinstance(x, str):
            return str.__str__(x)
        if isinstance(x, tuple):
            return {"t": [plain(e, depth + 1) for e in tuple.__iter__(x)]}
        if isinstance(x, list):
            return [plain(e, depth + 1) for e in list.__iter__(x)]
        if isinstance(x, dict):
            return {"d": [[plain(k, depth + 1), plain(v, depth + 1)] for k, v in dict.items(x)]}
        raise AssertionError("returned a %s, not plain data" % type(x).__name__)
    sol = _ns.get("Solution")
    if isinstance(sol, type) and hasattr(sol, fn_name):
        target = getattr(sol(), fn_name)
    else:
        target = _ns.get(fn_name)
    if not callable(target):
        raise AssertionError("no function %s" % fn_name)
    for i, args in enumerate(cases):
        _sig(_ALRM, _DFL)
        start = _now()
        _timer(_REAL, limit)
        got = target(*args)
        _timer(_REAL, 0)
        if _now() - start > limit:
            raise AssertionError("test %d: timeout" % i)
        line = ("\n%s %d %s\n" % (marker, i, _dumps(plain(got)))).encode()
        while line:
            line = line[_write(_fd, line):]
"""


def _call_script(
    tests: CodeTests, limit: float, marker: str, entry: str
) -> tuple[str, list] | None:
    """(the harness calling fn_name on every case, the expected values); None when an input
    is not JSON. The script holds the arguments only: the values stay here."""
    cases, wants = [], []
    try:
        for inp, out in zip(tests.inputs, tests.outputs):
            if tests.compare == "lcb":  # one JSON value per line, each an argument
                args = [json.loads(line) for line in str(inp).split("\n")]
                want = json.loads(out)
            else:  # APPS: the list of arguments, the value
                args, want = inp, out
                if not isinstance(args, list):
                    return None
            cases.append(args)
            wants.append(want)
        payload = json.dumps(cases)
    except (ValueError, TypeError):
        return None
    # the harness itself goes before the solution (_harness, in verify_code)
    script = f"{entry}({payload!r}, {tests.fn_name!r}, {float(limit)!r}, {marker!r})\n"
    return script, wants


def _untag(x: Any) -> Any:
    """A value as the harness wrote it -> the value (tuples and dicts as they were)."""
    if isinstance(x, list):
        return [_untag(e) for e in x]
    if isinstance(x, dict):
        if set(x) == {"t"} and isinstance(x["t"], list):
            return tuple(_untag(e) for e in x["t"])
        if set(x) == {"d"} and isinstance(x["d"], list):
            return {_untag(k): _untag(v) for k, v in x["d"]}
        raise ValueError("not a value the harness writes")
    return x


def _call_results(stdout: str, marker: str) -> list[tuple[int, str]]:
    """The harness's lines in stdout -> [(case, its JSON)], in the order written."""
    out = []
    for line in stdout.split("\n"):
        head, _, rest = line.partition(" ")
        if head == marker:
            i, _, value = rest.partition(" ")
            out.append((int(i) if i.isdigit() else -1, value))
    return out


def _call_ok(rule: str, got: str, want: Any) -> bool:
    """One case's value (the harness's JSON) against the expected value, by the dataset's
    rule: a tuple counts as a list; APPS holds some single values as [value]; APPS's grader
    (testing_util) also reads an expected dict's keys as ints and a list of tuples as lists."""
    try:
        got = _untag(json.loads(got))
    except (ValueError, TypeError, RecursionError):  # TypeError: an unhashable key
        return False
    if type(got) is tuple:
        got = list(got)
    if rule == "apps":  # JSON's keys are strings: APPS's grader reads a dict's back as ints
        if type(want) is list and want and type(want[0]) is dict:
            want = want[0]
        if type(want) is dict:
            try:
                want = [{int(k): v for k, v in want.items()}]
            except (ValueError, TypeError):
                pass
    ok = got == want
    if rule == "apps" and not ok and type(want) is list and want:
        ok = got == want[0]
        if not ok and type(got) is list and got and type(got[0]) is tuple:
            try:  # APPS's grader: a list of tuples against its lists
                ok = [list(x) for x in got] == want[0]
            except TypeError:
                pass
    return ok


def _call_verdict(r: Any, marker: str, wants: list, rule: str) -> tuple[str, str]:
    """A call-based run's verdict: every case's value, once, in order, right."""
    results = _call_results(r.stdout, marker)
    for i, (case, got) in enumerate(results):
        if case != i or i >= len(wants):
            break
        if not _call_ok(rule, got, wants[i]):
            return WRONG, f"test {i}: wrong answer"
    if not r.ok:  # a case that timed out or raised, the ones before it right
        return WRONG, _why(r)
    if [case for case, _ in results] != list(range(len(wants))):
        return WRONG, "the harness's results were missing or written twice"
    return CORRECT, f"{len(wants)} tests"


# ----------------------------------------------------------------------------- assert checks

# What an assert compares comes from the solution: an object whose == says yes to anything (the
# "AlwaysEqual" hack: __eq__ and __ne__ both True) passed `assert f(1) == 2`, as did an int
# subclass doing so, a list of such objects, `assert f(x) in (6, 7)`, and, through __sub__
# returning 0, `assert abs(f(x) - 1.5) < 1e-6`. The tests are compiled from an AST rewrite
# (_checked): every comparison but `is` goes through _CHECKS's cmp, which compares the two
# sides as plain data rebuilt with the builtin types' own methods (as the call harness's plain);
# every call's value goes through val, which makes an int/float/str subclass with operators of
# its own a plain value; the builtins the tests name are the ones taken before the solution ran
# (it defined its own abs, or rebound builtins.abs); the stdlib modules the tests import, and
# unittest's classes, are checked unchanged (math.isclose, TestCase.assertEqual rebound).
#
# An object of a class with comparisons or operators of its own:
# - from HumanEval, MBPP or assert lines (strict): never an answer, the test fails;
# - from KodCode, whose tests build and compare the solution's own classes (a dataclass Point,
#   a ListNode with __eq__): compared as its class and the plain data of its attributes, never by
#   its own __eq__ (one that is coarser than its attributes, e.g. equal up to a tolerance, is
#   judged by its attributes); ordered (<, >) by its own methods, whose answer must be a bool.
# An object whose operators are the standard library's Python code (UserList's ==, which is
# `self.data == other`) is rebuilt as that library class with its attributes made plain: that
# == ran on what the solution put there (an object equal to anything). What a value is comes from
# its real type's MRO, never isinstance (which asks the object's __class__: an object posing as a
# Fraction whose numerator was the expected value), and its attributes from the instance dict
# and slots Python made (a class's __dict__ property answered {} for every ListNode).
# A class the tests define is theirs: its methods are trusted (the rewrite decorates it).
_CHECKS = r"""
import builtins as _builtins, collections as _collections, enum as _enum
import fractions as _fractions, operator as _operator, sys as _sys, types as _types
import _thread
def __distill_checks(strict, modules, _ns, _b=dict(vars(_builtins)), _type=type,
                     _id=id, _len=len, _AttributeError=AttributeError, _map=map,
                     _enumerate=enumerate, _abs=abs, _round=round,
                     _BaseException=BaseException, _MethodType=_types.MethodType,
                     _FunctionType=_types.FunctionType,
                     _int=int, _float=float, _str=str, _bytes=bytes, _complex=complex,
                     _tuple=tuple, _list=list, _dict=dict, _set=set, _frozenset=frozenset,
                     _bool=bool, _Counter=_collections.Counter,
                     _OrderedDict=_collections.OrderedDict, _deque=_collections.deque,
                     _Fraction=_fractions.Fraction, _Enum=_enum.Enum, _Flag=_enum.Flag,
                     _object=object, _setattr=object.__setattr__,
                     _GETSET=_types.GetSetDescriptorType, _MEMBER=_types.MemberDescriptorType,
                     _SLOT=_types.WrapperDescriptorType,
                     _numerator=_fractions.Fraction.__dict__["_numerator"].__get__,
                     _denominator=_fractions.Fraction.__dict__["_denominator"].__get__,
                     _RecursionError=RecursionError, _AssertionError=AssertionError,
                     _lock=_thread.allocate_lock, _start=_thread.start_new_thread,
                     _get_ident=_thread.get_ident,
                     _TypeError=TypeError, _ops=_operator, _import=__import__):
    HEAP = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement
    OPERATORS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                 "__len__", "__contains__", "__add__", "__radd__", "__sub__", "__rsub__",
                 "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__",
                 "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__neg__",
                 "__pos__", "__abs__", "__round__", "__float__", "__int__", "__index__",
                 "__complex__")
    # the operators that see the other side (==, -, in ...): len(), bool(), abs(), int() of
    # an object are its own answers, as a value it returned
    BINARY = tuple(n for n in OPERATORS if n not in (
        "__bool__", "__len__", "__neg__", "__pos__", "__abs__", "__round__", "__float__",
        "__int__", "__index__", "__complex__"))
    flags = _type.__dict__["__flags__"].__get__  # a metaclass's __flags__ is not asked
    mro = _type.__dict__["__mro__"].__get__
    cdict = _type.__dict__["__dict__"].__get__
    # the enum classes there are now (the standard library's): their operators are theirs
    trusted, todo = {}, [_Enum, _Flag]
    while todo:
        c = todo.pop()
        if _id(c) not in trusted:
            trusted[_id(c)] = c
            todo.extend(_type.__subclasses__(c))
    # what the tests use, as it is now: compared again at every comparison and at the end
    watched = []
    for name in modules:
        try:
            m = _import(name)
            for part in name.split(".")[1:]:
                m = getattr(m, part)
        except Exception:  # noqa: BLE001 - an import error is the tests' own, later
            continue
        watched.append((name, vars(m), {k: v for k, v in _dict.items(vars(m))
                                        if callable(v) and not k.startswith("_")}))
        if name == "unittest":
            for c in (m.TestCase, m.TestResult, m.TestSuite, m.TestLoader,
                      m.case._AssertRaisesContext):
                watched.append((c.__qualname__, c.__dict__, {k: v for k, v in c.__dict__.items()
                                                             if callable(v)}))
    MISSING = _object()
    # every class there is now, before the solution (the standard library's: Fraction,
    # UserDict, pathlib's, those of the modules the tests import), with its operators as they
    # are now: not the solution's. One the solution changes or adds to it is its own.
    OPS = _frozenset(OPERATORS)
    lib, todo = {}, [_object]
    while todo:
        for c in _type.__subclasses__(todo.pop()):
            if _id(c) not in lib:
                d = cdict(c)
                lib[_id(c)] = (c, {k: d[k] for k in OPS.intersection(d)})
                todo.append(c)
    def library(k, name):
        was = lib.get(_id(k))
        return was is not None and was[0] is k and was[1].get(name, MISSING) is cdict(k)[name]
    SCALARS = {_int, _float, _str, _bool, _type(None), _bytes, _complex}
    def intact():
        sound()
        for name, live, was in watched:
            for k, v in _dict.items(was):
                if live.get(k, MISSING) is not v:
                    raise _AssertionError("the solution changed %s.%s, which the tests use"
                                          % (name, k))
        return True
    def own(t, names=OPERATORS):
        # whether any operator of class t is the solution's: defined by a class statement
        # that is neither the tests' (trusted) nor one of the standard library's kept above
        for name in names:
            for k in mro(t):
                if name in cdict(k):
                    if flags(k) & HEAP and _id(k) not in trusted and not library(k, name):
                        return k.__name__
                    break
        return None
    # The classes trusted by trust() (the tests', the harness's: Struct, approx), as they were
    # then: a class statement's class is the solution's to change too (object.__subclasses__()
    # finds it), and one whose == it made True passed every comparison through it.
    guarded = []
    def trust(cls, whole=False):
        trusted[_id(cls)] = cls
        d = cdict(cls)
        guarded.append((cls, _dict(d) if whole else {k: d.get(k, MISSING) for k in OPERATORS},
                        whole))
        return cls
    def sound():
        for cls, was, whole in guarded:
            d = cdict(cls)
            if whole and _len(d) != _len(was):
                raise _AssertionError("the solution changed the class %s" % cls.__name__)
            for k, v in _dict.items(was):
                if d.get(k, MISSING) is not v:
                    raise _AssertionError("the solution changed %s.%s" % (cls.__name__, k))
        return True
    class Struct:
        # an object of a class with an == of its own: its class and its attributes. Its
        # methods share no variable with the checks (a closure cell is writable), and what
        # it holds is checked unchanged before a comparison (sound)
        __slots__ = ("cls", "state")
        def __init__(self, cls, state):
            self.cls, self.state = cls, state
        def __eq__(self, o, _type=_type):
            return _type(o) is _type(self) and o.cls is self.cls and o.state == self.state
        def __ne__(self, o, _type=_type):
            return not (_type(o) is _type(self) and o.cls is self.cls and o.state == self.state)
        def __hash__(self, _id=_id):  # equal ones are of one class (a set of Points, a key)
            return _id(self.cls) >> 4
    trust(Struct, True)
    def state(x):
        # the instance's own attributes, read through the descriptors Python made for them (the
        # instance dict, the slots): a __dict__ or slot name the class rebinds (a property)
        # would run the solution's code here, its answer its own (every ListNode alike)
        out, t = {}, _type(x)
        for k in mro(t):
            d = cdict(k)
            if "__dict__" in d:
                g = d["__dict__"]
                if _type(g) is not _GETSET:
                    raise _AssertionError("a %s, whose __dict__ is its own" % t.__name__)
                out.update(g.__get__(x))
                break
        for k in mro(t):
            d = cdict(k)
            slots = d.get("__slots__", ())
            for s in ((slots,) if _type(slots) is _str else
                      slots if _type(slots) is _tuple or _type(slots) is _list else ()):
                m = d.get(s) if _type(s) is _str else None
                if _type(m) is _MEMBER:
                    try:
                        out[s] = m.__get__(x)
                    except _AttributeError:  # an empty slot
                        pass
        return out
    def library_ops(t, m):
        # whether an operator of t is one a class of the standard library wrote in Python
        # (UserList's ==: self.data == other): it runs on the object's attributes. A C class
        # made on the heap (array.array, re.Pattern) has C slots, as a static one: its own ==
        # (it was rebuilt, which such a class refuses: "got a array", or KodCode's every
        # array equal to every other, having no attributes)
        for name in BINARY:
            for k in m:
                if name in cdict(k):
                    if flags(k) & HEAP and _type(cdict(k)[name]) is not _SLOT:
                        return True
                    break
        return False
    def rebuilt(x, t, m, path):
        # an object whose operators are the standard library's, rebuilt as the first library
        # class of its own with its attributes made plain: UserList's == on its data, never on
        # an object the solution put there (one equal to anything) or its own methods
        for k in m:
            was = lib.get(_id(k))
            if was is not None and was[0] is k:
                try:
                    y = _object.__new__(k)
                    for a, v in _dict.items(plain(state(x), path)):
                        _setattr(y, a, v)
                    return y
                except (_TypeError, _AttributeError):
                    return None
        return None
    def plain(x, path):
        if x is None or x is True or x is False:
            return x
        t = _type(x)
        if t is _int or t is _float or t is _str:
            return x
        # what x is, from its real type's MRO: isinstance asks x's __class__ (a property of
        # the solution's: an object posing as a Fraction whose numerator is the answer)
        m = mro(t)
        ids = {_id(k) for k in m}
        enum = _id(_Enum) in ids or _id(_Flag) in ids
        if _id(_int) in ids:
            return x if enum and not own(t) else _int.__int__(x)
        if _id(_float) in ids:
            return _float.__float__(x)
        if _id(_str) in ids:
            return x if enum and not own(t) else _str.__str__(x)
        if _id(_complex) in ids:
            return _complex.__add__(x, 0j)
        if _id(_bytes) in ids:
            return _bytes.__add__(b"", x)
        if t is _list or t is _tuple or t is _set or t is _frozenset:
            if _set(_map(_type, x)) <= SCALARS:  # the common case, at C speed: as it is
                return x
        elif t is _dict and _set(_map(_type, x)) <= SCALARS and (
                _set(_map(_type, _dict.values(x))) <= SCALARS):
            return x
        i = _id(x)
        if i in path:  # a cycle: where it goes back to
            return ("<cycle>", path[i])
        path[i] = _len(path)
        try:
            if _id(_tuple) in ids:
                return _tuple(plain(e, path) for e in _tuple.__iter__(x))
            if _id(_list) in ids:
                return [plain(e, path) for e in _list.__iter__(x)]
            if _id(_dict) in ids:
                kind = (_Counter if _id(_Counter) in ids else
                        _OrderedDict if _id(_OrderedDict) in ids else _dict)
                d = {plain(k, path): plain(v, path) for k, v in _dict.items(x)}
                return d if kind is _dict else kind(d)  # Counter(pairs) would count them
            if _id(_frozenset) in ids:
                return _frozenset(plain(e, path) for e in _frozenset.__iter__(x))
            if _id(_set) in ids:
                return _set(plain(e, path) for e in _set.__iter__(x))
            if _id(_deque) in ids:
                return _deque(plain(e, path) for e in _deque.__iter__(x))
            if _id(_Fraction) in ids:  # its slots, not its numerator property
                return _Fraction(_int.__int__(_numerator(x)), _int.__int__(_denominator(x)))
            if not flags(t) & HEAP or _id(t) in trusted:
                return x  # a C type's own ==, or the tests' class
            mine = own(t)
            if mine is None:
                if enum or not library_ops(t, m):
                    return x  # ==, < ... of object (identity), an enum's member
                y = rebuilt(x, t, m, path)
                if y is not None:
                    return y
                mine = t.__name__
            if strict:
                raise _AssertionError("got a %s, whose operators are its own" % mine)
            return Struct(t, plain(state(x), path))
        finally:
            del path[i]
    def flat(x):
        try:
            return plain(x, {})
        except _RecursionError:
            raise _AssertionError("a value too deep to compare") from None
    ORDER = {"<": _ops.lt, "<=": _ops.le, ">": _ops.gt, ">=": _ops.ge}
    def one(op, a, b):
        sound()
        if op == "is":
            return a is b
        if op == "is not":
            return a is not b
        if op in ORDER:
            pa, pb = flat(a), flat(b)
            if _type(pa) is Struct or _type(pb) is Struct:
                # the class under test's own order, an answer that is a bool
                if _type(a) is not _type(b):
                    raise _TypeError("cannot order a %s and a %s" % (_type(a).__name__,
                                                                     _type(b).__name__))
                r = ORDER[op](a, b)
                if _type(r) is not _bool:
                    raise _AssertionError("%s answered a %s, not a bool" % (op,
                                                                            _type(r).__name__))
                return r
            return ORDER[op](pa, pb)
        pa = flat(a)
        if op in ("in", "not in"):
            pb = flat(b)
            if _type(pb) is Struct:  # a container of the solution's (a Trie): its own answer
                r = _ops.contains(b, pa)
            else:
                r = _ops.contains(pb, pa)
            return r if op == "in" else not r
        pb = flat(b)
        return pa == pb if op == "==" else pa != pb
    PLAIN_OPS = {"==": _ops.eq, "!=": _ops.ne, "<": _ops.lt, "<=": _ops.le, ">": _ops.gt,
                 ">=": _ops.ge}
    def cmp(ops, *xs):
        if _len(ops) == 1 and _type(xs[0]) in SCALARS and _type(xs[1]) in SCALARS and (
                ops[0] in PLAIN_OPS):
            return PLAIN_OPS[ops[0]](xs[0], xs[1])  # two plain values: the common case
        for i, op in _enumerate(ops):
            if not one(op, xs[i], xs[i + 1]):
                return False
        return True
    def val(x):
        # a call's value: an int, float or str subclass with operators of its own is the plain
        # value; an object with operators of its own is no answer (strict); the rest as it is
        t = _type(x)
        if t is _int or t is _float or t is _str or t is _list or t is _bool or x is None:
            return x
        if not flags(t) & HEAP or _id(t) in trusted:
            return x
        mine = own(t)
        if mine is None:
            return x
        ids = {_id(k) for k in mro(t)}
        if ids & {_id(_int), _id(_float), _id(_str), _id(_complex), _id(_bytes)}:
            return flat(x)
        if strict and not ids & {_id(_tuple), _id(_list), _id(_dict), _id(_set),
                                 _id(_frozenset)} and (
                own(t, BINARY)):  # compared, it is no answer either (cmp)
            raise _AssertionError("got a %s, whose operators are its own" % mine)
        return x
    # KodCode's tests call the solution through call: in a thread of its own, whose stack holds
    # none of the tests' frames. A solution returned sys._getframe(1).f_locals["expected"]
    # (or the parametrize argument `want`) and passed. A solution reached another way (a
    # property, a dunder, a generator the test iterates, a callback) still runs under them.
    # Only the tests' own thread calls through it: a thread the tests start runs the call
    # itself (the one worker, shared, deadlocked a q.get() waiting for the thread's q.put(),
    # and crossed the calls of several threads).
    worker, tests_thread = [], _get_ident()
    def mine(f):
        t = _type(f)
        if t is _MethodType:
            f = f.__func__
            t = _type(f)
        if t is _FunctionType:
            return f.__globals__ is _ns
        return _id(_type) in {_id(k) for k in mro(t)} and flags(f) & HEAP and (
            _id(f) not in trusted)
    def serve(go, done, box):
        while True:
            go.acquire()
            f, a, k = box[0], box[1], box[2]
            box[0] = box[1] = box[2] = None
            try:
                box[3] = f(*a, **k)
            except _BaseException as e:  # noqa: BLE001 - raised again in the test's thread
                box[4] = e
            f = a = k = None
            done.release()
    def call(f, *a, **k):
        if not mine(f) or _get_ident() != tests_thread:
            return val(f(*a, **k))  # not the solution, the solution calling back, a thread
        if not worker:
            go, done, box = _lock(), _lock(), [None] * 5
            go.acquire()
            done.acquire()
            worker[:] = [_start(serve, (go, done, box)), go, done, box]
        _, go, done, box = worker
        box[0], box[1], box[2] = f, a, k
        go.release()
        done.acquire()
        r, e = box[3], box[4]
        box[3] = box[4] = None
        if e is not None:
            try:
                raise e
            finally:
                e = None
        return val(r)
    MSG = {"assertEqual": "==", "assertEquals": "==", "assertListEqual": "==",
           "assertTupleEqual": "==", "assertDictEqual": "==", "assertSetEqual": "==",
           "assertSequenceEqual": "==", "assertMultiLineEqual": "==", "assertNotEqual": "!=",
           "assertIn": "in", "assertNotIn": "not in", "assertGreater": ">",
           "assertGreaterEqual": ">=", "assertLess": "<", "assertLessEqual": "<=",
           "assertIs": "is", "assertIsNot": "is not"}
    def check(how, a, b, *rest, **kw):
        # unittest's self.assertEqual(a, b) and its kin, without unittest's ==
        sound()
        if how == "assertAlmostEqual" or how == "assertNotAlmostEqual":
            pa, pb = flat(a), flat(b)
            places = rest[0] if rest else kw.get("places")
            delta = kw.get("delta")
            if pa == pb:
                close = True
            elif delta is not None:
                close = _abs(pa - pb) <= delta
            else:
                close = _round(_abs(pa - pb), 7 if places is None else places) == 0
            if close != (how == "assertAlmostEqual"):
                raise _AssertionError("%r and %r: %s failed" % (pa, pb, how))
            return None
        if how == "assertCountEqual":
            left, right = [flat(e) for e in a], [flat(e) for e in b]
            for e in left:
                for j, f in _enumerate(right):
                    if e == f:
                        del right[j]
                        break
                else:
                    raise _AssertionError("%r: an element not in the other" % (e,))
            if right:
                raise _AssertionError("%r: elements not in the other" % (right,))
            return None
        if not cmp((MSG[how],), a, b):
            raise _AssertionError("%s failed" % how)
        return None
    return _types.SimpleNamespace(cmp=cmp, val=val, call=call, trust=trust, check=check,
                                  intact=intact,
                                  b=_b)
"""

_CMP = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_UNITTEST_CHECKS = (
    "assertEqual assertEquals assertListEqual assertTupleEqual assertDictEqual assertSetEqual "
    "assertSequenceEqual assertMultiLineEqual assertNotEqual assertIn assertNotIn assertGreater "
    "assertGreaterEqual assertLess assertLessEqual assertIs assertIsNot assertAlmostEqual "
    "assertNotAlmostEqual assertCountEqual"
).split()
# super() needs its name to be seen by the compiler (the __class__ cell)
_KEEP_NAMES = {"super"}
# The checks in the rewritten tests: `"<_H>".__getitem__(0)`, whose constant the runner replaces
# by the tuple (checks,) in the compiled tests (_RUNNER's inject). It was a global the
# solution's namespace held, which the solution could find and rebind.
_H = "\0distill-checks"


def _is_h(node: ast.expr) -> bool:
    """Whether node is the rewrite's reference to the checks."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "__getitem__"
        and isinstance(node.func.value, ast.Constant)
        and node.func.value.value == _H
    )


class _Checked(ast.NodeTransformer):
    """The tests with every comparison, call value and builtin going through _CHECKS."""

    def __init__(self, builtin_names: set[str], calls: bool):
        self.builtin_names, self.calls = builtin_names, calls

    @staticmethod
    def _h(attr: str) -> ast.expr:
        h = ast.Call(
            ast.Attribute(ast.Constant(_H), "__getitem__", ast.Load()), [ast.Constant(0)], []
        )
        return ast.Attribute(h, attr, ast.Load())

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) == 1 and type(node.ops[0]) in (ast.Is, ast.IsNot):
            return node  # `x is None`: no method of x answers it
        ops = ast.Tuple([ast.Constant(_CMP[type(op)]) for op in node.ops], ast.Load())
        return ast.Call(self._h("cmp"), [ops, node.left, *node.comparators], [])

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        f = node.func
        if (
            isinstance(f, ast.Attribute)
            and f.attr in _UNITTEST_CHECKS
            and isinstance(f.value, ast.Name)
            and f.value.id == "self"
            and len(node.args) >= 2
            and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            args = [ast.Constant(f.attr), *node.args]
            keywords = [k for k in node.keywords if k.arg in ("places", "delta")]
            return ast.Call(self._h("check"), args, keywords)
        if self.calls and not (
            isinstance(node.func, ast.Subscript) or (isinstance(f, ast.Name) and f.id == "super")
        ):  # anything but a builtin (one that reads its caller's frame: locals(), super())
            return ast.Call(self._h("call"), [f, *node.args], node.keywords)
        return ast.Call(self._h("val"), [node], [])

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        v = node.value
        if (
            self.calls
            and isinstance(v, ast.Name)
            and v.id == "pytest"
            and node.attr in ("raises", "approx", "mark")
            and isinstance(node.ctx, ast.Load)
        ):  # the harness's, not the pytest module's (sys.modules['pytest'] can be rebound)
            return self._h(node.attr)
        if (
            isinstance(v, ast.Call)
            and isinstance(v.func, ast.Attribute)
            and v.func.attr == "val"
            and _is_h(v.func.value)
        ):  # f().x, f().method(): the object is read, never compared (what it gives is)
            node.value = v.args[0]
        return node

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.builtin_names:
            return ast.Subscript(self._h("b"), ast.Constant(node.id), ast.Load())
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        self.generic_visit(node)
        node.decorator_list.insert(0, self._h("trust"))
        return node


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere (assigned, defined, imported, a parameter)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            out.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            out.add(node.name)
    return out


def _imported(tree: ast.AST) -> list[str]:
    """The standard library modules the code imports (not sys, os, io: solutions change those
    legitimately, stdout and the recursion limit)."""
    import sys

    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return sorted(
        {
            n
            for n in names
            if n.split(".")[0] in sys.stdlib_module_names
            and n.split(".")[0] not in ("sys", "os", "io", "builtins", "posix", "signal")
        }
    )


@lru_cache(maxsize=4096)
def _checked(source: str, calls: bool = False) -> tuple[str, tuple[str, ...]] | None:
    """The tests rewritten to compare through _CHECKS, and the modules to watch; None when
    they do not parse (they fail as they are, in the sandbox). `calls`: every call but a
    builtin's goes through _CHECKS's call (the solution runs in a thread of its own)."""
    import builtins

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names = {n for n in vars(builtins) if not n.startswith("_")} - _KEEP_NAMES
    tree = _Checked(names - _bound_names(tree), calls).visit(tree)
    tree.body.append(ast.Expr(ast.Call(_Checked._h("intact"), [], [])))
    try:
        return ast.unparse(ast.fix_missing_locations(tree)), tuple(_imported(tree))
    except (ValueError, RecursionError):
        return None


# ----------------------------------------------------------------------------- pytest files

# KodCode's tests are a pytest file importing the solution as `solution`. Its test functions
# (and Test* classes' test methods, unittest cases) run in file order; pytest.raises, approx
# and mark.parametrize as pytest has them. A fixture cannot be run without pytest.
_PYTEST_MODULE = r"""
import re as _re
def __distill_pytest_module(_search=_re.search, _str=str, _type=type, _isinstance=isinstance,
                            _issubclass=issubclass, _len=len, _all=all, _zip=zip, _abs=abs,
                            _max=max, _list=list, _callable=callable, _bool=bool, _int=int,
                            _float=float, _tuple=tuple, _dict=dict,
                            _AssertionError=AssertionError):
    # pytest.raises, approx and mark, as pytest has them. Their classes can be found by the
    # solution (object.__subclasses__()): no method shares a variable with another or with the
    # runner, each takes what it calls as a default (the builtins of its namespace can be
    # rewritten), and the checks hold their classes unchanged (trust).
    class ExceptionInfo:  # `with pytest.raises(E) as excinfo:` then excinfo.value, .type
        value = type = typename = None
        def match(self, regexp, _search=_search, _str=_str, _A=_AssertionError):
            if not _search(regexp, _str(self.value)):
                raise _A("%r does not match %r" % (_str(self.value), regexp))
            return True
    class Raises:
        def __init__(self, expected, match=None, _Info=ExceptionInfo):
            self.expected, self.match, self.info = expected, match, _Info()
        def __enter__(self):
            return self.info
        def __exit__(self, t, e, tb, _issubclass=_issubclass, _search=_search, _str=_str,
                     _type=_type, _A=_AssertionError):
            if t is None:
                raise _A("DID NOT RAISE %r" % (self.expected,))
            if not _issubclass(t, self.expected):
                return False
            self.info.value, self.info.type, self.info.typename = e, t, t.__name__
            if self.match is not None and not _search(self.match, _str(e)):
                raise _A("pytest.raises: %r does not match %r" % (_str(e), self.match))
            return True
    def raises(expected, *call, match=None, _Raises=Raises, **kw):
        if not call:
            return _Raises(expected, match)
        # pytest.raises(E, f, *args): f called, its exception's info given back
        r = _Raises(expected, match)
        with r as info:
            call[0](*call[1:], **kw)
        return info
    class approx:
        def __init__(self, expected, rel=None, abs=None):
            self.expected, self.rel, self.abs = expected, rel, abs
        def __eq__(self, other, _isinstance=_isinstance, _len=_len, _all=_all, _zip=_zip,
                   _abs=_abs, _max=_max, _bool=_bool, _int=_int, _float=_float,
                   _list=_list, _tuple=_tuple, _dict=_dict):
            rel = 1e-6 if self.rel is None else self.rel
            ab = 1e-12 if self.abs is None else self.abs
            only_abs = self.rel is None and self.abs is not None
            todo = [(other, self.expected)]
            while todo:
                a, b = todo.pop()
                if _isinstance(b, (_list, _tuple)):
                    if not (_isinstance(a, (_list, _tuple)) and _len(a) == _len(b)):
                        return False
                    todo.extend(_zip(a, b))
                elif _isinstance(b, _dict):
                    if not (_isinstance(a, _dict) and a.keys() == b.keys()):
                        return False
                    todo.extend((a[k], b[k]) for k in b)
                elif _isinstance(b, _bool) or not _isinstance(b, (_int, _float)):
                    if not a == b:
                        return False
                elif not a == b:
                    tol = ab if only_abs else _max(rel * _abs(b), ab)
                    if not (_isinstance(a, (_int, _float)) and _abs(a - b) <= tol):
                        return False
            return True
        __hash__ = None
    class _Mark:
        def parametrize(self, names, values, _isinstance=_isinstance, _str=_str, _list=_list,
                        **_):
            if _isinstance(names, _str):
                names = [n.strip() for n in names.split(",")]
            else:
                names = _list(names)
            def deco(f, names=names, values=_list(values)):
                f.__dict__.setdefault("__distill_params", []).insert(0, (names, values))
                return f
            return deco
        def __getattr__(self, name, _len=_len, _callable=_callable):
            skip = name in ("skip", "skipif", "xfail")  # xfail: pytest fails the run neither way
            def mark(*a, _skip=skip, _name=name, _len=_len, _callable=_callable, **k):
                if _len(a) == 1 and _callable(a[0]) and not k:  # @pytest.mark.skip
                    if _skip:
                        a[0].__dict__["__distill_skip"] = True
                    return a[0]
                def deco(f, _skip=_skip, _name=_name, a=a):
                    if _skip and (_name != "skipif" or (a and a[0])):
                        f.__dict__["__distill_skip"] = True
                    return f
                return deco
            return mark
    return raises, approx, _Mark, (ExceptionInfo, Raises, approx, _Mark)
"""

# The runner: what the tests script runs (handed it by _GATE) with the rewritten tests. MBPP's and
# HumanEval's run in the solution's namespace; KodCode's pytest file as its own module,
# importing the solution as `solution`, its test functions (and Test* classes' test methods,
# unittest cases) in file order. The checks are a constant of the tests' code (_inject): no
# name the solution could rebind or read leads to them.
_RUNNER = r"""
import functools as _functools, sys as _sys, types as _types
def __distill_runner(H, marker, ns, parts, kodcode, _modules=_sys.modules,
                     _partial=_functools.partial,
                     _Module=_types.ModuleType, _CodeType=_types.CodeType,
                     _FunctionType=_types.FunctionType, _compile=compile, _exec=exec,
                     _type=type, _str=str, _tuple=tuple, _list=list, _dict=dict, _zip=zip,
                     _isinstance=isinstance, _issubclass=issubclass, _getattr=getattr,
                     _hasattr=hasattr, _dir=dir, _len=len, _id=id,
                     _AssertionError=AssertionError, _TypeError=TypeError):
    # KodCode's solution module, as the tests import it: the module whose globals the solution
    # runs in (named `solution` before it ran: _named). A copy of its names was: a test reading
    # a global its functions change (solution.COUNT), setting one (solution.helper = ...), or
    # patching one (mock.patch("solution.helper")) saw or changed the copy alone
    module = _modules.get("solution") if kodcode else None
    if _type(module) is not _Module or module.__dict__ is not ns:
        module = None
    if kodcode:  # (MBPP's and HumanEval's tests import none of this: 40 ms a run)
        import itertools, unittest
        _product, _TestCase = itertools.product, unittest.TestCase
        _Result, _loader = unittest.TestResult, unittest.defaultTestLoader
        raises, approx, Mark, classes = parts
        for c in classes:
            H.trust(c, True)
        # the tests' pytest.raises / approx / mark (the rewrite's): the pytest module in
        # sys.modules is the solution's to change
        H.raises, H.approx, H.mark = raises, approx, Mark()
    def _isfunction(f, _type=_type, _FunctionType=_FunctionType):
        return _type(f) is _FunctionType
    def inject(code):
        consts = []
        for c in code.co_consts:
            if _type(c) is _CodeType:
                c = inject(c)
            elif _type(c) is _str and c == marker:
                c = (H,)
            consts.append(c)
        return code.replace(co_consts=_tuple(consts))
    def calls(f, plan):
        if _getattr(f, "__dict__", {}).get("__distill_skip"):
            return
        sets = plan.get(_id(f), [])
        grids = []
        for names, values in sets:
            grids.append([_dict(_zip(names, v if _len(names) > 1 else (v,))) for v in values])
        for combo in _product(*grids):
            kw = {}
            for part in combo:
                kw.update(part)
            yield kw
    def run(source):
        # the source goes before the tests run: a solution walking up from a test's frame read
        # their asserts here; the code object is in no local either
        source = [source]
        solution = module
        if solution is None:
            solution = _Module("solution")
            solution.__dict__.update({k: v for k, v in ns.items() if not k.startswith("__")})
        _modules["solution"] = solution
        pytest = _Module("pytest")
        pytest.raises, pytest.approx, pytest.mark = raises, approx, Mark()
        _modules["pytest"] = pytest
        tests = {"__name__": "test_solution"}
        _exec(inject(_compile(source.pop(), "test_solution.py", "exec")), tests)
        # the parametrize tables leave the test functions (whose globals a function of the
        # tests handed to the solution shows it): here only; and the tests' globals as they
        # are now, which the solution may not rebind (a helper the tests call made a no-op)
        plan, names = {}, _dict(tests)
        for obj in _list(tests.values()):
            for fn in ([obj] if _isfunction(obj) else _list(obj.__dict__.values())
                       if _isinstance(obj, _type) and obj.__name__.startswith("Test") else []):
                if _isfunction(fn) and "__distill_params" in fn.__dict__:
                    plan[_id(fn)] = fn.__dict__.pop("__distill_params")
        def same():
            for k, v in _dict.items(names):
                if tests.get(k, same) is not v:
                    raise _AssertionError("the solution changed the tests' %s" % k)
        ran = 0
        for name, obj in _list(tests.items()):
            if name.startswith("test") and _isfunction(obj):
                for kw in calls(obj, plan):
                    obj(**kw)
                    same()
                    ran += 1
            elif _isinstance(obj, _type) and (
                    name.startswith("Test") or _issubclass(obj, _TestCase)):
                # (pytest collects a unittest.TestCase whatever its name: `class T(TestCase)`)
                if _issubclass(obj, _TestCase):
                    result = _Result()
                    suite = _loader.loadTestsFromTestCase(obj)
                    suite.run(result)
                    ran += suite.countTestCases()
                    if not result.wasSuccessful():
                        raise _AssertionError("%s failed" % name)
                    continue
                for meth in [m for m in _dir(obj) if m.startswith("test")]:
                    fn = _getattr(obj, meth)
                    for kw in calls(fn, plan):
                        inst = obj()
                        if _hasattr(inst, "setup_method"):
                            # pytest passes the method only to a setup_method that takes
                            # it: one that takes none is refused by the call itself (no
                            # frame of its own in the traceback; its code is the tests')
                            try:
                                inst.setup_method(_getattr(inst, meth))
                            except _TypeError as e:
                                if e.__traceback__.tb_next is not None:
                                    raise
                                e = None
                                inst.setup_method()
                        _getattr(inst, meth)(**kw)
                        same()
                        ran += 1
        if not ran:
            raise _AssertionError("no test ran")
        same()
        H.intact()
    def prepare(source):
        # what the tests script runs. MBPP's and HumanEval's tests call the solution from their
        # frames, which it may read (frames are not forbidden there): no frame of the harness
        # is under them, none whose locals lead to the checks (this runs in the gate's hook)
        if kodcode:
            return _partial(run, source)
        return _partial(_exec, inject(_compile(source, "tests.py", "exec")), ns)
    return prepare
"""

# Installed before the solution runs: an audit hook, which no code can reach or remove. The
# tests script reaches the runner through it alone: it reads the __code__ of a lambda of its
# own holding the run's token (given on stdin, read here: in no object the solution can read)
# and the tests' source, and the hook hands that lambda the tests ready to run (compiled, the
# checks their constant): no frame of the harness is under MBPP's tests, whose frames the
# solution may read (the runner's locals led to the checks). Before, the runner and the checks were globals of
# the solution's namespace: a solution that replaced __distill_pytest_<run> (found by its
# prefix) ran no test and passed, one that set its checks' cmp to `lambda *a: True` passed
# every assert. The hook also ends the run (as the guard does) when the solution
# - (KodCode, whose direct calls run where no test frame is: _CHECKS's call) reads a frame
#   from which the tests' frames are reached (sys._getframe, a traceback's, a generator's),
#   unless the tests (or the standard library for them) asked: a solution reached other than
#   by a direct call (map, a generator the test iterates, a property, a dunder) read the
#   expected value in the test's locals or the parametrize table in its globals; a
#   generator's frame (whose caller changes) counts as the tests'. MBPP's and HumanEval's
#   call the solution from the tests' frames, whose constants the guard keeps;
# - reads the code of a lambda or nested function of the tests (the guard lets it: a callback
#   it was handed) that holds the checks, other than for its signature or kind (inspect);
# - rewrites the code or defaults of the harness's functions, or makes code that claims to be
#   the tests', the harness's, the guard's or the standard library's (whose frames are trusted
#   here);
# - adds an audit hook of its own (refused: it is not added).
_GATE = r"""
import os as _os, signal as _signal, sys as _sys, types as _types, _thread
def __distill_gate(run, H, frames, _read=_os.read, _write=_os.write, _die=_signal.raise_signal,
                   _getframe=_sys._getframe, _add=_sys.addaudithook,
                   _repr=_types.FrameType.__repr__, _FunctionType=_types.FunctionType,
                   _ident=_thread.get_ident, _setattr=object.__setattr__, _type=type, _str=str,
                   _tuple=tuple, _getattr=getattr, _decode=bytes.decode,
                   _RuntimeError=RuntimeError, _libdir=_os.path.dirname(_os.__file__)):
    chunks = []
    while True:
        b = _read(0, 65536)
        if not b:
            break
        chunks.append(b)
    token = _decode(b"".join(chunks), "utf-8")
    done, busy = [], {}
    TESTS = ("file 'tests.py', line", "file 'test_solution.py', line")
    TRUSTED = TESTS + ("file '<distill>', line", "file '/in/.guard.py', line")
    LIB = ("file '%s/" % _libdir, "file '<frozen ")
    NAMES = ("tests.py", "test_solution.py", "<distill>", "/in/.guard.py")
    # the standard library's frame readers that only read their caller's module name
    NAMING = (", code namedtuple>", ", code _caller>", ", code _create_>")
    FRAMES = ("tb_frame", "gi_frame", "cr_frame", "ag_frame")
    # the standard library's readers of a function's code that give back none of its
    # constants: its signature, its kind
    SIGNATURE = (", code _signature_from_function>", ", code _has_code_flag>",
                 ", code isgeneratorfunction>", ", code iscoroutinefunction>",
                 ", code isasyncgenfunction>")
    def stop(what, _write=_write, _die=_die):
        try:
            _write(2, ("\nsandbox violation: %s\n" % what).encode())
        finally:
            _die(9)
    def library(r, LIB=LIB):
        for s in LIB:
            if s in r:
                return True
        return False
    def trusted(r, TRUSTED=TRUSTED):
        for s in TRUSTED:
            if s in r:
                return True
        return False
    def asked_by_tests(p, _repr=_repr, library=library, trusted=trusted):
        # the first frame that is not the standard library's: the tests', the harness's,
        # the guard's
        while p is not None:
            r = _repr(p)
            if trusted(r):
                return True
            if not library(r):
                return False
            p = p.f_back
        return False
    def reaches_tests(f, _repr=_repr, TESTS=TESTS):
        while f is not None:
            r = _repr(f)
            for s in TESTS:
                if s in r:
                    return True
            if f.f_code.co_flags & 0x2a0:  # a generator's, a coroutine's: its caller changes
                return True
            f = f.f_back
        return False
    def holds_checks(c, H=H, _type=_type, _tuple=_tuple, _len=len, _CodeType=_types.CodeType):
        # whether code of the tests holds the checks (inject's constant (H,)), itself or a
        # function or class it defines
        todo = [c]
        while todo:
            for x in todo.pop().co_consts:
                if _type(x) is _CodeType:
                    todo.append(x)
                elif _type(x) is _tuple and _len(x) == 1 and x[0] is H:
                    return True
        return False
    def hook(event, args, _ident=_ident, _getframe=_getframe, _repr=_repr, _type=_type,
             _str=_str, _FunctionType=_FunctionType, _setattr=_setattr, _getattr=_getattr,
             _tuple=_tuple, _len=len,
             _RuntimeError=_RuntimeError, token=token, run=run, done=done, busy=busy,
             stop=stop, library=library, asked_by_tests=asked_by_tests,
             reaches_tests=reaches_tests, NAMES=NAMES, NAMING=NAMING, FRAMES=FRAMES,
             LIB=LIB, frames=frames, holds_checks=holds_checks, SIGNATURE=SIGNATURE):
        if event == "object.__getattr__":
            name = args[1]
            if name != "__code__" and name not in FRAMES:
                return
        elif event not in ("sys._getframe", "sys.addaudithook", "object.__setattr__",
                           "compile", "code.__new__"):
            return
        me = _ident()
        if me in busy:  # this hook's own reads
            return
        busy[me] = True
        try:
            if event == "sys.addaudithook":
                raise _RuntimeError("no audit hook of the solution's")
            if event == "object.__getattr__" and name == "__code__":
                f = args[0]
                if _type(f) is not _FunctionType:
                    return
                c = f.__code__
                if done:
                    # a lambda or nested function of the tests, handed to the solution (whose
                    # code the guard lets it read): its constants hold the checks when it
                    # compares or calls
                    if c.co_filename in ("tests.py", "test_solution.py") and holds_checks(c):
                        p = _getframe(1)
                        r = _repr(p)
                        if not (library(r) and r.endswith(SIGNATURE)) and not asked_by_tests(p):
                            stop("reading the code of the tests")
                    return
                if f.__name__ != "<lambda>" or c.co_filename != "tests.py":
                    return
                for x in c.co_consts:  # the lambda's value: (token, the tests' source)
                    if _type(x) is _tuple and _len(x) == 2 and _type(x[0]) is _str and (
                            x[0] == token and _type(x[1]) is _str):
                        done.append(True)
                        _setattr(f, "run", run(x[1]))
                return
            p = _getframe(1)
            if event == "object.__setattr__":
                f = args[0]
                if args[1] in ("__code__", "__defaults__", "__kwdefaults__") and (
                        _type(f) is _FunctionType and f.__code__.co_filename == "<distill>"):
                    stop("rewriting the harness")
                return
            if event == "compile" or event == "code.__new__":
                fn = args[1]
                if _type(fn) is not _str or asked_by_tests(p):
                    return
                if fn in NAMES:
                    stop("code that claims to be the tests' or the harness's")
                if fn.startswith(LIB[0][6:]) or fn.startswith("<frozen "):
                    if event == "code.__new__" or not library(_repr(p)):
                        stop("code that claims to be the standard library's")
                return
            if not frames:
                return
            f = args[0] if event == "sys._getframe" else _getattr(args[0], name)
            if f is None or not reaches_tests(f):
                return
            r = _repr(p)
            if library(r) and r.endswith(NAMING):
                return
            if not asked_by_tests(p):
                stop("reading the tests' frames")
        finally:
            del busy[me]
    _add(hook)
"""


_PYTEST_HAS = ("pytest.raises", "pytest.approx", "pytest.mark")


def _pytest_suite(source: str) -> CodeTests | str:
    """KodCode's pytest file, when it runs without pytest: no fixtures, tests taking only the
    arguments their parametrize marks give."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return _Refused("the test file does not parse")

    def params(f: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> str | None:
        given = set()
        for d in f.decorator_list:
            if isinstance(d, ast.Call) and ast.unparse(d.func).endswith("parametrize"):
                if (
                    d.args
                    and isinstance(d.args[0], ast.Constant)
                    and isinstance(d.args[0].value, str)
                ):
                    given |= {n.strip() for n in d.args[0].value.split(",")}
                elif d.args and isinstance(d.args[0], (ast.List, ast.Tuple)):
                    given |= {e.value for e in d.args[0].elts if isinstance(e, ast.Constant)}
            if "fixture" in ast.unparse(d):
                return "pytest fixtures are not supported"
        names = [a.arg for a in f.args.args][1 if method else 0 :]
        missing = [n for n in names if n not in given]
        return f"pytest fixtures are not supported ({', '.join(missing)})" if missing else None

    import sys

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
            if names == ["pytest"]:
                names += [f"pytest.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute) and ast.unparse(node.value) == "pytest":
            names = [f"pytest.{node.attr}"]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if name.startswith("pytest.") and name not in _PYTEST_HAS:
                return _Refused(f"the tests use {name}, which runs only under pytest")
            if top not in sys.stdlib_module_names and top not in ("solution", "pytest"):
                return _Refused(f"the tests import {top}; the sandbox has the standard library")
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test"):
                return _Refused("async tests are not supported")
            why = params(node, method=False) if node.name.startswith("test") else None
            if why or any("fixture" in ast.unparse(d) for d in node.decorator_list):
                return _Refused(why or "pytest fixtures are not supported")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    why = params(item, method=True)
                    if why:
                        return _Refused(why)
    return CodeTests("script", script=source, layout="KodCode")  # run by _RUNNER


# ----------------------------------------------------------------------------- verify


def has_tests(meta: dict[str, Any]) -> bool:
    """Whether verify_code runs a row's tests (it says unverifiable before it runs anything):
    read, not run (eval's and select's question whether a problem can be checked at all)."""
    suite = _suite(code_tests(meta))
    if not isinstance(suite, CodeTests):
        return False
    if suite.kind in ("stdin", "call") and not suite.inputs:
        return False
    return suite.kind != "call" or _call_script(suite, 1.0, "m", "e") is not None


def _suite(tests: object, calls: bool = False) -> CodeTests | str | None:
    """The forms `tests` may take -> CodeTests, why they cannot run (str), or None. `calls`:
    APPS's call-based tests (fn_name) run (code_tests asks for them)."""
    if isinstance(tests, (CodeTests, _Refused)):
        return tests
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except ValueError:
            pass
    if isinstance(tests, list) and any(isinstance(t, dict) for t in tests):
        # LiveCodeBench: [{"input", "output", "testtype": "stdin" | "functional"}, ...]; a dict
        # is never an assert line, so any other shape is not a test we can run.
        return _lcb_suite(tests, None, "LiveCodeBench")
    if isinstance(tests, dict) and "inputs" in tests and "outputs" in tests:
        inputs, outputs = tests["inputs"], tests["outputs"]
        if not isinstance(inputs, list) or not isinstance(outputs, list):
            return "unrecognised tests"
        if not inputs or len(inputs) != len(outputs):
            return "inputs/outputs differ in number" if inputs else "no tests"
        fn = tests.get("fn_name")
        if fn:  # APPS / TACO call-based: the arguments, the value
            if not calls:
                return "call-based tests are not supported"
            if not isinstance(fn, str) or not fn.isidentifier():
                return "unrecognised fn_name"
            return CodeTests(
                "call", tuple(inputs), tuple(outputs), "apps", fn_name=fn, prelude=_APPS_PRELUDE
            )
        # APPS/TACO hold some tests as lists of lines; APPS's own judge joins them
        inputs, outputs = (
            tuple(str("\n".join(map(str, x)) if isinstance(x, list) else x) for x in xs)
            for xs in (inputs, outputs)
        )
        return CodeTests("stdin", inputs, outputs, "apps")
    if isinstance(tests, list) and tests:
        tests = "\n".join(map(str, tests))
    if isinstance(tests, str) and tests.strip():
        return CodeTests("script", script=tests)
    return None


def verify_code(
    answer: str,
    tests: object,
    timeout: float = 5.0,
    mem_mb: int = 512,
    isolation: str | None = None,
) -> tuple[str, str]:
    """-> (verdict, detail). tests: {"inputs": [...], "outputs": [...]} (stdin/stdout pairs),
    a LiveCodeBench test list, a list of assert lines, a string of test code, or what
    code_tests read from a row (call-based tests included). `timeout`: each test's limit."""
    from distill.filter.sandbox import run_code

    code = extract_code(answer)
    if code is None:
        return NO_ANSWER, "no code block"
    suite = _suite(tests)
    if suite is None:
        return UNVERIFIABLE, "no tests"
    if isinstance(suite, str):
        return UNVERIFIABLE, suite
    limits = dict(timeout=timeout, cpu_s=max(1, int(timeout)), mem_mb=mem_mb, isolation=isolation)
    run = secrets.token_hex(8)  # the harness's names and marker, new each run
    named = "" if suite.kind == "stdin" else _named(f"__distill_name_{run}", _module_name(suite))
    # a `from __future__ import` must be a file's first statement: before what goes first
    future, code = _future_first(code)
    named = future + named
    program = named + suite.prelude + code
    if suite.kind == "stdin":
        if not suite.inputs:
            return UNVERIFIABLE, "no tests"
        for i, (inp, exp) in enumerate(zip(suite.inputs, suite.outputs)):
            r = run_code(program, stdin=inp, **limits)
            if not r.ok:
                return WRONG, f"test {i}: {r.reason}"
            if not _output_ok(suite.compare, r.stdout, exp):
                return WRONG, f"test {i}: wrong output"
        return CORRECT, f"{len(suite.inputs)} tests"
    if suite.kind == "call":
        if not suite.inputs:
            return UNVERIFIABLE, "no tests"
        marker, entry = f"distill-{run}", f"__distill_calls_{run}"
        made = _call_script(suite, timeout, marker, entry)
        if made is None:
            return UNVERIFIABLE, "a test's arguments are not JSON"
        script, wants = made
        n = len(wants)
        # each call has `timeout` (the harness's timer); the run as a whole, all of them
        total = dict(limits, timeout=timeout * n + 2, cpu_s=max(1, int(timeout * n) + 1))
        program = named + suite.prelude + _harness("__distill_calls", _CALL_HARNESS, entry) + code
        r = run_code(program, tests=script, **total)
        return _call_verdict(r, marker, wants, "apps" if suite.compare == "apps" else "lcb")
    # The asserts run after the solution in its namespace, under the sandbox's guard: the
    # run is ok only when they all ran and passed. One that exits first (exit(), sys.exit(0),
    # os._exit) skipped them: "exited before the tests ran" (its `if __name__ == "__main__":`
    # block does not run: _module_name). The verdict is no mark the program prints (the
    # solution could find and print it).
    # They compare through _CHECKS (_checked), made before the solution runs, and run by
    # _RUNNER, which the tests script reaches through _GATE with the run's token.
    kodcode = suite.layout == "KodCode"
    rewritten = _checked(suite.script, calls=kodcode)
    source, modules = (suite.script, ()) if rewritten is None else rewritten
    if kodcode:
        modules = tuple(sorted({*modules, "unittest"}))
    token = secrets.token_hex(16)
    script = f"(lambda f: f.__code__ and f)(lambda: ({token!r}, {source!r})).run()\n"
    prelude = _setup(f"__distill_setup_{run}", not kodcode, modules, kodcode)
    r = run_code(named + prelude + suite.prelude + code, tests=script, stdin=token, **limits)
    if not r.ok:
        return WRONG, r.reason
    return CORRECT, "asserts passed"


# a source's lines as Python's tokenizer counts them (str.splitlines also splits at \f, \x1c,
# \u2028 ...: an ast line number was another line)
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _future_first(code: str) -> tuple[str, str]:
    """-> (the solution's head: its docstring and `from __future__ import ...` statements, as
    written; the rest, in its lines). Such an import is legal only at a file's start: put after
    the harness, a correct solution written with `from __future__ import annotations` was a
    SyntaxError, judged wrong (KodCode imports it as its own module, MBPP runs it alone).
    Only imports where Python takes them move, and nothing else: one after other code is the
    solution's SyntaxError (moved, it passed), and code sharing their line (`from __future__
    import annotations; import builtins; ...`) ran before the harness was made."""
    if "__future__" not in code:
        return "", code
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError):
        return "", code  # judged as it is
    first = body[0] if body else None  # a docstring may go before them
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    i = 1 if docstring and isinstance(first.value.value, str) else 0
    last = None
    while i < len(body) and isinstance(body[i], ast.ImportFrom):
        if body[i].module != "__future__" or body[i].level:
            break
        last, i = body[i], i + 1
    if last is None or last.end_lineno is None or last.end_col_offset is None:
        return "", code
    lines = _LINES.findall(code)
    try:
        n = last.end_lineno - 1
        tail = lines[n].encode()[last.end_col_offset :].decode()
        head = "".join(lines[:n]) + lines[n][: len(lines[n]) - len(tail)]
    except (IndexError, UnicodeError):
        return "", code
    # what follows the last import on its line: a comment, or `; more code`
    tail = tail.lstrip(" \t")
    tail = tail[1:].lstrip(" \t") if tail.startswith(";") else tail
    rest = "\n" * n + (tail or "\n") + "".join(lines[n + 1 :])
    try:
        ast.parse(rest)
    except (SyntaxError, ValueError):
        return "", code
    return head.rstrip("\r\n") + "\n", rest


def _setup(name: str, strict: bool, modules: tuple, kodcode: bool) -> str:
    """Python going before the solution: the checks, the runner and the gate, each made in a
    namespace of its own from builtins taken then; nothing of them is left in the solution's."""
    parts = (
        f"load({_PYTEST_MODULE!r}, '__distill_pytest_module')()" if kodcode else "None"
    )  # (pytest's helpers: KodCode's alone)
    return (
        f"def {name}(ns):\n"
        "    import builtins\n"
        "    def load(src, name):\n"
        "        g = {'__builtins__': dict(vars(builtins))}\n"
        "        exec(compile(src, '<distill>', 'exec'), g)\n"
        "        return g[name]\n"
        f"    checks = load({_CHECKS!r}, '__distill_checks')({strict!r}, {modules!r}, ns)\n"
        f"    parts = {parts}\n"
        f"    run = load({_RUNNER!r}, '__distill_runner')(checks, {_H!r}, ns, parts, {kodcode!r})\n"
        f"    load({_GATE!r}, '__distill_gate')(run, checks, {kodcode!r})\n"
        f"{name}(globals())\n"
        f"del {name}\n"
    )


def _why(r: Any) -> str:
    """A failed call-based run's reason, with the test the harness named (if it did)."""
    if r.reason == "killed (SIGALRM)":
        return "timeout"
    found = re.findall(r"AssertionError: (test \d+: [a-z ]+)", r.stderr)
    return f"{found[-1]}" if found and r.reason == "tests failed" else r.reason
