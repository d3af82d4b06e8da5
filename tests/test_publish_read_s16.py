"""Second read of publish's s16 change (60d16b3): the marker's `earlier` hashes count only for
a file last committed before the marker's commit, which get_paths_info(expand=True) lists.

huggingface_hub documents that the Hub answers an expanded listing 50 paths a page (1000
without), but its get_paths_info is one POST and reads no further page: a repo whose publish
wrote more than 50 files (a model of 60 shards) was listed in part, and the files past the
50th were refused as 'changed since distill published it' on the next publish.
"""

from __future__ import annotations

import pytest
import yaml

from tests.test_publish_earlier_s16 import DatedHub, publish
from tests.test_third_read_eval import hub

__all__ = ["hub"]  # the fixture, used by name

SHARDS = 60


class PagedHub(DatedHub):
    """An expanded paths-info answered 50 paths at most, as the Hub pages it."""

    def get_paths_info(self, repo_id, paths, revision=None, expand=False, **kw):
        found = super().get_paths_info(repo_id, paths, revision=revision, expand=expand, **kw)
        return found[:50] if expand else found


@pytest.fixture
def paged_hub(hub, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", PagedHub)
    monkeypatch.setattr(PagedHub, "commits_before_kill", None)
    return hub


def sharded_student(path, version: bytes):
    merged = path / "merged"
    merged.mkdir(parents=True, exist_ok=True)
    (merged / "config.json").write_text('{"model_type": "qwen2"}')
    for i in range(1, SHARDS + 1):
        name = f"model-{i:05d}-of-{SHARDS:05d}.safetensors"
        (merged / name).write_bytes(version + b" shard %d" % i)
    (path / "train.yaml").write_text(yaml.safe_dump({"model": "Qwen/Qwen2.5-1.5B"}))
    return path


def test_a_republished_model_of_many_shards_is_listed_whole(tmp_path, paged_hub):
    student = tmp_path / "student"
    for version in (b"A", b"B", b"C"):  # B's marker keeps A's hashes: C lists with expand
        sharded_student(student, version)
        publish(dir=str(student), repo_id="me/s", merged=True)  # C refused before the fix
    files = paged_hub["me/s"]["files"]
    shards = [n for n in files if n.startswith("model-")]
    assert len(shards) == SHARDS and all(files[n].startswith(b"C shard") for n in shards)
