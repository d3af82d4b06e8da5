"""A loopback OpenAI Batch API (`/v1/files` + `/v1/batches`) on top of tests/fakeserver.py.

    server = FakeBatchServer(line_delay=0.01).start()   # then point --base-url at server.url

Speaks the shapes the real `openai` client reads: a multipart upload makes a file object; a
batch walks validating -> in_progress -> finalizing -> completed and writes an output file
(lines with `response.status_code == 200`) and an error file (the rest, or lines whose
`error` says why they never ran, e.g. `batch_expired`). Each line really runs: it is posted to
this server's own `/v1/chat/completions`, so the online server's log and fault queue apply.

Faults come from `plans`, one dict popped per created batch:
    {"hold": True}                   stay in_progress until `release()`
    {"error_lines": {0: 500, 3: 400}} those lines fail with that HTTP status (never run)
    {"expire_after": 3}               the first 3 lines run, the batch expires, the rest do not
    {"fail": "message"}               batch-level failure at validation (no output file)
`windows` limits the completion windows accepted (OpenAI: only "24h"); `retrieve_faults` makes
the next N status polls answer 500.
Everything received is kept: `uploads`, `batches` (with their input lines), `bodies` (every
chat request body), so tests count what a client submitted and what it was served.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from typing import Any

from aiohttp import ClientSession, web

from tests.fakeserver import FakeServer

_TERMINAL = {"completed", "failed", "expired", "cancelled"}


class FakeBatchServer(FakeServer):
    def __init__(self, line_delay: float = 0.0, **kw: Any):
        super().__init__(**kw)
        self.line_delay = line_delay
        self.plans: deque[dict[str, Any]] = deque()
        self.files: dict[str, dict[str, Any]] = {}  # id -> file object + "_content" bytes
        self.batches: dict[str, dict[str, Any]] = {}  # id -> batch object + "_lines"
        self.uploads = 0
        self.bodies: list[dict[str, Any]] = []  # every /chat/completions body, as received
        self.held = False  # set by release(); held batches wait for it
        self.windows: set[str] | None = None  # completion windows accepted (None: any)
        self.retrieve_faults = 0  # the next N GET /v1/batches/{id} answer 500
        self.max_upload = 256 * 2**20  # bytes per request body (aiohttp's default is 1 MB)
        self._ids = itertools.count(1)
        self.queries: list[tuple[str, dict[str, str]]] = []  # (path, query) of each request

    # ------------------------------------------------------------------ helpers
    def release(self) -> None:
        self.held = True

    def submitted_ids(self) -> list[str]:
        """Every custom_id in every created batch, in order (a re-submission shows twice)."""
        return [line["custom_id"] for b in self.batches.values() for line in b["_lines"]]

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == (
            f"Bearer {self.api_key}"
        )

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _new_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        fid = f"file-{next(self._ids)}"
        self.files[fid] = {
            "id": fid,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "_content": content,
        }
        return self.files[fid]

    # ------------------------------------------------------------------ /v1/chat/completions
    async def chat(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())  # aiohttp caches the body for the handler
        return await super().chat(request)

    # ------------------------------------------------------------------ /v1/files
    async def upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        form = await request.post()
        f = form.get("file")
        if f is None or not hasattr(f, "file"):
            return web.json_response({"error": {"message": "missing file"}}, status=400)
        self.uploads += 1
        obj = self._new_file(f.file.read(), f.filename or "upload", str(form.get("purpose")))
        return web.json_response(self._public(obj))

    async def file(self, request: web.Request) -> web.Response:
        obj = self.files.get(request.match_info["fid"])
        if obj is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.json_response(self._public(obj))

    async def content(self, request: web.Request) -> web.Response:
        obj = self.files.get(request.match_info["fid"])
        if obj is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=obj["_content"], content_type="application/octet-stream")

    # ------------------------------------------------------------------ /v1/batches
    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        src = self.files.get(body.get("input_file_id", ""))
        if src is None:
            return web.json_response({"error": {"message": "input file not found"}}, status=400)
        if body.get("endpoint") != "/v1/chat/completions":
            return web.json_response({"error": {"message": "unsupported endpoint"}}, status=400)
        if self.windows is not None and body.get("completion_window") not in self.windows:
            return web.json_response(
                {"error": {"message": f"completion_window must be one of {sorted(self.windows)}"}},
                status=400,
            )
        lines = [json.loads(x) for x in src["_content"].splitlines() if x.strip()]
        bid = f"batch_{next(self._ids)}"
        now = int(time.time())
        self.batches[bid] = batch = {
            "id": bid,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": src["id"],
            "completion_window": body.get("completion_window"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
            "_lines": lines,
            "_plan": self.plans.popleft() if self.plans else {},
        }
        asyncio.get_running_loop().create_task(self._process(batch))
        return web.json_response(self._public(batch))

    async def retrieve(self, request: web.Request) -> web.Response:
        if self.retrieve_faults:
            self.retrieve_faults -= 1
            return web.json_response({"error": {"message": "injected 500"}}, status=500)
        batch = self.batches.get(request.match_info["bid"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        return web.json_response(self._public(batch))

    async def cancel(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["bid"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        if batch["status"] not in _TERMINAL:
            batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
        return web.json_response(self._public(batch))

    async def list_batches(self, request: web.Request) -> web.Response:
        """Newest first, cursor pagination with `after` and `limit`, like the real one."""
        ordered = list(reversed(self.batches.values()))
        after = request.query.get("after")
        if after:
            ids = [b["id"] for b in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query.get("limit", 20))
        page = [self._public(b) for b in ordered[:limit]]
        return web.json_response(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(ordered) > limit,
            }
        )

    # ------------------------------------------------------------------ the batch worker
    async def _process(self, batch: dict[str, Any]) -> None:
        plan = batch["_plan"]
        await asyncio.sleep(0.02)
        if "fail" in plan:
            batch["status"], batch["failed_at"] = "failed", int(time.time())
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": plan["fail"], "line": 1}],
            }
            return
        if batch["status"] == "validating":  # a cancel that came meanwhile stays (cancelling)
            batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        if plan.get("hold"):
            while not self.held:
                await asyncio.sleep(0.01)
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        counts = batch["request_counts"]
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        expire_after = plan.get("expire_after")
        async with ClientSession() as session:
            for i, line in enumerate(batch["_lines"]):
                base = {"id": f"batch_req_{next(self._ids)}", "custom_id": line["custom_id"]}
                if batch["status"] == "cancelling" or (
                    expire_after is not None and i >= expire_after
                ):
                    code = "batch_cancelled" if batch["status"] == "cancelling" else "batch_expired"
                    message = (
                        f"the batch was {'cancelled' if code == 'batch_cancelled' else 'expired'}"
                    )
                    err.append(
                        {**base, "response": None, "error": {"code": code, "message": message}}
                    )
                    continue
                if self.line_delay:
                    await asyncio.sleep(self.line_delay)
                status = plan.get("error_lines", {}).get(i)
                if status is None:
                    async with session.post(
                        f"{self.url}/chat/completions", json=line["body"], headers=headers
                    ) as r:
                        status, body = r.status, await r.json()
                else:
                    body = {"error": {"message": f"injected {status}", "type": "server_error"}}
                entry = {
                    **base,
                    "response": {"status_code": status, "request_id": base["id"], "body": body},
                    "error": None,
                }
                (out if status == 200 else err).append(entry)
                counts["completed" if status == 200 else "failed"] += 1
        now = int(time.time())
        cancelled = batch["status"] == "cancelling"
        if not cancelled:
            batch["status"], batch["finalizing_at"] = "finalizing", now
        await asyncio.sleep(0.02)
        for key, entries in (("output_file_id", out), ("error_file_id", err)):
            if entries:
                blob = "".join(json.dumps(e) + "\n" for e in entries).encode()
                batch[key] = self._new_file(blob, f"{batch['id']}_{key}.jsonl", "batch_output")[
                    "id"
                ]
        if cancelled:
            batch["status"], batch["cancelled_at"] = "cancelled", now
        elif expire_after is not None and expire_after < len(batch["_lines"]):
            batch["status"], batch["expired_at"] = "expired", now
        else:
            batch["status"], batch["completed_at"] = "completed", now

    def _app(self) -> web.Application:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            self.queries.append((request.path, dict(request.query)))
            return await handler(request)

        app = web.Application(client_max_size=self.max_upload, middlewares=[record])
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{fid}", self.file)
        app.router.add_get("/v1/files/{fid}/content", self.content)
        app.router.add_post("/v1/batches", self.create)
        app.router.add_get("/v1/batches", self.list_batches)
        app.router.add_get("/v1/batches/{bid}", self.retrieve)
        app.router.add_post("/v1/batches/{bid}/cancel", self.cancel)
        return app
