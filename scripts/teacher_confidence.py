"""How much a teacher's token distribution says beyond the text of its kept traces: what
token-level distillation (kd, xtok) can add to SFT on the same traces.

    python scripts/teacher_confidence.py TEACHER_DIR KEPT.jsonl [--format r1] [--limit N]

Renders each kept trace in the teacher's chat template exactly as `distill train --method kd`
does (examples.Renderer, the completion tokens kd scores) and prints, over those tokens: the
teacher's mean probability of the trace's own token, the share of tokens where it is below 0.9,
the teacher's mean entropy (nats), and the same inside `\\boxed{...}` (the answer). A teacher that
puts ~1.0 on nearly every kept token teaches through its distribution almost exactly what SFT
teaches through the text (KL to it = cross-entropy on the text), so kd can at best equal SFT.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("teacher")
    ap.add_argument("kept")
    ap.add_argument("--format", default="r1")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.examples import Renderer, load_examples

    tok = AutoTokenizer.from_pretrained(a.teacher)
    model = AutoModelForCausalLM.from_pretrained(a.teacher).eval()
    renderer = Renderer(tok, a.format, model.generation_config.eos_token_id, "last")
    p_all: list[float] = []
    h_all: list[float] = []
    p_ans: list[float] = []
    h_ans: list[float] = []
    for ex in load_examples(a.kept, limit=a.limit):
        prompt, completion = renderer.encode(ex)
        ids = prompt + completion
        with torch.no_grad():
            lp = model(torch.tensor([ids])).logits[0, len(prompt) - 1 : -1].float().log_softmax(-1)
        p = lp.gather(1, torch.tensor(completion)[:, None])[:, 0].exp().tolist()
        h = (-(lp.exp() * lp).sum(-1)).tolist()
        # the answer: the tokens whose text lies inside the last \boxed{...}
        text = ""
        opened = closed = -1
        for i, t in enumerate(completion):
            text += tok.decode([t])
            if opened < 0 and "\\boxed{" in text:
                opened = i + 1
            if opened >= 0 and closed < 0 and i >= opened and "}" in tok.decode([t]):
                closed = i
        p_all += p
        h_all += h
        if 0 <= opened <= closed:
            p_ans += p[opened:closed]
            h_ans += h[opened:closed]

    def line(name: str, ps: list[float], hs: list[float]) -> str:
        if not ps:
            return f"{name}: none"
        low = sum(x < 0.9 for x in ps) / len(ps)
        return (
            f"{name}: {len(ps):,} tokens, teacher p(kept token) mean {statistics.mean(ps):.3f}, "
            f"share below 0.9 {low:.3f}, entropy mean {statistics.mean(hs):.3f} nats"
        )

    print(line("all completion tokens", p_all, h_all))
    print(line("inside \\boxed{}", p_ans, h_ans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
