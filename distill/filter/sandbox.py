"""Running model-written code: in an OS sandbox, never in our process.

    python -c "from distill.filter.sandbox import run_code; print(run_code('print(input())', stdin='hi'))"

Teachers answer prompts from public datasets, so the code they write is treated as hostile.
Isolation belongs to the kernel; two ways of getting it, the first that works on this host:

- `bwrap` (bubblewrap, Flatpak's sandbox; `apt-get install bubblewrap`);
- `unshare`: util-linux unshare(1) makes the namespaces and SETUP (below) builds the same root,
  pivots into it and drops every capability before it execs the solution.

Either way the solution sees: a root of read-only binds of only what Python needs (/usr and
the interpreter's prefix; never $HOME, ~/.ssh or ~/.cache), itself read-only at /in, a
size-capped tmpfs /work as the only writable place, /dev with null, zero, urandom and
stdin (a link to its fd 0) only,
a /proc of its own pid namespace, no network interfaces (loopback included), an empty
environment, new user/mount/pid/net/ipc/uts namespaces, uid/gid 65534, no capabilities, a new
session. Outside it: rlimits (CPU, address space, file size, open files; output goes to
files, so the file-size limit caps it too) and a wall-clock timeout that kills the whole
process group, and with it the sandbox's pid namespace.

Run as root, the sandbox's uid 65534 maps to host root (without capabilities) unless the
interpreter is readable by `nobody`: then we become nobody before entering, so files the
sandbox could reach are checked against an unprivileged uid and RLIMIT_NPROC bounds forks.

Inside, GUARD (a Python audit hook) refuses sockets, fork/exec, ctypes, writes outside /work
and reads outside the standard library and its own file (the solution's file is read before:
a solution does not read its own program), reads of the tests' code (the constants of an
assert are its expected values: the tests' frames and functions, one f_back from the
solution's), and kills the solution at the first
attempt (a solution that catches the error must not pass its tests): a second layer, never the
only one; the tests run every attack without it. There is no seccomp filter: the kernel's syscall
surface is reachable, as in bwrap's default use (nsjail or gVisor add that layer).
`--unsafe-sandbox` runs with rlimits and the guard alone, where no isolation works; with no pid
namespace there, a supervisor (LIMITS, a child subreaper) kills every process the solution
started when its run ends, whatever session it moved to. The solution runs as our uid there and
can kill the supervisor: then run_code kills what is left of the solution's session (_end); a
process that started a session of its own before that is out of reach (the one hole left
without a pid namespace or a cgroup: use bwrap or unshare).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache

from distill.errors import DistillError

MODES = ("bwrap", "unshare")  # OS isolation, best first; "none" = --unsafe-sandbox
NOBODY = 65534
WORK_BYTES = 64 << 20  # the tmpfs /work
ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/work",
    "TMPDIR": "/work",
    "LANG": "C.UTF-8",
}
DEVICES = ("null", "zero", "urandom")
STOP_S = 1.0  # how long --unsafe-sandbox's supervisor may take to kill a run's processes
# GUARD ends a run it stops with SIGKILL after one of these lines on stderr (the last one says
# why; a solution can print them too, but only to fail).
ENDS = {
    "\nsandbox violation: ": "sandbox violation",
    "\ndistill-guard: exited before the tests ran": "exited before the tests ran",
    "\ndistill-guard: error before the tests ran": "error before the tests ran",
    "\ndistill-guard: tests failed": "tests failed",
}
# Isolated mode, no site: the standard library only (as LiveCodeBench/APPS judges run it), and
# a base interpreter's .pth files cost 0.1-0.3 s a start.
FLAGS = ("-I", "-S")

GUARD = r"""
import os, posix, signal, sys, traceback, types
# The end of a run the solution must not be able to fake (a violation, a failed test): SIGKILL
# on ourselves, after a line on stderr. The guard keeps no real _exit the solution could reach
# through its closures: with the tests given, _exit is gone from the process.
#
# What the hook runs with is taken now, as positional defaults: no closure cell (writable
# through __closure__), no builtin or stdlib function looked up when it runs (the solution may
# rebind builtins.isinstance or posixpath's helpers), no method of an object the solution
# made (a str subclass's __eq__ would run its code inside the hook, where its frames hold the
# hook's helpers). The functions the solution can reach (os.fork, os._exit, sys.settrace ...)
# hold nothing the verdict depends on: they raise an audit event, the hook decides.
def _guard(check_code, unittest_code=None, root=os.path.realpath(os.getcwd()), _audit=sys.audit,
           _sys=sys):
    def real(p, _getcwd=posix.getcwd, _lstat=posix.lstat, _readlink=posix.readlink,
             _OSError=OSError, _ValueError=ValueError):
        # os.path.realpath from C functions only: absolute, '.', '..' and links resolved
        if not p.startswith("/"):
            p = _getcwd() + "/" + p
        todo, done, links = p.split("/")[::-1], [], 0
        while todo:
            part = todo.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            done.append(part)
            try:
                st = _lstat("/" + "/".join(done))
            except (_OSError, _ValueError):
                continue  # not there (a file to create): the rest as written
            if st.st_mode & 0o170000 == 0o120000:
                links += 1
                if links > 40:
                    raise _OSError("too many links")
                done.pop()
                target = _readlink("/" + "/".join(done + [part]))
                if target.startswith("/"):
                    done = []
                todo.extend(target.split("/")[::-1])
        return "/" + "/".join(done)
    def under(p, roots, _real=real, _type=type, _sub=issubclass, _str=str, _bytes=bytes,
              _int=int, _as_str=str.__str__, _decode=bytes.decode, _finalizing=sys.is_finalizing,
              _Exception=Exception):
        t = _type(p)
        if _sub(t, _int):
            return True  # an fd it already holds (stdin, a pipe)
        if _sub(t, _bytes):
            p = _decode(p, "utf-8", "surrogateescape")
        elif _sub(t, _str):
            p = _as_str(p)  # a plain str: no method of a subclass runs here
        else:
            return False  # os.fspath would run the solution's code inside this hook
        try:
            p = _real(p)
        except _Exception:  # noqa: BLE001 - at exit, modules are torn down under the finalizers
            return _finalizing()
        for r in roots:
            if p == r or p.startswith(r + "/"):
                return True
        return False
    def stop(what, _write=os.write, _die=signal.raise_signal):
        # kill at once: a solution that catches the error must not pass its tests
        try:
            _write(2, ("\nsandbox violation: %s\n" % (what,)).encode())
        finally:  # nothing between here and the kill looks at pending signals
            _die(9)
    def exempt(f, _repr=types.FrameType.__repr__, _print_exc=traceback.print_exc.__code__,
               _check=check_code, _unittest=unittest_code):
        # The guard's own traceback of a run it is ending (_check -> print_exc), and unittest's
        # of a failed test case (its verdict is a failure already; an expectedFailure passes):
        # the frames the walk passes are named by repr (reading their f_code comes back here).
        while f is not None:
            r = _repr(f)
            if r.endswith(", code print_exc>") and f.f_code is _print_exc:
                b = f.f_back
                return b is not None and _repr(b).endswith(", code _check>") and (
                    b.f_code is _check)
            if r.endswith(", code _exc_info_to_string>") and f.f_code is _unittest:
                return True
            f = f.f_back
        return False
    def any_of(s, chars):
        for c in chars:
            if c in s:
                return True
        return False
    # Reading the code of the tests (their frames, the functions and generators they define
    # at their top level; not lambdas or functions nested in a test, CO_NESTED): its constants
    # are the expected values. The solution may read the rest (its own frames,
    # namedtuple's and logging's walks).
    secret = ("tests.py", "test_solution.py")
    def hook(event, args, _stop=stop, _under=under, _exempt=exempt, _any_of=any_of, _root=(root,),
             _readable=tuple({os.path.realpath(p) for p in (
                 "/usr", sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 sys.argv[0])}) + ("/dev/null", "/dev/zero", "/dev/urandom"),
             _blocked=("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                       "os.fork", "os.forkpty", "os.kill", "os.killpg", "ctypes.dlopen",
                       "ctypes.dlsym", "ctypes.cdata",
                       # frames of other code made to jump, every object in the process, the
                       # frames of other threads (the hook's own among them)
                       "sys.settrace", "sys.setprofile", "sys.monitoring.register_callback",
                       "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                       "sys._current_frames", "sys._current_exceptions"),
             # A second interpreter has a posix of its own (a real _exit) and none of these hooks.
             _unimportable=("_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels",
                            "_interpreters", "_interpchannels", "_interpqueues", "_test"),
             _mine=(real, under, stop, exempt, any_of), _secret=secret,
             _secret_frames=tuple(", file %r, line " % n for n in secret),
             _codes=("__code__", "gi_code", "cr_code", "ag_code"), _getframe=sys._getframe,
             _repr=types.FrameType.__repr__, _type=type, _sub=issubclass, _str=str, _int=int,
             _bytes=bytes,
             _as_str=str.__str__, _as_int=int.__int__, _len=len,
             _W=os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC):
        if event == "object.__getattr__":
            name = args[1]
            if name == "f_code":
                r = _repr(args[0])
                for s in _secret_frames:
                    if s in r and not _exempt(_getframe(1)):
                        _stop("reading the tests' code")
            elif name in _codes:
                caller = _getframe(1)
                if _repr(caller).endswith(", code hook>") and caller.f_code is _getframe(0).f_code:
                    return  # this hook's own read, below
                o = args[0]
                code = (o.__code__ if name == "__code__" else o.gi_code if name == "gi_code"
                        else o.cr_code if name == "cr_code" else o.ag_code)
                # a lambda or a function nested in a test is a value the tests hand the
                # solution (a decorator's target, a callback: inspect.signature reads it)
                if code.co_filename in _secret and not (
                        code.co_flags & 0x10 or code.co_name == "<lambda>") and not _exempt(
                        _getframe(1)):
                    _stop("reading the tests' code")
            return
        if event == "object.__setattr__":
            if args[1] in ("__code__", "__defaults__", "__kwdefaults__"):
                for f in _mine:
                    if args[0] is f:
                        _stop("rewriting the guard")
            return
        if event.startswith("socket.") or event in _blocked:
            _stop(event)
        if event == "distill.deny":
            _stop(_as_str(args[0]) if args and _sub(_type(args[0]), _str) else "denied")
        # fork_exec raises no event of its own: a second copy of its module is the real one
        if event == "import" and args and _sub(_type(args[0]), _str) and _as_str(
                args[0]).startswith(_unimportable):
            _stop("import " + _as_str(args[0]))
        if event == "open" and args:
            path, mode, flags = args[0], (args[1] if _len(args) > 1 else "r"), (
                args[2] if _len(args) > 2 else 0)
            writes = (_sub(_type(mode), _str) and _any_of(_as_str(mode), "wax+")) or (
                _sub(_type(flags), _int) and _as_int(flags) & _W)
            t = _type(path)  # exact types only: `in` would ask a metaclass's __eq__
            if (t is _str or t is _bytes) and path in ("/dev/stdin", b"/dev/stdin") and (
                    not writes):
                return  # its own stdin (a pipe), as competitive solutions read it
            if not _under(path, _root if writes else _root + _readable):
                _stop("open %s" % (_as_str(path).__repr__() if _sub(_type(path), _str)
                                   else _type(path).__name__,))
        if event in ("os.rename", "os.link", "os.symlink") and not (
                _under(args[0], _root) and _under(args[1], _root)):
            _stop(event)
        if event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                     "os.utime", "shutil.rmtree") and args and not _under(args[0], _root):
            _stop(event)
    def deny(*a, _audit=_audit, **k):  # os.fork and the others: the hook ends the run
        _audit("distill.deny", "process creation or signals")
    for name in ("fork", "forkpty", "system", "popen", "execv", "execve", "execvp", "execvpe", "execl",
                 "execle", "execlp", "spawnv", "spawnve", "posix_spawn", "posix_spawnp", "setsid", "kill",
                 "killpg"):
        if hasattr(os, name):
            setattr(os, name, deny)
    import _posixsubprocess
    _posixsubprocess.fork_exec = deny
    def no_tracer(f, _audit=_audit):  # doctest.testmod() and others put back the tracer they found: None
        if f is not None:
            _audit("distill.deny", "sys.settrace")
    def no_profiler(f, _audit=_audit):
        if f is not None:
            _audit("distill.deny", "sys.setprofile")
    _sys.settrace, _sys.setprofile = no_tracer, no_profiler  # the real ones stay violations
    _sys.addaudithook(hook)
def _exited(*a, _write=os.write, _die=signal.raise_signal, **k):
    # os._exit once the tests are given. What it holds the solution may rewrite: then _exit
    # ends nothing, and the tests still run.
    try:
        _write(2, b"\ndistill-guard: exited before the tests ran\n")
    finally:
        _die(9)
def _bind(f, k):
    # f with every "\0K" among its constants replaced by the tuple k: what it calls after the
    # solution started is a constant (LOAD_CONST), never a local. Python 3.13's f_locals
    # writes through to a running frame's locals (PEP 667): a solution rebound _check's
    # tests or _die there, through sys._getframe(1).f_locals, and passed failing tests.
    c = f.__code__
    return types.FunctionType(c.replace(co_consts=tuple(
        k if type(x) is str and x == "\0K" else x for x in c.co_consts)), f.__globals__, f.__name__)
def _check():
    # The solution, then its tests in its namespace: the process exits 0 only by coming back
    # from here after the last test; anything else ends it with SIGKILL after a line on
    # stderr. This frame has no locals: "\0K" is the tuple _bind put in its constants (exec,
    # the solution's code, its namespace, the tests, raise_signal, write, print_exc,
    # SystemExit, next), which the solution can read but not change. The tests are a
    # generator holding their source as a constant of its code (the hook refuses to show that
    # code): its next step runs them once; a solution that stepped it before fails. os._exit
    # is no closure of this frame. Each kill is a direct call of a C function in a finally: no
    # Python frame starts on the way, where a signal handler's exception could slip in and
    # escape this function.
    os._exit = posix._exit = _exited
    try:
        "\0K".__getitem__(0)("\0K".__getitem__(1), "\0K".__getitem__(2))
    except "\0K".__getitem__(7):
        try:
            "\0K".__getitem__(5)(2, b"\ndistill-guard: exited before the tests ran\n")
        finally:
            "\0K".__getitem__(4)(9)
    except:  # noqa: E722 - a bare except looks up no name the solution could rebind
        try:
            "\0K".__getitem__(6)()
            "\0K".__getitem__(5)(2, b"\ndistill-guard: error before the tests ran\n")
        finally:
            "\0K".__getitem__(4)(9)
    try:
        "\0K".__getitem__(8)("\0K".__getitem__(3))
    except:  # noqa: E722
        try:
            "\0K".__getitem__(6)()
            "\0K".__getitem__(5)(2, b"\ndistill-guard: tests failed\n")
        finally:
            "\0K".__getitem__(4)(9)
def _runner(source, ns):
    # A generator whose code holds the tests' source, compiled when it runs: the tests are
    # nowhere else (a global or a local of _check held them: their constants, the expected
    # values, were one f_back away from the solution).
    g = {}
    exec(compile("def __distill_tests():\n"
                 "    yield\n"
                 "    '\\0K'.__getitem__(0)('\\0K'.__getitem__(1)("
                 "'\\0K'.__getitem__(2), 'tests.py', 'exec'), '\\0K'.__getitem__(3))\n"
                 "    yield\n", "tests.py", "exec"), g)
    gen = _bind(g["__distill_tests"], (exec, compile, source, ns))()
    next(gen)
    return gen
with open(sys.argv[1]) as _f:
    _src = _f.read()
# The solution gets a __main__ of its own: the guard's state is not a global it can reach.
_main = types.ModuleType("__main__")
_code = compile(_src, "solution.py", "exec")
_unittest = None
if len(sys.argv) > 2:
    with open(sys.argv[2]) as _f:
        _text = _f.read()
    compile(_text, "tests.py", "exec")  # a syntax error in the tests: an error here, as before
    if "unittest" in _text:  # its TestResult's own code, taken before the solution runs
        import unittest.result
        _unittest = unittest.result.TestResult._exc_info_to_string.__code__
    _check = _bind(_check, (exec, _code, _main.__dict__, _runner(_text, _main.__dict__),
                            signal.raise_signal, os.write, traceback.print_exc, SystemExit, next))
    del _text, _code
    # Every builtin module now: _imp.create_builtin goes (a second posix is a real _exit).
    # Not the ones the hook refuses to import: loaded here, the solution's import of them would
    # raise no 'import' event (a builtin _xxsubinterpreters in python-build-standalone).
    for _name in sys.builtin_module_names:
        if not _name.startswith(("_xxsubinterpreters", "_xxinterpchannels", "_interpreters",
                                 "_interpchannels", "_interpqueues", "_test")):
            __import__(_name)
    import _imp
    del _imp.create_builtin
else:
    _check = None
_guard(_check and _check.__code__, _unittest)
import site
site.setquit()  # -S: no site-packages, but solutions call exit() and quit()
sys.argv = sys.argv[1:2]
sys.modules["__main__"] = _main
del _guard, _f, _runner, _bind, _unittest
if _check is None:
    exec(_code, _main.__dict__)
else:
    _check()
"""

# unshare mode: runs inside the new namespaces with the capabilities unshare(1) kept for it;
# builds the root, pivots into it, drops every capability, then execs the solution.
SETUP = r"""
import ctypes, json, os, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
def check(rc, what):
    if rc != 0:
        sys.stderr.write("sandbox setup: %s: %s\n" % (what, os.strerror(ctypes.get_errno())))
        os._exit(125)
def mount(src, dst, fstype, flags, data=None):
    enc = lambda s: s.encode() if s else None
    check(libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), "mount " + dst)
def kept_flags(path):
    # A remount inside a user namespace must keep the flags the host locked (nosuid, atime...).
    f, out = os.statvfs(path).f_flag, 0
    for st, ms in ((2, NOSUID), (4, NODEV), (8, NOEXEC), (1024, 1024), (2048, 2048), (4096, 1 << 21)):
        out |= ms if f & st else 0
    return out
root = cfg["root"]
mount(None, "/", None, REC | PRIVATE)
mount("tmpfs", root, "tmpfs", NOSUID | NODEV, "size=1m,mode=0755")
def bind(src, dst, ro=True):
    d = root + dst
    if os.path.isdir(src):
        os.makedirs(d, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(d), exist_ok=True)
        open(d, "a").close()
    mount(src, d, None, BIND | REC)
    if ro:
        mount(None, d, None, REMOUNT | BIND | RDONLY | NOSUID | NODEV | kept_flags(src))
for p in cfg["ro"]:
    bind(p, p)
for link, target in cfg["links"]:
    os.symlink(target, root + link)
bind(cfg["in"], "/in")
for dev in cfg["devices"]:
    bind("/dev/" + dev, "/dev/" + dev, ro=False)
os.symlink("/proc/self/fd/0", root + "/dev/stdin")
os.makedirs(root + "/proc")
mount("proc", root + "/proc", "proc", NOSUID | NODEV | NOEXEC)
with open(root + "/proc/sys/user/max_user_namespaces", "w") as f:
    f.write("0")  # no nested user namespaces (bwrap: --disable-userns)
os.makedirs(root + "/work")
mount("tmpfs", root + "/work", "tmpfs", NOSUID | NODEV, "size=%d,mode=0700" % cfg["work_bytes"])
mount(None, root, None, REMOUNT | RDONLY | NOSUID | NODEV)
os.chdir(root)
nr = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}[os.uname().machine]
check(libc.syscall(nr, b".", b"."), "pivot_root")  # the old root ends up on top; detach it
check(libc.umount2(b".", 2), "umount old root")
os.chdir("/work")
os.setsid()
for cap in range(64):
    libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (EINVAL past the last cap)
check(libc.prctl(47, 4, 0, 0, 0), "drop ambient caps")  # PR_CAP_AMBIENT_CLEAR_ALL
check(libc.prctl(38, 1, 0, 0, 0), "no_new_privs")
# We are pid 1 of the namespace, which ignores signals it has no handler for: the solution runs
# as our child and we only reap, then exit as bwrap does (128 + signal when it was killed).
child = os.fork()
if child == 0:
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
while True:
    pid, status = os.wait()
    if pid == child:
        os._exit(os.waitstatus_to_exitcode(status) % 256 if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
"""


# The limits are applied by the process that becomes the sandbox, to itself, before it execs
# the command (bwrap, unshare or the interpreter); Popen starts it in a new session (the
# process group the timeout kills). Not by a preexec_fn: that makes Popen fork() the caller,
# copying the page tables of the whole process (40 ms of system time per run from one that
# holds torch and 2 GB); without one, and without user=/group= (a fork too), it vforks.
# util-linux prlimit (and setpriv, to become nobody) do it where installed, 2-3 ms a run;
# else LIMITS in our interpreter, 10 ms: `python -I -S -c LIMITS "--cpu=S:H --as=S:H ..."
# NOBODY_OR_0 ISOLATED REPORT_FD PROGRAM ARGV...`; --unsafe-sandbox's network namespace only
# there.
# Either way a failure ends it before the exec: the command never runs without every limit.
# Where LIMITS cannot run at all under this interpreter (no signal module, no resource),
# run_code refuses in one line before any run (_limits_fail), not a wrong answer a run.
#
# --unsafe-sandbox (ISOLATED 0) has no pid namespace whose end kills what the solution
# started: a child that calls setsid() or setpgid() leaves the process group the timeout
# kills, and a double fork (the daemon's way) hands the grandchild to init, out of reach of
# any walk of the solution's descendants; PR_SET_PDEATHSIG would not help (a fork clears it;
# the solution has it, should the supervisor itself be killed: then run_code kills the rest of
# the solution's session, whose pid the supervisor wrote on REPORT_FD before the solution ran;
# a supervisor that ends by itself writes `end` there once the solution's processes are gone,
# and run_code leaves every other process alone: a signal it ends with is the solution's).
# So there LIMITS stays, as a supervisor: a child subreaper (PR_SET_CHILD_SUBREAPER), the
# parent of the solution and the reaper of every orphan below it, whatever its session. It
# forks the solution (which applies the limits, starts a session of its own and execs, as
# before); when the solution ends, or run_code's SIGTERM says its time is up, it kills its
# children until it has none left, then ends as the solution did (its exit status, or the
# same signal).
LIMITS = r"""
import os, sys
try:
    import resource
    try:  # signal.py would double the start
        from _signal import SIG_DFL, SIGPIPE, SIGTERM, SIGXFSZ, signal
    except ImportError:  # PyPy, a stripped build: the module every Python has
        from signal import SIG_DFL, SIGPIPE, SIGTERM, SIGXFSZ, signal
    rlimits, nobody, isolated = sys.argv[1].split(), int(sys.argv[2]), int(sys.argv[3])
    report = int(sys.argv[4])  # --unsafe-sandbox: where the solution's pid goes (-1: nowhere)
    # Python starts with these ignored, and an ignored signal stays ignored across exec: back
    # to the defaults (as Popen's restore_signals), so SIGXFSZ ends a writer past RLIMIT_FSIZE
    signal(SIGPIPE, SIG_DFL)
    signal(SIGXFSZ, SIG_DFL)
    solution = 0
    if not isolated:  # --unsafe-sandbox
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(0x40000000)  # CLONE_NEWNET: no network where we may (root); else the
        # guard still refuses sockets
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        me = os.getpid()
        def children(me=me):
            try:  # the kernel's list, every thread's
                kids = []
                for t in os.listdir("/proc/%d/task" % me):
                    with open("/proc/%d/task/%s/children" % (me, t)) as f:
                        kids += f.read().split()
                return [int(k) for k in kids]
            except OSError:  # no CONFIG_PROC_CHILDREN
                return every_child()
        def every_child(me=me):  # every process whose parent we are
            kids = []
            try:
                pids = os.listdir("/proc")
            except OSError:
                pids = []
            for p in pids:
                try:
                    with open("/proc/%s/stat" % p) as f:
                        st = f.read()
                    if int(st[st.rindex(")") + 2:].split()[1]) == me:
                        kids.append(int(p))
                except (OSError, ValueError):
                    pass
            return kids
        def kill(kids):
            for k in kids:
                try:
                    os.kill(k, 9)
                except OSError:
                    pass
        stopping = []
        def stop(*_):  # run_code's SIGTERM: the time is up
            stopping.append(1)
            kill(children())
        signal(SIGTERM, stop)
        solution = os.fork()
    if solution == 0:
        if report >= 0:  # before anything of the solution runs: the pipe's first line is ours
            os.write(report, b"%d\n" % os.getpid())
            os.close(report)
        for arg in rlimits:  # prlimit's: --NAME=SOFT:HARD
            name, soft, hard = arg[2:].replace("=", ":").split(":")
            resource.setrlimit(getattr(resource, "RLIMIT_" + name.upper()), (int(soft), int(hard)))
        if nobody:
            os.setgroups([])
            os.setresgid(nobody, nobody, nobody)
            os.setresuid(nobody, nobody, nobody)
        if not isolated:
            os.setsid()
            # its session is no group run_code kills: should the supervisor be killed (the
            # solution runs as our uid here), the solution goes with it
            libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG SIGKILL (exec keeps it)
            if os.getppid() != me:  # killed before that
                os.kill(os.getpid(), 9)
        os.execv(sys.argv[5], sys.argv[6:])
    os.close(0)  # its stdin is the solution's: a writer must see it end with the solution
    if stopping:  # the SIGTERM came before the fork
        kill(children())
    while True:
        pid, status = os.waitpid(-1, 0)  # orphans it adopted are reaped on the way
        if pid == solution:
            break
    # Every process the solution left is a child now, or becomes one when its parent dies:
    # each killed once, and the list read again once every one killed is reaped (the orphans
    # of those are ours by then), not after each reap: linear in the processes, not quadratic.
    kids, live = children(), set()
    while True:
        kids = [k for k in kids if k not in live]
        kill(kids)
        live.update(kids)
        try:
            pid = os.waitpid(-1, 0 if live else os.WNOHANG)[0]
        except ChildProcessError:
            break
        live.discard(pid)
        kids = [] if live else children() if pid else every_child()
    if report >= 0:  # the pipe's last line: every process the solution started is gone
        os.write(report, b"end\n")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        # no core of ours (the solution's RLIMIT_CORE is 0, ours the caller's): SIGSEGV,
        # SIGABRT, SIGXCPU left an interpreter's core, or ran a core_pattern pipe (apport,
        # systemd-coredump, whatever the limit), for every such run
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
        try:
            signal(sig, SIG_DFL)
        except (OSError, ValueError):  # SIGKILL's cannot be set
            pass
        os.kill(me, sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status))
except BaseException as e:
    os.write(2, ("sandbox limits: %r\n" % (e,)).encode())
    os._exit(125)
"""


@dataclass
class Result:
    ok: bool  # exited 0 within limits
    stdout: str
    stderr: str
    reason: str  # ok | timeout | exit N | killed (signal)


# ----------------------------------------------------------------------------- the host side


def _interpreter(python: str | None) -> tuple[str, str]:
    """(interpreter binary, its install prefix): the real binary behind a venv's symlink, run
    with -I -S, so the solution gets the standard library and nothing from our venv."""
    exe = os.path.realpath(python or sys.executable)
    return exe, os.path.dirname(os.path.dirname(exe))


def _ro_paths(prefix: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Read-only binds and top-level symlinks (merged-/usr hosts: /lib -> usr/lib)."""
    ro, links = ["/usr"], []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            links.append((top, os.readlink(top)))
        elif os.path.isdir(top):
            ro.append(top)
    if not any(prefix == p or prefix.startswith(p + "/") for p in ro):
        ro.append(prefix)
    return ro, links


def _nobody_can_read(paths: list[str]) -> bool:
    """Whether uid 65534 could reach these: every directory on the way searchable by others,
    a file at the end readable and executable by others."""
    for p in paths:
        parts = os.path.realpath(p).split("/")
        for i in range(2, len(parts) + 1):
            try:
                mode = os.stat("/".join(parts[:i])).st_mode
            except OSError:
                return False
            need = stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH | stat.S_IXOTH
            if mode & need != need:
                return False
    return True


def _command(mode: str, exe: str, prefix: str, tmp: str, guard: bool, tests: bool) -> list[str]:
    inner = (
        [exe, *FLAGS, "/in/.guard.py", "/in/solution.py", *(["/in/tests.py"] if tests else [])]
        if guard
        else [exe, *FLAGS, "/in/solution.py"]
    )
    ro, links = _ro_paths(prefix)
    if mode == "bwrap":
        cmd = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user"]
        cmd += ["--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns", "--cap-drop", "ALL"]
        cmd += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
        for p in ro:
            cmd += ["--ro-bind", p, p]
        for link, target in links:
            cmd += ["--symlink", target, link]
        cmd += ["--ro-bind", f"{tmp}/in", "/in", "--proc", "/proc"]
        for dev in DEVICES:
            cmd += ["--dev-bind", f"/dev/{dev}", f"/dev/{dev}"]
        cmd += ["--symlink", "/proc/self/fd/0", "/dev/stdin"]
        cmd += ["--size", str(WORK_BYTES), "--tmpfs", "/work", "--chdir", "/work"]
        for k, v in ENV.items():
            cmd += ["--setenv", k, v]
        # bwrap's root is a tmpfs of its own, writable and uncapped: only /work may be written.
        cmd += ["--remount-ro", "/"]
        return cmd + inner
    if mode == "unshare":
        setup = {
            "root": f"{tmp}/root",
            "ro": ro,
            "links": links,
            "in": f"{tmp}/in",
            "devices": DEVICES,
            "work_bytes": WORK_BYTES,
            "argv": inner,
            "env": ENV,
        }
        cmd = [shutil.which("unshare") or "unshare", "--user", f"--map-user={NOBODY}"]
        cmd += [f"--map-group={NOBODY}", "--keep-caps", "--mount", "--net", "--pid", "--ipc"]
        cmd += ["--uts", "--fork", "--kill-child", "--propagation", "private"]
        return cmd + ["--", exe, "-I", "-S", "-c", SETUP, json.dumps(setup)]
    raise ValueError(f"unknown sandbox mode {mode}")


def run_code(
    code: str,
    stdin: str = "",
    timeout: float = 5.0,
    cpu_s: int = 5,
    mem_mb: int = 512,
    isolation: str | None = None,
    guard: bool = True,
    python: str | None = None,
    tests: str | None = None,
) -> Result:
    """Run `code` with `stdin`. isolation: bwrap | unshare | none (--unsafe-sandbox) | None
    (the best that works here; DistillError when none does). guard=False leaves the OS
    isolation alone (tests show it holds by itself).

    tests: Python run after `code` in its namespace (assert lines). Then `ok` means they ran
    to the end and passed: the guard runs both and the process exits 0 only after the last
    test; a solution that ends the program first (exit(), sys.exit, os._exit) is "exited
    before the tests ran". Nothing the solution can reach says the tests passed (an earlier
    done-mark printed after them was a constant in the program: the solution found it through
    its frames and printed it itself)."""
    if tests is not None and not guard:
        raise ValueError("tests run under the guard: guard=False cannot run them")
    mode = isolation or require_isolation()
    exe, prefix = _interpreter(python)
    with tempfile.TemporaryDirectory(prefix="distill-sandbox-") as tmp:
        drop = (
            mode != "none"
            and os.geteuid() == 0
            and _nobody_can_read([exe, prefix, os.path.dirname(tmp)])
        )
        os.makedirs(f"{tmp}/in")
        os.makedirs(f"{tmp}/work")
        os.makedirs(f"{tmp}/root")
        with open(f"{tmp}/in/solution.py", "w") as f:
            f.write(code)
        with open(f"{tmp}/in/.guard.py", "w") as f:
            f.write(GUARD)
        if tests is not None:
            with open(f"{tmp}/in/tests.py", "w") as f:
                f.write(tests)
        if drop:
            for p in (tmp, f"{tmp}/in", f"{tmp}/root"):
                os.chmod(p, 0o755)
            for p in os.listdir(f"{tmp}/in"):
                os.chmod(f"{tmp}/in/{p}", 0o644)
        if mode == "none":
            cmd = [exe, *FLAGS, f"{tmp}/in/.guard.py" if guard else "", f"{tmp}/in/solution.py"]
            cmd += [f"{tmp}/in/tests.py"] if tests is not None else []
            cmd = [c for c in cmd if c]
            cwd, env = f"{tmp}/work", {**ENV, "HOME": f"{tmp}/work", "TMPDIR": f"{tmp}/work"}
        else:
            cmd, cwd, env = (
                _command(mode, exe, prefix, tmp, guard, tests is not None),
                tmp,
                {"PATH": ENV["PATH"]},
            )
        # Output goes to files, not pipes: RLIMIT_FSIZE caps what a solution can print, so
        # a print loop cannot fill our memory. --unsafe-sandbox's supervisor says the
        # solution's pid (its session) on a pipe of its own: should the solution kill the
        # supervisor, _end kills that session.
        with open(f"{tmp}/stdout", "wb+") as out, open(f"{tmp}/stderr", "wb+") as err:
            report, said = os.pipe() if mode == "none" else (-1, -1)
            try:
                proc = subprocess.Popen(
                    _limited(
                        cmd, env["PATH"], exe, cpu_s, mem_mb << 20, drop, mode != "none", said
                    ),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(said,) if said >= 0 else (),
                )
            except BaseException:
                if report >= 0:
                    os.close(report)
                raise
            finally:
                if said >= 0:
                    os.close(said)
            try:
                proc.communicate(stdin.encode(), timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _end(proc, supervised=mode == "none", report=report)
            stdout, stderr = (_text(f) for f in (out, err))
            reason = "timeout" if timed_out else _reason(proc.returncode, mode != "none")
            if guard and reason == "killed (SIGKILL)":
                reason = _guard_end(stderr) or reason
    if reason == "ok":
        return Result(True, stdout, stderr[-4000:], reason)
    return Result(False, stdout[-4000:], stderr[-4000:], reason)


def _limited(
    cmd: list[str],
    path: str,
    exe: str,
    cpu_s: int,
    mem_bytes: int,
    drop: bool,
    isolated: bool,
    report: int = -1,
) -> list[str]:
    """`cmd` behind what applies the limits to it (see LIMITS). FileNotFoundError, from here
    as Popen raised it, when cmd[0] is not installed. `report`: the fd (passed on) where
    --unsafe-sandbox's supervisor writes the solution's pid."""
    program = shutil.which(cmd[0], path=path)
    if program is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cmd[0])
    limits = {"cpu": (cpu_s, cpu_s + 1), "as": (mem_bytes, mem_bytes)}
    limits |= {"fsize": (16 << 20, 16 << 20), "nofile": (64, 64), "core": (0, 0)}
    if drop:  # root: enter the sandbox as nobody (RLIMIT_NPROC binds non-root uids only)
        limits["nproc"] = (256, 256)
    _settable(limits)
    rlimits = [f"--{name}={soft}:{hard}" for name, (soft, hard) in limits.items()]
    tools = _util_linux(path)
    if isolated and tools:
        prlimit, setpriv = tools
        nobody = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        return [prlimit, *rlimits, "--", *(nobody if drop else []), program, *cmd[1:]]
    why = _limits_fail(LIMITS, exe, isolated)
    if why:
        raise DistillError(
            f"running model-written code sets its limits with `{exe} -I -S` (LIMITS in "
            f"distill/filter/sandbox.py), which fails under that interpreter: {why}. Run "
            "distill under a CPython or PyPy that has the signal, resource and ctypes modules"
            + ("" if not isolated else ", or install util-linux (prlimit, setpriv) to set them")
        )
    args = [" ".join(rlimits), str(NOBODY if drop else 0), str(int(isolated)), str(report)]
    return [exe, "-I", "-S", "-c", LIMITS, *args, program, *cmd]


_LIMITS_RUN: set[tuple[str, str, bool]] = set()  # (shim, exe, isolated) that _limits_fail passed


def _limits_fail(shim: str, exe: str, isolated: bool) -> str | None:
    """Why `shim` (LIMITS) cannot run under `exe` (None: it can), tried with no limits on
    `exe -I -S -c ''`: a module it needs that this interpreter lacks would end every run
    before the solution starts, each read as a wrong answer. Only a success is kept (a kept
    failure refused every later run of the process): a failure is tried once more at once (a
    fork's EAGAIN, a timeout under load), and again at the next run."""
    if (shim, exe, isolated) in _LIMITS_RUN:
        return None
    why = _limits_try(shim, exe, isolated)
    if why is not None:
        why = _limits_try(shim, exe, isolated)
    if why is None:
        _LIMITS_RUN.add((shim, exe, isolated))
    return why


def _limits_try(shim: str, exe: str, isolated: bool) -> str | None:
    noop = [exe, "-I", "-S", "-c", ""]
    try:
        out = subprocess.run(
            [exe, "-I", "-S", "-c", shim, "", "0", str(int(isolated)), "-1", exe, *noop],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={"PATH": ENV["PATH"]},
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if out.returncode == 0:
        return None
    lines = out.stderr.decode(errors="replace").strip().splitlines()
    return (lines or [f"exit {out.returncode}"])[-1][:200]


def _settable(limits: dict[str, tuple[int, int]]) -> None:
    """DistillError when this process cannot give the sandbox one of its limits: a hard limit
    of its own below it (ulimit -H) and no CAP_SYS_RESOURCE to raise it. What applies them
    would then end every run before the solution starts, each read as a wrong answer."""
    import resource

    for name, (_soft, hard) in limits.items():
        now = resource.getrlimit(getattr(resource, "RLIMIT_" + name.upper()))[1]
        if now != resource.RLIM_INFINITY and hard > now and not _may_raise_limits():
            raise DistillError(
                f"running model-written code sets RLIMIT_{name.upper()} to {hard}, above this "
                f"process's hard limit ({now}): raise it (ulimit -H) or lower the verifier's "
                "limits (--verify-timeout, code_memory_mb)"
            )


def _may_raise_limits() -> bool:
    """Whether this process holds CAP_SYS_RESOURCE (it may raise a hard limit)."""
    with open("/proc/self/status") as f:
        caps = next((line.split()[1] for line in f if line.startswith("CapEff:")), "0")
    return bool(int(caps, 16) >> 24 & 1)


@cache
def _util_linux(path: str) -> tuple[str, str] | None:
    """prlimit and setpriv, when both are installed."""
    tools = tuple(shutil.which(t, path=path) for t in ("prlimit", "setpriv"))
    return tools if None not in tools else None  # type: ignore[return-value]


def _guard_end(stderr: str) -> str | None:
    """Why GUARD ended the run: its last line on stderr (None: it did not)."""
    at = {stderr.rfind(line): why for line, why in ENDS.items()}
    return at[max(at)] if max(at) >= 0 else None


def _reason(returncode: int, isolated: bool) -> str:
    if returncode == 0:
        return "ok"
    if isolated and 128 < returncode < 128 + signal.NSIG:
        returncode = 128 - returncode  # bwrap and SETUP report a killed solution as 128 + signal
    if returncode < 0:
        try:
            return f"killed ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"killed (signal {-returncode})"
    return f"exit {returncode}"


def _text(f) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")


def _end(proc: subprocess.Popen, supervised: bool, report: int = -1) -> None:
    """Kill what is left of a run: its process group, and before that, under LIMITS's
    supervisor (--unsafe-sandbox), every process the solution started, whatever its session:
    SIGTERM asks the supervisor to (SIGCONT: should the solution have stopped it), and it
    ends once they are gone. Should it not end within STOP_S (the solution runs as our uid
    there and may fight it), its children, the solution among them, and their groups get the
    SIGKILL: no less than the group's alone did before the supervisor.

    The solution may kill the supervisor itself (our uid): the solution dies with it
    (PR_SET_PDEATHSIG), but what it started is orphaned to init, out of the supervisor's reach.
    So where the supervisor did not end by itself (no `end` after the solution's pid on
    `report`: killed, or its error exit 125, SIGINT's KeyboardInterrupt), every process still in
    the solution's session is killed. Not where it did, whatever its exit status (it ends with
    the solution's signal: a timeout's, a guard's SIGKILL): the solution's pid is free by then,
    and a process that took it and started a session of its own is no part of the run. One that
    left the session (setsid) before the supervisor died is out of reach here: no pid
    namespace, and nothing that outlives the supervisor knows it."""
    if supervised and proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            for pid in _children(proc.pid):
                for kill in (os.kill, os.killpg):
                    try:
                        kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
    _kill_group(proc)  # and children it may have left behind
    proc.wait()
    if report >= 0:
        solution = _reported(report)
        if solution:
            _kill_session(solution)


def _reported(fd: int) -> int | None:
    """The solution's pid where LIMITS wrote it on `fd` (closed here) and did not end by
    itself (no `end` line after it); None where it wrote none (it died first) or ended."""
    try:
        os.set_blocking(fd, False)  # every writer is gone by now; never wait regardless
        said = os.read(fd, 64)
    except OSError:
        said = b""
    finally:
        os.close(fd)
    first, *rest = said.split(b"\n")
    if b"end" in rest:
        return None
    return int(first) if first.isdigit() and int(first) > 1 else None


def _kill_session(sid: int) -> None:
    """SIGKILL every live process of session `sid`, until a walk of /proc finds none. The
    kernel keeps a pid from reuse while a session bears it: each is the solution's. Each is
    signalled through a pidfd opened before its stat is read (where Linux and Python have
    them): one that exits after the read, its pid taken by another process, is not that one."""
    for _ in range(10):
        found = False
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                handle = os.pidfd_open(int(p))
            except ProcessLookupError:
                continue
            except (AttributeError, OSError):  # Linux < 5.3, Python < 3.9: by its pid
                handle = None
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read()
                # after the command's ')': state, ppid, pgrp, session
                state, _ppid, _pgrp, session = st[st.rindex(")") + 2 :].split()[:4]
                if int(session) == sid and state not in ("Z", "X"):  # dead: not reaped yet
                    if handle is None:
                        os.kill(int(p), signal.SIGKILL)
                    else:
                        signal.pidfd_send_signal(handle, signal.SIGKILL)
                    found = True
            except (OSError, ValueError):
                pass
            finally:
                if handle is not None:
                    os.close(handle)
        if not found:
            return


def _children(pid: int) -> list[int]:
    """The pids of `pid`'s children (the kernel's list, every thread's)."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += f.read().split()
    except OSError:
        pass
    return [int(k) for k in kids]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ----------------------------------------------------------------------------- which isolation


PROBE_AGAIN_S = 60.0  # how long a failed probe stands before the next call tries again
_PROBED: dict[str, tuple[str | None, float]] = {}  # mode -> (probe's answer, when)


def probe(mode: str) -> str | None:
    """None when `mode` isolates on this host, else why not (one short phrase). A success is
    kept for the process. A failure is tried once more at once (a sandbox that failed to start
    under load), then stands PROBE_AGAIN_S before a call tries again (kept for good, one made
    every later run of the process fall back to a weaker isolation, or refuse)."""
    kept = _PROBED.get(mode)
    if kept is not None and (kept[0] is None or time.monotonic() - kept[1] < PROBE_AGAIN_S):
        return kept[0]
    tool = {"bwrap": "bwrap", "unshare": "unshare"}[mode]
    if shutil.which(tool) is None:
        why = f"{tool} is not installed"
    else:
        why = _sandboxed(tool, mode)
        why = why and _sandboxed(tool, mode)  # a failure: once more
    _PROBED[mode] = (why, time.monotonic())
    return why


probe.cache_clear = _PROBED.clear  # type: ignore[attr-defined]  # as functools.cache's


def _sandboxed(tool: str, mode: str) -> str | None:
    """None when a sandbox of `mode` runs a program, else why not."""
    r = run_code("print(6 * 7)", isolation=mode, timeout=20, cpu_s=10)
    if r.stdout.strip() == "42":
        return None
    last = (r.stderr.strip().splitlines() or [r.reason])[-1]
    return f"{tool} cannot create a sandbox here ({last[:160]})"


def isolation() -> str | None:
    """The best OS isolation that works here, or None."""
    return next((m for m in MODES if probe(m) is None), None)


def require_isolation(unsafe: bool = False) -> str:
    """The isolation code runs under: bwrap | unshare, or "none" when `unsafe` and nothing
    works. Refuses (DistillError, one line) when nothing works and not `unsafe`."""
    mode = isolation()
    if mode:
        return mode
    if unsafe:
        _warn_unsafe()
        return "none"
    raise DistillError(
        "running model-written code needs OS isolation and none works here: "
        + "; ".join(probe(m) or "" for m in MODES)
        + ". Install bubblewrap (`apt-get install bubblewrap`, `dnf install bubblewrap`; "
        "`make install` does it when run as root), allow user namespaces "
        "(sysctl kernel.unprivileged_userns_clone=1), or pass --unsafe-sandbox to run it "
        "with rlimits and a Python guard only"
    )


def describe(mode: str) -> str:
    """What reports and model cards say about the isolation model-written code ran under."""
    return "none (--unsafe-sandbox)" if mode == "none" else mode


@cache
def _warn_unsafe() -> None:  # once per run (forked workers inherit the cache)
    print(
        "warning: --unsafe-sandbox: model-written code runs without OS isolation "
        "(rlimits and a Python guard only)",
        file=sys.stderr,
    )
