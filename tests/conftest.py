import os

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


def _serve_forever(serve_forever):
    """http.server's loop looks for shutdown() every 0.5 s: each test that stops a server of
    its own waited up to that long. Every 0.05 s here (the tests' servers alone)."""

    def polled(self, poll_interval=0.05):
        return serve_forever(self, poll_interval)

    return polled


import socketserver  # noqa: E402 - after the environment above

socketserver.BaseServer.serve_forever = _serve_forever(socketserver.BaseServer.serve_forever)


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
