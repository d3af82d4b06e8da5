"""`distill train --resume` trains the rest of a run on the tokens its run began on.

A resume checked the data file's sha256 and the run's settings, not how the rows render: a
template or tokenizer file changed in the student's folder, or a distill that renders some rows
otherwise (a tools block, a system prompt, a masking fix), resumed silently and trained the steps
after the checkpoint on other token sequences than the steps before it. train_data.json now keeps
a fingerprint of the rendered examples (fingerprint.py); a resume compares it."""

import json
import shutil

import pytest

from distill.errors import DistillError
from distill.train import TrainConfig, build_dataset, run
from tests.test_train import kept_file

STEPS = dict(max_steps=3, save_steps=2)
# rows of 48-54 tokens: 9 of 16 are dropped as too long, and packing packs the rest
SHAPE = dict(max_length=52, packing=True, per_device_train_batch_size=2, seed=0, logging_steps=1)


def losses(out):
    return [json.loads(x)["loss"] for x in (out / "loss.jsonl").read_text().splitlines()]


def rendered(out):
    return json.loads((out / "train_data.json").read_text())["rendered"]


# The tests reading began are one xdist group: its run is trained once, on one worker.
@pytest.fixture(scope="module")
def began(tmp_path_factory, tiny_qwen):
    """A whole 3-step run (checkpoint-2, checkpoint-3) with its own copy of the student, whose
    files a test may change."""
    base = tmp_path_factory.mktemp("began")
    model = base / "student"
    shutil.copytree(tiny_qwen, model)
    data = kept_file(base, n=16)

    def cfg(out, **kw):
        return TrainConfig(
            data=str(data), model=str(model), output_dir=str(out), **STEPS, **SHAPE, **kw
        )

    whole = run(cfg(base / "whole"))
    return cfg, whole, model


def killed_after_checkpoint_2(whole, to):
    """A copy of the run as a kill after its checkpoint-2 left it."""
    shutil.copytree(whole, to)
    shutil.rmtree(to / "checkpoint-3")
    for p in to.glob("adapter_*"):
        p.unlink()
    (to / "loss.jsonl").write_text("".join((whole / "loss.jsonl").read_text().splitlines(True)[:2]))
    return to


@pytest.mark.xdist_group("resume_render_began")
def test_an_identical_resume_goes_on_and_trains_as_the_uninterrupted_run(began, tmp_path):
    """Packing, the Trainer's shuffle and the rows max_length drops change nothing between two
    runs alike: the resume goes on, with the same losses as the run never killed."""
    cfg, whole, _ = began
    assert rendered(whole)["units"] == 16 and 0 < rendered(whole)["dropped"] < 16
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    run(cfg(out, resume=True))
    assert losses(out) == losses(whole)
    assert rendered(out)["sha256"] == rendered(whole)["sha256"]


@pytest.mark.xdist_group("resume_render_began")
def test_a_resume_after_the_template_in_the_students_folder_changed_is_refused(began, tmp_path):
    cfg, whole, model = began
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    template = model / "chat_template.jinja"
    kept = template.read_text()
    try:  # a template that writes one more token before each chat (a default system line)
        template.write_text("{{ 'a' }}" + kept)
        with pytest.raises(DistillError) as e:
            run(cfg(out, resume=True))
    finally:
        template.write_text(kept)
    said = str(e.value)
    assert "\n" not in said
    assert f"{out}/checkpoint-2 trained on other tokens" in said
    assert "example 1 (row 1 of the data) is the first whose tokens differ" in said
    assert f"chat_template.jinja of {model} changed" in said
    assert "--overwrite" in said
    # nothing written: a second try is refused alike, the run as the kill left it
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not (out / "checkpoint-3").exists()


@pytest.mark.xdist_group("resume_render_began")
def test_a_distill_that_renders_one_row_otherwise_names_that_row(began, tmp_path, monkeypatch):
    """As another distill's rendering of some rows (c3f02cc wrapped bare tool specs: only the
    rows with tools render otherwise): row 4 alone differs, and is named."""
    from distill.examples import Renderer

    cfg, whole, _ = began
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    real = Renderer.sequences

    def sequences(self, ex):
        rows = real(self, ex)
        if "What is 6 + 7?" in json.dumps(ex.prompt):  # kept_file's row 4
            return [(ids[:-1] + [ids[0]], mask) for ids, mask in rows]
        return rows

    monkeypatch.setattr(Renderer, "sequences", sequences)
    with pytest.raises(DistillError, match=r"example 4 \(row 4 of the data\) is the first"):
        run(cfg(out, resume=True))


@pytest.mark.xdist_group("resume_render_began")
def test_a_run_begun_before_the_fingerprint_resumes_with_a_note(began, tmp_path, capsys):
    cfg, whole, _ = began
    out = killed_after_checkpoint_2(whole, tmp_path / "out")
    counts = json.loads((out / "train_data.json").read_text())
    del counts["rendered"]
    (out / "train_data.json").write_text(json.dumps(counts))
    capsys.readouterr()
    run(cfg(out, resume=True))
    said = capsys.readouterr().out
    assert said.count("whether its examples render as they did cannot be checked") == 1
    assert losses(out) == losses(whole)
    assert rendered(out)["sha256"] == rendered(whole)["sha256"]  # kept for the next resume


def test_onpolicy_prompts_are_fingerprinted_as_they_render(tmp_path):
    """An on-policy run on prompts trains on what the student samples for them: the prompts,
    rendered in its chat template, are what a resume compares."""
    from tests.tiny import make_tokenizer

    data = tmp_path / "prompts.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + 1?"}]} for i in range(5)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        data=str(data), model="x", output_dir=str(tmp_path / "o"), method="onpolicy",
        lmbda=1.0, max_length=64, max_new_tokens=16, teacher_model="Qwen/Qwen3-0.6B",
    )  # fmt: skip
    tok = make_tokenizer("qwen2")
    _, a = build_dataset(cfg, tok)
    _, b = build_dataset(cfg, tok)
    assert a["prompts_only"] and a["rendered"]["unit"] == "prompt"
    assert a["rendered"]["units"] == 5 and a["rendered"] == b["rendered"]
    tok.chat_template = "{{ 'You are helpful.' }}" + tok.chat_template
    _, c = build_dataset(cfg, tok)
    assert c["rendered"]["sha256"] != a["rendered"]["sha256"]


def test_past_a_thousand_examples_the_first_difference_is_named_to_a_run_of_them():
    """train_data.json keeps a digest per run of examples (8 KB at most): one example apart up to
    fingerprint.PARTS examples, a run of ceil(n / PARTS) beyond."""
    from distill.train.fingerprint import differences, fingerprint

    def record(changed=None):
        ids = [[i, i + 1, i + 2] for i in range(3000)]
        if changed is not None:
            ids[changed] = [0]
        cols = {"input_ids": ids, "completion_mask": [[0, 1, 1]] * 3000}
        return fingerprint(cols, list(range(3000)), 3000)

    a, b = record(), record(changed=2500)
    assert a == record() and a["sha256"] != b["sha256"] and len(a["parts"]) <= 8 * 1024
    assert differences(a, b) == [
        "the first example whose tokens differ is among examples 2500-2502"
    ]
    small = fingerprint({"input_ids": [[1], [2], [3]]}, [0, 2, 2], 4)  # example 2: no row
    other = fingerprint({"input_ids": [[1], [2], [4]]}, [0, 2, 2], 4)
    assert differences(small, other) == [
        "example 3 (row 3 of the data) is the first whose tokens differ"
    ]
