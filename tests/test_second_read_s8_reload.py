# ruff: noqa: F811 - the fixtures of tests/test_kd_rollout.py, imported, are parameters here
"""Second read of --rollout vllm --weight-sync reload (distill/train/kd/rollout.py, d2f9a37):
a sync that fails never leaves the server paused nor half a model on disk, a full disk is one
line and a checkpoint, and the merged weights vLLM reloads are the policy the trainer samples
(tied embeddings, trained token rows), loaded as vLLM loads them (tests/fakevllm.py)."""

from types import SimpleNamespace

import pytest

from distill.train.kd import rollout as ro
from tests.test_kd_rollout import cfg, fake, teacher  # noqa: F401 - fixtures


def reload_rollout(tmp_path, tiny_qwen, url):
    c = SimpleNamespace(rollout_url=url, lora=True, weight_sync="reload", lora_r=8,
                        output_dir=str(tmp_path / "out"))  # fmt: skip
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=1))
    return ro.ServerRollout(c, SimpleNamespace(pad_token_id=0), model, tmp_path, str(tiny_qwen))


def failing(monkeypatch, route, error, after=False):
    """_request raising `error` on `route` (after the server got it, when `after`)."""
    real = ro._request

    def request(url, key, command, method, path, body, timeout):
        if path == route:
            if after:
                real(url, key, command, method, path, body, timeout)
            raise error
        return real(url, key, command, method, path, body, timeout)

    monkeypatch.setattr(ro, "_request", request)


def test_ctrl_c_during_the_reload_does_not_leave_the_server_paused(
    tmp_path, tiny_qwen, fake, monkeypatch
):
    # Ctrl-C while the server reloads (seconds to minutes for a real model): only a RolloutError
    # resumed it, so the server stayed paused and every later request to it (another run, an
    # eval) queued forever.
    server = fake(dev_mode=True)
    r = reload_rollout(tmp_path, tiny_qwen, server.url)
    failing(monkeypatch, "/collective_rpc", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        r._reload(tmp_path / "w", "v")
    assert server.dev_calls == ["/pause?mode=wait", "/resume"] and not server.paused


def test_a_pause_whose_answer_was_lost_is_undone(tmp_path, tiny_qwen, fake, monkeypatch):
    # The server paused but its answer never came (a timeout, a proxy dropping the reply): the
    # run stopped with the server paused.
    server = fake(dev_mode=True)
    r = reload_rollout(tmp_path, tiny_qwen, server.url)
    lost = ro.RolloutError(f"--rollout-url {r.url} stopped answering (timed out); restart it")
    failing(monkeypatch, "/pause?mode=wait", lost, after=True)
    with pytest.raises(ro.RolloutError, match="stopped answering"):
        r._reload(tmp_path / "w", "v")
    assert server.dev_calls == ["/pause?mode=wait", "/resume"] and not server.paused
