"""Throughput of the openai teacher against a loopback server with fixed latency.

    make bench-generate      # or: python benchmarks/bench_generate.py --out bench-results/generate.json

Goal (issue 2): achieved requests/s >= 0.9 x the ideal concurrency / latency. The server runs
in its own process, so the client CPU time reported is distill's alone. Two numbers: `efficiency`
over the whole run's wall time (start-up included: prompts, 128 connections, the summary; about
0.19 s, measured with --requests 128) and `stream_efficiency` over the server's span from the
first request's arrival to the last reply.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--port", type=int, default=18765)
    ap.add_argument("--out", default="bench-results/generate.json")
    args = ap.parse_args()

    t_import = time.perf_counter()
    import openai  # noqa: F401 - one-time start-up cost, reported apart from throughput

    from distill.generate import GenerateConfig, run

    import_s = time.perf_counter() - t_import

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakeserver",
            "--port",
            str(args.port),
            "--latency",
            str(args.latency),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        server.stdout.readline()  # "listening on ..."
        with tempfile.TemporaryDirectory() as tmp:
            cfg = GenerateConfig(
                data=f"builtin:arithmetic?n={args.requests}",
                limit=args.requests,
                n=1,
                teacher="openai",
                model="fake-r1",
                base_url=f"http://127.0.0.1:{args.port}/v1",
                concurrency=args.concurrency,
                out=os.path.join(tmp, "t.jsonl"),
            )
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            run(cfg, progress=False)
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            lines = sum(1 for _ in open(cfg.out))
        # wall is the whole `distill generate` run: loading the prompts, opening 128
        # connections, writing the summary. The server's span (first request in .. last reply
        # out) is the request stream alone.
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/stats") as f:
            stats = json.loads(f.read())
    finally:
        server.terminate()
        server.wait()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    ideal = args.concurrency / args.latency
    achieved = args.requests / wall
    result = {
        "benchmark": "generate/openai-loopback",
        "command": " ".join(sys.argv),
        "requests": args.requests,
        "records_written": lines,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "wall_s": round(wall, 3),
        "achieved_rps": round(achieved, 1),
        "ideal_rps": round(ideal, 1),
        "efficiency": round(achieved / ideal, 3),
        "server_span_s": round(stats["span_s"], 3),
        "stream_rps": round(stats["answered"] / stats["span_s"], 1),
        "stream_efficiency": round(stats["answered"] / stats["span_s"] / ideal, 3),
        "goal": 0.9,
        "import_openai_s": round(import_s, 3),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_ms_per_request": round(1000 * cpu / args.requests, 3),
        **machine(),
    }
    write_result(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
