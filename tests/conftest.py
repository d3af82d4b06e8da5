import gc
import os
import sys

import pytest

# xdist_group marks honoured under pytest 9 (tests/xdist_groups.py)
pytest_plugins = ["tests.xdist_groups"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# `make test` runs the suite on pytest-xdist workers, one per core: each worker's torch (and the
# subprocesses it starts) keeps to one thread, so two workers do not fight over the two cores
# with two threads each (oversubscribed, the CPU-bound tests ran slower than on one worker)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

# A shell without job control starts a background command (`nohup make test &`, `cmd &` in a
# script) with SIGINT ignored, and every process it starts inherits that: the Ctrl-C tests'
# children then never see their SIGINT (22 of them failed so, the code unchanged). Ctrl-C is
# Python's default here, as in a terminal, for this process and what it starts.
import signal  # noqa: E402

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _serve_forever(serve_forever):
    """http.server's loop looks for shutdown() every 0.5 s: each test that stops a server of
    its own waited up to that long. Every 0.05 s here (the tests' servers alone)."""

    def polled(self, poll_interval=0.05):
        return serve_forever(self, poll_interval)

    return polled


import socketserver  # noqa: E402 - after the environment above

socketserver.BaseServer.serve_forever = _serve_forever(socketserver.BaseServer.serve_forever)


# A full collection (gc.collect(): accelerate's free_memory at each Trainer.train(), and
# python's own gen-2 passes) walks every object the worker holds: once torch, transformers, trl
# and the test modules are imported, ~0.2-0.4 CPU seconds a pass, a quarter of what the train
# and kd tests spent. What is alive when a test ends after new modules came in (imports
# mostly) is moved out of the collector's sight (gc.freeze): the next passes walk only what
# was made since. Garbage is collected first, so nothing that is garbage then is kept.
_MODULES_AT_FREEZE = [0]


def _freeze_what_is_alive() -> None:
    gc.collect()
    gc.freeze()
    _MODULES_AT_FREEZE[0] = len(sys.modules)


def pytest_collection_finish(session):
    _freeze_what_is_alive()


# Python's threshold of 700 new objects for a young pass made ~3,800 young and ~17 full passes of
# its own in 280 tests (test_kd, test_generate, test_bad_input and test_verify on one worker): 2.5
# of ~47 CPU seconds. At 10,000: ~190 young passes and no full one but the explicit ones, 1.6 s;
# the same peak memory (what a pass frees is freed a little later).
gc.set_threshold(10_000, 10, 10)


# Collection (each xdist worker's) imports torch, transformers and trl, then parses and rewrites
# the asserts of ~350 test modules: a million AST nodes made, and the collector's full passes
# walked the libraries' objects again and again, ~3.5 of its ~15 CPU seconds. Off meanwhile:
# little of that is garbage (the peak grew by ~15 MB), and the freeze above collects it first.
@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()


def pytest_runtest_logfinish(nodeid, location):
    if len(sys.modules) > _MODULES_AT_FREEZE[0] + 20:
        _freeze_what_is_alive()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_plots: draw the report plots (report.png, loss.png) as a user's run does"
    )


# The report plots (filter's and select's report.png, train's loss.png): matplotlib's drawing
# of one (text layout, then the raster) costs 0.2-0.4 CPU seconds, more than many a filter or
# select test spends on everything else, and hundreds of tests run those stages. There the
# figure is still built, every call the stage makes (subplots, hist, barh, legend) on its data,
# but tight_layout and savefig lay out and draw nothing: savefig writes a 1x1 PNG where the plot
# goes, which holds (a tEXt chunk) a digest of what the figure shows: the same data gives the
# same bytes and other data other bytes, as a drawing did for the tests that compare a stage's
# outputs byte for byte (test_filter_kill's whole sets, a refused run that leaves every file as
# it was). The tests marked real_plots draw them (tests/test_plots_s14.py: each plot's cases).
def _shown(fig) -> bytes:
    """What the figure shows, as data: its size, and each panel's title, axis labels, category
    names, bars, lines, texts and legend."""
    from matplotlib.patches import Rectangle

    parts: list = [fig.get_size_inches().tolist()]
    for ax in fig.axes:
        parts.append((ax.get_title(), ax.get_xlabel(), ax.get_ylabel()))
        for axis in (ax.xaxis, ax.yaxis):  # barh's names (a categorical axis)
            parts.append(list(getattr(axis.get_units(), "_mapping", None) or ()))
        for p in ax.patches:
            if isinstance(p, Rectangle):
                parts.append((p.get_x(), p.get_y(), p.get_width(), p.get_height()))
            else:
                parts.append(p.get_path().vertices.tolist())
        parts += [(line.get_label(), line.get_xydata().tolist()) for line in ax.lines]
        parts += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        parts += [t.get_text() for t in legend.get_texts()] if legend else []
    return repr(parts).encode()


def _png_1x1(shown: bytes) -> bytes:
    import hashlib
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit grey
    digest = hashlib.sha256(shown).hexdigest().encode()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", b"Comment\0" + digest)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


_REAL = {}


@pytest.fixture(autouse=True, scope="session")
def _plots_not_drawn():
    """For the whole session, so a module's or the session's fixtures see the same plots."""
    import matplotlib.figure

    def savefig(self, fname, **kwargs):
        with open(fname, "wb") as f:  # a path, as each stage passes
            f.write(_png_1x1(_shown(self)))

    with pytest.MonkeyPatch.context() as mp:
        for name, stand_in in (("savefig", savefig), ("tight_layout", lambda *a, **k: None)):
            _REAL[name] = getattr(matplotlib.figure.Figure, name)
            mp.setattr(matplotlib.figure.Figure, name, stand_in)
        yield


# httpx (the openai client's transport) builds an SSLContext for each transport it makes, every
# client's and its proxy mounts', loading the CA bundle each time: ~25 ms, about one a test in
# the generate/select/eval tests (each teacher, judge and student run makes its clients), which
# speak plain HTTP to 127.0.0.1. Here it is made once per CA setting (_trust_env, SSL_CERT_FILE,
# SSL_CERT_DIR and that file's stat, what httpcore2 reads) and shared between clients, as a
# client shares it between its connections (each sets its ALPN on it before use, as before).
@pytest.fixture(autouse=True, scope="session")
def _one_ssl_context_per_ca_setting():
    try:
        import httpcore2
    except ImportError:  # another openai: its transport as it is
        yield
        return
    made: dict = {}
    real = httpcore2.default_ssl_context

    def shared(*, _trust_env: bool = True):
        key: tuple = (_trust_env,)
        if _trust_env:
            for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
                path = os.environ.get(name)
                stat = os.stat(path) if path and os.path.exists(path) else None
                key += (path, stat and (stat.st_mtime_ns, stat.st_size, stat.st_ino))
        if key not in made:
            made[key] = real(_trust_env=_trust_env)
        return made[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(httpcore2, "default_ssl_context", shared)
        yield


@pytest.fixture(autouse=True)
def _real_plots(request, monkeypatch):
    if request.node.get_closest_marker("real_plots"):
        import matplotlib.figure

        for name, real in _REAL.items():
            monkeypatch.setattr(matplotlib.figure.Figure, name, real)


@pytest.fixture
def server():
    from tests.fakeserver import FakeServer

    s = FakeServer().start()
    yield s
    s.stop()


@pytest.fixture
def tasks_server():
    """A fake teacher that answers self-instruct prompts with numbered tasks (instruct's tests)."""
    from tests.fakeserver import FakeServer

    s = FakeServer(style="tasks", model="m").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), "qwen2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture
def paid(monkeypatch):
    """Samples handed to generate's hf teacher (each one a request paid for), per run."""
    from distill.generate import stage as generate_stage

    real = generate_stage.TEACHERS["hf"]
    asked: list[int] = []

    def counting(cfg):
        teacher = real(cfg)
        run = teacher.run

        def counted(jobs, sink):
            asked.append(sum(len(j.samples) for j in jobs))
            return run(jobs, sink)

        teacher.run = counted
        return teacher

    monkeypatch.setitem(generate_stage.TEACHERS, "hf", counting)
    return asked
