"""The aiohttp the openai teacher needs: before 3.10 aiohttp raised one ServerTimeoutError for a
connect timeout and a read timeout alike (3.10's changelog: "Separated connection and socket
timeout errors, from ServerTimeoutError", aio-libs/aiohttp#7801). The teacher never asks a read
timeout again (the server may be generating the reply, billed), so on aiohttp 3.9, which
pyproject allowed, a connect timeout (a full listen queue, a moment unreachable) failed the
prompt without a retry, named as a slow reply."""

import socket
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from distill.errors import DistillError
from distill.generate import GenerateConfig, run

ROOT = Path(__file__).resolve().parents[1]
SPLIT = Version("3.10")  # the first aiohttp with ConnectionTimeoutError / SocketTimeoutError


def floors(name):
    """The lowest version of `name` each requirement of pyproject.toml allows."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (pyproject allows 3.10)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = [project["dependencies"], *project["optional-dependencies"].values()]
    found = []
    for line in (r for group in groups for r in group):
        req = Requirement(line)
        if req.name == name:
            lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
            found.append(max(lows) if lows else None)
    return found


def test_every_aiohttp_pyproject_allows_tells_a_connect_timeout_from_a_read_timeout():
    lows = floors("aiohttp")
    assert lows, "the teacher imports aiohttp itself: pyproject must require it"
    assert all(low is not None and low >= SPLIT for low in lows), lows


# one xdist worker runs the full-listen-queue tests (make test: --dist loadgroup): the dropped
# SYNs are counted machine-wide by tests/test_generate.py's cold-server test
@pytest.mark.xdist_group("listen_queue")
def test_a_connect_timeout_on_the_first_try_is_retried_not_taken_for_a_slow_reply(
    tmp_path, monkeypatch
):
    import distill.teachers.openai

    monkeypatch.setattr(distill.teachers.openai, "CONNECT_TIMEOUT", 1.0)
    from openai._base_client import BaseClient

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.01)
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # a queue of one, never accepted ...
        filler.connect(listener.getsockname())  # ... and now full: every SYN dropped
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        c = GenerateConfig(
            data="builtin:arithmetic",
            limit=1,
            teacher="openai",
            base_url=url,
            model="m",
            n=1,
            out=str(tmp_path / "t.jsonl"),
            max_retries=1,
            request_timeout=60,
        )
        t0 = time.monotonic()
        # a read timeout would fail the sample: "no reply within --request-timeout 60s"
        with pytest.raises(DistillError, match=rf"cannot reach {url} after 1 retries"):
            run(c, progress=False)
        assert time.monotonic() - t0 < 30  # two connects of 1 s, not the 60 s request timeout
