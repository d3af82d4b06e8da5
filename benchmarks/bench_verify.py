"""`verify: math` against the verdicts of public graders' own test suites, beside plain math-verify.

    python benchmarks/bench_verify.py --out bench-results/verify.json

Cases: tests/fixtures/grader_cases.jsonl, one per line (`prediction`, `gold`, `expected`,
`source`), written from the test suites of math-verify, Hendrycks MATH (`is_equiv`),
Qwen2.5-Math's grader, open-r1's accuracy reward and rllm's math reward. A verifier agrees with a
case when it calls the prediction correct exactly when the source grader's test expects it to.

- distill: `verify_math(prediction, gold) == "correct"` (the filter's `--verify math`).
- math-verify: `verify(parse(gold), parse(prediction))`, defaults, as a user calls it (an
  exception counts as not correct).

Writes both agreement rates, the seconds each took, and every case where the two differ.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CASES = ROOT / "tests" / "fixtures" / "grader_cases.jsonl"


def load_cases(path: Path = CASES) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plain_math_verify(prediction: str, gold: str) -> bool:
    from math_verify import parse, verify

    try:
        return bool(verify(parse(gold), parse(prediction)))
    except Exception:  # noqa: BLE001 - a crash is not a "correct"
        return False


def distill_verify(prediction: str, gold: str) -> bool:
    from distill.filter.verify import verify_math

    return verify_math(prediction, gold) == "correct"


def compare(cases: list[dict]) -> dict:
    """Both verifiers on every case -> rates, timings and the cases where they differ."""
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs every failed parse
    got: dict[str, list[bool]] = {"distill": [], "math_verify": []}
    seconds = {}
    for name, fn in (("distill", distill_verify), ("math_verify", plain_math_verify)):
        fn("\\boxed{x+1}", "$1+x$")  # imports (sympy, latex2sympy) out of the timing
        t0 = time.perf_counter()
        got[name] = [fn(c["prediction"], c["gold"]) for c in cases]
        seconds[name] = round(time.perf_counter() - t0, 3)
    differ = []
    for i, c in enumerate(cases):
        d, m = got["distill"][i], got["math_verify"][i]
        if d != m:
            differ.append(
                {
                    "id": c.get("id", i),
                    "source": c["source"],
                    "expected": c["expected"],
                    "distill": d,
                    "math_verify": m,
                    "right": "distill" if d == c["expected"] else "math_verify",
                    "prediction": c["prediction"],
                    "gold": c["gold"],
                }
            )
    n = len(cases)
    agree = {k: sum(v[i] == cases[i]["expected"] for i in range(n)) for k, v in got.items()}
    return {
        "cases": n,
        "agreement": {k: round(v / n, 4) for k, v in agree.items()},
        "agreed": agree,
        "seconds": seconds,
        "differ": differ,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, default=CASES)
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "verify.json")
    args = ap.parse_args()
    res = compare(load_cases(args.cases))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    a = res["agreement"]
    print(
        f"verify: {res['cases']} cases  distill {a['distill']:.1%}  "
        f"math-verify {a['math_verify']:.1%}  differ {len(res['differ'])}  -> {args.out}"
    )
    for d in res["differ"]:
        print(f"  #{d['id']} right={d['right']:<11} {d['source']}  gold={d['gold'][:60]!r}")


if __name__ == "__main__":
    main()
