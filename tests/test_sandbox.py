"""Model-written code is treated as hostile: it is stopped, reported and never kept, and the
run goes on. Each hostile solution below also prints the right answer, so only the sandbox
stands between it and a "correct" verdict.

Every attack runs twice: under each OS isolation alone (`guard=False`: the kernel must hold by
itself; the solution runs to the end and prints the answer), and the way the filter runs it
(OS isolation + the Python guard, through verify_code: the verdict must not be correct).
"""

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.filter import sandbox
from distill.filter.code import verify_code
from distill.filter.sandbox import MODES, probe, run_code

ISOLATED = [m for m in MODES if probe(m) is None]
needs_isolation = pytest.mark.skipif(
    not ISOLATED, reason="no OS isolation on this host (install bubblewrap)"
)
BEST = ISOLATED[0] if ISOLATED else "none"  # for tests about verdicts, not isolation
TESTS = {"inputs": ["21\n"], "outputs": ["42\n"]}
CANARY = f"distill-canary-{uuid.uuid4().hex}"


def hostile(*attacks: str) -> str:
    """Each attack, its failure swallowed, then the right answer to TESTS."""
    code = "import os, sys\n"
    for attack in attacks:
        body = textwrap.indent(textwrap.dedent(attack).strip(), "    ")
        code += f"try:\n{body}\nexcept BaseException as e:\n    print('blocked:', repr(e), file=sys.stderr)\n"
    return code + "print(int(input()) * 2)\n"


def fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}```\n"


# ----------------------------------------------------------------------------- honest code


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_good_code_runs_with_stdin(mode):
    r = run_code("print(int(input()) * 2)", stdin="21", isolation=mode)
    assert r.ok and r.stdout.strip() == "42", r


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_honest_solutions_are_kept(mode):
    # LiveCodeBench-style: a JSON string of stdin/stdout pairs, multi-line input, stdlib
    # imports, recursion, a temp file in its own work dir.
    lcb = json.dumps({"inputs": ["3\n1 2 3\n", "2\n10 -4\n"], "outputs": ["6\n", "6\n"]})
    code = textwrap.dedent(
        """
        import sys, heapq, tempfile
        from functools import lru_cache
        sys.setrecursionlimit(10000)
        @lru_cache(None)
        def depth(n): return 0 if n == 0 else 1 + depth(n - 1)
        assert depth(2000) == 2000
        with tempfile.TemporaryFile("w+") as f:
            f.write("scratch")
        open("notes.txt", "w").write("fine")
        n = int(input()); xs = list(map(int, input().split()))
        print(sum(heapq.nsmallest(n, xs)))
        """
    )
    assert verify_code(fenced(code), lcb, isolation=mode) == ("correct", "2 tests")


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_solutions_reading_dev_stdin_are_kept(mode):
    # A common competitive-programming idiom; the sandbox's /dev had no stdin and the guard
    # killed the open as a violation, so honest solutions were judged wrong.
    code = "import sys\nsys.stdin = open('/dev/stdin')\nprint(sum(map(int, sys.stdin.read().split())))\n"
    tests = {"inputs": ["1 2\n3\n"], "outputs": ["6\n"]}
    assert verify_code(fenced(code), tests, isolation=mode) == ("correct", "1 tests")
    w = run_code("open('/dev/stdin', 'w').write('x')", isolation=mode)
    assert not w.ok  # reading only: the guard still stops a write


def test_verify_code_stdin_stdout_and_asserts():
    def verify(answer, tests, **kw):
        return verify_code(answer, tests, isolation=BEST, **kw)

    ans = "Here:\n```python\nn = int(input())\nprint(n * n)\n```"
    assert verify(ans, {"inputs": ["3\n", "4\n"], "outputs": ["9\n", "16\n"]})[0] == "correct"
    assert verify(ans, {"inputs": ["3\n"], "outputs": ["10\n"]})[0] == "wrong"
    fn = "```python\ndef add(a, b):\n    return a + b\n```"
    assert verify(fn, ["assert add(1, 2) == 3", "assert add(2, 2) == 4"])[0] == "correct"
    assert verify(fn, ["assert add(1, 2) == 4"])[0] == "wrong"
    assert verify("no code", ["assert True"])[0] == "no_answer"
    loop = "```python\nwhile True: pass\n```"
    assert verify(loop, ["assert True"], timeout=1)[0] == "wrong"


def test_verify_code_reads_livecodebench_test_lists():
    # LiveCodeBench's test cases: a list of {"input", "output", "testtype"}. Run as assert
    # lines they tested nothing: a solution printing anything was kept, an honest one that
    # reads stdin failed on its empty input.
    ans = fenced("n = int(input())\nprint(n * n)\n")
    lcb = [
        {"input": "3\n", "output": "9\n", "testtype": "stdin"},
        {"input": "4\n", "output": "16\n", "testtype": "stdin"},
    ]
    assert verify_code(ans, json.dumps(lcb), isolation=BEST) == ("correct", "2 tests")
    lazy = fenced("import sys\nprint(sys.stdin.read())\n")
    assert verify_code(lazy, lcb, isolation=BEST)[0] == "wrong"
    fn = [{"input": "[1, 2]", "output": "3", "testtype": "functional"}]
    assert verify_code(ans, fn, isolation=BEST)[0] == "unverifiable"
    apps = {"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}
    assert verify_code(ans, apps, isolation=BEST)[0] == "unverifiable"
    # No test at all is no evidence: never "correct" with 0 tests.
    assert verify_code(lazy, {"inputs": [], "outputs": []}, isolation=BEST)[0] == "unverifiable"
    # Shapes that are not tests: one verdict each, never a traceback in a filter worker, never
    # dict reprs run as "assert lines" that assert nothing.
    for bad in ({"inputs": 5, "outputs": 5}, {"inputs": ["1"], "outputs": []}, [{"stdin": "1"}]):
        assert verify_code(lazy, bad, isolation=BEST)[0] == "unverifiable", bad


# ----------------------------------------------------------------------------- limits


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
@pytest.mark.parametrize(
    "name, code",
    [
        ("infinite loop", "while True:\n    pass"),
        ("memory hog", "x = bytearray(8 << 30)\nprint(len(x))"),
        ("fork bomb", "import os\nwhile True:\n    os.fork()"),  # the guard stops the first
        ("subprocess", "import subprocess\nsubprocess.run(['echo', 'hi'])"),
    ],
)
def test_escapes_are_stopped(name, code, mode):
    # 1 CPU second: the infinite loop burns all of it (3 modes: 3 s of the suite's 2 cores)
    r = run_code(code, timeout=2, cpu_s=1, isolation=mode)
    assert not r.ok, name


@pytest.mark.parametrize("mode", ISOLATED)
def test_the_work_dir_is_size_capped(mode):
    code = "".join(f"open('big{i}', 'wb').write(bytes(15 << 20))\n" for i in range(8))
    code += "print('filled')"
    r = run_code(code, isolation=mode, guard=False, mem_mb=1024)
    assert not r.ok and "filled" not in r.stdout


@pytest.mark.parametrize("mode", ISOLATED)
def test_only_the_work_dir_is_writable(mode):
    # bwrap's root is a tmpfs of its own with no size cap: left writable, files there would
    # fill the host's memory past the capped /work.
    code = "import os\nfor d in ('/', '/dev', '/proc', '/in', '/work'):\n"
    code += "    try:\n        open(d + '/x', 'w').write('1'); print(d)\n    except OSError:\n        pass"
    r = run_code(code, isolation=mode, guard=False)
    assert r.ok and r.stdout.split() == ["/work"], r


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
def test_timeout_kills_the_whole_process_group(mode):
    r = run_code("import time\ntime.sleep(60)", timeout=1, isolation=mode)
    assert r.reason == "timeout"


@pytest.mark.parametrize("mode", ISOLATED)
def test_no_stray_processes_left(mode):
    # Without the guard the sleeper forks a child into the sandbox's pid namespace; the
    # wall-clock kill must take it along.
    # The solution re-executes itself with a mark of this test in its command line (the child
    # forked after it inherits it): ps is machine-wide, and other tests (other xdist workers)
    # run sandboxed solutions of their own at the same time.
    mark = f"stray-{uuid.uuid4().hex}"
    body = "import os, time\nif os.fork() == 0:\n    time.sleep(31)\ntime.sleep(30)"
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {body!r}, {mark!r}])"
    r = run_code(code, timeout=1, isolation=mode, guard=False)
    assert r.reason == "timeout"
    import time

    for _ in range(7):  # gone within 0.3 s, as before; ps again until then
        mine = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if mark not in mine:
            break
        time.sleep(0.05)
    assert mark not in mine


@needs_isolation
@pytest.mark.parametrize("mode", ISOLATED)
def test_the_sandbox_sees_only_itself(mode):
    code = textwrap.dedent(
        """
        import ctypes, os
        print(sorted(os.listdir("/dev")))
        print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        print(sorted(os.listdir("/")), os.getuid(), os.getgid(), dict(os.environ).get("HOME"))
        print(open("/proc/self/status").read().split("CapEff:")[1].split()[0])
        print(ctypes.CDLL(None).unshare(0x10000000))  # a nested user namespace
        """
    )
    r = run_code(code, isolation=mode, guard=False)
    devs, pids, top, caps, nested = r.stdout.splitlines()
    assert devs == "['null', 'stdin', 'urandom', 'zero']"
    assert (
        max(ast.literal_eval(pids)) < 10
    )  # its own pid namespace: the host's processes are not there
    assert "'home'" not in top and "'etc'" not in top and "65534 65534 /work" in top
    assert int(caps, 16) == 0 and nested == "-1"


SYSTEM_PYTHON = "/usr/bin/python3"
can_drop = pytest.mark.skipif(
    os.geteuid() != 0
    or not os.path.exists(SYSTEM_PYTHON)
    or not sandbox._nobody_can_read([SYSTEM_PYTHON]),
    reason="needs root and an interpreter that uid 65534 can read",
)


def _host_uid_of_solution(mode: str, python: str | None) -> int:
    """The host's view of the uid the sandboxed solution runs as."""
    found: list[int] = []

    def watch():
        import time

        for _ in range(100):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmd = open(f"/proc/{pid}/cmdline", "rb").read()
                    status = open(f"/proc/{pid}/status").read()
                except OSError:
                    continue
                if mark in cmd and b"bwrap" not in cmd and b"unshare" not in cmd:
                    found.append(int(status.split("Uid:")[1].split()[0]))
                    os.kill(int(pid), signal.SIGKILL)  # seen: no need to wait out its sleep
                    return
            time.sleep(0.05)

    # this solution's mark in its command line: other tests (other xdist workers) run
    # sandboxed solutions at the same time, some of them as root (isolation none)
    mark = f"uid-{uuid.uuid4().hex}".encode()
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(5)', {mark.decode()!r}])"
    t = threading.Thread(target=watch)
    t.start()
    run_code(code, isolation=mode, python=python, timeout=6, guard=False)  # guard: no exec
    t.join()
    return found[0]


@needs_isolation
@can_drop
@pytest.mark.parametrize("mode", ISOLATED)
def test_as_root_the_sandbox_is_nobody_on_the_host_when_it_can_be(mode, targets, listener):
    assert _host_uid_of_solution(mode, SYSTEM_PYTHON) == 65534
    code = hostile(
        f"open({str(targets[0])!r}, 'w').write('pwned')",
        f"socket = __import__('socket'); socket.create_connection(('127.0.0.1', {listener.tcp_port}))",
    )
    r = run_code(code, stdin="21", isolation=mode, guard=False, python=SYSTEM_PYTHON)
    _no_harm(r.stdout + r.stderr, targets, listener, settle=True)
    assert r.stdout.strip() == "42"


# ----------------------------------------------------------------------------- hostile code


@pytest.fixture
def targets(tmp_path):
    """Places outside the sandbox a solution must not change: a host dir, and the read-only
    interpreter prefix the sandbox itself binds."""
    prefix = Path(sandbox._interpreter(None)[1])
    out = [tmp_path / "pwned", prefix / f"pwned-{uuid.uuid4().hex[:8]}"]
    yield out
    for p in out:
        if p.exists() or p.is_symlink():
            p.unlink()


@pytest.fixture
def secrets(tmp_path, monkeypatch):
    """Canary secrets where a real attacker looks: env vars, a temp $HOME's ~/.ssh and
    ~/.cache/huggingface/token, and the real home's ~/.ssh and ~/.cache/huggingface."""
    home = tmp_path / "home"
    files = [home / ".ssh" / "id_rsa", home / ".cache" / "huggingface" / "token"]
    real = Path(os.path.expanduser("~"))
    made = [real / ".ssh" / f"distill-canary-{os.getpid()}"]
    made.append(real / ".cache" / "huggingface" / f"distill-canary-{os.getpid()}")
    for p in files + made:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(CANARY)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", CANARY)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    yield [str(p) for p in files + made]
    for p in made:
        p.unlink()


class Listener:
    """Real loopback listeners (TCP, UDP, unix path, abstract unix); record what reaches them."""

    def __init__(self, tmp_path: Path):
        self.got: list[str] = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_path = str(tmp_path / "l.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.unix.listen()
        self.abstract_name = f"\0distill-{uuid.uuid4().hex}"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind(self.abstract_name)
        self.abstract.listen()
        self.tcp_port, self.udp_port = self.tcp.getsockname()[1], self.udp.getsockname()[1]
        for s, kind in ((self.tcp, "tcp"), (self.unix, "unix"), (self.abstract, "abstract")):
            threading.Thread(target=self._accept, args=(s, kind), daemon=True).start()
        threading.Thread(target=self._recv, daemon=True).start()

    def _accept(self, s, kind):
        try:
            conn, _ = s.accept()
            self.got.append(f"{kind} connection {conn.recv(100)!r}")
        except OSError:
            pass

    def _recv(self):
        try:
            self.got.append(f"udp {self.udp.recvfrom(100)[0]!r}")
        except OSError:
            pass

    def close(self):
        for s in (self.tcp, self.udp, self.unix, self.abstract):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture
def listener(tmp_path):
    ear = Listener(tmp_path)
    yield ear
    ear.close()


# {out}: a path outside; {tcp} {udp} {unix} {abstract}: the listeners; {reads}: secret files.
ATTACKS = {
    "os.open write": "fd = os.open({out!r}, os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'pwned')",
    "os.replace out": "open('a', 'w').write('pwned')\nos.replace('a', {out!r})",
    "os.rename out": "open('a', 'w').write('pwned')\nos.rename('a', {out!r})",
    "hard link out": "open('a', 'w').write('pwned')\nos.link('a', {out!r})",
    "symlink out": "os.symlink('/work/a', {out!r})",
    "ctypes libc open": """
        import ctypes
        libc = ctypes.CDLL(None)
        fd = libc.open({out!r}.encode(), 0o101, 0o644)  # O_WRONLY | O_CREAT
        libc.write(fd, b'pwned', 5)""",
    "fork, the child writes": """
        if os.fork() == 0:
            open({out!r}, 'w').write('pwned')
            os._exit(0)
        os.wait()""",
    "subprocess shell": """
        import subprocess
        subprocess.run(['sh', '-c', 'echo pwned > {out}'])""",
    "_posixsubprocess.fork_exec": "import _posixsubprocess\n_posixsubprocess.fork_exec()",
    "tcp to loopback": """
        import socket
        socket.create_connection(('127.0.0.1', {tcp}), timeout=1).sendall(b'pwned')""",
    "udp to loopback": """
        import socket
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'pwned', ('127.0.0.1', {udp}))""",
    "unix socket": """
        import socket
        s = socket.socket(socket.AF_UNIX); s.connect({unix!r}); s.sendall(b'pwned')""",
    "abstract unix socket": """
        import socket
        s = socket.socket(socket.AF_UNIX); s.connect({abstract!r}); s.sendall(b'pwned')""",
    "secret files": "{reads}",
    "env secrets": """
        print(dict(os.environ))
        # the parent, its parent (--unsafe-sandbox runs the solution under a supervisor whose
        # parent is the caller) and init
        ppid = os.getppid()
        try:
            gpid = open("/proc/%s/stat" % ppid).read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            gpid = ppid
        for pid in ("self", ppid, gpid, 1):
            try:
                print(open("/proc/%s/environ" % pid, "rb").read())
            except OSError as e:
                print(e)""",
    "/proc/self/mem": """
        maps = [l.split() for l in open('/proc/self/maps')]
        with open('/proc/self/mem', 'rb') as mem:
            for m in maps:
                lo, hi = (int(x, 16) for x in m[0].split('-'))
                if 'r' in m[1] and hi - lo < (64 << 20):
                    try:
                        mem.seek(lo); chunk = mem.read(hi - lo)
                    except OSError:
                        continue
                    i = chunk.find(b'distill-canary-')
                    if i >= 0:
                        print(chunk[i:i + 60])""",
}


def _attack(name: str, targets: list[Path], net: Listener, secret_files: list[str]) -> str:
    """The attack on each target in turn (once if it has no target)."""
    reads = "\n".join(f"print(open({p!r}).read())" for p in secret_files)
    fill = dict(tcp=net.tcp_port, udp=net.udp_port, unix=net.unix_path, abstract=net.abstract_name)
    bodies = [ATTACKS[name].format(out=str(t), reads=reads, **fill) for t in targets]
    return hostile(*dict.fromkeys(bodies))


# What _run's runner does with each line it reads: run_code on one request, one JSON line back.
RUNNER = """
import json, sys, traceback
from distill.filter.sandbox import run_code
for line in sys.stdin:
    req = json.loads(line)
    try:
        r = run_code(req["code"], stdin="21", isolation=req["mode"], guard=req["guard"], timeout=10)
        out = {"out": f"{r.stdout} {r.stderr} {r.reason}"}
    except BaseException:
        out = {"error": traceback.format_exc()}
    print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def runner():
    """A process of its own that holds the canary secrets in its environment block, the way
    `distill filter` holds HF_TOKEN (/proc/<ppid>/environ is then worth reading), and runs
    run_code for each attack it is handed: one per test module and xdist worker, not one
    python start and distill import per attack."""
    env = {**os.environ, "HF_TOKEN": CANARY, "OPENAI_API_KEY": CANARY}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


def _run(runner: subprocess.Popen, code: str, mode: str, guard: bool) -> str:
    """run_code in the runner (a process with the canary secrets in its environment block)
    -> everything the solution printed."""
    runner.stdin.write(json.dumps({"code": code, "mode": mode, "guard": guard}) + "\n")
    runner.stdin.flush()
    line = runner.stdout.readline()
    assert line, f"the runner ended (exit {runner.poll()})"
    got = json.loads(line)
    assert "error" not in got, got.get("error")
    return got["out"]


# The attacks that reach for the listeners: only after these can something be in flight.
NETWORK = ("tcp to loopback", "udp to loopback", "unix socket", "abstract unix socket")
assert set(NETWORK) <= set(ATTACKS)


def _no_harm(text: str, targets: list[Path], net: Listener, settle: bool = False) -> None:
    """settle: the code reached for the listeners (NETWORK), so wait a moment for a datagram
    or connection in flight to land (a file attack sends nothing to wait for)."""
    import time

    if settle and ("pwned" in text or net.got == []):
        time.sleep(0.1)
    for t in targets:
        assert not t.exists() and not t.is_symlink(), f"wrote {t}"
    assert net.got == [], f"reached the network: {net.got}"
    assert CANARY not in text, "read a secret"


@needs_isolation
@pytest.mark.parametrize("mode", ISOLATED)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_os_isolation_alone_holds(attack, mode, targets, secrets, listener, runner):
    out = _run(runner, _attack(attack, targets, listener, secrets), mode, guard=False)
    _no_harm(out, targets, listener, settle=attack in NETWORK)
    assert "42" in out, out  # it ran to the end: the kernel, not the guard, stopped it


@pytest.mark.parametrize("mode", [*ISOLATED, "none"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hostile_solutions_are_never_kept(attack, mode, targets, secrets, listener):
    # As the filter runs it (OS isolation + guard). "none" is --unsafe-sandbox: the guard alone
    # closes these known holes there (it is still no sandbox).
    code = _attack(attack, targets, listener, secrets)
    verdict, detail = verify_code(fenced(code), TESTS, isolation=mode, timeout=10)
    assert (verdict, detail) == ("wrong", "test 0: sandbox violation")
    _no_harm(detail, targets, listener, settle=attack in NETWORK)


# What the two tests above guard against is real: with neither layer (the host's own
# process, as root here), these attacks do harm and the checks see it.
HARMFUL_UNSANDBOXED = [
    "os.open write",
    "os.replace out",
    "hard link out",
    "symlink out",
    "ctypes libc open",
    "fork, the child writes",
    "subprocess shell",
    "secret files",
    "env secrets",
]


@pytest.mark.parametrize("attack", HARMFUL_UNSANDBOXED)
def test_the_checks_see_harm_done_without_a_sandbox(attack, tmp_path, secrets, listener, runner):
    target = tmp_path / "pwned"
    out = _run(runner, _attack(attack, [target], listener, secrets), "none", guard=False)
    with pytest.raises(AssertionError):
        _no_harm(out, [target], listener, settle=attack in NETWORK)


# ----------------------------------------------------------------------------- refusal


def test_without_isolation_code_verification_refuses(monkeypatch):
    monkeypatch.setattr(sandbox, "probe", lambda mode: f"{mode} is not installed")
    with pytest.raises(DistillError) as e:
        sandbox.require_isolation()
    msg = str(e.value)
    assert "\n" not in msg and "bwrap is not installed" in msg
    assert "apt-get install bubblewrap" in msg and "--unsafe-sandbox" in msg
    with pytest.raises(DistillError):
        run_code("print(1)")  # the library refuses too, not only the CLI
    assert sandbox.require_isolation(unsafe=True) == "none"


def _code_traces(path: Path, hostile_code: str) -> None:
    honest = "n = int(input())\nprint(n * 2)\n"
    with open(path, "w") as f:
        for i, code in enumerate([honest, hostile_code]):
            rec = {
                "id": f"t{i}",
                "prompt_id": f"p{i}",
                "messages": [{"role": "user", "content": f"Double the number {i}."}],
                "reasoning": "Read it, double it.",
                "answer": fenced(code),
                "meta": {"tests": TESTS},
            }
            f.write(json.dumps(rec) + "\n")


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "distill.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )


def _filter_without_isolation(args: list[str], path: str) -> subprocess.CompletedProcess:
    """`distill filter ARGS` in this process (tests/inproc.py: filter loads no library that
    writes to the process's stderr) with only `path` on PATH: the isolation probes, and the
    once-a-run --unsafe-sandbox warning, start afresh and are forgotten after."""
    from tests import inproc

    sandbox.probe.cache_clear()
    sandbox._warn_unsafe.cache_clear()
    try:
        return inproc.distill(*args, env={"PATH": path})
    finally:
        sandbox.probe.cache_clear()  # the next test probes this host's PATH again
        sandbox._warn_unsafe.cache_clear()


def test_cli_refuses_without_isolation_and_unsafe_sandbox_is_logged(tmp_path):
    traces = tmp_path / "traces.jsonl"
    _code_traces(traces, "print(21 * 2)\n")
    # No bwrap and no unshare on PATH: nothing can isolate.
    env = {**os.environ, "PATH": str(tmp_path / "empty"), "PYTHONPATH": os.getcwd()}
    args = ["filter", str(traces), "--out", str(tmp_path / "kept.jsonl"), "--verify", "code"]
    r = _filter_without_isolation(args, env["PATH"])
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bubblewrap" in lines[0]
    assert "--unsafe-sandbox" in lines[0] and not (tmp_path / "kept.jsonl").exists()

    r = _filter_without_isolation([*args, "--unsafe-sandbox", "--quiet"], env["PATH"])
    assert r.returncode == 0, r.stderr
    assert "warning: --unsafe-sandbox" in r.stderr
    report = json.loads((tmp_path / "kept.report.json").read_text())
    assert report["verify"]["sandbox"] == "none (--unsafe-sandbox)"

    from distill.publish import _sandbox_line

    assert "--unsafe-sandbox" in _sandbox_line(report["verify"]["sandbox"])

    # eval of code tasks refuses the same way, before sampling anything. A process of its own:
    # eval loads the model's libraries, whose logs on the process's stderr count as lines too.
    out = tmp_path / "eval.json"
    # (a model that loads: a Hub name not in the offline cache is refused first)
    args = ["eval", "--model", "builtin:smollm2", "--data", str(traces), "--out", str(out)]
    args += ["--verify", "code"]
    r = _cli(args, env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "--unsafe-sandbox" in r.stderr and not out.exists()


@needs_isolation
def test_filter_keeps_the_honest_trace_and_logs_its_isolation(tmp_path, targets):
    from distill.filter import FilterConfig, run

    traces = tmp_path / "traces.jsonl"
    _code_traces(
        traces,
        hostile(
            f"os.replace(__import__('shutil').copy('/in/solution.py', 'a'), {str(targets[0])!r})"
        ),
    )
    run(
        FilterConfig(input=str(traces), out=str(tmp_path / "kept.jsonl"), verify="code"),
        quiet=True,
    )
    kept = [json.loads(x)["id"] for x in open(tmp_path / "kept.jsonl")]
    assert kept == ["t0"] and not targets[0].exists()
    report = json.loads((tmp_path / "kept.report.json").read_text())
    assert report["verify"]["sandbox"] == ISOLATED[0]


@needs_isolation
def test_eval_of_code_tasks_goes_through_the_same_sandbox(targets):
    from distill.eval import score

    def rec(pid, code):
        return {"prompt_id": pid, "answer": fenced(code), "meta": {"tests": TESTS}}

    bad = hostile(f"fd = os.open({str(targets[0])!r}, os.O_WRONLY | os.O_CREAT)")
    s = score([rec("a", "print(int(input()) * 2)"), rec("b", bad)], "code", sandbox=ISOLATED[0])
    assert s["pass@1"] == 0.5 and not targets[0].exists()
