"""Batch APIs: the same traces at the provider's batch price (OpenAI: half the online price).

    distill generate --teacher openai --model gpt-4.1-mini --data builtin:arithmetic \
        --n 4 --batch --out traces.jsonl

`--batch` sends the pending samples through an OpenAI-style Batch API instead of one request
at a time: one JSONL line per prompt asking for its pending samples with `n` (the prompt is paid
once, as online; one line per sample with --separate-requests), `custom_id` = the id of the
line's first sample, `body` = what the online path sends for them. Uploaded with
`files.create(purpose="batch")`, run by `batches.create`, polled until it ends, and read back
from its output and error files into records written by the same code as online (one record
per sample, reasoning split, usage; cost at the batch price).

Kill-safety: the batches of a run live in a state file beside --out (`traces.jsonl.batches.json`,
rewritten atomically after every upload, submission and collection). A rerun with the same
arguments re-attaches to the batches still in flight and submits only samples that are neither
on disk nor in flight, so no request is paid for twice. A kill between upload and submission
leaves the input file id in the state; the rerun looks for a batch made from that file
(`batches.list`) before it submits one.

Lines that fail (HTTP 408/409/429/5xx, or `batch_expired`) go into a next batch, at most
`batch_max_rounds` submissions per sample; other failures (400, a cancelled batch, a batch the
provider rejected as a whole) are reported like online failures, and a rerun retries them. A
line refused for an account out of credit (429 `insufficient_quota`, 402) is one of those, as
online, where it stops the run: every next round would get the same (`no_credit`).
A result file that comes back short (fewer lines than the batch's request counts, a last line
cut off) was paid for in full: it is downloaded again (the lines already written are not read
twice). If it stays short, the requests in neither the output nor the error file go to the
next batch like the lines of an expired one (a failure on the last round, asked again by a
rerun), never a stop that every rerun would meet again. One line says how many, and whether
the batch's request counts say they ran: the provider bills the requests it completed, so one
it completed but left out of its file is paid twice, the only way to get its sample.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.generate.config import MAX_FILE_BYTES, BatchConfig
from distill.records import write_atomic
from distill.teachers.base import Completion, Job, Sink
from distill.teachers.openai import RETRIED_4XX, out_of_credit, scrub_line, usage_shares

ENDPOINT = "/v1/chat/completions"
RUNNING = {"validating", "in_progress", "finalizing", "cancelling"}
TERMINAL = {"completed", "failed", "expired", "cancelled"}
# Line errors worth another round: the online client's retry rules, plus the provider's own
# "this line never ran" codes.
_RETRY_CODES = {"batch_expired", "rate_limit_exceeded", "server_error", "timeout"}
_POLL_FAILURES = 10  # polls in a row that read no batch before giving up (they keep running)


def state_path(out: str | Path) -> Path:
    """Where a run keeps its batch ids: beside --out."""
    out = Path(out)
    return out.with_name(out.name + ".batches.json")


def batch_prices(prices: tuple[float, ...] | None, discount: float) -> tuple[float, ...] | None:
    return tuple(p * (1 - discount) for p in prices) if prices else None


def make_client(teacher_cfg: Any, api_key: str, base_url: str) -> Any:
    """The openai client for the files/batches calls: a few per batch, so the plain
    synchronous one, with the online path's retries and timeout; as online, an account out of
    credit (429 `insufficient_quota`) is not asked again."""
    import openai

    from distill.urls import split_query

    class Client(openai.OpenAI):
        def _should_retry(self, response: Any) -> bool:
            return super()._should_retry(response) and not out_of_credit(response)

    base_url, query = split_query(base_url)
    return Client(
        api_key=api_key,
        base_url=base_url,
        default_query=query,
        max_retries=teacher_cfg.max_retries,
        timeout=teacher_cfg.request_timeout,
    )


# =========================================================================== state file


class BatchState:
    """`traces.jsonl.batches.json`: one entry per uploaded batch input file.

    An entry holds the teacher it belongs to, its round, the input file id, the batch id once
    created, the ids of the samples still to collect (`custom_ids`: one line per sample in
    files written before lines asked for n samples), `groups` (the line's custom_id -> its
    samples' ids, in choice order, for lines of more than one sample) and the last status seen.
    Once collected, its custom_ids are dropped and `collected` is set; the entry stays as the
    run's lineage.
    """

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[dict[str, Any]] = []
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self.entries = list(data["batches"])
                for e in self.entries:
                    assert isinstance(e, dict) and {"teacher", "round", "input_file_id"} <= set(e)
                    assert e.get("collected") or isinstance(e.get("custom_ids"), list)
            except (ValueError, KeyError, TypeError, AssertionError):
                raise DistillError(
                    f"{path}: not a batch state file (expected {{'batches': [...]}}); it lists "
                    "the batches in flight for this --out: restore it, or move it away to "
                    "submit the pending samples again"
                ) from None

    def save(self) -> None:
        text = json.dumps({"version": 1, "batches": self.entries})  # compact: ids add up
        write_atomic(self.path, text + "\n")


# =========================================================================== the teacher


class _Tagged:
    """A sink that stamps each record with the batch that produced it."""

    def __init__(self, sink: Sink, batch_id: str):
        self.sink, self.batch_id = sink, batch_id

    def done(self, job: Job, sample: int, completion: Completion) -> None:
        completion.extra["batch"] = self.batch_id
        self.sink.done(job, sample, completion)

    def failed(self, job: Job, sample: int, why: str, usage: dict[str, Any] | None = None) -> None:
        # a choice that was billed names its batch: a rerun that reads this batch's results
        # again (a run stopped before it was marked collected) does not count it twice
        self.sink.failed(job, sample, why, {**usage, "batch": self.batch_id} if usage else usage)


class BatchTeacher:
    """The openai teacher, through the Batch API. Same protocol as the other teachers."""

    def __init__(self, teacher_cfg: Any, cfg: BatchConfig, out: str | Path, bar: Any = None):
        from rich.console import Console

        from distill.teachers.openai import OpenAITeacher

        # The online teacher builds each request body and turns each reply into completions,
        # so a batch record is exactly the record the online path writes.
        self.online = OpenAITeacher(teacher_cfg)
        self.cfg = cfg
        self.out = Path(out)
        # Which entries of the state file are this teacher's (a trailing / is the same URL).
        self.key = f"{teacher_cfg.model} @ {self.online.shown.rstrip('/')}"
        self.client = make_client(teacher_cfg, self.online.api_key, self.online.base_url)
        self.state = BatchState(state_path(out))
        self.bar = bar
        # stdout: a failed run's stderr is its one error line. Batch ids, states and errors come
        # from the provider: printed as they are (never rich markup), each line whole in a log.
        self.console = Console(soft_wrap=True, markup=False, emoji=False)
        self._task = None
        self._unlisted = False  # the provider answered batches.list with 404/405/501
        self._written: set[str] | None = None  # the ids in --out, once _on_disk reads them
        self._no_credit = 0  # a batch's samples refused for an account out of credit (_take)
        # One line per prompt with `n` (its prompt paid once); one per sample where asked
        # (--separate-requests) or once a reply had fewer choices than its n (as online).
        self.split_n = not teacher_cfg.n_per_request

    # ------------------------------------------------------------------ run
    def run(self, jobs: list[Job], sink: Sink) -> None:
        import openai

        self._todo: dict[str, tuple[Job, int]] = {}
        for job in jobs:
            ids = job.payload[1]  # the generate stage's sample ids, one per sample index
            for s in job.samples:
                self._todo[ids[s]] = (job, s)
        self._planned = set(self._todo)  # this run's samples (_todo loses each one it writes)
        self._sink = sink
        try:
            live = self._reattach()
            in_flight = {cid for e in live for cid in e["custom_ids"]}
            fresh = [cid for cid in self._todo if cid not in in_flight]
            live += self._submit(fresh, round_=1)
            self._poll(live)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise DistillError(
                f"{self.online.shown}: HTTP {e.status_code}: the key in "
                f"${self.online.cfg.api_key_env} was refused"
            ) from None
        except openai.APIConnectionError:
            raise DistillError(
                f"cannot reach {self.online.shown}; batches already submitted keep running "
                f"(ids in {self.state.path}): rerun the same command to re-attach"
            ) from None
        except openai.APIStatusError as e:  # e.g. a 5xx on a file after the client's retries
            why = scrub_line(str(e.message), *self.online.secrets, limit=200)
            kept = f"batches already submitted keep running (ids in {self.state.path})"
            if e.status_code == 402 or out_of_credit(e.response):  # as online: no rerun passes
                raise DistillError(
                    f"{self.online.shown}: HTTP {e.status_code}: {why} (not retried): the "
                    f"account of the key in ${self.online.cfg.api_key_env} has no credit left; "
                    f"{kept}"
                ) from None
            if e.status_code >= 500 or e.status_code in RETRIED_4XX:  # a rerun may pass
                raise DistillError(
                    f"{self.online.shown}: HTTP {e.status_code}: {why}; {kept}: rerun the same "
                    "command to re-attach"
                ) from None
            # a 400/404/422 comes again on a rerun (no Batch API there, a file it refuses)
            raise DistillError(
                f"{self.online.shown}: HTTP {e.status_code}: {why}; the provider refused this "
                f"batch request (one without a Batch API: generate without --batch); {kept}, "
                "and a rerun re-attaches them"
            ) from None

    def _reattach(self) -> list[dict[str, Any]]:
        """The entries of this teacher still in flight; batches created by a killed run
        before it could save their id are found by their input file."""
        live = []
        for e in self.state.entries:
            if e["teacher"] != self.key or e.get("collected"):
                continue
            pending = [cid for cid in e["custom_ids"] if cid in self._todo]
            if not e.get("batch_id"):
                found = self._find_batch(e)
                e["batch_id"] = found.id if found is not None else None
                # uploaded, never submitted: submit it now. A file the provider refuses now (gone,
                # of another key's project) bought nothing: its samples are uploaded again.
                refused = False
                if not e["batch_id"] and len(pending) == len(e["custom_ids"]):
                    refused = not self._create(e, stored=True)
                if not e["batch_id"]:
                    e["collected"], e["status"] = True, "refused" if refused else "never submitted"
                    e.pop("custom_ids")
                    e.pop("groups", None)
                    self.state.save()
                    continue
                self.state.save()
            if not pending:
                # Its records are all in --out (a killed run wrote them before it could mark
                # the batch collected), or its samples belong to other settings: look once,
                # never wait. Paid replies of other settings stay listed for a run with those
                # settings to collect (marked collected, that run bought them again).
                e["status"] = self._status_now(e["batch_id"])
                on_disk = e["status"] in ("failed", "not found") or self._on_disk(e)
                if e["status"] in RUNNING or not on_disk:
                    self.console.print(
                        f"batch: {e['batch_id']} ({e['status']}) holds no sample this run "
                        f"plans; not waiting for it (it stays listed in {self.state.path} for a "
                        "run with the settings it was submitted with)"
                    )
                    continue
                e["collected"] = True
                e.pop("custom_ids")
                e.pop("groups", None)
                self.state.save()
                continue
            self.console.print(
                f"batch: re-attached to {e['batch_id']} ({len(_requests(e))} requests, "
                f"round {e['round']})"
            )
            live.append(e)
        return live

    def _on_disk(self, entry: dict[str, Any]) -> bool:
        """Whether every sample of `entry` has its record in --out (read once, when asked)."""
        if self._written is None:
            from distill.records import read_records

            self._written = (
                {r.get("id") for r in read_records(self.out)} if self.out.exists() else set()
            )
        return all(cid in self._written for cid in entry["custom_ids"])

    def _status_now(self, batch_id: str) -> str:
        import openai

        try:
            return self.client.batches.retrieve(batch_id).status
        except openai.NotFoundError:
            return "not found"

    def _find_batch(self, entry: dict[str, Any]) -> Any:
        """The batch made from this entry's input file, if the provider lists one. A provider
        without batches.list (HTTP 404/405/501: compatible servers) cannot be asked: None, as
        before the lookup existed, not a stop that every rerun met again."""
        import openai

        seen: set[str] = set()
        try:
            for b in self.client.batches.list(limit=100):  # newest first, pages on demand
                if b.id in seen:  # a provider that ignores `after` serves its first page again
                    return None
                seen.add(b.id)
                if b.input_file_id == entry["input_file_id"]:
                    return b
                if b.created_at < entry["uploaded_at"] - 3600:  # older than our upload (+ skew)
                    return None
        except openai.APIStatusError as e:
            if e.status_code not in (404, 405, 501):
                raise
            if not self._unlisted:
                self._unlisted = True
                self.console.print(
                    f"batch: {self.online.shown} does not list batches (HTTP {e.status_code}): "
                    "a batch whose creation reply was lost cannot be looked up there"
                )
        return None

    # ------------------------------------------------------------------ submit
    def _lines_of(self, ids: list[str]) -> Iterator[tuple[str, bytes]]:
        """(custom_id, JSONL line) of the requests for these samples: one per prompt asking
        for all of them with `n`, sample order (the online path's body: seed + first sample),
        or one per sample. `self._groups` maps each custom_id to its samples' ids."""
        by_job: dict[int, list[str]] = {}
        for sid in ids:
            by_job.setdefault(id(self._todo[sid][0]), []).append(sid)
        for sids in by_job.values():
            sids.sort(key=lambda sid: self._todo[sid][1])
            for part in [[sid] for sid in sids] if self.split_n else [sids]:
                job = self._todo[part[0]][0]
                body = self.online.body(job.messages, [self._todo[sid][1] for sid in part])
                line = {"custom_id": part[0], "method": "POST", "url": ENDPOINT, "body": body}
                self._groups[part[0]] = part
                yield part[0], (json.dumps(line, ensure_ascii=False) + "\n").encode()

    def _submit(self, ids: list[str], round_: int) -> list[dict[str, Any]]:
        import openai

        entries: list[dict[str, Any]] = []
        self._groups: dict[str, list[str]] = {}
        for chunk in split_requests(self._lines_of(ids), self.cfg.batch_requests, MAX_FILE_BYTES):
            name = f"{self.out.name}.round{round_}.{len(self.state.entries)}.jsonl"
            blob = b"".join(line for _, line in chunk)
            try:
                f = self.client.files.create(
                    file=(name, blob, "application/jsonl"), purpose="batch"
                )
            except openai.APIStatusError as e:
                if e.status_code in (401, 402, 403) or out_of_credit(e.response):
                    raise  # run's line: the key refused, the account out of credit
                raise DistillError(
                    f"{self.online.shown}: uploading a batch file ({len(chunk)} requests, "
                    f"{len(blob):,} bytes) failed: HTTP {e.status_code}: "
                    f"{scrub_line(str(e.message), *self.online.secrets, limit=200)}"
                    + ("; lower --batch-requests" if e.status_code == 413 else "")
                ) from None
            entry = {
                "teacher": self.key,
                "round": round_,
                "input_file_id": f.id,
                "batch_id": None,
                "uploaded_at": time.time(),
                "requests": len(chunk),
                "custom_ids": [sid for cid, _ in chunk for sid in self._groups[cid]],
            }
            groups = {cid: self._groups[cid] for cid, _ in chunk if len(self._groups[cid]) > 1}
            if groups:
                entry["groups"] = groups
            self.state.entries.append(entry)
            self.state.save()  # before creating: a kill from here on re-attaches by file id
            self._create(entry)
            entries.append(entry)
        return entries

    def _create(self, entry: dict[str, Any], stored: bool = False) -> bool:
        """Create the batch of `entry`'s input file; False where the provider refuses a file
        uploaded by an earlier run (`stored`), which a rerun cannot submit either."""
        import openai

        # Never the client's own retries here: a create whose reply was lost (a 5xx, a timeout,
        # a dropped connection) may have made the batch, and a blind retry makes and bills a
        # second one. Before each new try, the provider's list is asked for a batch of this file.
        client = self.client.with_options(max_retries=0)
        tries = self.online.cfg.max_retries + 1
        for attempt in range(tries):
            try:
                b = client.batches.create(
                    input_file_id=entry["input_file_id"],
                    endpoint=ENDPOINT,
                    completion_window=self.cfg.batch_window,
                    metadata={"distill_out": self.out.name[:500]},
                )
                break
            except (openai.BadRequestError, openai.NotFoundError) as e:
                why = scrub_line(str(e.message), *self.online.secrets)
                if attempt:
                    # an earlier try's reply was lost: it may have made the batch (a provider
                    # that takes one batch per file refuses the next, a list that lags shows
                    # none). Neither refused nor submitted again: the rerun looks it up.
                    raise DistillError(
                        f"{self.online.shown}: HTTP {e.status_code} ({why}) creating the batch "
                        f"of {entry['input_file_id']} after a try whose reply was lost: that "
                        f"try may have made it; rerun the same command to re-attach (ids in "
                        f"{self.state.path})"
                    ) from None
                if stored:
                    self.console.print(
                        f"batch: the file {entry['input_file_id']} uploaded by an earlier run was "
                        f"refused (HTTP {e.status_code}: {why}); its samples are uploaded again"
                    )
                    return False
                hint = (  # a 404: no Batch API there; a 400: a setting it refuses
                    "one without a Batch API: generate without --batch"
                    if e.status_code == 404
                    else "check --batch-window, --model"
                )
                raise DistillError(
                    f"{self.online.shown}: the provider refused the batch (HTTP "
                    f"{e.status_code}): {why} ({hint})"
                ) from None
            except (openai.APIConnectionError, openai.APIStatusError) as e:
                status = getattr(e, "status_code", None)
                lost = status is None or status >= 500 or status in RETRIED_4XX
                broke = isinstance(e, openai.APIStatusError) and out_of_credit(e.response)
                if not lost or broke or attempt + 1 == tries:
                    raise
                time.sleep(min(8.0, 0.5 * 2**attempt))
                b = self._find_batch(entry)
                if b is not None:
                    break
        entry["batch_id"], entry["status"] = b.id, b.status
        self.state.save()
        self.console.print(
            f"batch: submitted {b.id} ({entry['requests']} requests, round {entry['round']})"
        )
        return True

    # ------------------------------------------------------------------ poll and collect
    def _poll(self, live: list[dict[str, Any]]) -> None:
        import openai

        first = min(self.cfg.batch_poll, max(1.0, self.cfg.batch_poll / 8))
        wait, failures = first, 0
        if self.bar is not None and live:
            self._task = self.bar.bar.add_task("batch", total=None, stats="")
        while live:
            retry: dict[int, list[str]] = {}
            answered, error = False, None
            for e in list(live):
                try:
                    b = self.client.batches.retrieve(e["batch_id"])
                    answered = True
                except openai.NotFoundError:
                    raise DistillError(
                        f"{self.state.path}: batch {e['batch_id']} not found at "
                        f"{self.online.shown} (another key or provider?)"
                    ) from None
                except (openai.APIConnectionError, openai.InternalServerError,
                        openai.RateLimitError) as err:  # fmt: skip
                    if isinstance(err, openai.RateLimitError) and out_of_credit(err.response):
                        raise  # run's line: no poll passes (not 10 polls' waits first)
                    error = err
                    continue
                e["status"] = b.status
                e["request_counts"] = _counts(b)
                if b.status in TERMINAL:
                    for cid in self._collect(e, b):
                        retry.setdefault(e["round"] + 1, []).append(cid)
                    # --logprobs buffers records until their shard is written: on disk before
                    # the batch is marked collected, or a kill in between buys them again
                    getattr(self._sink, "close", lambda: None)()
                    live.remove(e)
                    # Paid replies for samples of other settings (a rerun at a smaller --limit
                    # after a Ctrl-C) stay listed, for a run with those settings to collect.
                    others = [c for c in e["custom_ids"] if c not in self._planned]
                    if others and not self._on_disk({"custom_ids": others}):
                        e["custom_ids"] = [c for c in others if c not in self._written]
                        e["groups"] = {
                            cid: sids
                            for cid, sids in e.get("groups", {}).items()
                            if set(sids) & set(e["custom_ids"])
                        }
                    else:
                        e["collected"] = True
                        e.pop("custom_ids")
                        e.pop("groups", None)
                    self.state.save()  # its ids to resubmit are still not on disk: safe
            # A poll in which no batch could be read counts as failed (after the client's own
            # retries); the next one comes later, as usual.
            failures = 0 if answered or error is None else failures + 1
            if failures >= _POLL_FAILURES:
                raise DistillError(
                    f"polling {self.online.shown} failed {failures} times in a row "
                    f"({type(error).__name__}); the batches keep running: rerun the same "
                    "command to re-attach"
                )
            for round_, ids in retry.items():
                live += self._submit(ids, round_)
                wait = first
            self._show(live)
            if live:
                time.sleep(wait)
                wait = min(self.cfg.batch_poll, wait * 2)
        if self._task is not None:
            self.bar.bar.update(self._task, visible=False)

    def _show(self, live: list[dict[str, Any]]) -> None:
        if self._task is None:
            return
        states: dict[str, int] = {}
        for e in live:
            states[e.get("status", "?")] = states.get(e.get("status", "?"), 0) + 1
        total = sum(e.get("request_counts", {}).get("total", e["requests"]) for e in live)
        done = sum(
            e.get("request_counts", {}).get("completed", 0)
            + e.get("request_counts", {}).get("failed", 0)
            for e in live
        )
        stats = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        self.bar.bar.update(
            self._task, total=total or None, completed=done, stats=f"batches: {stats}"
        )

    def _collect(self, entry: dict[str, Any], b: Any) -> list[str]:
        """Write the records of a finished batch; return the ids of the samples worth another
        round. Its files were paid for in full: a download that comes back short is read again
        (the lines already written are skipped); the requests of one that stays short that
        have no line in either file are asked again (billed twice where the provider completed
        them: its counts say so, `_billing`)."""
        requests = _requests(entry)
        self._no_credit = 0
        seen: set[str] = set()  # request lines handled
        lines: set[str] = set()  # the custom_id of every line read, this run's or not
        retry: list[str] = []
        last_round = entry["round"] >= self.cfg.batch_max_rounds
        tagged = _Tagged(self._sink, b.id)
        counts = _counts(b)
        # lines the provider says it wrote, where it counts the lines it was sent
        reported = counts.get("completed", 0) + counts.get("failed", 0)
        if counts.get("total") != entry["requests"]:
            reported = 0
        tries = self.online.cfg.max_retries + 1
        read = _Read()
        for attempt in range(tries):
            if attempt:
                self.console.print(
                    f"batch: {b.id}'s results came back short ({read.short[0]}); downloading "
                    "them again"
                )
                time.sleep(min(8.0, 0.25 * 2**attempt))
            read = _Read()
            for file_id in (b.output_file_id, b.error_file_id):
                for line in self._lines(file_id, b.id, read) if file_id else ():
                    cid = line.get("custom_id")
                    if not isinstance(cid, str):
                        continue
                    lines.add(cid)
                    if cid in requests and cid not in seen:
                        seen.add(cid)
                        retry += self._take(requests[cid], line, b, tagged, last_round)
            # the provider counted more lines than came (a file gone has none: asked again)
            if not read.short and not read.gone and len(lines) < reported:
                read.short.append(f"{len(lines)} lines of the {reported} its request counts say")
            if not read.short:
                break
        else:
            # The provider's files stay short: a rerun would read the same files again, and
            # stop again. A request with no line in either file takes the missing-lines rule
            # below, as the lines of an expired batch do: the next round, or a failure that a
            # rerun asks again. The lines that came are written; none re-bought. Whether the
            # provider billed the missing ones (it bills those it completed) its counts say.
            missing = [
                cid for cid, sids in requests.items()
                if cid not in seen and any(sid in self._todo for sid in sids)
            ]  # fmt: skip
            again = b.status in ("completed", "expired") and not last_round
            self.console.print(
                f"batch: {b.id}'s results stayed short over {tries} downloads "
                f"({read.short[0]}): its {len(missing)} requests in neither its output nor "
                f"its error file {_billing(len(missing), counts, entry['requests'])}; "
                + (
                    f"they go to round {entry['round'] + 1}"
                    if again
                    else "they are reported failed, and a rerun asks them again"
                )
            )
        # Lines the provider never reported: an expired or failed batch, or a lost line.
        why = scrub_line(_batch_error(b), *self.online.secrets)
        for cid, sids in requests.items():
            for sid in sids if cid not in seen else ():
                if sid not in self._todo:
                    continue
                if b.status in ("completed", "expired") and not last_round:
                    retry.append(sid)
                    continue
                job, s = self._todo.pop(sid)
                self._sink.failed(job, s, f"batch {b.id} {b.status}: {why}")
        self.console.print(
            f"batch: {b.id} {b.status} ({counts.get('completed', 0)} ok, "
            f"{counts.get('failed', 0)} failed{', ' + why if b.status == 'failed' else ''})"
            + (f"; {len(retry)} samples go to round {entry['round'] + 1}" if retry else "")
        )
        if self._no_credit:
            self.console.print(
                f"batch: {b.id}: {self._no_credit} samples refused: the account of the key in "
                f"${self.online.cfg.api_key_env} has no credit left (not resubmitted); add "
                "credit, then rerun the same command to ask them again"
            )
        return retry

    def _take(
        self, sids: list[str], line: dict[str, Any], b: Any, tagged: _Tagged, last_round: bool
    ) -> list[str]:
        """Write the samples of one result line (sample k of the line is its choice k); return
        those worth another round."""
        wanted = [sid for sid in sids if sid in self._todo]
        if not wanted:  # written by an earlier, killed run
            return []
        ok, why, again = _outcome(line)
        why = scrub_line(why, *self.online.secrets)  # providers may echo the key, the query
        if ok:
            body = line["response"]["body"]
            if self.online.cfg.logprobs:  # as online: one line, not a parser traceback
                self.online._check_logprobs(body)
            placed = _Placed(self._todo, sids, tagged)
            self.online._emit(self._todo[wanted[0]][0], list(range(len(sids))), body, placed)
            wanted = [sid for sid in wanted if sid in self._todo]
            if not wanted:
                return []
            # Fewer choices than its n: a provider that ignores `n` (as online, the rest are
            # asked one by one from now on).
            got = len(sids) - len(wanted)
            why, again = f"the reply had {got} of the {len(sids)} choices asked for", True
            self.split_n = True
        if again and not last_round:
            return wanted
        if not ok and no_credit(line):
            self._no_credit += len(wanted)
        # a reply without choices whose usage counted tokens: billed for nothing, in the spend
        spent = None if ok else usage_shares(_body(line).get("usage"), len(wanted))
        for k, sid in enumerate(wanted):
            job, s = self._todo.pop(sid)
            tagged.failed(job, s, f"batch {b.id}: {why}", spent[k] if spent else None)
        return []

    def _lines(self, file_id: str, batch_id: str, read: _Read) -> Iterator[dict[str, Any]]:
        """The JSON lines of an output/error file, streamed (they can be large). A file the
        provider no longer has (deleted, expired) has none: its samples are asked again. One
        whose last line is cut off says so in `read`."""
        from contextlib import ExitStack

        import openai

        with ExitStack() as stack:
            try:
                r = stack.enter_context(self.client.files.with_streaming_response.content(file_id))
            except openai.NotFoundError:
                self.console.print(
                    f"batch: {batch_id}'s file {file_id} is gone at the provider; its samples "
                    "are asked again"
                )
                read.gone = True
                return
            # the openai client's own httpx (its name differs between versions): a connection
            # dropped or timed out mid-file raises that library's TransportError, not openai's
            httpx = sys.modules[type(r.http_response).__module__.partition(".")[0]]
            chunks = r.iter_bytes()
            tail = b""
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except httpx.TransportError as err:  # as a failed request: rerun to re-attach
                    raise openai.APIConnectionError(request=r.http_request) from err
                *whole, tail = (tail + chunk).split(b"\n")
                for raw in whole:
                    line = _parse(raw)
                    if line is not None:  # else its custom_id is missing: the missing-lines rule
                        yield line
        if tail.strip():  # a last line without its newline: whole, or cut off
            line = _parse(tail)
            if line is None:
                read.short.append(f"{file_id} ends in a line cut off")
            else:
                yield line


class _Read:
    """What reading a batch's result files found: why they came short, whether one is gone."""

    def __init__(self) -> None:
        self.short: list[str] = []
        self.gone = False


class _Placed:
    """The sink `_emit` writes one result line's choices to: choice k is sample k of the line,
    written where this run still wants it (not one a killed run wrote)."""

    def __init__(self, todo: dict[str, tuple[Job, int]], sids: list[str], sink: Sink):
        self.todo, self.sids, self.sink = todo, sids, sink

    def done(self, job: Job, k: int, completion: Completion) -> None:
        if self.sids[k] in self.todo:
            self.sink.done(*self.todo.pop(self.sids[k]), completion)

    def failed(self, job: Job, k: int, why: str, usage: dict[str, Any] | None = None) -> None:
        if self.sids[k] in self.todo:
            self.sink.failed(*self.todo.pop(self.sids[k]), why, usage)


def _requests(entry: dict[str, Any]) -> dict[str, list[str]]:
    """An entry's request lines still to collect: custom_id -> its samples' ids, in choice
    order. Sample ids in no group are lines of their own (every line, in state files written
    before lines asked for n samples)."""
    groups = entry.get("groups") or {}
    left = set(entry["custom_ids"])
    lines = {cid: sids for cid, sids in groups.items() if left.intersection(sids)}
    grouped = {sid for sids in groups.values() for sid in sids}
    lines.update((sid, [sid]) for sid in entry["custom_ids"] if sid not in grouped)
    return lines


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


def _billing(missing: int, counts: dict[str, int], requests: int) -> str:
    """What the provider's request counts say of `missing` requests with no result line: never
    run (not billed), or run (a completed request is billed, so asking it again pays twice).
    A short file whose counts say every request ran is not one of requests never completed."""
    if counts.get("total") != requests:  # counts of another file, or none
        return "may have been billed (the provider's counts do not say): asked again, paid twice"
    ran = counts.get("completed", 0) + counts.get("failed", 0)
    never = max(0, requests - ran)  # requests the provider counts as never run
    if missing <= never:
        return "never ran, as its request counts say (not billed)"
    return (
        f"ran as its request counts say ({counts.get('completed', 0)} completed of {requests}): "
        f"a completed one was billed and is paid again"
    )


def _counts(b: Any) -> dict[str, int]:
    rc = getattr(b, "request_counts", None)
    return rc.model_dump() if rc is not None else {}


def _batch_error(b: Any) -> str:
    errors = getattr(getattr(b, "errors", None), "data", None) or []
    if errors:
        e = errors[0]
        where = f" (input line {e.line})" if getattr(e, "line", None) else ""
        return f"{e.code}: {e.message}{where}"
    return "no result for this line"


def _outcome(line: dict[str, Any]) -> tuple[bool, str, bool]:
    """(succeeded, why not, worth another round) for one output/error line."""
    resp = line.get("response") or {}
    err = line.get("error") or {}
    # Compatible providers write other shapes too: an error or a response as a bare string.
    if not isinstance(err, dict):
        err = {"message": str(err)}
    if not isinstance(resp, dict):
        err = err or {"code": "invalid_response", "message": f"{resp!s:.200}"}
        resp = {}
    status = resp.get("status_code")
    body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
    if status == 200 and not err:
        if body.get("choices"):
            return True, "", False
        # as online: failed at once, not asked again (an upstream's error in a 200 body)
        said = (
            (body.get("error") or {}).get("message")
            if isinstance(body.get("error"), dict)
            else None
        )
        return False, "a reply without choices" + (f": {said}" if said else ""), False
    if no_credit(line):  # as online (`out_of_credit`): every later round gets the same
        return False, f"{CREDIT_LEFT} {_line_error(line)}", False
    if err:
        code = str(err.get("code") or "error")
        # whole: cut by _collect once the key is scrubbed out (a cut key would be half shown)
        return False, f"{code}: {err.get('message') or ''}", code in _RETRY_CODES
    message = str((body.get("error") or {}).get("message") or "")
    again = isinstance(status, int) and (status in (408, 409, 429) or status >= 500)
    return False, f"HTTP {status}: {message}", again


# the failure of a line refused for an account out of credit (no_credit), which starts its why
CREDIT_LEFT = "no credit left on the account (not resubmitted):"


def _body(line: dict[str, Any]) -> dict[str, Any]:
    """A result line's response body (a dict, or {} for any other shape)."""
    resp = line.get("response") if isinstance(line.get("response"), dict) else {}
    return resp.get("body") if isinstance(resp.get("body"), dict) else {}


def no_credit(line: dict[str, Any]) -> bool:
    """A result line refused for an account out of credit: OpenAI's 429 `insufficient_quota`
    (in the line's response body, or as the line's error), DeepSeek's 402. The online path stops
    on it (`out_of_credit`): never resubmitted, where every round would get the same."""
    resp = line.get("response") if isinstance(line.get("response"), dict) else {}
    if resp.get("status_code") == 402:
        return True
    body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
    errors = (line.get("error"), body.get("error"))
    return any(isinstance(e, dict) and e.get("code") == "insufficient_quota" for e in errors)


def _line_error(line: dict[str, Any]) -> str:
    """`HTTP 429 insufficient_quota: message` of a refused line (its error, or its body's)."""
    resp = line.get("response") if isinstance(line.get("response"), dict) else {}
    body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
    err = next((e for e in (line.get("error"), body.get("error")) if isinstance(e, dict)), {})
    status = f"HTTP {resp['status_code']} " if resp.get("status_code") else ""
    return f"{status}{err.get('code') or 'error'}: {err.get('message') or ''}"


def split_requests(
    lines: Iterable[tuple[str, bytes]], max_requests: int, max_bytes: int
) -> Iterator[list[tuple[str, bytes]]]:
    """Consecutive chunks of at most `max_requests` lines and `max_bytes` bytes each, built as
    they are consumed (one input file in memory at a time)."""
    chunk: list[tuple[str, bytes]] = []
    size = 0
    for cid, line in lines:
        if len(line) > max_bytes:
            raise DistillError(
                f"sample {cid}: its request is {len(line):,} bytes, over the batch file limit "
                f"({max_bytes:,}); generate it without --batch"
            )
        if chunk and (len(chunk) >= max_requests or size + len(line) > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((cid, line))
        size += len(line)
    if chunk:
        yield chunk
