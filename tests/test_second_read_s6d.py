"""A second read of generate's third-read fixes (a2718ab, 211244b, c213c48, adff840, eb4d46c,
d1f00f4, 4ee3c14, 7e44df3, 8edcf5d, cc2ad79, b0f1323, 0804a62, 45bea73)."""

from __future__ import annotations

# ============================================================ 4ee3c14: the hf teacher's seed


class _Texts:
    def __init__(self):
        self.texts: list[str] = []

    def done(self, job, s, c):
        self.texts.append(c.text)

    def failed(self, job, s, why):
        raise AssertionError(why)


def test_hf_seeded_requests_of_one_prompt_are_not_copies_batch_after_batch(tiny_qwen):
    """instruct --method magpie --teacher hf --seed sends one prompt many times, each request
    as sample 0 of the same prompt id: 4ee3c14 seeded every batch by its (prompt, sample)
    rows, so every full batch drew the first one's numbers and a round of 6 requests in
    batches of 2 wrote 2 instructions three times over (the pass before seeded by position)."""
    from distill.generate.config import TeacherConfig
    from distill.teachers import TEACHERS, Job

    tcfg = TeacherConfig(
        teacher="hf",
        model=str(tiny_qwen),
        max_tokens=8,
        batch_size=2,
        seed=0,
        temperature=1.0,
        top_p=1.0,
        chat_template=False,
    )
    messages = [{"role": "user", "content": "Write an instruction:"}]
    jobs = [Job("p", messages, [0], payload=(f"r{i}", "magpie")) for i in range(6)]
    sink = _Texts()
    TEACHERS["hf"](tcfg).run(jobs, sink)
    assert len(sink.texts) == 6
    assert len(set(sink.texts)) == 6, sink.texts
