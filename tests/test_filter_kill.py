"""Kill `distill filter` anywhere: the outputs on disk are a whole set a reader may trust (the
previous run's or the new one's, byte for byte) or a set that every reader refuses; never a new
kept file beside an old report that a reader trusts (issue 30).

The kills are real SIGKILLs of a `distill filter` process (forked from the test's), at named
points (DISTILL_TEST_KILL_AT, see distill/manifest.py: 30% and 60% into writing kept/rejects,
after every output is written aside, before the renames, after each rename, before the manifest)
and once at a moment the test picks from outside.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from distill import filter as F
from distill import pipeline
from distill.errors import DistillError
from distill.manifest import check_input
from tests import forked

OUTPUTS = (
    "kept.jsonl",
    "kept.rejects.jsonl",
    "kept.report.json",
    "kept.report.png",
    "kept.filter.yaml",
)
MANIFEST = "kept.manifest.json"


def make_traces(path: Path, n: int) -> None:
    """n traces; a third have a wrong answer (so --verify math and --verify none differ)."""
    with open(path, "w") as f:
        for i in range(n):
            answer = 2 * i if i % 3 else 2 * i + 1
            rec = {
                "id": f"t{i}",
                "prompt_id": f"p{i}",
                "sample": 0,
                "messages": [{"role": "user", "content": f"What is {i} + {i}? (case {i})"}],
                "reasoning": f"Adding {i} to {i} gives {2 * i}; case {i} checked.",
                "answer": f"The answer is \\boxed{{{answer}}}.",
                "gold": str(2 * i),
                "teacher": {"backend": "openai", "model": "m", "params": {}},
                "finish_reason": "stop",
                "usage": {},
                "meta": {},
            }
            f.write(json.dumps(rec) + "\n")


def args(d: Path, verify: str) -> list[str]:
    # Absolute, as `cfg` gives them: the report and filter.yaml hold the paths.
    return [str(d / "traces.jsonl"), "--out", str(d / "kept.jsonl"), "--verify", verify]


def cfg(d: Path, verify: str) -> F.FilterConfig:
    return F.FilterConfig(input=str(d / "traces.jsonl"), out=str(d / "kept.jsonl"), verify=verify)


# what `distill filter` imports on its way (its report's plot, --verify math): imported once in
# the worker, before filter_cli forks
FILTER_IMPORTS = (
    "distill.filter.stage",
    "distill.filter.verify",
    "math_verify",
    "matplotlib.pyplot",
)


def filter_cli(d: Path, verify: str, kill_at: str | None = None) -> forked.Child:
    """`distill filter` in a process of its own, forked from the test's (tests/forked.py: a
    subprocess paid python's start and the imports above each time), killing itself at
    `kill_at`; as a Popen: wait(), poll(), send_signal(), stderr.read()."""

    def env() -> None:
        os.environ.pop("DISTILL_TEST_KILL_AT", None)
        if kill_at:
            os.environ["DISTILL_TEST_KILL_AT"] = kill_at

    return forked.start("filter", *args(d, verify), cwd=d, before=env, imports=FILTER_IMPORTS)


def snapshot(d: Path) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in (*OUTPUTS, MANIFEST) if (d / n).exists()}


def restore(d: Path, files: dict[str, bytes]) -> None:
    for p in d.iterdir():
        if p.is_dir():
            shutil.rmtree(p)
        elif p.name != "traces.jsonl":
            p.unlink()
    for name, data in files.items():
        (d / name).write_bytes(data)


# The tests reading refs are one xdist group: one worker makes the two reference runs once
# (spread over both workers, each made its own: ~1.8 CPU seconds more).
@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """The clean outputs of `--verify none` (the previous run) and `--verify math` (the new
    one), both written by the CLI in the same folder, so every byte (paths included) matches."""
    d = tmp_path_factory.mktemp("filter-kill")
    make_traces(d / "traces.jsonl", 300)
    out = {}
    for verify in ("none", "math"):
        p = filter_cli(d, verify)
        assert p.wait(120) == 0, p.stderr.read()
        out[verify] = snapshot(d)
    assert set(out["math"]) == {*OUTPUTS, MANIFEST}
    assert out["math"]["kept.jsonl"] != out["none"]["kept.jsonl"]
    assert out["math"]["kept.report.json"] != out["none"]["kept.report.json"]
    return d, out


def trusted(d: Path) -> dict[str, bytes]:
    """The outputs a reader accepts (check_input passes), with their bytes."""
    ok = {}
    for name in OUTPUTS:
        if (d / name).exists():
            try:
                check_input(d / name)
            except DistillError:
                continue
            ok[name] = (d / name).read_bytes()
    return ok


def assert_whole_or_refused(d: Path, refs: dict[str, dict[str, bytes]]) -> str:
    """Every output a reader trusts belongs to one reference set, and only when that set is all
    there; -> which set ('none', 'math') or 'refused' (readers refuse every output)."""
    ok = trusted(d)
    if not ok:
        return "refused"
    for which, ref in refs.items():
        if all(ok.get(n) == ref[n] for n in OUTPUTS):
            return which
    bad = {n for n in ok if n in refs["math"] and ok[n] not in (refs["none"][n], refs["math"][n])}
    raise AssertionError(f"a mixed set that readers trust: {sorted(ok)}; unknown bytes in {bad}")


# Each named point, and what a reader must see after a kill there when the previous run
# (--verify none) left its whole set.
POINTS = [
    ("filter:write:30%", "none"),
    ("filter:write:60%", "none"),
    ("filter:written", "none"),
    ("filter:before-renames", "refused"),
    *[(f"filter:renamed:{name}", "refused") for name in OUTPUTS],
    ("filter:before-manifest", "refused"),
]


@pytest.mark.parametrize("point,after_kill", POINTS, ids=[p for p, _ in POINTS])
@pytest.mark.xdist_group("filter_kill_refs")
def test_a_kill_leaves_a_whole_set_or_a_refused_one_and_a_rerun_makes_the_new_one(
    refs, point, after_kill
):
    d, ref = refs
    restore(d, ref["none"])
    p = filter_cli(d, "math", kill_at=point)
    assert p.wait(120) == -signal.SIGKILL, p.stderr.read()
    assert assert_whole_or_refused(d, ref) == after_kill
    if after_kill == "none":  # killed before the renames: the previous run is still done
        assert F.done(cfg(d, "none")) is None
    new = cfg(d, "math")
    assert F.done(new) is not None  # `distill run` would filter again
    F.run(new, quiet=True)
    assert snapshot(d) == ref["math"]
    assert F.done(new) is None
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("point", ["filter:write:30%", "filter:renamed:kept.jsonl"])
@pytest.mark.xdist_group("filter_kill_refs")
def test_a_kill_with_no_previous_run_leaves_nothing_a_reader_trusts(refs, point):
    d, ref = refs
    restore(d, {})
    p = filter_cli(d, "math", kill_at=point)
    assert p.wait(120) == -signal.SIGKILL
    assert trusted(d) == {}
    p = filter_cli(d, "math")  # a plain rerun of `distill filter` rewrites the whole set
    assert p.wait(120) == 0, p.stderr.read()
    assert snapshot(d) == ref["math"]


def test_a_kill_from_outside_while_kept_is_written(tmp_path):
    """No hook: SIGKILL as soon as the temporary kept file has bytes in it."""
    # 10,000 traces: the new run writes kept, then rejects, the report and its plot before the
    # renames, ~2 s in which the kill lands (the loop below looks every 2 ms)
    make_traces(tmp_path / "traces.jsonl", 10000)
    # the previous run: the CLI in this process (tests/inproc.py), no subprocess to start
    res = distill("filter", *args(tmp_path, "none"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    old = snapshot(tmp_path)
    p = filter_cli(tmp_path, "math")
    tmp_kept = tmp_path / ".kept.jsonl.tmp"
    deadline = time.monotonic() + 120
    while not (tmp_kept.exists() and tmp_kept.stat().st_size > 0):
        assert p.poll() is None and time.monotonic() < deadline, "filter ended before the kill"
        time.sleep(0.002)
    p.send_signal(signal.SIGKILL)
    assert p.wait(30) == -signal.SIGKILL
    assert snapshot(tmp_path) == old  # the previous run's set, untouched and still trusted
    assert F.done(cfg(tmp_path, "none")) is None
    assert F.done(cfg(tmp_path, "math")) is not None


def distill(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """`distill ARGV` in cwd, run in this process (tests/inproc.py); the filter that is killed
    is a subprocess (filter_cli)."""
    from tests import inproc

    return inproc.distill(*argv, cwd=cwd)


def one_line_error(res: subprocess.CompletedProcess, *words: str) -> str:
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("old_manifest", [True, False], ids=["previous-run", "older-distill"])
@pytest.mark.xdist_group("filter_kill_refs")
def test_issue_scenario_kill_right_after_kept_is_renamed(refs, tiny_qwen, old_manifest):
    """A previous run with another --verify left kept/report/filter.yaml (with its manifest, or
    without one: written by an older distill); the new run is killed right after kept.jsonl is
    renamed into place. train and export refuse kept.jsonl in one line; `distill run` filters
    again and then train's input is the new run's whole set."""
    d, ref = refs
    old = dict(ref["none"])
    if not old_manifest:
        old.pop(MANIFEST)
    restore(d, old)
    p = filter_cli(d, "math", kill_at="filter:renamed:kept.jsonl")
    if not old_manifest:
        # no file says an older distill wrote them, not the user: refused, each left as it was
        assert p.wait(120) == 1
        assert "kept.jsonl exists and distill did not write it" in p.stderr.read()
        assert snapshot(d) == old
        return
    assert p.wait(120) == -signal.SIGKILL
    assert (d / "kept.jsonl").read_bytes() == ref["math"]["kept.jsonl"]  # the new kept ...
    assert (d / "kept.report.json").read_bytes() == ref["none"]["kept.report.json"]  # old report

    res = distill(
        "train", "--data", "kept.jsonl", "--model", str(tiny_qwen), "--output-dir", "s", cwd=d
    )
    one_line_error(res, "kept.jsonl", "did not finish", "rerun filter")
    assert not (d / "s" / "train.yaml").exists()
    res = distill("export", "kept.jsonl", "--format", "r1", "--out", "data.jsonl", cwd=d)
    one_line_error(res, "kept.jsonl", "did not finish", "rerun filter")
    assert not (d / "data.jsonl").exists()

    recipe = d / "r.yaml"
    recipe.write_text(
        "filter:\n  input: '{run_dir}/traces.jsonl'\n  out: '{run_dir}/kept.jsonl'\n"
        "  verify: math\n"
    )
    pipeline.run(recipe, run_dir=str(d))
    assert snapshot(d) == ref["math"]
    res = distill("export", "kept.jsonl", "--format", "r1", "--out", "data.jsonl", cwd=d)
    assert res.returncode == 0, res.stderr
    (d / "data.jsonl").unlink()
    (d / "r.json").unlink()
    recipe.unlink()


def test_run_skips_filter_only_while_its_manifest_matches(tmp_path, capsys):
    make_traces(tmp_path / "traces.jsonl", 200)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("filter:\n  input: '{run_dir}/traces.jsonl'\n  out: '{run_dir}/kept.jsonl'\n")
    kept = tmp_path / "kept.jsonl"
    pipeline.run(recipe, run_dir=str(tmp_path))
    first = kept.stat().st_mtime_ns
    pipeline.run(recipe, run_dir=str(tmp_path))
    assert "== filter: done" in capsys.readouterr().out
    assert kept.stat().st_mtime_ns == first  # not written again
    # Another setting, then a changed input: filtered again, each time.
    pipeline.run(recipe, run_dir=str(tmp_path), sets=["filter.verify=math"])
    assert "== filter (again: settings changed)" in capsys.readouterr().out
    with open(tmp_path / "traces.jsonl", "a") as f:
        f.write((tmp_path / "traces.jsonl").read_text().splitlines()[0].replace("t0", "t-new"))
        f.write("\n")
    pipeline.run(recipe, run_dir=str(tmp_path), sets=["filter.verify=math"])
    assert "== filter (again: input changed)" in capsys.readouterr().out
    # An output edited after the run is the user's now: not filtered again over the edit.
    with open(tmp_path / "kept.report.json", "a") as f:
        f.write(" ")
    edited = (tmp_path / "kept.report.json").read_bytes()
    with pytest.raises(DistillError, match="kept.report.json, beside --out .*was changed since"):
        pipeline.run(recipe, run_dir=str(tmp_path), sets=["filter.verify=math"])
    assert (tmp_path / "kept.report.json").read_bytes() == edited


def test_readers_refuse_a_file_its_manifest_does_not_match_and_read_unlisted_ones(tmp_path):
    make_traces(tmp_path / "traces.jsonl", 50)
    F.run(cfg(tmp_path, "none"), quiet=True)
    kept = tmp_path / "kept.jsonl"
    check_input(kept)  # the finished run's own file
    with open(kept, "a") as f:
        f.write(kept.read_text().splitlines()[0] + "\n")
    res = distill("export", "kept.jsonl", "--format", "r1", "--out", "data.jsonl", cwd=tmp_path)
    line = one_line_error(res, "kept.jsonl", "does not match", "rerun filter", MANIFEST)
    assert "bytes" in line
    # A user's own file, and a file no manifest lists, are read as before.
    mine = tmp_path / "mine.jsonl"
    mine.write_bytes(kept.read_bytes())
    res = distill("export", "mine.jsonl", "--format", "r1", "--out", "data.jsonl", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (tmp_path / MANIFEST).unlink()  # as an older distill left it
    res = distill("export", "kept.jsonl", "--format", "r1", "--out", "data.jsonl", cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_manifest_names_each_output_with_its_size_and_hash(tmp_path):
    import hashlib

    make_traces(tmp_path / "traces.jsonl", 50)
    F.run(cfg(tmp_path, "math"), quiet=True)
    doc = json.loads((tmp_path / MANIFEST).read_text())
    assert doc["complete"] is True and doc["stage"] == "filter"
    assert sorted(doc["outputs"]) == sorted(OUTPUTS)
    for name, entry in doc["outputs"].items():
        data = (tmp_path / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # num_proc does not change the result, so it does not change the hash; verify does.
    assert F.config_hash(cfg(tmp_path, "math")) == doc["config_hash"]
    par = F.FilterConfig(input=cfg(tmp_path, "math").input, out=str(tmp_path / "kept.jsonl"))
    par.verify, par.num_proc = "math", 2
    assert F.config_hash(par) == doc["config_hash"]
    assert F.config_hash(cfg(tmp_path, "none")) != doc["config_hash"]


class Killed(Exception):
    pass


def die_at(monkeypatch, point: str) -> None:
    """In-process stand-in for a SIGKILL at `point`: nothing after it runs (commit has no
    cleanup to skip)."""

    def kill_point(name: str) -> None:
        if name == point:
            raise Killed(name)

    monkeypatch.setattr("distill.manifest.kill_point", kill_point)


def test_export_writes_its_dataset_with_a_manifest_that_train_checks(tmp_path, monkeypatch):
    from distill.train import ExportConfig, export

    make_traces(tmp_path / "traces.jsonl", 50)
    F.run(cfg(tmp_path, "none"), quiet=True)
    data = tmp_path / "data.jsonl"
    ecfg = ExportConfig(data=str(tmp_path / "kept.jsonl"), format="r1", out=str(data))
    export(ecfg)
    doc = json.loads((tmp_path / "data.jsonl.manifest.json").read_text())
    assert doc["complete"] and doc["outputs"] == {
        "data.jsonl": {
            "size": data.stat().st_size,
            "sha256": doc["outputs"]["data.jsonl"]["sha256"],
        }
    }
    check_input(data)
    # Killed after the new dataset is renamed in, before its manifest: refused.
    die_at(monkeypatch, "export:before-manifest")
    with pytest.raises(Killed):
        export(ExportConfig(data=str(tmp_path / "kept.jsonl"), format="alpaca", out=str(data)))
    with pytest.raises(DistillError, match="export run that wrote it did not finish"):
        check_input(data)
    monkeypatch.undo()
    export(ecfg)
    check_input(data)


def test_eval_json_and_its_config_are_one_set(server, tmp_path, monkeypatch):
    from distill.eval import EvalConfig
    from distill.eval import run as evaluate
    from distill.publish import _load

    out = tmp_path / "eval.json"

    def ecfg(n: int) -> EvalConfig:
        return EvalConfig(
            model="fake-r1",
            backend="openai",
            base_url=server.url,
            data="builtin:arithmetic?n=6&seed=3",
            verify="math",
            n=n,
            temperature=0.7,
            max_tokens=64,
            out=str(out),
        )

    evaluate(ecfg(1))
    assert _load(out)["n"] == 1  # publish reads it: the manifest vouches for it
    die_at(monkeypatch, "eval:renamed:eval.json")  # new numbers in place, old eval.yaml beside
    with pytest.raises(Killed):
        evaluate(ecfg(2))
    assert json.loads(out.read_text())["n"] == 2
    with pytest.raises(DistillError, match="eval run that wrote it did not finish"):
        _load(out)  # publish would not put these numbers on a card beside the old settings
    monkeypatch.undo()
    evaluate(ecfg(2))
    assert _load(out)["n"] == 2


def test_a_file_rewritten_by_another_stage_is_vouched_for_by_its_newest_manifest(tmp_path):
    """export --out train.jsonl, later filter --out train.jsonl: export's stale
    train.jsonl.manifest.json still lists train.jsonl, but filter's newer train.manifest.json
    vouches for it; the file is read, not refused as 'does not match' the export."""
    from distill.train import ExportConfig, export

    make_traces(tmp_path / "traces.jsonl", 30)
    F.run(cfg(tmp_path, "none"), quiet=True)
    train = tmp_path / "train.jsonl"
    export(ExportConfig(data=str(tmp_path / "kept.jsonl"), format="r1", out=str(train)))
    time.sleep(0.01)  # the later manifest is the newer one
    F.run(F.FilterConfig(input=str(tmp_path / "traces.jsonl"), out=str(train)), quiet=True)
    assert (tmp_path / "train.jsonl.manifest.json").is_file()  # export's, now stale
    check_input(train)
    # and the newest one still decides: train.jsonl changed after filter wrote it
    with open(train, "a") as f:
        f.write(train.read_text().splitlines()[0] + "\n")
    with pytest.raises(DistillError, match="train.manifest.json"):
        check_input(train)
