"""Throughput of the openai teacher against three kinds of loopback servers, beside the plain client.

    make bench-generate      # or: python benchmarks/bench_generate.py --out bench-results/generate.json

For each server kind of tests/servers.py (`threading`: http.server, listen backlog 5;
`aiohttp`: tests/fakeserver.py; `uvicorn`: backlog 2048), each start (`cold`: nothing sent before
the timed run; `warm`: one request first) and each client, a fresh server process answers
`--requests` prompts `--latency` seconds after each arrives:

- `distill`: `distill generate` (distill.generate.run, the openai teacher), `--concurrency`
  workers, records written to a file;
- `plain`: the plain `openai.AsyncOpenAI()` client (default httpx transport, default settings)
  with a semaphore of `--concurrency`: what a user's own script would do;
- `aiohttp`: the thinnest client there is (one aiohttp session, a semaphore, JSON parsed; a
  reset connection sent again at once, no backoff, no records): what this machine and server allow any client. Client and server share
  the machine's cores, so its efficiency, not 1.0, is the ceiling; `of_thinnest_client` is
  distill's efficiency over it.

Goals (issue 13): on every kind, cold or warm, distill's wall time <= 1.1 x the plain client's,
and distill's `efficiency` (requests / wall / ideal, ideal = concurrency / latency; start-up
included) >= 0.95 on the fastest server at 6,000 requests. The kernel's counters (Linux,
/proc/net/netstat, machine-wide) say why a run was slow: `listen_overflows` are SYNs a full
accept queue dropped, `syn_retrans` the kernel's retries of them (1 s, 3 s, 7 s ... later),
`opens` the connections opened (by anyone on the machine). `stream_efficiency` is the server's own
count (first arrival to last reply, after `GET /stats?reset=1` on a warm server): the client's
start-up excluded. Client CPU is this process's (rusage), server CPU the server process's
(/proc/PID/stat). The table goes to a Markdown file beside --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import machine, write_result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "fake-r1"


def tcp_counters() -> dict[str, int]:
    """Linux's TCP counters (zeros elsewhere)."""
    want = {
        "TcpExt:ListenOverflows": "listen_overflows",
        "TcpExt:TCPSynRetrans": "syn_retrans",
        "Tcp:ActiveOpens": "opens",
    }
    out = dict.fromkeys(want.values(), 0)
    for name in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            lines = Path(name).read_text().splitlines()
        except OSError:
            continue
        for head, values in zip(lines[::2], lines[1::2]):
            prefix = head.split()[0]
            for key, value in zip(head.split()[1:], values.split()[1:]):
                if prefix + key in want:
                    out[want[prefix + key]] = int(value)
    return out


class RetryCounter(logging.Handler):
    """Counts the openai client's "Retrying request" log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "Retrying request" in record.getMessage()


def process_cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds so far (Linux; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(kind: str, latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "--kind", kind, "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # "listening on URL", printed before any request
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the {kind} server did not start: {line!r}")
    return proc, line.split()[-1]


def run_distill(url: str, requests: int, concurrency: int, tmp: str) -> int:
    from distill.generate import GenerateConfig, run

    cfg = GenerateConfig(
        data=f"builtin:arithmetic?n={requests}",
        limit=requests,
        n=1,
        teacher="openai",
        model=MODEL,
        base_url=url,
        concurrency=concurrency,
        out=os.path.join(tmp, "t.jsonl"),
    )
    run(cfg, progress=False)
    with open(cfg.out) as f:
        return sum(1 for _ in f)


def run_plain(url: str, requests: int, concurrency: int, tmp: str) -> int:
    import openai

    async def go() -> int:
        client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY")
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": f"What is {i} + {i + 1}?"}],
                    max_tokens=4096,
                )

        await asyncio.gather(*(one(i) for i in range(requests)))
        await client.close()
        return requests

    return asyncio.run(go())


def run_aiohttp(url: str, requests: int, concurrency: int, tmp: str) -> int:
    """The thinnest client there is: one aiohttp session, a semaphore, the JSON parsed, nothing
    else (no backoff, no records; a reset connection is sent again at once). Its efficiency is what this machine and server allow any
    client; distill's share of it is distill's own cost."""
    import aiohttp

    async def go() -> int:
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        # distill's connect cut-off: a SYN a full backlog dropped is not waited on for minutes.
        timeout = aiohttp.ClientTimeout(total=600, sock_connect=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(i: int) -> None:
                body = {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": f"What is {i} + {i + 1}?"}],
                    "max_tokens": 4096,
                }
                async with gate:
                    for _ in range(10):  # a reset connection (a full backlog) is tried again
                        try:
                            async with session.post(f"{url}/chat/completions", json=body) as r:
                                json.loads(await r.read())
                                return
                        except (aiohttp.ClientError, asyncio.TimeoutError):
                            continue

            await asyncio.gather(*(one(i) for i in range(requests)))
        return requests

    return asyncio.run(go())


CLIENTS = {"distill": run_distill, "plain": run_plain, "aiohttp": run_aiohttp}


def warm_up(url: str) -> None:
    """One request, so the server's first-connection costs are paid before the timed run."""
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "What is 1 + 1?"}]}
    ).encode()
    req = urllib.request.Request(f"{url}/chat/completions", data=body, method="POST")
    urllib.request.urlopen(req).read()


def server_stats(url: str, reset: bool = False) -> dict:
    """The test server's GET /stats (reset=True: its counters start over)."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats" + "?reset=1" * reset) as f:
        return json.loads(f.read())


def write_report(args_out: str, result: dict, detail: str, table_md: str) -> None:
    """result as JSON at args_out and a Markdown summary beside it (.md), printed."""
    out = write_result(args_out, result)
    md = out.with_suffix(".md")
    md.write_text(
        f"`{result['command']}` ({result['machine']}, {result['date']}, load average "
        f"{result['load_average']:.1f}): {detail}\n\n" + table_md
    )
    print(md.read_text())


def one_run(kind: str, start: str, client: str, args: argparse.Namespace) -> dict:
    server, url = start_server(kind, args.latency)
    try:
        if start == "warm":
            warm_up(url)
            server_stats(url, reset=True)
        retries = RetryCounter()
        logger = logging.getLogger("openai")
        logger.addHandler(retries)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        tcp0, r0 = tcp_counters(), resource.getrusage(resource.RUSAGE_SELF)
        server_cpu0 = process_cpu_s(server.pid)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            written = CLIENTS[client](url, args.requests, args.concurrency, tmp)
            wall = time.perf_counter() - t0
        tcp1, r1 = tcp_counters(), resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = process_cpu_s(server.pid) - server_cpu0
        logger.removeHandler(retries)
        stats = server_stats(url)
    finally:
        server.terminate()
        server.wait()
    ideal = args.concurrency / args.latency
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {
        "server": kind,
        "start": start,
        "client": client,
        "wall_s": round(wall, 3),
        "efficiency": round(args.requests / wall / ideal, 3),
        "stream_efficiency": round(stats["answered"] / stats["span_s"] / ideal, 3),
        "answered": stats["answered"],
        "records_written": written,
        "retries": retries.count,
        "client_cpu_ms_per_request": round(1000 * cpu / args.requests, 3),
        "server_cpu_ms_per_request": round(1000 * server_cpu / args.requests, 3),
        **{k: tcp1[k] - tcp0[k] for k in tcp0},
    }


def table(result: dict) -> str:
    rows = [
        "| server | start | client | wall s | efficiency | stream eff. | distill / plain "
        "| distill eff. / aiohttp eff. | retries | listen overflows | SYN retries "
        "| connections opened | client CPU ms/request | server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        key = f"{r['server']}/{r['start']}"
        mine = r["client"] == "distill"
        ratio = result["ratios"].get(key) if mine else None
        share = result["of_thinnest_client"].get(key) if mine else None
        rows.append(
            f"| {r['server']} | {r['start']} | {r['client']} | {r['wall_s']:.2f} "
            f"| {r['efficiency']:.3f} | {r['stream_efficiency']:.3f} "
            f"| {'' if ratio is None else f'{ratio:.2f}'} "
            f"| {'' if share is None else f'{share:.2f}'} | {r['retries']} "
            f"| {r['listen_overflows']} | {r['syn_retrans']} | {r['opens']} "
            f"| {r['client_cpu_ms_per_request']:.2f} | {r['server_cpu_ms_per_request']:.2f} |"
        )
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--servers", default="threading,aiohttp,uvicorn")
    ap.add_argument("--starts", default="cold,warm")
    ap.add_argument("--clients", default="distill,plain,aiohttp")
    ap.add_argument("--out", default="bench-results/generate.json")
    args = ap.parse_args()

    t_import = time.perf_counter()
    import openai  # noqa: F401 - one-time start-up cost, reported apart from throughput

    import distill.generate  # noqa: F401

    import_s = time.perf_counter() - t_import

    runs = []
    for kind in args.servers.split(","):
        for start in args.starts.split(","):
            for client in args.clients.split(","):
                runs.append(one_run(kind, start, client, args))
                print(json.dumps(runs[-1]), flush=True)
    walls = {(r["server"], r["start"], r["client"]): r["wall_s"] for r in runs}
    ratios = {
        f"{k}/{s}": round(walls[k, s, "distill"] / walls[k, s, "plain"], 3)
        for k, s, c in walls
        if c == "distill" and (k, s, "plain") in walls
    }
    effs = {(r["server"], r["start"], r["client"]): r["efficiency"] for r in runs}
    of_thinnest = {
        f"{k}/{s}": round(effs[k, s, "distill"] / effs[k, s, "aiohttp"], 3)
        for k, s, c in effs
        if c == "distill" and (k, s, "aiohttp") in effs
    }
    result = {
        "benchmark": "generate/openai-servers",
        "command": " ".join(sys.argv),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "ideal_rps": round(args.concurrency / args.latency, 1),
        "goals": {"distill_over_plain_wall_max": 1.1, "efficiency_fastest_server_min": 0.95},
        "ratios": ratios,
        "of_thinnest_client": of_thinnest,
        "best_distill_efficiency": max(
            (r["efficiency"] for r in runs if r["client"] == "distill"), default=None
        ),
        "import_openai_s": round(import_s, 3),
        "runs": runs,
        **machine(),
        "load_average": os.getloadavg()[0],
    }
    detail = (
        f"{args.requests} requests, concurrency {args.concurrency}, {args.latency:g} s per reply, "
        f"ideal {result['ideal_rps']:g} req/s."
    )
    write_report(args.out, result, detail, table(result))


if __name__ == "__main__":
    main()
