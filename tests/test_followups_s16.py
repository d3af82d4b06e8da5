"""Follow-ups to s16's changes (7ee3689/d835d6e/bf6ac44, a12cded/b405d5e, 323d2fb, 59829df/1f2a5e1).

1. distill run caps eval's max_tokens (taken from generate) at what a served model's context
   leaves after the set's longest prompt; that prompt was counted in UTF-8 bytes (about 4x its
   tokens in English), so long prompts capped eval far too low (answers cut, pass@1
   understated), and a prompt whose bytes filled the context left no cap and no note at all
   (each request a 400). It is counted in tokens now: by a tokenizer here (the served folder),
   else by the server's POST /tokenize (vLLM), else in bytes; no room at all is one line.
2. A local kd/onpolicy teacher's weights are hashed (a12cded): Mistral's
   consolidated.safetensors, a second copy of the weights nothing loads beside the
   model-*.safetensors shards, was hashed too (14 GB more for a 7B); and the hash cache's type
   check was an `assert`, gone under `python -O`: a cache file holding a list stopped train.
3. instruct's request sink (323d2fb gave `failed` a usage): it dropped it, so the tokens of a
   choice the server aborted were left out of "$ this run"; and `done` dropped the reply's
   `tokens_estimated` mark (and cached_tokens, priced apart), as generate's did before 323d2fb.
4. export --reasoning-key (59829df, 1f2a5e1): `chunks` with a .parquet --out was refused only
   once every row was built (Arrow's schema error); a text prompt/completion row (no chat
   template) kept its reasoning inline in the completion without a word. Both refused in one
   line now, the first before any row is read.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run

# --------------------------------------------------------------------------- 1. eval's cap

CONTEXT = 2048


class VllmLike:
    """GET /v1/models lists `cards`; POST /tokenize (vLLM's, at the server's root) counts a
    chat's words + 12 (its template) where `tokenize` is set, else 404 (not vLLM)."""

    def __init__(self, cards: list[dict], tokenize: bool = True, extra: int = 12):
        self.cards, self.tokenize, self.extra, self.asked = cards, tokenize, extra, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    return self.reply(200, {"object": "list", "data": outer.cards})
                self.reply(404, {"detail": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/tokenize" or not outer.tokenize:
                    return self.reply(404, {"detail": "Not Found"})
                outer.asked.append(body)
                n = outer.count(body["messages"])
                self.reply(200, {"count": n, "tokens": [1] * n, "max_model_len": CONTEXT})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def count(self, messages: list[dict]) -> int:
        return sum(len(m["content"].split()) for m in messages) + self.extra

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def planned(monkeypatch):
    """The eval configs distill run hands the eval stage (which runs nothing here)."""
    import distill.eval as eval_stage

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"student": {"pass@1": 1.0}}))

    monkeypatch.setattr(eval_stage, "run", fake_run)
    return seen


def long_prompts(tmp_path: Path, words: list[int]) -> Path:
    """English-like problems of `words` words each (5 bytes a word, ~1 token of a real one)."""
    path = tmp_path / "long.jsonl"
    rows = [{"problem": "the numbers and the answer is " * (w // 6) + "What is 2 + 2?",
             "answer": "4"} for w in words]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def recipe(tmp_path: Path, url: str, model: str, data: Path) -> Path:
    sections = {
        "run": {"dir": str(tmp_path / "run")},
        "generate": {"teacher": "openai", "model": "teacher", "base_url": url,
                     "data": "builtin:arithmetic?n=2", "out": "{run_dir}/traces.jsonl"},
        "eval": {"model": model, "backend": "openai", "base_url": url, "data": str(data),
                 "out": "{run_dir}/eval.json"},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def sent(cfg) -> list[list[dict]]:
    from distill.generate import source_messages

    return [m for _, m in source_messages(cfg)]


@pytest.mark.parametrize("words", [300, 600])
def test_a_served_students_long_prompts_are_counted_by_its_servers_tokenize(
    tmp_path, planned, capsys, words
):
    """~1500 bytes (300 words): capped at ~2048 - 1570 before, answers cut at ~480 tokens;
    ~3000 bytes (600 words): more than the context as bytes, so no cap at all before and
    every request asked generate's 4096 (a 400 each)."""
    server = VllmLike([{"id": "student", "object": "model", "max_model_len": CONTEXT}])
    try:
        data = long_prompts(tmp_path, [words // 3, words, words // 2])
        pipeline_run(recipe(tmp_path, server.url, "student", data), only=["eval"])
    finally:
        server.stop()
    (cfg,) = planned
    longest = max(server.count(m) for m in sent(cfg))
    assert cfg.max_tokens == CONTEXT - longest  # the server's own count: no more, no less
    assert server.asked[0]["model"] == "student" and server.asked[0]["messages"] == sent(cfg)[1]
    said = capsys.readouterr().out
    assert f"note: eval.max_tokens {cfg.max_tokens}" in said and "POST /tokenize" in said


@pytest.mark.parametrize("lora", [False, True])
def test_a_served_student_in_a_folder_here_is_counted_by_its_tokenizer(
    tmp_path, planned, capsys, tiny_qwen, lora
):
    """vLLM lists the folder it serves as the card's `root` (a LoRA adapter's: its parent's);
    the trained student's tokenizer is here: its count, no request to /tokenize."""
    from distill.models import load_tokenizer
    from distill.pipeline import TEMPLATE_TOKENS
    from distill.teachers.hf import render_prompt

    if lora:
        cards = [
            {"id": "base", "root": str(tiny_qwen), "parent": None, "max_model_len": CONTEXT},
            {"id": "student", "root": "/adapters/student", "parent": "base"},
        ]
    else:
        cards = [{"id": "student", "root": str(tiny_qwen), "max_model_len": CONTEXT}]
    server = VllmLike(cards)
    try:
        data = long_prompts(tmp_path, [100, 300])
        pipeline_run(recipe(tmp_path, server.url, "student", data), only=["eval"])
    finally:
        server.stop()
    (cfg,) = planned
    tok = load_tokenizer(str(tiny_qwen))
    longest = max(len(tok(render_prompt(tok, m))["input_ids"]) for m in sent(cfg))
    assert cfg.max_tokens == CONTEXT - longest - TEMPLATE_TOKENS
    assert not server.asked
    assert f"counted by {tiny_qwen}'s tokenizer" in capsys.readouterr().out


def test_a_prompt_that_leaves_no_room_is_refused_in_one_line(tmp_path, planned):
    """Counted in tokens, the second problem fills the context: every request for it would be
    a 400; before, bytes left no room and eval was asked generate's 4096 without a word."""
    server = VllmLike([{"id": "student", "object": "model", "max_model_len": CONTEXT}])
    try:
        data = long_prompts(tmp_path, [30, 2100])
        with pytest.raises(DistillError) as e:
            pipeline_run(recipe(tmp_path, server.url, "student", data), only=["eval"])
    finally:
        server.stop()
    line = str(e.value)
    assert "\n" not in line and f"{data} row 2" in line and "2048 tokens" in line
    assert "tokens as student is sent it" in line and "--max-model-len" in line
    assert not planned  # nothing asked


def test_a_prompt_whose_bytes_fill_the_context_is_named_where_nothing_counts_it(
    tmp_path, planned, capsys
):
    """No tokenizer here, no /tokenize (not vLLM): the bytes may be too many, and one line says
    so (nothing was said before); generate's length is asked."""
    server = VllmLike([{"id": "student", "max_model_len": CONTEXT}], tokenize=False)
    try:
        pipeline_run(recipe(tmp_path, server.url, "student", long_prompts(tmp_path, [600])),
                     only=["eval"])  # fmt: skip
    finally:
        server.stop()
    (cfg,) = planned
    assert cfg.max_tokens == 4096
    said = capsys.readouterr().out
    assert "row 1 is" in said and "cannot be counted here" in said and "eval.max_tokens" in said


# --------------------------------------------------------------------------- 2. teacher weights


def kd_teacher(tmp_path: Path, monkeypatch):
    from types import SimpleNamespace

    from tests.tiny import make_tiny_model

    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    teacher = make_tiny_model(tmp_path / "teacher", "qwen2", seed=1)
    cfg = SimpleNamespace(method="kd", teacher_model=str(teacher), teacher_url=None,
                          teacher_weight=None, teacher_route_field=None)  # fmt: skip
    return teacher, cfg


def test_mistrals_consolidated_copy_of_the_weights_is_not_hashed(tmp_path, monkeypatch):
    import shutil

    import distill.train.fingerprint as fingerprint

    teacher, cfg = kd_teacher(tmp_path, monkeypatch)
    (weights,) = teacher.glob("model*.safetensors")
    shutil.copy(weights, teacher / "consolidated.safetensors")
    hashed = []
    real = fingerprint._file_sha256
    monkeypatch.setattr(fingerprint, "_file_sha256", lambda p: hashed.append(p.name) or real(p))
    (record,) = fingerprint.teacher_record(cfg)["teachers"]
    assert weights.name in record["weights"] and "consolidated.safetensors" not in hashed
    assert "consolidated.safetensors" not in record["weights"]
    # the only weights there (a mistral_inference folder): they are the teacher's
    weights.unlink()
    (record,) = fingerprint.teacher_record(cfg)["teachers"]
    assert "consolidated.safetensors" in record["weights"]


def test_a_hash_cache_not_a_mapping_is_no_cache_under_python_O(tmp_path, monkeypatch):
    """The check was `assert isinstance(cache, dict)`: python -O strips it, and a cache file
    holding a list stopped the run ('list' object has no attribute 'get')."""
    import subprocess
    import sys

    teacher, _ = kd_teacher(tmp_path, monkeypatch)
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / "sha256.json").write_text("[]\n")
    code = (
        "import sys; from types import SimpleNamespace as N\n"
        "from distill.train.fingerprint import teacher_record\n"
        "r = teacher_record(N(method='kd', teacher_model=sys.argv[1], teacher_url=None,"
        " teacher_weight=None, teacher_route_field=None))\n"
        "print(sorted(r['teachers'][0]['weights']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-O", "-c", code, str(teacher)],
        capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-500:]
    assert "model.safetensors" in run.stdout
    assert isinstance(json.loads((tmp_path / "cache" / "sha256.json").read_text()), dict)


def test_a_cache_entry_whose_digest_is_not_a_sha256_is_hashed_again(tmp_path, monkeypatch):
    """An entry of the right stamp but no digest (a hand-edited or foreign file) was taken as
    is: its `5` compared as the teacher's weights."""
    import distill.train.fingerprint as fingerprint

    teacher, cfg = kd_teacher(tmp_path, monkeypatch)
    (before,) = fingerprint.teacher_record(cfg)["teachers"]
    where = tmp_path / "cache" / "sha256.json"
    cache = json.loads(where.read_text())
    where.write_text(json.dumps({k: [*v[:3], 5] for k, v in cache.items()}))
    (after,) = fingerprint.teacher_record(cfg)["teachers"]
    assert after["weights"] == before["weights"]


# --------------------------------------------------------------------------- 3. instruct's spend


def tasks_teacher(change):
    """The fake self-instruct teacher, each reply's JSON passed through `change(k, reply)`."""
    from aiohttp import web

    from tests.fakeserver import FakeServer

    class Changed(FakeServer):
        async def chat(self, request):
            resp = await super().chat(request)
            if resp.status != 200:
                return resp
            return web.json_response(change(len(self.log) - 1, json.loads(resp.body)))

    return Changed(style="tasks", model="m").start()


def instruct_cfg(tmp_path, server, **kw):
    from distill.instruct import InstructConfig

    base = dict(teacher="openai", model="m", base_url=server.url, num_instructions=6,
                out=str(tmp_path / "instructions.jsonl"), concurrency=1, max_retries=0,
                request_batch_size=1, price_input=1000.0, price_output=2000.0)  # fmt: skip
    return InstructConfig(**{**base, **kw})


def test_instructs_replies_without_usage_are_marked_estimated_and_counted(tmp_path, capsys):
    from distill.instruct import run
    from distill.records import read_records

    def no_usage(k, reply):
        reply.pop("usage")
        return reply

    server = tasks_teacher(no_usage)
    try:
        out = run(instruct_cfg(tmp_path, server))
    finally:
        server.stop()
    paid = list(read_records(out.with_name(out.stem + ".requests.jsonl")))
    assert paid and all(r["usage"].get("tokens_estimated") is True for r in paid)  # dropped
    report = json.loads(out.with_name(out.stem + ".report.json").read_text())
    tokens = sum(r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in paid)
    assert report["estimated_tokens"] == report["this_run"]["estimated_tokens"] == tokens > 0
    assert f"{tokens:,} tokens this run estimated" in capsys.readouterr().out


def test_instructs_aborted_choice_is_counted_in_this_runs_spend(tmp_path, capsys):
    from distill.instruct import run

    def abort_the_second(k, reply):
        if k == 1:
            reply["choices"][0]["finish_reason"] = "abort"
            reply["usage"] = {"prompt_tokens": 10, "completion_tokens": 30}
        return reply

    server = tasks_teacher(abort_the_second)
    try:
        with pytest.raises(DistillError, match="1 teacher requests failed: .*abort"):
            run(instruct_cfg(tmp_path, server, request_batch_size=2, num_instructions=12))
        first = server.log[0]
    finally:
        server.stop()
    from tests.fakeserver import task_list

    prompt = first["messages"][-1]["content"]
    paid = ((len(prompt) // 4 + 4) * 1000 + len(task_list(prompt)) // 4 * 2000) / 1e6
    aborted = (10 * 1000 + 30 * 2000) / 1e6
    said = capsys.readouterr().out
    # before: nothing said, and the aborted request's tokens in no $ of this run
    assert f"instruct: ${paid + aborted:.4f} this run; 40 tokens (${aborted:.4f}) spent" in said


# --------------------------------------------------------------------------- 4. export's key


def test_chunks_into_parquet_is_refused_before_any_row_is_read(tmp_path, monkeypatch):
    import distill.examples
    from distill.train import ExportConfig, export
    from tests.test_reasoning_templates_s15 import record

    kept = tmp_path / "kept.jsonl"
    kept.write_text(json.dumps(record("one and one", "2")) + "\n")
    read = []
    real = distill.examples.load_examples
    monkeypatch.setattr(distill.examples, "load_examples", lambda *a: read.append(1) or real(*a))
    out = tmp_path / "d.parquet"
    with pytest.raises(DistillError) as e:
        export(ExportConfig(data=str(kept), out=str(out), reasoning_key="chunks"))
    line = str(e.value)
    assert "--reasoning-key chunks" in line and ".jsonl" in line and "\n" not in line
    assert not read and not out.exists()


def text_rows(tmp_path: Path, completion: str) -> Path:
    """TRL's text prompt/completion layout: trained as a raw continuation, no chat template."""
    path = tmp_path / "text.jsonl"
    path.write_text(json.dumps({"prompt": "Q: 1 + 1?\nA:", "completion": completion}) + "\n")
    return path


def test_a_text_rows_reasoning_is_not_left_inline_under_a_reasoning_key(tmp_path):
    from distill.train import ExportConfig, export

    data = text_rows(tmp_path, "<think>\none and one\n</think>\n\n2")
    out = tmp_path / "d.jsonl"
    with pytest.raises(DistillError) as e:  # before: written, the reasoning inline, no word
        export(ExportConfig(data=str(data), out=str(out), reasoning_key="thinking"))
    line = str(e.value)
    assert "text prompt/completion row" in line and "--chat" in line and "\n" not in line
    assert not out.exists()
    # --chat: a chat, its reasoning under the key
    export(ExportConfig(data=str(data), out=str(out), reasoning_key="thinking", chat=True))
    [row] = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["messages"][-1] == {"role": "assistant", "content": "2", "thinking": "one and one"}
    # a text row without a reasoning has nothing to move: written as it is
    data = text_rows(tmp_path, " 2")
    export(ExportConfig(data=str(data), out=str(out), reasoning_key="thinking"))
    [row] = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["completion"] == " 2"
