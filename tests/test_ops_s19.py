"""Session 19: publish's leftovers and hashes, timed-out requests in instruct and select.

- `publish --local-dir` whose move into the folder is a copy (a bind mount, another filesystem:
  the rename is EXDEV) killed during the copy left part of the file under its final name, and
  the next publish refused it as the user's. The copy now lands under a temp name of publish's
  in the folder, synced, then renamed; a temp a hard kill left is removed by the next publish.
- a hard kill inside the marker's write left `..distill-publish.json.tmp<pid>` in the user's
  folder forever (and, in a folder new to publish, the next publish refused the folder as
  the user's non-empty one); the next publish removes it.
- a --local-dir publish uploaded to the Hub by hand: its marker had only sizes, and a file of
  the user's of the same size was taken for publish's and replaced; the marker keeps each
  file's hashes now, compared with those the Hub lists.
- `distill instruct` and `distill select` counted no request that got no reply within
  --request-timeout (its cost unknown); they count it (`timed_out_requests`) and say it in
  their end line, as generate does.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inproc import distill

MARKER = ".distill-publish.json"
WEIGHTS = b"weights-1" * 1000


@pytest.fixture
def student(tmp_path: Path) -> Path:
    s = tmp_path / "student"
    s.mkdir()
    (s / "config.json").write_text('{"model_type": "llama"}\n')
    (s / "model.safetensors").write_bytes(WEIGHTS)
    (s / "train.yaml").write_text("model: m\nformat: r1\n")
    return s


def publish(student: Path, dest: Path):
    return distill("publish", str(student), "--local-dir", str(dest))


def marker_of(dest: Path) -> dict:
    return json.loads((dest / MARKER).read_text())


# =========================================================================== a move that copies

# Run in a subprocess (a hard kill: no `finally` runs), or in this process (KeyboardInterrupt):
# every rename out of publish's staging folder into dest is EXDEV (dest across a bind mount
# or another filesystem: shutil.move copies), and the copy of model.safetensors dies halfway.
CUT_COPY = """
import errno, os, shutil, sys
from pathlib import Path
from distill import publish as P

dest = Path({dest!r})
real_rename, real_copyfile = os.rename, shutil.copyfile

def staged(src):
    return Path(src).parent.name.startswith("." + dest.name + ".")

def rename(src, dst, *a, **kw):
    if staged(src):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    return real_rename(src, dst, *a, **kw)

def copyfile(src, dst, *a, **kw):
    if staged(src) and Path(src).name == "model.safetensors":
        Path(dst).write_bytes(Path(src).read_bytes()[:100])  # the kill, halfway
        {kill}
    return real_copyfile(src, dst, *a, **kw)

os.rename, shutil.copyfile = rename, copyfile
P.run(P.PublishConfig(dir={student!r}, local_dir=str(dest)))
"""


def cut_copy(student: Path, dest: Path, hard: bool) -> None:
    kill = "os._exit(9)" if hard else "raise KeyboardInterrupt"
    script = CUT_COPY.format(dest=str(dest), student=str(student), kill=kill)
    if hard:
        cut = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert cut.returncode == 9, cut.stderr
        return
    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        import shutil

        mp.setattr(os, "rename", os.rename)  # put back whatever the script sets
        mp.setattr(shutil, "copyfile", shutil.copyfile)
        exec(compile(script, "<cut>", "exec"), {})


@pytest.mark.parametrize("hard", [False, True], ids=["ctrl-c", "killed"])
@pytest.mark.parametrize("first", [True, False], ids=["first-publish", "republish"])
def test_a_publish_cut_while_copying_into_the_folder_leaves_no_part_under_the_name(
    student, tmp_path, hard, first
):
    dest = tmp_path / "pub"
    if not first:
        assert publish(student, dest).returncode == 0
        (student / "model.safetensors").write_bytes(b"weights-2" * 1000)
    before = (dest / "model.safetensors").read_bytes() if not first else None
    cut_copy(student, dest, hard)
    # before: the first 100 bytes of the new weights under the final name
    if first:
        assert not (dest / "model.safetensors").exists()
    else:
        assert (dest / "model.safetensors").read_bytes() == before
    res = publish(student, dest)
    # before: 'model.safetensors is already there and publish did not write it' (its own part)
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == (student / "model.safetensors").read_bytes()
    # nothing of publish's own left beside the files: the part a hard kill left is removed
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [MARKER, "README.md", "config.json", "model.safetensors", "train.yaml"]
    )


def test_a_copy_into_the_folder_is_published_whole(student, tmp_path, monkeypatch):
    """Every move a copy (EXDEV): the files land whole, with the stamps the marker names."""
    dest = tmp_path / "pub"
    real_rename = os.rename

    def rename(src, dst, *a, **kw):
        if Path(src).parent.name.startswith(f".{dest.name}."):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    res = publish(student, dest)
    assert res.returncode == 0, res.stderr
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS
    monkeypatch.undo()
    assert publish(student, dest).returncode == 0  # its own files, by their stamps


def test_a_users_file_under_publishs_temp_name_is_left_alone(student, tmp_path):
    """Only a temp of a name the cut publish's marker lists as being placed is removed (and
    no larger than the file it was copying): a file of the user's under that name is refused,
    never written over."""
    from tests.test_no_clobber import refused

    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    mine = dest / ".distill-publish.train.yaml.part"
    mine.write_text("mine")  # no publish was cut here
    refused(publish(student, dest), r"\.distill-publish\.train\.yaml\.part is in the way")
    assert mine.read_text() == "mine"
    mine.unlink()
    cut_copy(student, dest, hard=True)  # now one was, copying model.safetensors
    mine = dest / ".distill-publish.model.safetensors.part"
    mine.write_bytes(WEIGHTS + b"more")  # larger than what it was copying: the user's
    refused(publish(student, dest), r"\.distill-publish\.model\.safetensors\.part is in the")
    assert mine.read_bytes() == WEIGHTS + b"more"


# =========================================================================== the marker's temp

KILL_IN_MARKER = """
import os, pathlib
from distill import publish as P

real = pathlib.Path.replace
def replace(self, target):
    if pathlib.Path(target).name == {marker!r}:
        os._exit(9)  # the kill, the marker's temp written
    return real(self, target)
pathlib.Path.replace = replace
P.run(P.PublishConfig(dir={student!r}, local_dir={dest!r}))
"""


def killed_writing_the_marker(student: Path, dest: Path) -> Path:
    script = KILL_IN_MARKER.format(marker=MARKER, student=str(student), dest=str(dest))
    cut = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert cut.returncode == 9, cut.stderr
    (left,) = [p for p in dest.iterdir() if p.name.startswith(f".{MARKER}.tmp")]
    return left


@pytest.mark.parametrize("first", [True, False], ids=["first-publish", "republish"])
def test_the_marker_temp_a_kill_left_is_removed_by_the_next_publish(student, tmp_path, first):
    dest = tmp_path / "pub"
    if not first:
        assert publish(student, dest).returncode == 0
    left = killed_writing_the_marker(student, dest)
    res = publish(student, dest)
    # before: left there forever; in a folder new to publish, the folder was refused as the
    # user's ('a non-empty folder that holds no previous publish')
    assert res.returncode == 0, res.stderr
    assert not left.exists()
    assert marker_of(dest)["files"] == sorted(
        ["README.md", "config.json", "model.safetensors", "train.yaml"]
    )


def test_a_file_under_the_marker_temps_name_that_is_no_marker_stays(student, tmp_path):
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    mine = dest / f".{MARKER}.tmp99999999"
    mine.write_text("my own notes\n")
    assert publish(student, dest).returncode == 0
    assert mine.read_text() == "my own notes\n"


def test_a_marker_temp_of_a_live_process_stays(student, tmp_path):
    """Another publish into the folder, writing its marker now: its temp is not taken."""
    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = dest / f".{MARKER}.tmp{live.pid}"
        theirs.write_text('{\n  "student": "x"')
        assert publish(student, dest).returncode == 0
        assert theirs.exists()
    finally:
        live.kill()
        live.wait()


# =========================================================================== a hand upload


@pytest.fixture
def hub(monkeypatch):
    """FakeHub listing each file's size too, as the Hub's get_paths_info does."""
    import huggingface_hub

    from tests.test_third_read_eval import FakeHub

    class SizedHub(FakeHub):
        def get_paths_info(self, repo_id, paths, revision=None, **kw):
            found = super().get_paths_info(repo_id, paths, revision=revision, **kw)
            for f in found:
                f.size = len(self._at(repo_id, revision)[f.path])
            return found

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_value")
    monkeypatch.setattr(FakeHub, "repos", {})
    monkeypatch.setattr(huggingface_hub, "HfApi", SizedHub)
    return FakeHub.repos


def same_size_other_bytes(data: bytes) -> bytes:
    return bytes(reversed(data)) if data != bytes(reversed(data)) else data.swapcase()


@pytest.mark.parametrize("name", ["train.yaml", "model.safetensors"], ids=["plain", "lfs"])
def test_a_users_file_of_the_same_size_on_the_hub_is_not_replaced(student, tmp_path, hub, name):
    """`publish --local-dir`, the folder uploaded by hand (`hf upload`), then the user's own
    file put in its place on the Hub: the same size, other bytes."""
    from distill.errors import DistillError
    from distill.publish import PublishConfig, run

    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    files = {p.name: p.read_bytes() for p in dest.iterdir()}
    mine = same_size_other_bytes(files[name])
    files[name] = mine
    hub["me/student"] = {"private": False, "files": files}
    # before: taken for publish's by its size and replaced
    with pytest.raises(DistillError, match=rf"{name} is already in the repo and changed"):
        run(PublishConfig(dir=str(student), repo_id="me/student"))
    assert hub["me/student"]["files"][name] == mine
    # publish's own, as it uploaded them: replaced
    hub["me/student"]["files"] = {p.name: p.read_bytes() for p in dest.iterdir()}
    (student / "model.safetensors").write_bytes(b"weights-2" * 1000)
    run(PublishConfig(dir=str(student), repo_id="me/student"))
    assert hub["me/student"]["files"]["model.safetensors"] == b"weights-2" * 1000


def test_a_cut_publishs_pending_file_of_the_same_size_on_the_hub_is_the_users(
    student, tmp_path, hub
):
    """A --local-dir publish cut while placing, uploaded by hand: the name it was placing,
    the user's file there of the staged file's size, is theirs."""
    from distill import publish as P
    from distill.errors import DistillError

    dest = tmp_path / "pub"
    real = P.shutil.move

    def move(src, dst):
        if Path(dst).name == "train.yaml":
            raise KeyboardInterrupt
        return real(src, dst)

    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(P.shutil, "move", move)
        P.run(P.PublishConfig(dir=str(student), local_dir=str(dest)))
    assert "train.yaml" in marker_of(dest)["pending"]
    files = {p.name: p.read_bytes() for p in dest.iterdir() if p.is_file()}
    ours = (student / "train.yaml").read_bytes()
    files["train.yaml"] = same_size_other_bytes(ours)
    hub["me/student"] = {"private": False, "files": files}
    with pytest.raises(DistillError, match=r"train\.yaml is already in the repo and changed"):
        P.run(P.PublishConfig(dir=str(student), repo_id="me/student"))
    hub["me/student"]["files"]["train.yaml"] = ours  # the staged file, uploaded: publish's
    P.run(P.PublishConfig(dir=str(student), repo_id="me/student"))
    assert "train.yaml" in json.loads(hub["me/student"]["files"][MARKER])["files"]


def test_a_marker_from_before_the_hashes_is_still_read_by_size(student, tmp_path, hub):
    from distill.publish import PublishConfig, run

    dest = tmp_path / "pub"
    assert publish(student, dest).returncode == 0
    files = {p.name: p.read_bytes() for p in dest.iterdir()}
    old = json.loads(files[MARKER])
    old.pop("hashes", None)
    files[MARKER] = json.dumps(old).encode()
    hub["me/student"] = {"private": False, "files": files}
    run(PublishConfig(dir=str(student), repo_id="me/student"))  # publish's by its sizes
    assert MARKER in hub["me/student"]["files"]


# =========================================================================== timed out requests

TIMED_OUT_LINE = "1 requests timed out: their cost is unknown"
CARRIED_LINE = "1 requests timed out over this file's runs (0 in this run): their cost is unknown"


def test_instruct_counts_a_request_that_timed_out_in_its_report_and_lines(tmp_path, capsys):
    """The first request gets no reply within --request-timeout (the server may still be
    generating it, and billing it): the run stops for a rerun, which asks it again."""
    from distill.errors import DistillError
    from distill.instruct import InstructConfig
    from distill.instruct import run as instruct
    from tests.fakeserver import FakeServer

    server = FakeServer(style="tasks", model="m").start()
    server.faults.append({"hang": 3})
    try:
        c = InstructConfig(
            teacher="openai", model="m", base_url=server.url, num_instructions=6,
            out=str(tmp_path / "i.jsonl"), concurrency=1, max_retries=0, request_timeout=0.5,
            price_input=1.0, price_output=2.0,
        )  # fmt: skip
        with pytest.raises(DistillError) as e:
            instruct(c)
        # before: '1 teacher requests failed: no reply within ...', its cost unsaid
        assert "1 teacher requests failed: no reply within --request-timeout 0.5s" in str(e.value)
        assert TIMED_OUT_LINE in str(e.value)
        assert TIMED_OUT_LINE in capsys.readouterr().out  # the run's $ line
        instruct(c)
        report = json.loads((tmp_path / "i.report.json").read_text())
        # before: no such count (a KeyError here)
        assert report["timed_out_requests"] == 1  # the first run's, from the requests file
        assert report["this_run"]["timed_out_requests"] == 0
        assert CARRIED_LINE in capsys.readouterr().out
        instruct(c)  # nothing to do: counted once
        assert json.loads((tmp_path / "i.report.json").read_text())["timed_out_requests"] == 1
    finally:
        server.stop()


def test_select_counts_a_judge_request_that_timed_out(tmp_path, capsys):
    from distill.errors import DistillError
    from distill.select import SelectConfig
    from distill.select.stage import run as select
    from tests.test_select import FakeJudge, judged_traces

    src = judged_traces(tmp_path, ["Score: 8", "Score: 6", "Score: 9"])
    judge = FakeJudge().start()
    judge.faults.append({"hang": 3})
    try:
        c = SelectConfig(
            input=str(src), out=str(tmp_path / "sel.jsonl"), judge="judge",
            judge_base_url=judge.url, concurrency=1, max_retries=0, request_timeout=0.5,
        )  # fmt: skip
        with pytest.raises(DistillError) as e:
            select(c)
        assert "1 judge requests failed: no reply within --request-timeout 0.5s" in str(e.value)
        assert TIMED_OUT_LINE in str(e.value)  # before: not said
        select(c)
        report = json.loads(Path(c.report).read_text())
        assert report["judge"]["timed_out_requests"] == 1  # before: no such count
        assert report["judge"]["scored"] == 3
        assert "1 requests timed out over the caches' runs" in capsys.readouterr().err
        select(dataclasses.replace(c, min_score=7.0))  # asks nothing: counted once
        assert json.loads(Path(c.report).read_text())["judge"]["timed_out_requests"] == 1
    finally:
        judge.stop()


def test_select_counts_a_student_request_that_timed_out(tmp_path):
    from distill.errors import DistillError
    from distill.select import SelectConfig
    from distill.select.stage import run as select
    from tests.test_select import FakeStudent, trace, write

    rates = {"What is 1 + 1?": 0.5, "What is 2 + 1?": 1.0}
    src = write(
        tmp_path / "kept.jsonl", [trace(f"p{k}", q, gold=str(k + 2)) for k, q in enumerate(rates)]
    )
    student = FakeStudent(rates).start()
    student.faults.append({"hang": 3})
    try:
        c = SelectConfig(
            input=str(src), out=str(tmp_path / "sel.jsonl"), student="student",
            student_base_url=student.url, samples=2, pass_rate="0:1", concurrency=1,
            max_retries=0, request_timeout=0.5,
        )  # fmt: skip
        with pytest.raises(DistillError) as e:
            select(c, quiet=True)
        assert "student samples failed: no reply within --request-timeout 0.5s" in str(e.value)
        assert TIMED_OUT_LINE in str(e.value)  # before: not said
        select(c, quiet=True)
        report = json.loads(Path(c.report).read_text())
        assert report["difficulty"]["timed_out_requests"] == 1  # before: no such count
        assert report["difficulty"]["prompts_rated"] == 2
    finally:
        student.stop()
