"""Running model-written code: a subprocess with limits, never in our process.

    python -c "from distill.filter.sandbox import run_code; print(run_code('print(input())', stdin='hi'))"

Layers, each cheap: its own temp dir as cwd; rlimits on CPU time, address space, file size
and open files; its own process group, killed whole on the wall-clock timeout; a minimal
environment; a network namespace of its own when we may make one (root); and a guard loaded
before the code that refuses sockets, fork/exec/subprocess and writes outside the temp dir.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

GUARD = r"""
import builtins, os, sys
_root = os.path.realpath(os.getcwd())
def _deny(*a, **k):
    raise PermissionError("sandbox: not allowed")
for _name in ("fork", "forkpty", "system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle",
              "execlp", "spawnv", "spawnve", "posix_spawn", "posix_spawnp", "setsid", "kill", "killpg"):
    if hasattr(os, _name):
        setattr(os, _name, _deny)
def _hook(event, args):
    if event.startswith("socket.") or event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                                                 "os.spawn", "os.fork", "os.forkpty", "ctypes.dlopen"):
        raise PermissionError("sandbox: " + event + " not allowed")
    if event == "open" and args and isinstance(args[0], (str, bytes)):
        mode = args[1] if len(args) > 1 else "r"
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            path = os.path.realpath(os.fsdecode(args[0]))
            if not (path == _root or path.startswith(_root + os.sep)):
                raise PermissionError("sandbox: write outside the sandbox dir: " + path)
    if event in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "shutil.rmtree") and args:
        path = os.path.realpath(os.fsdecode(args[0])) if isinstance(args[0], (str, bytes)) else ""
        if not path.startswith(_root):
            raise PermissionError("sandbox: " + event + " outside the sandbox dir")
sys.addaudithook(_hook)
del _hook, _deny, _name
_src = open(sys.argv[1]).read()
sys.argv = sys.argv[1:]
exec(compile(_src, "solution.py", "exec"), {"__name__": "__main__"})
"""


@dataclass
class Result:
    ok: bool  # exited 0 within limits
    stdout: str
    stderr: str
    reason: str  # ok | timeout | exit N | killed (signal)


def _unshare_net() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(0x40000000)  # CLONE_NEWNET: a namespace with no interfaces up
    except Exception:  # noqa: BLE001 - not permitted: the guard still refuses sockets
        pass


def _limits(cpu_s: int, mem_bytes: int) -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _unshare_net()


def run_code(
    code: str, stdin: str = "", timeout: float = 5.0, cpu_s: int = 5, mem_mb: int = 512
) -> Result:
    with tempfile.TemporaryDirectory(prefix="distill-sandbox-") as tmp:
        src = os.path.join(tmp, "solution.py")
        guard = os.path.join(tmp, ".guard.py")
        with open(src, "w") as f:
            f.write(code)
        with open(guard, "w") as f:
            f.write(GUARD)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": tmp,
            "TMPDIR": tmp,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "LANG": "C.UTF-8",
        }
        proc = subprocess.Popen(
            [sys.executable, "-I", guard, src],
            cwd=tmp,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: _limits(cpu_s, mem_mb << 20),
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            return Result(False, out[-4000:], err[-4000:], "timeout")
        finally:
            _kill_group(proc)  # children it may have left behind
        if proc.returncode == 0:
            return Result(True, out, err[-4000:], "ok")
        if proc.returncode < 0:
            return Result(
                False, out[-4000:], err[-4000:], f"killed ({signal.Signals(-proc.returncode).name})"
            )
        return Result(False, out[-4000:], err[-4000:], f"exit {proc.returncode}")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def extract_code(answer: str) -> str | None:
    """The last fenced code block (```python preferred)."""
    import re

    blocks = re.findall(r"```(\w*)\n(.*?)```", answer or "", flags=re.DOTALL)
    if not blocks:
        return None
    py = [b for lang, b in blocks if lang.lower() in ("python", "py", "python3")]
    return (py or [b for _, b in blocks])[-1]


def verify_code(
    answer: str, tests: object, timeout: float = 5.0, mem_mb: int = 512
) -> tuple[str, str]:
    """-> (verdict, detail). tests: {"inputs": [...], "outputs": [...]} (stdin/stdout pairs),
    a list of assert lines, or a string of test code."""
    from distill.filter.verify import CORRECT, NO_ANSWER, UNVERIFIABLE, WRONG

    code = extract_code(answer)
    if code is None:
        return NO_ANSWER, "no code block"
    if isinstance(tests, str):
        import json

        try:
            tests = json.loads(tests)
        except ValueError:
            pass
    if isinstance(tests, dict) and "inputs" in tests and "outputs" in tests:
        for i, (inp, exp) in enumerate(zip(tests["inputs"], tests["outputs"])):
            r = run_code(
                code, stdin=str(inp), timeout=timeout, cpu_s=max(1, int(timeout)), mem_mb=mem_mb
            )
            if not r.ok:
                return WRONG, f"test {i}: {r.reason}"
            if r.stdout.split() != str(exp).split():
                return WRONG, f"test {i}: wrong output"
        return CORRECT, f"{len(tests['inputs'])} tests"
    if isinstance(tests, list) and tests:
        tests = "\n".join(map(str, tests))
    if isinstance(tests, str) and tests.strip():
        r = run_code(
            code + "\n\n" + tests, timeout=timeout, cpu_s=max(1, int(timeout)), mem_mb=mem_mb
        )
        return (CORRECT, "asserts passed") if r.ok else (WRONG, r.reason)
    return UNVERIFIABLE, "no tests"
