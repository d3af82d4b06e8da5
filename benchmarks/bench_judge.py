"""`distill select --judge` vs `distill generate`: requests/s through the same client, same server.

    make bench-select        # or: python benchmarks/bench_judge.py --out bench-results/judge.json

Issue 29: judge requests go through generate's openai teacher, so bench-generate's numbers must
hold for them. For each server kind (tests/servers.py, started by bench_generate.start_server:
`uvicorn`, backlog 2048, as vLLM and SGLang serve; `threading`, http.server, backlog 5), one
server process, warmed by one request, answers every phase `--latency` seconds after a request
arrives, and for each of `--rounds` rounds:

- `generate`: `distill generate` of `--requests` prompts (bench_generate.run_distill: the
  openai teacher, `--concurrency` workers, records to a file);
- `judge`: `distill select` over those traces with only the judge criterion (`--judge
  judge-fake`, same `--concurrency`): one request per trace, the server answering a rubric
  reply ("Score: N\\nReason: ..."); timed as the whole stage (reading, rendering the rubric,
  requests, cache, outputs, report) and as its requests alone (`score_traces`);
- `rerun`: the same select command again: the replies are in the judge cache, so the server
  must count 0 new requests (resume).

Requests/s are the requests the server answered over the wall time; `efficiency` is over the
ideal concurrency / latency. `judge / generate` is the ratio of their median requests/s, over the
whole select stage and over its requests alone (goal: >= 0.9, issue 29's "the numbers of `make
bench-generate` hold"); the gap between the two is select's own work per run, which `rerun`
times (no request made): a fixed cost, not a per-request one, so it shrinks as N grows. Server counts come from its `GET /stats` (reset before each phase); client CPU is this
process's rusage, server CPU the server process's. A Markdown table goes beside --out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from bench_generate import (
    process_cpu_s,
    run_distill,
    server_stats,
    start_server,
    tcp_counters,
    warm_up,
    write_report,
)
from common import machine

JUDGE = "judge-fake"  # tests/servers.py answers a model named judge* with a rubric reply
KINDS = ("uvicorn", "threading")  # the kinds whose replies tests/servers.completion builds


def run_select(url: str, traces: str, out: str, concurrency: int) -> tuple[dict, float]:
    """`distill select TRACES --out OUT --judge judge-fake --criteria judge` in this process ->
    (its report, seconds spent in score_traces)."""
    from distill.select import judge
    from distill.select.config import SelectConfig
    from distill.select.stage import run

    spent = [0.0]
    real = judge.score_traces

    def timed(*args, **kwargs):  # stage.run imports score_traces when it runs: this one
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    cfg = SelectConfig(
        input=traces,
        out=out,
        criteria=["judge"],
        judge=JUDGE,
        judge_base_url=url,
        concurrency=concurrency,
    )
    judge.score_traces = timed
    try:
        run(cfg, quiet=True)
    finally:
        judge.score_traces = real
    return json.loads(Path(cfg.report).read_text()), spent[0]


def phase(name: str, server, url: str, ideal: float, work) -> dict:
    server_stats(url, reset=True)
    tcp0 = tcp_counters()
    r0, s0 = resource.getrusage(resource.RUSAGE_SELF), process_cpu_s(server.pid)
    t0 = time.perf_counter()
    extra = work() or {}
    wall = time.perf_counter() - t0
    r1, s1 = resource.getrusage(resource.RUSAGE_SELF), process_cpu_s(server.pid)
    tcp1 = tcp_counters()
    st = server_stats(url)
    n = st["answered"]
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    row = {
        "phase": name,
        "wall_s": round(wall, 3),
        "answered": n,
        "rps": round(n / wall, 1),
        "efficiency": round(n / wall / ideal, 3),
        "stream_efficiency": round(n / st["span_s"] / ideal, 3) if n > 1 else None,
        "client_cpu_ms_per_request": round(1000 * cpu / n, 3) if n else None,
        "server_cpu_ms_per_request": round(1000 * (s1 - s0) / n, 3) if n else None,
        **{k: tcp1[k] - tcp0[k] for k in tcp0},  # machine-wide (bench_generate.tcp_counters)
        **extra,
    }
    print(json.dumps(row), flush=True)
    return row


def generate_phase(url: str, tmp: str, args: argparse.Namespace) -> dict:
    return {"records": run_distill(url, args.requests, args.concurrency, tmp)}  # tmp/t.jsonl


def judge_phase(url: str, tmp: str, args: argparse.Namespace) -> dict:
    traces, out = os.path.join(tmp, "t.jsonl"), os.path.join(tmp, "selected.jsonl")
    report, requests_s = run_select(url, traces, out, args.concurrency)
    j = report["judge"]
    return {
        "requests_s": round(requests_s, 3),
        "requests_rps": round(j["requests_this_run"] / requests_s, 1)
        if j["requests_this_run"]
        else None,
        "judged": j["judged"],
        "scored": j["scored"],
        "malformed": j["malformed"],
        "cached": j["cached"],
        "requests_this_run": j["requests_this_run"],
    }


def one_server(kind: str, args: argparse.Namespace) -> dict:
    ideal = args.concurrency / args.latency
    server, url = start_server(kind, args.latency)
    rows = []
    try:
        warm_up(url)
        for rnd in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                for name, work in (
                    ("generate", partial(generate_phase, url, tmp, args)),
                    ("judge", partial(judge_phase, url, tmp, args)),
                    ("rerun", partial(judge_phase, url, tmp, args)),
                ):
                    row = phase(name, server, url, ideal, work)
                    rows.append({"server": kind, "round": rnd, **row})
    finally:
        server.terminate()
        server.wait()
    med = {
        p: statistics.median(r["rps"] for r in rows if r["phase"] == p)
        for p in ("generate", "judge")
    }
    med_requests = statistics.median(r["requests_rps"] for r in rows if r["phase"] == "judge")
    return {
        "generate_rps": round(med["generate"], 1),
        "judge_rps": round(med["judge"], 1),
        "judge_over_generate": round(med["judge"] / med["generate"], 3),
        "judge_requests_only_rps": round(med_requests, 1),
        "judge_requests_only_over_generate": round(med_requests / med["generate"], 3),
        "rerun_requests_max": max(r["answered"] for r in rows if r["phase"] == "rerun"),
        # select's own work, no request made: its fixed cost per run (passes, outputs, plot)
        "rerun_s": statistics.median(r["wall_s"] for r in rows if r["phase"] == "rerun"),
        "rows": rows,
    }


def table(result: dict) -> str:
    lines = [
        "| server | round | phase | wall s | requests answered | req/s | efficiency "
        "| stream eff. | client CPU ms/req | server CPU ms/req | judge requests alone: s, req/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, res in result["servers"].items():
        for r in res["rows"]:
            alone = (
                f"{r['requests_s']:.2f}, {r['requests_rps']:.0f}" if r["phase"] == "judge" else ""
            )
            stream = "" if r["stream_efficiency"] is None else f"{r['stream_efficiency']:.3f}"
            client = r["client_cpu_ms_per_request"]
            srv = r["server_cpu_ms_per_request"]
            lines.append(
                f"| {kind} | {r['round']} | {r['phase']} | {r['wall_s']:.2f} | {r['answered']} "
                f"| {r['rps']:.0f} | {r['efficiency']:.3f} | {stream} "
                f"| {'' if client is None else f'{client:.2f}'} "
                f"| {'' if srv is None else f'{srv:.2f}'} | {alone} |"
            )
    lines.append("")
    for kind, res in result["servers"].items():
        lines.append(
            f"- {kind}: median generate {res['generate_rps']:g} req/s, judge (whole select) "
            f"{res['judge_rps']:g} req/s, **judge / generate {res['judge_over_generate']:.3f}** "
            f"(judge requests alone {res['judge_requests_only_rps']:g} req/s, "
            f"{res['judge_requests_only_over_generate']:.3f}); rerun paid "
            f"{res['rerun_requests_max']} requests in {res['rerun_s']:.2f} s (select's own work)"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--servers", default=",".join(KINDS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="bench-results/judge.json")
    args = ap.parse_args()
    kinds = args.servers.split(",")
    if bad := [k for k in kinds if k not in KINDS]:
        sys.exit(f"--servers {','.join(bad)}: judge replies come from {', '.join(KINDS)} only")

    # One-time imports (the plot's matplotlib included), apart from the timed phases: round 0
    # would otherwise pay them, the later rounds not.
    import aiohttp  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import openai  # noqa: F401

    import distill.generate  # noqa: F401
    import distill.select.stage  # noqa: F401

    t0 = time.perf_counter()
    servers = {kind: one_server(kind, args) for kind in kinds}
    result = {
        "benchmark": "select-judge vs generate/openai-servers",
        "command": " ".join(sys.argv),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "rounds": args.rounds,
        "ideal_rps": round(args.concurrency / args.latency, 1),
        "goals": {"judge_over_generate_min": 0.9, "rerun_requests": 0},
        "servers": servers,
        "seconds": round(time.perf_counter() - t0, 1),
        **machine(),
        "load_average": os.getloadavg()[0],
    }
    detail = (
        f"{args.requests} requests a phase, concurrency {args.concurrency}, {args.latency:g} s "
        f"per reply, ideal {result['ideal_rps']:g} req/s."
    )
    write_report(args.out, result, detail, table(result))


if __name__ == "__main__":
    main()
