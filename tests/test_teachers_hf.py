"""distill/teachers/hf.py driven directly on a tiny random model (tests/tiny.py): n samples per
prompt, the stop token, `length` when cut, the prompt as the chat template renders it."""

from __future__ import annotations

from distill.generate import GenerateConfig
from distill.teachers.base import Completion, Job
from distill.teachers.hf import HFTeacher, render_prompt, stop_ids


class Collect:
    def __init__(self):
        self.completions: dict[tuple[str, int], Completion] = {}

    def done(self, job: Job, sample: int, completion: Completion) -> None:
        self.completions[(job.prompt_id, sample)] = completion

    def failed(self, job: Job, sample: int, why: str) -> None:
        raise AssertionError(f"{job.prompt_id}/{sample} failed: {why}")


def teacher(model, **kw) -> HFTeacher:
    base = dict(
        data="builtin:arithmetic",
        teacher="hf",
        model=str(model),
        out="unused.jsonl",
        max_tokens=6,
        batch_size=4,
        seed=0,
        device="cpu",
    )
    return HFTeacher(GenerateConfig(**{**base, **kw}))


def job(i: int, n: int = 1) -> Job:
    return Job(f"p{i}", [{"role": "user", "content": f"What is {i} + {i}?"}], list(range(n)))


def generate(t: HFTeacher, jobs: list[Job]) -> dict[tuple[str, int], Completion]:
    sink = Collect()
    t.run(jobs, sink)
    return sink.completions


def test_n_samples_per_prompt_cut_at_max_tokens_say_length(tiny_qwen):
    t = teacher(tiny_qwen)
    t.stops = [-1]  # nothing stops it: every sample runs to max_tokens
    got = generate(t, [job(1, n=3), job(2, n=2)])
    assert sorted(got) == [("p1", 0), ("p1", 1), ("p1", 2), ("p2", 0), ("p2", 1)]
    for c in got.values():
        assert c.finish_reason == "length" and c.completion_tokens == 6
    prompt = render_prompt(t.tok, job(1).messages)
    assert got[("p1", 0)].prompt_tokens == len(t.tok(prompt, add_special_tokens=False)["input_ids"])
    assert prompt.endswith("<|im_start|>assistant\n")


def test_the_stop_token_ends_a_sample_and_is_counted_but_not_in_the_text(tiny_qwen):
    t = teacher(tiny_qwen, temperature=0.0, max_tokens=8)
    t.stops = [-1]
    greedy = generate(t, [job(3)])[("p3", 0)]
    ids = t.tok(greedy.text, add_special_tokens=False)["input_ids"]
    # Stop on the first greedy token that did not appear before it.
    k = next(i for i, tok in enumerate(ids) if i > 0 and tok not in ids[:i])
    t.stops = [ids[k]]
    got = generate(t, [job(3)])[("p3", 0)]
    assert got.finish_reason == "stop"
    assert got.text == t.tok.decode(ids[:k]) and got.completion_tokens == k + 1


def test_same_seed_same_samples_and_stop_ids_include_the_tokenizers_eos(tiny_qwen):
    a = generate(teacher(tiny_qwen, temperature=1.0), [job(4, n=2)])
    b = generate(teacher(tiny_qwen, temperature=1.0), [job(4, n=2)])
    assert {k: c.text for k, c in a.items()} == {k: c.text for k, c in b.items()}
    t = teacher(tiny_qwen)
    assert t.stops == stop_ids(t.model, t.tok) and t.tok.eos_token_id in t.stops
    assert t.tok.padding_side == "left"  # batched prompts end where generation starts
