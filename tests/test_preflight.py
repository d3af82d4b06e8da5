"""The pre-flight: the example printed is the example trained, and each check catches its case."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.examples import Example, Renderer, tokenize_examples
from distill.preflight import preflight
from tests.test_examples import EX, real_template_tokenizer
from tests.test_train import cfg, kept_file
from tests.tiny import make_tokenizer

TEMPLATES = ["qwen2.5-instruct", "llama-3.1-instruct", "deepseek-r1-distill-qwen"]


def rows(tok, examples, fmt="r1", max_length=4096, overlong="drop"):
    renderer = Renderer(tok, fmt)
    cols, _ = tokenize_examples(examples, renderer, max_length, overlong)
    return list(zip(cols["input_ids"], cols["completion_mask"])), renderer.stops


def shown(tok, examples, show=1, **kw):
    lines = []
    data, stops = rows(tok, examples, **kw)
    preflight(tok, data, stops, show, emit=lines.append)
    return lines, data


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("fmt", ["r1", "alpaca"])
def test_the_marked_text_is_exactly_the_trained_tokens(name, fmt):
    tok = real_template_tokenizer(name)
    lines, [(ids, mask)] = shown(tok, [EX], fmt=fmt)
    header, text, checks = lines
    [trained] = re.findall(r"\[\[(.*)\]\]", text, re.S)
    assert trained == tok.decode([t for t, m in zip(ids, mask) if m])
    assert text == tok.decode(ids[: mask.index(1)]) + f"[[{trained}]]"
    assert f"{mask.count(0)} prompt tokens, {sum(mask)} trained" in header
    assert checks.endswith(
        "end of turn trained; <think> opened once at most, never empty before thought markers"
    )


def test_long_parts_keep_both_ends_and_the_boundary():
    tok = make_tokenizer("qwen2")
    long = Example(
        prompt=[{"role": "user", "content": "What is 2 + 2? " * 60}],
        completion="<think>\n" + "2 plus 2 is 4. " * 100 + "\n</think>\n\nThe answer is 4.",
    )
    lines, _ = shown(tok, [long])
    text = lines[1]
    assert len(text) < 1000 and text.count("…") == 2
    assert text.startswith("<|im_start|>user\nWhat is 2 + 2?")
    assert "<|im_start|>assistant\n[[<think>\n2 plus" in text  # prompt | completion boundary
    assert text.endswith("The answer is 4.<|im_end|>\n]]")


def test_show_prints_that_many_examples_and_zero_prints_nothing():
    tok = make_tokenizer("qwen2")
    three = [EX, EX, EX]
    lines, _ = shown(tok, three, show=2)
    assert [x.split(":")[1].strip() for x in lines if x.startswith("train: example")] == [
        "example 1",
        "example 2",
    ]
    assert shown(tok, three, show=0)[0] == []


def test_an_empty_loss_mask_stops_the_run():
    tok = make_tokenizer("qwen2")
    [(ids, mask)], stops = rows(tok, [EX])
    with pytest.raises(DistillError, match="example 1: the loss mask is empty"):
        preflight(tok, [(ids, [0] * len(mask))], stops, show=0)


def test_an_untrained_end_of_turn_stops_the_run():
    # A template that never closes the assistant turn, on a tokenizer without EOS: no stop token
    # would ever be trained (what TRL's is_chat_template_stop_token_trained guards against).
    tok = make_tokenizer("qwen2")
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
    )
    tok.eos_token = None
    with pytest.raises(
        DistillError, match=r"end of turn is not trained: the loss tokens end with '}\.', not"
    ):
        shown(tok, [EX], show=0)
    # The same example with its end cut off in the dataset the trainer gets.
    tok = make_tokenizer("qwen2")
    [(ids, mask)], stops = rows(tok, [EX])
    with pytest.raises(DistillError, match="not a stop token \\(<\\|im_end\\|>\\)"):
        preflight(tok, [(ids[:-2], mask[:-2])], stops, show=0)


def test_a_truncated_example_is_shown_as_cut_off_not_refused():
    tok = make_tokenizer("qwen2")
    [(ids, mask)], stops = rows(tok, [EX], max_length=30, overlong="truncate")
    assert len(ids) == 30
    lines = []
    preflight(tok, [(ids, mask)], stops, 1, max_length=30, emit=lines.append)
    assert "end of turn cut off (truncated)" in lines[-1]


def test_a_second_think_after_the_prefill_stops_the_run():
    tok = real_template_tokenizer("deepseek-r1-distill-qwen")  # pre-fills '<think>\n'
    shown(tok, [EX])  # a completion starting with the pre-fill itself is trained after it
    stray = Example(prompt=EX.prompt, completion="\n" + EX.completion)
    with pytest.raises(DistillError, match="example 1: <think> is opened twice"):
        shown(tok, [stray], show=0)
    # Without a pre-fill, the completion's own <think> is the only one.
    shown(real_template_tokenizer("qwen2.5-instruct"), [stray])


def test_train_shows_the_trainers_rows_and_the_flag_reaches_it(tmp_path, tiny_qwen):
    from tests import inproc

    base = [sys.executable, "-m", "distill", "train", "--data", str(kept_file(tmp_path))]
    base += ["--model", str(tiny_qwen), "--max-length", "128", "--max-steps", "1"]
    # the run that trains: in this process (tests/inproc.py); the refusal below, whose whole
    # stderr is asserted, stays a subprocess
    res = inproc.distill(*base[3:], "--output-dir", tmp_path / "a", "--show-example", "2")
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "train: example 1:" in out and "train: example 2:" in out and "example 3" not in out
    assert "[[<think>\n3 plus 1 is 4.\n</think>\n\nThe answer is \\boxed{4}.<|im_end|>\n]]" in out
    assert out.index("train: example 1") < out.index("train: saved")
    res = subprocess.run(
        base + ["--output-dir", str(tmp_path / "b"), "--show-example", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert res.stderr.strip() == "error: train: show_example must be >= 0 (0 = off), got -1"


def test_show_example_zero_keeps_train_quiet_but_still_checks(tmp_path, tiny_qwen, capsys):
    from distill.train import build_trainer

    build_trainer(cfg(tmp_path, tiny_qwen, show_example=0))
    assert "[[" not in capsys.readouterr().out
    build_trainer(cfg(tmp_path, tiny_qwen, show_example=3, output_dir=str(tmp_path / "o3")))
    assert capsys.readouterr().out.count("\ntrain: example ") == 3


def test_export_with_a_model_shows_and_checks_examples(tmp_path, tiny_qwen):
    from tests.inproc import distill  # in this process (tests/inproc.py)

    out = tmp_path / "x.jsonl"
    cmd = ["export", str(kept_file(tmp_path)), "--out", str(out), "--model", str(tiny_qwen)]
    res = distill(*cmd, "--show-example", "2")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "export: example 2:" in res.stdout and "export: example 3" not in res.stdout
    res = distill(*cmd, "--show-example", "0")
    assert res.returncode == 0 and "[[" not in res.stdout


def test_resume_accepts_another_show_example(tmp_path, tiny_qwen):
    import dataclasses

    from distill.train import changed_run_keys

    saved = dataclasses.asdict(cfg(tmp_path, tiny_qwen, show_example=1))
    assert changed_run_keys(cfg(tmp_path, tiny_qwen, show_example=3), saved) == []
    assert changed_run_keys(cfg(tmp_path, tiny_qwen, packing=True), saved) == [
        "packing: False -> True"
    ]


def test_resume_accepts_the_same_data_spelled_another_way(tmp_path, tiny_qwen, monkeypatch):
    import dataclasses

    from distill.train import changed_run_keys

    monkeypatch.chdir(tmp_path)
    now = cfg(tmp_path, tiny_qwen)
    rel = os.path.relpath(now.data, tmp_path)
    for spelled in (rel, f"./{rel}"):
        saved = {**dataclasses.asdict(now), "data": spelled}
        assert changed_run_keys(now, saved) == []
    other = tmp_path / "other.jsonl"
    other.write_text(Path(now.data).read_text())
    saved = {**dataclasses.asdict(now), "data": str(other)}
    assert changed_run_keys(now, saved) == [f"data: {str(other)!r} -> {now.data!r}"]
