"""distill instruct: parsing, every filter, ROUGE-L equal to rouge-score's all-pairs loop,
resume after SIGKILL, cost, the Alpaca-column output that generate and train read, bad input."""

from __future__ import annotations

import json
import random
import re
import signal
import time
from pathlib import Path

import pytest

from distill.instruct import (
    Filters,
    InstructConfig,
    RougeIndex,
    load_seed_tasks,
    magpie_prefix,
    parse_tasks,
    rouge_tokens,
    run,
)
from tests import forked, inproc
from tests.fakeserver import FakeServer

ROOT = Path(__file__).parent.parent


def cfg(tmp_path, server, **kw):
    base = dict(
        teacher="openai",
        model="m",
        base_url=server.url,
        num_instructions=20,
        out=str(tmp_path / "instructions.jsonl"),
        concurrency=2,
        max_retries=0,
    )
    return InstructConfig(**{**base, **kw})


def records(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


# =========================================================================== parsing


def test_parse_tasks_keeps_good_items_and_counts_malformed_and_truncated():
    reply = (
        "Sure! Here are more tasks.\n"  # a chat model's preamble: not an item
        "4. Instruction: Name three rivers in Europe.\n4. Input:\n<noinput>\n4. Output:\nRhine, Danube, Seine\n"
        "###\n"
        "5) Instruction: Fix the spelling.\n5) Input:\nTeh cat\n5) Output:\nThe cat\n"
        "###\n"
        "6. Instruction: Give a synonym for big.\n6. Output:\nlarge\n"  # no Input: no input
        "###\n"
        "7. Instruction: This one has no output at all.\n7. Input:\nhello\n"  # malformed
        "###\n"
        "8. Instruction:\n8. Input:\nx\n8. Output:\ny\n"  # empty instruction: malformed
        "###\n"
        "9. Instruction: Output twice.\n9. Output:\na\n9. Output:\nb\n"  # malformed
        "###\n"
        "10. Instruction: Summarize the text.\n10. Input:\nA long text that was cut"
    )
    tasks, counts = parse_tasks(reply, 4, finish_reason="length")
    assert tasks == [
        {
            "instruction": "Name three rivers in Europe.",
            "input": "",
            "output": "Rhine, Danube, Seine",
        },
        {"instruction": "Fix the spelling.", "input": "Teh cat", "output": "The cat"},
        {"instruction": "Give a synonym for big.", "input": "", "output": "large"},
    ]
    assert counts == {"malformed": 3, "truncated": 1}
    # The same list cut by a stop sequence: the last item is malformed, not truncated.
    _, counts = parse_tasks(reply, 4, finish_reason="stop")
    assert counts == {"malformed": 4}


def test_parse_tasks_reads_a_reply_that_continues_the_prompts_last_line():
    # The prompt ends with "4. Instruction:", so a completion-style reply starts mid-item.
    reply = (
        " Write a limerick about a cat.\n4. Input:\n<noinput>\n4. Output:\nThere once was...\n###\n"
    )
    tasks, counts = parse_tasks(reply, 4)
    assert tasks == [
        {
            "instruction": "Write a limerick about a cat.",
            "input": "",
            "output": "There once was...",
        }
    ]
    assert not counts
    # No structure at all: one malformed item, never a crash.
    assert parse_tasks("I cannot help with that.", 4) == ([], {"malformed": 1})
    assert parse_tasks("", 4) == ([], {"malformed": 1})


# =========================================================================== filters


def test_every_filter_drops_for_its_own_reason_and_counts_it(tmp_path):
    c = InstructConfig(model="m", out=str(tmp_path / "o.jsonl"), teacher="hf")
    f = Filters(c)
    long_input = " ".join(f"word{i}" for i in range(40))
    kept = {"instruction": "Describe the water cycle for a ten year old student.", "input": ""}
    with_input = {
        "instruction": "Summarize the following meeting notes briefly.",
        "input": long_input,
    }
    assert f.apply(dict(kept, output="")) and f.apply(dict(with_input, output=""))
    cases = {
        "too_short": "Sort this list.",
        "too_long": "Explain " + "very " * 150 + "carefully.",
        "keyword": "Plot the sales numbers of the last five years.",
        "punctuation": '"Quote" a famous line about the sea please.',
        "non_english": "Объясните, почему небо голубое, пожалуйста.",
        "exact_duplicate": "  describe the WATER cycle for a ten year old student. ",
        "rouge": "Describe the water cycle to a ten year old child.",
    }
    for why, inst in cases.items():
        assert f.reason({"instruction": inst, "input": "", "output": ""})[0] == why, why
    near = {"instruction": with_input["instruction"], "input": long_input + " extra", "output": ""}
    assert f.reason(near)[0] == "near_duplicate"
    # Whole words only: "profile" is not "file", "mapping" is not "map"; "go to" is a phrase.
    assert (
        f.reason({"instruction": "Write a short profile of a mapping company.", "input": ""})[0]
        is None
    )
    assert (
        f.reason({"instruction": "Tell me where to go to eat tonight.", "input": ""})[0]
        == "keyword"
    )
    assert (
        f.reason({"instruction": "Écrivez un poème sur la mer.", "input": ""})[0] == "non_english"
    )
    anyc = Filters(InstructConfig(model="m", out="o", teacher="hf", language="any"))
    assert anyc.reason({"instruction": cases["non_english"], "input": ""})[0] is None
    for why in ("too_short", "rouge", "near_duplicate"):
        task = {"instruction": cases.get(why, near["instruction"]), "input": "", "output": ""}
        if why == "near_duplicate":
            task["input"] = near["input"]
        assert not f.apply(task)
    assert f.counts["too_short"] == 1 and f.counts["rouge"] == 1 and f.counts["near_duplicate"] == 1


def _naive(texts, threshold):
    """Alpaca's loop (its generate_instruction.py): every candidate against every kept text
    with rouge_scorer's LCS, each text tokenized once by the scorer's tokenizer, as Alpaca does:
    scorer.score(k, t)["rougeL"] to the bit, without tokenizing both texts again for every pair
    (half the test's time)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    kept, kept_tokens, best = [], [], 0.0
    for t in texts:
        tokens = scorer._tokenizer.tokenize(t)
        scores = [rouge_scorer._score_lcs(k, tokens).fmeasure for k in kept_tokens]
        top = max(scores, default=0.0)
        if top >= threshold:
            continue
        kept.append(t)
        kept_tokens.append(tokens)
        best = max(best, top)
    return kept, best


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_rouge_index_decides_exactly_as_the_all_pairs_rouge_scorer_loop(threshold):
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(25)] + ["the", "a", "of", "The", "A,"]
    texts = []
    for _ in range(400):
        if texts and rng.random() < 0.3:  # an edited copy: high overlap, near the threshold
            words = rng.choice(texts).split()
            i = rng.randrange(len(words))
            words[i : i + rng.randint(0, 2)] = rng.sample(vocab, rng.randint(0, 2))
            texts.append(" ".join(words) or "w0")
        else:
            texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 14))))
    want_kept, want_best = _naive(texts, threshold)
    index, kept = RougeIndex(threshold), []
    for t in texts:
        toks = rouge_tokens(t)
        s = index.score(toks)
        if s < threshold:
            index.add(toks, s)
            kept.append(t)
    assert kept == want_kept
    assert len(kept) < len(texts)  # the filter did drop things
    assert index.best == pytest.approx(want_best, abs=1e-12)
    # ... and the bound spared most of the exact LCS computations.
    pairs = sum(range(len(want_kept))) + (len(texts) - len(kept)) * len(kept)
    assert index.scored < pairs / 3


# =========================================================================== the stage


def test_instruct_against_the_fake_teacher_filters_counts_costs_and_writes_alpaca_columns(
    tmp_path, tasks_server
):
    c = cfg(tmp_path, tasks_server, num_instructions=24, price_input=1.0, price_output=2.0)
    out = run(c)
    recs = records(out)
    assert len(recs) == 24
    assert len({r["id"] for r in recs}) == 24
    assert len({r["instruction"].casefold() for r in recs}) == 24
    for r in recs:
        assert set(r) >= {"instruction", "input", "output", "id", "source", "teacher", "lineage"}
        assert r["source"] == "generated" and r["teacher"]["model"] == "m"
        assert r["lineage"]["request_id"] and len(r["lineage"]["in_context"]) == 3
    report = json.loads((tmp_path / "instructions.report.json").read_text())
    requests = report["requests"]
    assert requests == len(tasks_server.log) == 4  # 2 rounds of 2 requests (6 good tasks each)
    assert report["malformed"] == requests  # one item without Output per reply
    filtered = report["filtered"]
    for why in ("too_short", "keyword", "punctuation", "non_english", "near_duplicate"):
        assert filtered[why] >= requests - 1, why  # one bait each; the last reply may stop early
    assert filtered["exact_duplicate"] >= 1 and filtered["rouge"] >= 1
    assert report["rouge_max"] < 0.7 and report["kept"] == 24
    # Every candidate the filters looked at was kept or dropped for a named reason; the rest of
    # the last reply, parsed after the 24th was kept, is counted apart.
    assert report["items"] == report["kept"] + sum(filtered.values())
    assert report["unused"] >= 1
    # Cost: the fake's usage at $1/$2 per 1M tokens, summed over every reply.
    want = 0.0
    for entry in tasks_server.log:
        prompt = entry["messages"][-1]["content"]
        from tests.fakeserver import task_list

        want += ((len(prompt) // 4 + 4) * 1.0 + len(task_list(prompt)) // 4 * 2.0) / 1e6
    assert report["cost_usd"] == pytest.approx(want, rel=1e-6)
    assert report["this_run"]["cost_usd"] == pytest.approx(want, rel=1e-6)
    # Later rounds show kept instructions in context (self-instruct's mix).
    second_round = [r for r in recs if r["lineage"]["round"] == 1]
    assert any(
        not i.startswith("seed_task") for r in second_round for i in r["lineage"]["in_context"]
    )
    # A rerun replays from disk: no request, nothing written twice, $0 this run.
    run(c)
    assert len(tasks_server.log) == 4
    assert records(out) == recs
    again = json.loads((tmp_path / "instructions.report.json").read_text())
    assert again["this_run"] == {**again["this_run"], "requests_sent": 0, "cost_usd": 0.0}
    # Asking for more continues from where it stopped.
    run(cfg(tmp_path, tasks_server, num_instructions=40))
    more = records(out)
    assert more[:24] == recs and len(more) == 40 and len({r["id"] for r in more}) == 40


def test_killed_run_resumes_without_duplicates_or_paying_twice(tmp_path):
    server = FakeServer(style="tasks", model="m", latency=0.3).start()
    try:
        out = tmp_path / "instructions.jsonl"
        req = tmp_path / "instructions.requests.jsonl"
        cmd = [
            "instruct", "--teacher", "openai",
            "--model", "m", "--base-url", server.url, "--num-instructions", "30",
            "--concurrency", "1", "--request-batch-size", "1", "--out", str(out),
        ]  # fmt: skip
        # Killed from outside: a process forked from this one (tests/forked.py), with what
        # instruct imports (the ROUGE-L/MinHash filter's datasketch, openai) imported here once.
        proc = forked.start(*cmd, imports=("datasketch", "openai", "distill.instruct.stage"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if req.exists() and len(req.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        paid_before = {json.loads(x)["id"] for x in req.read_text().splitlines() if x.endswith("}")}
        paid_prompts = {
            json.dumps(json.loads(x)["messages"])
            for x in req.read_text().splitlines()
            if x.endswith("}")
        }
        assert 2 <= len(paid_before) < 5  # killed mid-run
        server.latency = 0.0  # slow only so the kill lands mid-run; the reruns need not wait
        sent_before = len(server.log)
        # The reruns in this process (tests/inproc.py): a subprocess paid ~3 CPU seconds of
        # imports each; the killed run above stays a process of its own.
        done = inproc.distill(*cmd)
        assert done.returncode == 0, done.stderr
        resent = [json.dumps(e["messages"]) for e in server.log[sent_before:]]
        assert not paid_prompts & set(resent)  # 0 re-requests of a finished reply
        recs = records(out)
        assert len(recs) == 30 and len({r["id"] for r in recs}) == 30  # 0 duplicates
        assert len({r["instruction"] for r in recs}) == 30
        ids = [json.loads(x)["id"] for x in req.read_text().splitlines()]
        assert len(ids) == len(set(ids))
        # The resumed run made the same instructions an unbroken run makes.
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        ok = inproc.distill(*cmd[:-1], fresh / "instructions.jsonl")
        assert ok.returncode == 0, ok.stderr
        assert [r["instruction"] for r in records(fresh / "instructions.jsonl")] == [
            r["instruction"] for r in recs
        ]
    finally:
        server.stop()


def test_output_is_read_as_is_by_generate_template_alpaca_and_train_format_alpaca(
    tmp_path, tasks_server, tiny_qwen
):
    out = run(cfg(tmp_path, tasks_server, num_instructions=8))
    recs = records(out)
    plain = FakeServer(style="plain", model="m").start()
    try:
        traces = tmp_path / "traces.jsonl"
        # in this process (tests/inproc.py): a subprocess paid python's start and imports
        r = inproc.distill(
            "generate", "--data", out, "--template", "alpaca", "--teacher", "openai",
            "--model", "m", "--base-url", plain.url, "--out", traces, "--quiet",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    finally:
        plain.stop()
    sent = [json.loads(x) for x in traces.read_text().splitlines()]
    assert len(sent) == 8
    by_inst = {r["instruction"]: r for r in recs}
    for t in sent:
        content = t["messages"][-1]["content"]
        rec = by_inst[t["meta"]["instruction"]]
        assert f"### Instruction:\n{rec['instruction']}\n\n" in content
        assert ("### Input:\n" + rec["input"] in content) == bool(rec["input"])
    from distill.train import TrainConfig
    from distill.train import run as train

    o = train(
        TrainConfig(
            data=str(out),
            model=str(tiny_qwen),
            output_dir=str(tmp_path / "student"),
            format="alpaca",
            max_steps=1,
            max_length=256,
            per_device_train_batch_size=4,
            save_steps=1000,
        )  # fmt: skip
    )
    assert (Path(o) / "adapter_config.json").is_file()


def test_magpie_sends_the_templates_prefix_and_answers_what_the_model_wrote(tmp_path, tiny_qwen):
    prefix = magpie_prefix(str(tiny_qwen), None)
    assert prefix.endswith("<|im_start|>user\n") and "<|im_start|>assistant" not in prefix
    c = InstructConfig(
        teacher="hf", model=str(tiny_qwen), method="magpie", num_instructions=3,
        out=str(tmp_path / "m.jsonl"), max_tokens=8, instruction_max_tokens=12,
        min_words=0, language="any", dedup="exact", max_rouge=1.0, batch_size=4, seed=0,
        temperature=1.0,
    )  # fmt: skip
    run(c)
    reqs = records(tmp_path / "m.requests.jsonl")
    asks = [r for r in reqs if r["kind"] == "magpie-instruction"]
    answers = [r for r in reqs if r["kind"] == "magpie-answer"]
    assert asks and all(r["messages"][-1]["content"] == prefix for r in asks)
    recs = records(tmp_path / "m.jsonl")
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["kept"] == len(recs) == len(answers)
    for rec in recs:  # each kept instruction was answered in the chat template
        a = next(r for r in answers if r["id"] == rec["lineage"]["answer_request_id"])
        assert a["messages"] == [{"role": "user", "content": rec["instruction"]}]
        assert rec["output"] == a["text"].strip() and rec["lineage"]["method"] == "magpie"


# =========================================================================== recipes, pipeline


def test_run_executes_the_instruct_section_first(tmp_path, tasks_server, capsys):
    from distill.pipeline import run as run_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"""run:
  dir: {tmp_path}/run
  name: smoke-x
instruct:
  teacher: openai
  model: m
  base_url: {tasks_server.url}
  num_instructions: 6
  concurrency: 2
  out: "{{run_dir}}/instructions.jsonl"
generate:
  data: "{{run_dir}}/instructions.jsonl"
  template: alpaca
  teacher: openai
  model: m
  base_url: {tasks_server.url}
  out: "{{run_dir}}/traces.jsonl"
"""
    )
    result = run_recipe(recipe)
    assert len(records(tmp_path / "run" / "traces.jsonl")) == 6
    assert result["instruct"]["kept"] == 6
    # No eval: the last line gives the instruct numbers, under the recipe's run name.
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"smoke-x: instructions=\d+ kept=6 rouge_max=[\d.]+ minutes=[\d.]+", last)
    assert (tmp_path / "run" / "smoke-x.json").is_file()


def test_alpaca_recipes_validate(capsys):
    from distill.pipeline import run as run_recipe

    for name in ("alpaca-smoke.yaml", "alpaca-llama-7b.yaml"):
        result = run_recipe(ROOT / "recipes" / name, dry_run=True)
        assert result["stages"][0] == "instruct"


# =========================================================================== bad input


def _cli(*args):
    """`distill instruct ARGS` in this process (tests/inproc.py): the refusals below are read
    from its exit code, its stderr lines and the files on disk, as a subprocess gave them."""
    return inproc.distill("instruct", *args)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "instruction": "Do it.", "instances": [{"input": ""}]}\n', r"s\.jsonl:1: instances\[0\] is missing field 'output'"),
        ('{"instruction": "Do it."}\n', r"s\.jsonl:1: missing field 'instances'"),
        ('{"instances": [{"input": "", "output": "x"}]}\n', r"s\.jsonl:1: missing field 'instruction'"),
        ("", r"s\.jsonl: no seed tasks \(empty file\)"),
        ("instruction,input,output\nDo it,,done\n", r"s\.jsonl:1: not valid JSON"),
        ('["a list"]\n', r"s\.jsonl:1: expected a JSON object, got list"),
    ],
)  # fmt: skip
def test_bad_seed_files_give_one_line_naming_file_line_and_field(tmp_path, content, message):
    import re

    seeds = tmp_path / "s.jsonl"
    seeds.write_text(content)
    r = _cli("--seed-tasks", str(seeds), "--teacher", "openai", "--model", "m",
             "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o.jsonl"))  # fmt: skip
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-instructions", "0"], "--num-instructions 0: must be >= 1"),
        (["--method", "magpie"], "--method magpie needs a local teacher"),
        (["--method", "evol"], "--method evol: expected one of self-instruct, magpie"),
        (["--seed-tasks", "/nope.jsonl"], "seed tasks not found: /nope.jsonl"),
        (["--dedup", "fuzzy"], "--dedup fuzzy: expected one of none, exact, near"),
    ],
)
def test_bad_flags_give_one_line(tmp_path, args, message):
    r = _cli("--teacher", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
             "--out", str(tmp_path / "o.jsonl"), *args)  # fmt: skip
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_seed_pool_is_self_instructs_shape_and_diverse():
    tasks = load_seed_tasks("seed_tasks")
    assert len(tasks) >= 40
    raw = [json.loads(x) for x in (ROOT / "prompts" / "seed_tasks.jsonl").read_text().splitlines()]
    assert all(
        set(r) == {"id", "name", "instruction", "instances", "is_classification"} for r in raw
    )
    # The pool passes its own filters: nothing too short, no keyword, no near-copies.
    f = Filters(InstructConfig(model="m", out="o", teacher="hf"))
    for t in tasks:
        assert f.apply(dict(t)), t["instruction"]


def test_include_seeds_writes_the_seed_tasks_first_as_source_seed(tmp_path, tasks_server):
    out = run(cfg(tmp_path, tasks_server, num_instructions=6, include_seeds=True))
    recs = records(out)
    seeds = load_seed_tasks("seed_tasks")
    assert [r["instruction"] for r in recs[: len(seeds)]] == [s["instruction"] for s in seeds]
    assert {r["source"] for r in recs[: len(seeds)]} == {"seed"}
    assert [r["source"] for r in recs[len(seeds) :]] == ["generated"] * 6
    assert recs[0]["id"] == "seed_task_0" and recs[0]["output"] == seeds[0]["output"]
