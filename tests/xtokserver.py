"""A small OpenAI-compatible completions server wrapping a local transformers model (its own
tokenizer): text prompts in, `echo` + `logprobs` K out in the OpenAI completions format (tokens,
token_logprobs, top_logprobs as {token text: log-prob}, text_offset), as vLLM answers them.

The scoring and the offsets are the model's and the tokenizer's own (log_softmax of the logits,
the fast tokenizer's offset mapping), not distill's: what a served teacher of another tokenizer
returns. Python's http.server, one thread per request.

    srv = TextScoringServer(model_dir, "teacher").start(); ...; srv.stop()
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TextScoringServer:
    def __init__(
        self,
        model_dir: str,
        name: str,
        vllm_offsets: bool = False,
        bos: Any = None,
        honours_special: bool = True,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        # vllm_offsets: text_offset as vLLM writes it (the running sum of each token's own
        # decoded length: a byte piece reads as U+FFFD, one character); bos: an id the server
        # puts before a text prompt, as a tokenizer that adds BOS does (Llama/Gemma). vLLM reads
        # a text prompt with the tokenizer's special tokens unless the request's
        # `add_special_tokens` (default true) says false: so does this server (its tokenizer's
        # own, then `bos`); honours_special False: a server that ignores the field and always
        # adds them (SGLang's CompletionRequest has no such field)
        self.name, self.vllm_offsets, self.bos = name, vllm_offsets, bos
        self.honours_special = honours_special
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.log: list[dict[str, Any]] = []
        self.scored_ids: list[list[int]] = []  # each text prompt's ids, as the model read them
        self.lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import torch

        if body.get("model") != self.name:
            return 404, {"error": {"message": f"model {body.get('model')} not found"}}
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if prompts and isinstance(prompts[0], int):
            prompts = [prompts]
        if not all(isinstance(p, str) for p in prompts):
            return self.score_ids(prompts, body.get("prompt_logprobs"))
        k = body.get("logprobs")
        choices = []
        special = body.get("add_special_tokens", True) if self.honours_special else True
        for i, text in enumerate(prompts):
            enc = self.tok(text, add_special_tokens=special, return_offsets_mapping=True)
            ids, spans = enc["input_ids"], enc["offset_mapping"]
            if self.bos is not None and special:
                ids, spans = [self.bos, *ids], [(0, 0), *spans]
            self.scored_ids.append(ids)
            with self.lock, torch.no_grad():
                lp = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), -1)
            nxt = int(lp[-1].argmax())  # max_tokens 1: the one generated token
            all_ids = [*ids, nxt]
            tokens = [self.tok.decode([t]) for t in all_ids]
            offsets = [a for a, _ in spans] + [len(text)]
            if self.vllm_offsets:
                offsets = [sum(len(t) for t in tokens[:j]) for j in range(len(tokens))]
            token_lps: list[Any] = [None]
            tops: list[Any] = [None]
            for j in range(1, len(all_ids)):
                top = lp[j - 1].topk(int(k or 1))
                token_lps.append(float(lp[j - 1, all_ids[j]]))
                entry = {
                    self.tok.decode([int(t)]): float(v) for t, v in zip(top.indices, top.values)
                }
                entry.setdefault(
                    tokens[j], float(lp[j - 1, all_ids[j]])
                )  # vLLM adds the actual one
                tops.append(entry)
            logprobs = None
            if k is not None and body.get("echo"):
                logprobs = {
                    "tokens": tokens,
                    "token_logprobs": token_lps,
                    "top_logprobs": tops,
                    "text_offset": offsets,
                }
            choices.append(
                {
                    "index": i,
                    "text": (text if body.get("echo") else "") + tokens[-1],
                    "finish_reason": "length",
                    "logprobs": logprobs,
                }
            )
        self.log.append({"prompts": prompts, "k": k, "echo": body.get("echo"), "special": special})
        n = sum(len(c["logprobs"]["tokens"]) if c["logprobs"] else 1 for c in choices)
        return 200, {
            "id": "cmpl-text",
            "object": "text_completion",
            "created": 0,
            "model": self.name,
            "choices": choices,
            "usage": {"prompt_tokens": n, "completion_tokens": len(choices), "total_tokens": n},
        }

    def score_ids(self, prompts: list[list[int]], k: Any) -> tuple[int, dict[str, Any]]:
        """Token-id prompts with prompt_logprobs (what distill's probe sends first): ids past
        this vocabulary are refused as vLLM does; the others are scored and detokenized with
        this tokenizer (so another vocabulary reads as other text)."""
        import torch

        worst = max((max(p) for p in prompts if p), default=0)
        if worst >= len(self.tok):
            return 400, {"error": {"message": f"Token id {worst} is out of vocabulary"}}
        choices = []
        for i, ids in enumerate(prompts):
            with self.lock, torch.no_grad():
                lp = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), -1)
            plp: list[Any] = [None]
            for j in range(1, len(ids)):
                top = lp[j - 1].topk(int(k or 1))
                pos = {int(t): float(v) for t, v in zip(top.indices, top.values)}
                pos.setdefault(ids[j], float(lp[j - 1, ids[j]]))
                plp.append(
                    {
                        str(t): {"logprob": v, "rank": r + 1, "decoded_token": self.tok.decode([t])}
                        for r, (t, v) in enumerate(pos.items())
                    }
                )
            choices.append(
                {"index": i, "text": " ", "finish_reason": "length", "prompt_logprobs": plp}
            )
        return 200, {"id": "cmpl-ids", "object": "text_completion", "created": 0,
                     "model": self.name, "choices": choices}  # fmt: skip

    def start(self) -> TextScoringServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.rstrip("/").endswith("/completions") and "chat" not in self.path:
                    status, out = server.complete(body)
                else:
                    status, out = 404, {"error": {"message": f"no route {self.path}"}}
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
