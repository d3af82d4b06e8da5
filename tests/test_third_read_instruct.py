"""A third read of `distill instruct`: resume under --seed, a user's file at --out, a rerun with
other settings on the same --out, magpie's cut answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.instruct import InstructConfig, run
from tests.test_instruct import cfg, records


def magpie(tmp_path, model, **kw):
    base = dict(
        teacher="hf", model=str(model), method="magpie", num_instructions=4,
        out=str(tmp_path / "m.jsonl"), max_tokens=4, instruction_max_tokens=12,
        min_words=0, language="any", dedup="exact", max_rouge=1.0, batch_size=2,
        request_batch_size=4, seed=0, temperature=1.0, stall_rounds=1,
    )  # fmt: skip
    return InstructConfig(**{**base, **kw})


def test_magpie_resumed_mid_round_under_a_seed_draws_new_instructions(tmp_path, tiny_qwen):
    """Every magpie request of a round is the same prompt as sample 0: the teacher's seed of a
    batch came from its rows and how many batches of those rows this call drew, so a rerun that
    asks only the rest of a killed round drew the first batch's numbers again: copies of the
    instructions on disk (paid, then dropped as duplicates), not the unbroken run's."""
    whole = tmp_path / "whole"
    run(magpie(whole, tiny_qwen, num_instructions=100, max_rouge=1.0, stall_rounds=1))
    asks = [r for r in records(whole / "m.requests.jsonl") if r["kind"] == "magpie-instruction"]
    first_round = [r["text"] for r in asks[:4]]
    # A run killed after the round's first batch of 2: only those replies are on disk.
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "m.requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in asks[:2]))
    run(magpie(cut, tiny_qwen, num_instructions=100, max_rouge=1.0, stall_rounds=1))
    again = [r for r in records(cut / "m.requests.jsonl") if r["kind"] == "magpie-instruction"]
    assert [r["text"] for r in again[:4]] == first_round


def test_a_users_own_file_at_out_is_refused_not_appended_to(tmp_path, tasks_server):
    own = tmp_path / "alpaca_data.jsonl"
    for text in (
        '{"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat."}\n',
        '{"id": 7, "instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat."}\n',
    ):  # fmt: skip
        own.write_text(text)
        with pytest.raises(DistillError, match=r"alpaca_data.jsonl: record 1 .*--out"):
            run(cfg(tmp_path, tasks_server, out=str(own), num_instructions=4))
        assert own.read_text() == text and not tasks_server.log
        assert not (tmp_path / "alpaca_data.instruct.yaml").exists()


def test_a_rerun_with_other_settings_is_refused_before_it_pays_or_writes(tmp_path, tasks_server):
    """A run on an --out that an earlier run with other settings wrote (another temperature,
    filter, seed file; another --request-batch-size, which sizes the rounds, so every prompt
    from round 1 on differs) kept its own instructions beside the earlier ones: 52 in the file,
    'kept 40' in the report, the two sets never deduplicated against each other."""
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=24))  # a run killed at 24 of 40
    before, sent = out.read_text(), len(tasks_server.log)
    yaml_before = (tmp_path / "instructions.instruct.yaml").read_text()
    for changed in ({"request_batch_size": 3}, {"temperature": 0.5}, {"max_rouge": 0.05}):
        with pytest.raises(DistillError, match=r"instructions.jsonl holds .*other settings"):
            run(cfg(tmp_path, tasks_server, num_instructions=40, **changed))
        assert out.read_text() == before and len(tasks_server.log) == sent, changed
        assert (tmp_path / "instructions.instruct.yaml").read_text() == yaml_before
    # The message names what changed since the earlier run.
    with pytest.raises(DistillError, match=r"--request-batch-size 2 -> 3.*leave out --request"):
        run(cfg(tmp_path, tasks_server, num_instructions=40, request_batch_size=3))
    # The earlier rounds go on from the file (at another --concurrency too).
    run(cfg(tmp_path, tasks_server, num_instructions=40, concurrency=3, request_batch_size=2))
    recs = records(out)
    assert len(recs) == 40 and out.read_text().startswith(before)
    assert json.loads((tmp_path / "instructions.report.json").read_text())["kept"] == 40


def test_a_smaller_num_instructions_then_a_larger_one_goes_on(tmp_path, tasks_server):
    """A rerun after a run with a smaller --num-instructions (whose last round was shorter) is
    the same plan, not other settings; one with a smaller one than the file holds says so."""
    out = tmp_path / "instructions.jsonl"
    run(cfg(tmp_path, tasks_server, num_instructions=13))  # round 1 asks 1 request, not 2
    first = records(out)
    run(cfg(tmp_path, tasks_server, num_instructions=30))
    recs = records(out)
    assert recs[:13] == first and len(recs) == 30 and len({r["id"] for r in recs}) == 30
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run(cfg(fresh, tasks_server, num_instructions=30))
    assert [r["instruction"] for r in records(fresh / "instructions.jsonl")] == [
        r["instruction"] for r in recs
    ]
    run(cfg(tmp_path, tasks_server, num_instructions=10))
    report = json.loads((tmp_path / "instructions.report.json").read_text())
    assert report["kept"] == 10 and report["in_file"] == 30


def test_a_key_in_the_base_urls_query_is_written_nowhere(tmp_path, tasks_server):
    """README: a server URL with a token in it is written nowhere as given (but train.yaml,
    which --resume reads); instructions.instruct.yaml held `--base-url ...?key=SECRET`."""
    secret = "sk-SECRET-in-the-query-123"
    c = cfg(tmp_path, tasks_server, num_instructions=6, base_url=f"{tasks_server.url}?key={secret}")
    run(c)
    assert tasks_server.log  # the key went with the requests
    for f in tmp_path.iterdir():
        assert secret not in f.read_text(), f.name
    assert "base_url: http://127.0.0.1" in (tmp_path / "instructions.instruct.yaml").read_text()
    run(c)  # a rerun with the same URL is the same settings
    with pytest.raises(DistillError, match=r"temperature 1.0 -> 0.5") as e:
        run(cfg(tmp_path, tasks_server, num_instructions=12, base_url=c.base_url, temperature=0.5))
    assert "base_url http" not in str(e.value) and secret not in str(e.value)


def test_a_blank_blacklist_word_drops_nothing():
    """A recipe's `blacklist: [image, ""]` (or " file ") made the keyword pattern `\\b()\\b`,
    which matches every instruction: every candidate was dropped as `keyword`, round after
    paid round, until --stall-rounds ended the run with 0 kept."""
    from distill.instruct import Filters

    c = InstructConfig(model="m", out="o.jsonl", teacher="hf", blacklist=["image", "", " file "])
    f = Filters(c)
    ok = {"instruction": "Describe the water cycle for a ten year old.", "input": ""}
    assert f.reason(ok)[0] is None
    assert f.reason({"instruction": "Open the file and count its lines.", "input": ""})[0] == (
        "keyword"
    )


def test_magpie_counts_and_marks_answers_cut_by_max_tokens(tmp_path, tiny_qwen):
    """The second pass's answer is the record's output (train --format alpaca learns it as is);
    one cut by --max-tokens was kept with nothing in the report or the record saying so."""
    run(
        magpie(
            tmp_path,
            tiny_qwen,
            num_instructions=3,
            max_tokens=3,
            instruction_max_tokens=200,  # a random model stops within it
            request_batch_size=8,
            stall_rounds=3,
        )
    )
    recs = records(tmp_path / "m.jsonl")
    answers = {
        r["id"]: r for r in records(tmp_path / "m.requests.jsonl") if r["kind"] == "magpie-answer"
    }
    cut = [
        r for r in recs if answers[r["lineage"]["answer_request_id"]]["finish_reason"] == "length"
    ]
    assert cut  # a tiny random model does not stop within 3 tokens
    assert all(r["lineage"]["answer_finish_reason"] == "length" for r in cut)
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["answers_cut"] == len(cut) and report["kept"] == len(recs)


class _FakeMagpieTeacher:
    """Stands in for the hf teacher: each instruction request's text is a function of its id,
    every third one cut by max tokens, and the first request this test sends cut too: request
    ids hash the model's path (a tmp folder), so without it round 0 sometimes kept all it asked
    (the test then failed at random, ~1 run in 8). A cut is a function of the id alone."""

    cut: set = set()  # ids cut besides every third one (the test's first request)
    first = True

    def __init__(self, cfg):
        self.cfg = cfg

    def run(self, jobs, sink):
        from distill.teachers import Completion

        words = ["river", "prime", "poem", "budget", "verb", "orbit", "recipe", "tax"]
        for job in jobs:
            rid, kind = job.payload
            h = int(rid, 16)
            if kind == "magpie-instruction":
                text = "Explain " + " ".join(words[(h >> (3 * k)) % 8] for k in range(6)) + "."
                if _FakeMagpieTeacher.first:
                    _FakeMagpieTeacher.cut.add(rid)
                    _FakeMagpieTeacher.first = False
                finish = "length" if h % 3 == 0 or rid in _FakeMagpieTeacher.cut else "stop"
            else:
                text, finish = "An answer.", "stop"
            sink.done(job, job.samples[0], Completion(text=text, finish_reason=finish))


def test_magpie_raising_num_instructions_goes_on(tmp_path, tiny_qwen, monkeypatch):
    """Magpie keeps at most one instruction per request, so a run with a small N asks short
    rounds (min(batch, N - kept)) that a larger N's rounds do not repeat one for one: the
    earlier run's instructions come back in another order. Raising N must still go on."""
    from distill.instruct import stage

    monkeypatch.setitem(stage.TEACHERS, "hf", _FakeMagpieTeacher)
    monkeypatch.setattr(_FakeMagpieTeacher, "cut", set())
    monkeypatch.setattr(_FakeMagpieTeacher, "first", True)
    kw = dict(request_batch_size=8, stall_rounds=5, max_rouge=0.99, dedup="near")
    run(magpie(tmp_path, tiny_qwen, num_instructions=5, **kw))
    first = records(tmp_path / "m.jsonl")
    rounds = {r["lineage"]["round"] for r in first}
    assert len(first) == 5 and len(rounds) > 1  # round 0 asked 5 and kept fewer
    run(magpie(tmp_path, tiny_qwen, num_instructions=20, **kw))
    recs = records(tmp_path / "m.jsonl")
    assert recs[:5] == first and len(recs) == len({r["id"] for r in recs}) == 20
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run(magpie(fresh, tiny_qwen, num_instructions=20, **kw))
    assert sorted(r["id"] for r in records(fresh / "m.jsonl")) == sorted(r["id"] for r in recs)


def test_a_changed_seed_file_is_other_settings(tmp_path, tasks_server):
    from distill.instruct import load_seed_tasks

    seeds = tmp_path / "seeds.jsonl"
    rows = [json.loads(x) for x in (Path("prompts") / "seed_tasks.jsonl").read_text().splitlines()]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows[:10]))
    assert len(load_seed_tasks(str(seeds))) == 10
    run(cfg(tmp_path, tasks_server, num_instructions=6, seed_tasks=str(seeds)))
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows[10:20]))
    with pytest.raises(DistillError, match=r"seed tasks file changed"):
        run(cfg(tmp_path, tasks_server, num_instructions=12, seed_tasks=str(seeds)))


def test_magpie_on_a_model_without_a_chat_template_is_one_line(tmp_path, tiny_qwen):
    import shutil

    from distill.instruct import magpie_prefix

    model = tmp_path / "base"
    shutil.copytree(tiny_qwen, model)
    conf = model / "tokenizer_config.json"
    conf.write_text(json.dumps({**json.loads(conf.read_text()), "chat_template": None}))
    for f in model.glob("chat_template.*"):
        f.unlink()
    with pytest.raises(DistillError, match=r"base: its tokenizer has no chat template.*magpie"):
        magpie_prefix(str(model), None)
