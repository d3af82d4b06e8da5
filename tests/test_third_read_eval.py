"""A third read of eval and publish: the numbers a user shows others (pass@1 / maj@k, the card)
are the student's own, on its own samples, and what goes to the Hub is what the card says."""

from __future__ import annotations

import json

import pytest

from distill.eval import EvalConfig, run
from distill.teachers import TEACHERS
from distill.teachers.base import Completion

R1_DISTILL = (  # DeepSeek-R1-Distill's generation prompt opens the think block itself
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n<think>\n' }}{% endif %}"
)


def model_folder(path, template):
    from tests.tiny import make_tokenizer

    tok = make_tokenizer("qwen2")
    tok.chat_template = template
    tok.save_pretrained(path)
    (path / "config.json").write_text('{"model_type": "qwen2"}')
    return path


def fake_local_teacher(texts):
    """A teacher (hf or openai) that answers every prompt with texts[sample] = (text,
    finish_reason)."""

    class Fake:
        def __init__(self, cfg):
            pass

        def run(self, jobs, sink):
            for job in jobs:
                for s in job.samples:
                    text, finish = texts[s]
                    sink.done(job, s, Completion(text=text, finish_reason=finish))

    return Fake


def test_a_sample_cut_off_inside_a_prefilled_think_block_has_no_answer(tmp_path, monkeypatch):
    """An R1-distill model's prompt ends with <think>: its sample is reasoning until </think>.
    One cut off before it (max_tokens) gave its whole reasoning as the answer, and a \\boxed{}
    drafted in the thinking scored it correct (a served model with a reasoning parser: wrong)."""
    model = model_folder(tmp_path / "r1-distill", R1_DISTILL)
    monkeypatch.setitem(
        TEACHERS,
        "hf",
        fake_local_teacher(
            [
                ("59 + 63 = \\boxed{122}, but let me check that ag", "length"),  # cut off
                ("59 + 63 = 122.\n</think>\n\nThe answer is \\boxed{122}.", "stop"),
            ]
        ),
    )
    from tests.tiny import CHATML

    plain = model_folder(tmp_path / "plain", CHATML)  # no think block: all of it is the answer
    out = tmp_path / "eval.json"
    cfg = EvalConfig(
        model=str(model),
        baseline=str(plain),
        data="builtin:arithmetic?n=1",  # What is 59 + 63?
        n=2,
        temperature=0.6,
        out=str(out),
    )
    run(cfg)
    result = json.loads(out.read_text())
    assert result["student"]["samples"] == 2
    assert result["student"]["pass@1"] == 0.5  # the cut-off sample has no final answer
    assert result["baseline"]["pass@1"] == 1.0


# =========================================================================== publish to the Hub


class FakeHub:
    """HfApi against a dict: repo id -> {"private": bool, "files": {name: bytes}, "commits": n}.
    Lists files as the Hub does: a plain file by its git blob id, a .safetensors file (LFS) by
    its sha256; a commit given a parent_commit that is not the head fails as the Hub's (412)."""

    repos: dict = {}

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None, **kw):
        if repo_id in self.repos and not exist_ok:
            raise RuntimeError("exists")
        self.repos.setdefault(repo_id, {"private": bool(private), "files": {}})

    def _head(self, repo_id):
        return f"{self.repos[repo_id].setdefault('commits', 0):040x}"

    def repo_info(self, repo_id, **kw):
        from types import SimpleNamespace

        return SimpleNamespace(
            id=repo_id, private=self.repos[repo_id]["private"], sha=self._head(repo_id)
        )

    def _at(self, repo_id, revision):
        assert revision in (None, self._head(repo_id)), "read at a revision the fake lacks"
        return self.repos[repo_id]["files"]

    def list_repo_files(self, repo_id, revision=None, **kw):
        return sorted(self._at(repo_id, revision))

    def hf_hub_download(self, repo_id, filename, revision=None, **kw):
        import tempfile
        from pathlib import Path

        path = Path(tempfile.mkdtemp()) / filename
        path.write_bytes(self._at(repo_id, revision)[filename])
        return str(path)

    def get_paths_info(self, repo_id, paths, revision=None, **kw):
        import hashlib
        from types import SimpleNamespace

        files, found = self._at(repo_id, revision), []
        for p in paths:
            if p in files:
                data = files[p]
                lfs = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                lfs_file = p.endswith(".safetensors")
                blob_id = hashlib.sha1(repr(lfs).encode()).hexdigest() if lfs_file else git
                found.append(
                    SimpleNamespace(path=p, blob_id=blob_id, lfs=lfs if lfs_file else None)
                )
        return found

    def upload_folder(
        self, *, folder_path, repo_id, delete_patterns=None, parent_commit=None, **kw
    ):
        from fnmatch import fnmatch
        from pathlib import Path

        if parent_commit is not None and parent_commit != self._head(repo_id):
            from types import SimpleNamespace

            from huggingface_hub.utils import HfHubHTTPError

            response = SimpleNamespace(status_code=412, headers={}, request=None)
            raise HfHubHTTPError("412 Precondition Failed", response=response)
        added = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        files = self.repos[repo_id]["files"]
        for name in list(files):  # as huggingface_hub: a file added in the commit stays
            if name not in added and any(fnmatch(name, p) for p in delete_patterns or []):
                del files[name]
        files.update(added)
        self.repos[repo_id]["commits"] = self.repos[repo_id].get("commits", 0) + 1


def student_folder(path, merged=False):
    import yaml

    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text('{"base_model_name_or_path": "Qwen/Qwen2.5-1.5B"}')
    (path / "adapter_model.safetensors").write_bytes(b"adapter")
    (path / "train.yaml").write_text(yaml.safe_dump({"model": "Qwen/Qwen2.5-1.5B", "lora_r": 8}))
    if merged:
        (path / "merged").mkdir()
        (path / "merged" / "config.json").write_text('{"model_type": "qwen2"}')
        (path / "merged" / "model.safetensors").write_bytes(b"full weights")
    return path


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_value")
    monkeypatch.setattr(FakeHub, "repos", {})
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    return FakeHub.repos


def test_a_hub_repo_published_again_holds_only_this_publishs_model_files(tmp_path, hub):
    """Publishing into a repo that exists: the files an earlier publish put there and this one
    does not write stayed, so the merged weights' config.json sat beside the adapter (which
    loads as the full model) against a card that says LoRA adapter. The user's own files stay."""
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = student_folder(tmp_path / "student", merged=True)
    publish(PublishConfig(dir=str(student), repo_id="me/student", merged=True))
    hub["me/student"]["files"]["handler.py"] = b"the user's own"
    assert {"config.json", "model.safetensors"} <= set(hub["me/student"]["files"])
    publish(PublishConfig(dir=str(student), repo_id="me/student"))
    files = set(hub["me/student"]["files"])
    assert files == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "train.yaml",
        "README.md",
        ".distill-publish.json",  # the marker: which files publish wrote
        "handler.py",
    }


def test_private_into_a_public_repo_is_refused_before_any_upload(tmp_path, hub):
    """create_repo(private=True, exist_ok=True) leaves a public repo public: --private pushed
    the model for everyone to read."""
    from distill.errors import DistillError
    from distill.publish import PublishConfig
    from distill.publish import run as publish

    student = student_folder(tmp_path / "student")
    hub["me/student"] = {"private": False, "files": {}}
    with pytest.raises(DistillError, match="--private: me/student is a public repo"):
        publish(PublishConfig(dir=str(student), repo_id="me/student", private=True))
    assert hub["me/student"]["files"] == {}
    publish(PublishConfig(dir=str(student), repo_id="me/new", private=True))
    assert hub["me/new"]["private"] and "README.md" in hub["me/new"]["files"]


# =========================================================================== resume


def test_a_rerun_after_the_gold_answers_are_fixed_scores_against_the_new_ones(
    tmp_path, monkeypatch
):
    """Samples are resumed by the prompt (its id hashes the messages, not the gold): a rerun
    after fixing a wrong gold answer (or a countdown target, a code task's tests) in the eval
    set reused the samples, rightly, but scored them against the gold they were sampled with."""
    from tests.tiny import CHATML

    calls = []

    class Teacher:
        def __init__(self, cfg):
            pass

        def run(self, jobs, sink):
            for job in jobs:
                for s in job.samples:
                    calls.append(job.prompt_id)
                    sink.done(job, s, Completion(text="2 + 2 = \\boxed{4}"))

    monkeypatch.setitem(TEACHERS, "hf", Teacher)
    model = model_folder(tmp_path / "model", CHATML)
    data = tmp_path / "heldout.jsonl"
    data.write_text('{"id": "q1", "question": "What is 2 + 2?", "answer": "5"}\n')
    out = tmp_path / "eval.json"
    cfg = EvalConfig(model=str(model), data=str(data), out=str(out))
    run(cfg)
    assert json.loads(out.read_text())["student"]["pass@1"] == 0.0
    data.write_text('{"id": "q1", "question": "What is 2 + 2?", "answer": "4"}\n')  # fixed
    run(cfg)
    assert calls == ["q1"]  # resumed: not sampled again
    assert json.loads(out.read_text())["student"]["pass@1"] == 1.0


# =========================================================================== maj@k


def test_exact_maj_at_k_votes_on_the_text_the_verifier_compares():
    """exact compares the boxed text (or the answer) normalised; the vote was on the math key,
    which parsed \\boxed{Paris} as the product a*i*p*r*s (another vote than "Paris")."""
    from distill.eval import score

    answers = ["\\boxed{London}", "\\boxed{London}", "Paris", "Paris.", "\\boxed{Paris}"]
    recs = [
        {"id": f"p-{i}", "prompt_id": "p", "answer": a, "gold": "Paris"}
        for i, a in enumerate(answers)
    ]
    s = score(recs, "exact")
    assert s["pass@1"] == 0.6 and s["maj@5"] == 1.0  # Paris 3, London 2


def test_code_maj_at_k_votes_on_the_program_not_a_number_in_it():
    """code: the vote was the math key of the reply, the last number in the program: a right
    `return x + 1` and two wrong `print(x - 1)` all voted '1', and the group held a right one."""
    from distill.eval import score
    from distill.filter.sandbox import require_isolation

    def rec(i, code):
        return {
            "id": f"p-{i}",
            "prompt_id": "p",
            "answer": f"Here it is.\n```python\n{code}\n```\n",
            "meta": {"tests": {"inputs": ["21\n"], "outputs": ["22\n"]}},
        }

    right, wrong = "print(int(input()) + 1)", "print(int(input()) - 1)"
    recs = [rec(0, right), rec(1, wrong), rec(2, "print(int(input())  -  1)")]
    s = score(recs, "code", sandbox=require_isolation(True))
    assert s["pass@1"] == round(1 / 3, 4) and s["maj@3"] == 0.0
