"""Several teachers for kd / onpolicy: a weighted sum of their divergences, or one teacher per
example chosen by a dataset column.

    distill train --data kept.jsonl --model S --output-dir out --method kd \\
        --teacher-model A --teacher-model B --teacher-weight 0.7 --teacher-weight 0.3
    distill train --data kept.jsonl --model S --output-dir out --method onpolicy \\
        --teacher-model math-T@http://h1:8000/v1 --teacher-model code-T@http://h2:8000/v1 \\
        --teacher-route-field domain

Each teacher is local (a path or hub name, as one --teacher-model) or served (an OpenAI-compatible
vLLM server scoring with prompt_logprobs, as --teacher-url): written `NAME@URL`, or all served with
one --teacher-url per teacher in the same order (one --teacher-url alone: every teacher is a
model of that server, e.g. LoRA adapters vLLM serves side by side).

Weighted (the default: equal weights): at every completion position the loss is
sum_i w_i * D(teacher_i, student), weights normalised to sum to 1, D the run's divergence (kd:
KL(teacher || student) at T; onpolicy: the generalized JSD with beta). A teacher of weight 0 is
never run. Routed (--teacher-route-field COL, ms-swift's per-sample teacher): each example's COL
value names its teacher (by its --teacher-model name or its index), and only that teacher scores
its tokens (on policy: the student's samples of that example's prompt). The one-teacher path is
not this module: a single --teacher-model trains exactly as before.

A local teacher may have another tokenizer (xtok.py, `--xtok uld|hybrid`): each such teacher
renders and aligns every example itself, its columns in the batch under its own prefix
(`t{index}_xtok_ids`, `_pos`, ...; on policy each sample is decoded and read by each of them),
and its ULD / hybrid loss at a position is weighted by the same per-position weight as a
same-vocabulary teacher's divergence there. A position such a teacher could not align (inside a
span the two tokenizations cut differently) gets nothing from that teacher, and the weights are
NOT renormalised over the teachers that remain: each teacher's term is its weight times what it
alone would give, so the loss stays the weighted sum of each teacher's loss alone (weights (1, 0)
are teacher A alone bit for bit, aligned or not), and a same-vocabulary teacher keeps the same
weight at every token instead of more inside the other tokenizer's split words (renormalising
would tie its weight to where the other tokenizer happens to cut). GOLD's lone teacher does the
same: an unaligned position has cross-entropy only. kd.json and the card give each
cross-tokenizer teacher's aligned share. A served teacher of another tokenizer is read by text as
it is alone (xtok.py's served_xtok: kd scores each kept completion once, on policy each sample),
its mapped top-K under its prefix (`t{index}_teacher_ids`, `_logprobs`).

A teacher of the student's vocabulary whose chat template renders prompts otherwise (local or
served) reads each completion after its own prompt ids, as it does alone (kd/data.py's
own_prompt_dataset: its ids and the teacher position of each student token under its prefix,
`t{index}_teacher_input_ids`, `_pos`; on policy each sample is put after its own prompt,
own_sampled), its own end of turn where its template ends a turn otherwise, its first end token
compared as the student's (kd/data.end_pair). kd.json and the card give the rows it read so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from distill.errors import DistillError
from distill.urls import redact_urls

# =========================================================================== settings (no torch)


@dataclass
class Spec:
    """One teacher as the config names it: its model name, its server (None: local), its
    normalised weight (None when routed)."""

    name: str
    url: str | None
    weight: float | None


def split_url(entry: str) -> tuple[str, str | None]:
    """'NAME@http(s)://host/v1' -> (NAME, URL); anything else is a local name (hub ids never hold
    '@', and a path's '@' is kept unless an http(s) URL follows it)."""
    for scheme in ("@http://", "@https://"):
        if scheme in entry:
            name, _, rest = entry.rpartition(scheme)
            return name, scheme[1:] + rest
    return entry, None


def _as_list(value: Any, key: str) -> list[str]:
    if value is None or value == "":  # '' cleared a key before lists were taken (--set k=)
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v for v in values):
        raise DistillError(
            f"{key}: expected a name or a list of names, got {redact_urls(repr(value))}"
        )
    return list(values)


def teacher_specs(cfg: Any) -> list[Spec]:
    """The teachers a (possibly saved, unvalidated) TrainConfig names, in order; [] for none."""
    names = _as_list(cfg.teacher_model, "teacher_model")
    urls = _as_list(cfg.teacher_url, "teacher_url")
    if not names:
        return []
    pairs = [split_url(n) for n in names]
    if urls:
        if any(u for _, u in pairs):
            raise DistillError(
                "--teacher-model NAME@URL and --teacher-url: name each served teacher one way"
            )
        if len(urls) == 1:
            urls = urls * len(names)
        if len(urls) != len(names):
            raise DistillError(
                f"--teacher-url: {len(urls)} given for {len(names)} teachers; give one per "
                "--teacher-model in the same order (or one for all, or write NAME@URL)"
            )
        pairs = [(n, u) for (n, _), u in zip(pairs, urls, strict=True)]
    weights = list(getattr(cfg, "teacher_weight", None) or [])
    if getattr(cfg, "teacher_route_field", None):
        return [Spec(n, u, None) for n, u in pairs]
    if not weights:
        weights = [1.0] * len(pairs)
    total = sum(weights) if len(weights) == len(pairs) else 0.0
    return [
        Spec(n, u, (w / total) if total > 0 else None)
        for (n, u), w in zip(pairs, weights + [0.0] * (len(pairs) - len(weights)), strict=False)
    ]


def several(cfg: Any) -> bool:
    return len(_as_list(cfg.teacher_model, "teacher_model")) > 1


def check_teachers(cfg: Any) -> None:
    """Normalise and check the teacher keys (from kd.check_config). One teacher keeps the shape
    it always had (teacher_model a string, NAME@URL split into teacher_url), so its run, its
    train.yaml and a resume of an older run are what they were."""
    for key in ("teacher_model", "teacher_url"):
        values = _as_list(getattr(cfg, key), key)
        if len(values) <= 1:
            setattr(cfg, key, values[0] if values else None)
    if isinstance(cfg.teacher_model, str) and not cfg.teacher_url:
        cfg.teacher_model, cfg.teacher_url = split_url(cfg.teacher_model)
    specs = teacher_specs(cfg)  # count mismatches
    n, weights, field = len(specs), list(cfg.teacher_weight or []), cfg.teacher_route_field
    if weights:
        if field:
            raise DistillError(
                "--teacher-weight and --teacher-route-field: weigh the teachers at every token or "
                "route each example to one, not both"
            )
        if len(weights) != n:
            raise DistillError(
                f"--teacher-weight: {len(weights)} given for {n} teacher(s); give one per "
                "--teacher-model, in the same order"
            )
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise DistillError(
                f"--teacher-weight {', '.join(f'{w:g}' for w in weights)}: each must be >= 0 "
                "and their sum > 0 (they are normalised to sum to 1)"
            )
    if cfg.method == "sft" and (weights or field or n > 1):
        raise DistillError(
            "several teachers (--teacher-weight, --teacher-route-field) are for --method kd or "
            "onpolicy; --method sft learns from the teachers' text in --data"
        )
    if field and n < 2:
        raise DistillError(
            f"--teacher-route-field {field}: routes examples between several teachers; give "
            "--teacher-model twice or more"
        )
    if n < 2:
        return
    from distill.models import check_model_path

    for spec in specs:
        if not spec.url:
            check_model_path(spec.name, "--teacher-model")


def route_index(specs: list[Spec], value: Any, where: str, field: str) -> int:
    """The teacher a route value names: its --teacher-model name (or the last part of its path),
    or its index (0-based)."""
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int) and 0 <= value < len(specs):
        return value
    have = ", ".join(f"{i}={s.name}" for i, s in enumerate(specs))
    if isinstance(value, str):
        # its whole name first, else the last part of its path; a value that names several
        # alike (two servers' 'default', runs/a/ckpt and runs/b/ckpt) took the first of them
        for names in (
            [s.name for s in specs],
            [s.name.rstrip("/").rsplit("/", 1)[-1] for s in specs],
        ):
            hits = [i for i, n in enumerate(names) if n == value]
            if len(hits) > 1:
                raise DistillError(
                    f"{where}: --teacher-route-field '{field}' is {value!r}, which names "
                    f"teachers {' and '.join(map(str, hits))} alike (have: {have}): route by "
                    "index (0-based)"
                )
            if hits:
                return hits[0]
        if value.strip().isdigit() and int(value) < len(specs):
            return int(value)
    raise DistillError(
        f"{where}: --teacher-route-field '{field}' is {value!r}, which names no teacher "
        f"(have: {have}; a name or an index)"
    )


def _field(row: dict[str, Any], field: str) -> Any:
    """A row's column; a dotted name walks into objects (`teacher.model`); a trace record's source
    columns are in its `meta` (generate keeps them there)."""
    for obj in (row, row.get("meta") if isinstance(row.get("meta"), dict) else None):
        cur: Any = obj
        for part in field.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is not None:
            return cur
    return None


def route_column(cfg: Any, origins: list[int]) -> list[int]:
    """The teacher index of each training sequence, from the source row it came from
    (`origins[k]`: the row index of sequence k)."""
    import itertools

    from distill.data import iter_source

    specs = teacher_specs(cfg)
    field = cfg.teacher_route_field
    rows = list(itertools.islice(iter_source(cfg.data, cfg.split, strict=True), cfg.limit))
    memo: dict[int, int] = {}
    for i in sorted(set(origins)):
        memo[i] = route_index(specs, _field(rows[i], field), f"{cfg.data} row {i + 1}", field)
    return [memo[i] for i in origins]


def route_of(cfg: Any) -> Any:
    """Source row index -> the teacher its route column names (the rows read at the first call:
    a prompt source, which routes by route_extra's column, never calls it)."""
    import itertools

    from distill.data import iter_source

    specs, field = teacher_specs(cfg), cfg.teacher_route_field
    rows: list[dict[str, Any]] = []
    memo: dict[int, int] = {}

    def of(i: int) -> int:
        if not rows:
            rows.extend(itertools.islice(iter_source(cfg.data, cfg.split, strict=True), cfg.limit))
        if i not in memo:
            memo[i] = route_index(specs, _field(rows[i], field), f"{cfg.data} row {i + 1}", field)
        return memo[i]

    return of


def route_extra(cfg: Any) -> dict[str, Any]:
    """prompt_dataset's keywords for a routed run on a prompt source: a teacher_route column."""
    if not cfg.teacher_route_field:
        return {}
    import itertools

    from distill.data import iter_source

    specs, field = teacher_specs(cfg), cfg.teacher_route_field
    rows = list(itertools.islice(iter_source(cfg.data, cfg.split, strict=True), cfg.limit))

    def extra(ex: Any, where: str) -> dict[str, int]:  # where: '{data} row {i + 1}'
        i = int(where.rsplit(" row ", 1)[1]) - 1
        return {"teacher_route": route_index(specs, _field(rows[i], field), where, field)}

    return {"extra": extra}


# =========================================================================== training


class RouteCollator:
    """The run's collator + each row's teacher index (`teacher_route`, [B])."""

    def __init__(self, base: Any):
        self.base = base

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = self.base(feats)
        batch["teacher_route"] = torch.tensor([f["teacher_route"] for f in feats])
        return batch


class _As:
    """The trainer seen with one of the teachers as its teacher (DistillTrainer._teacher_rows
    reads it from `self`): each teacher's rows are exactly what a run with it alone computes."""

    def __init__(self, trainer: Any, teacher: Any):
        self._trainer, self.teacher = trainer, teacher

    def __getattr__(self, key: str) -> Any:
        return getattr(self._trainer, key)


def _prefix(t: int) -> str:
    """The batch / dataset key prefix of cross-tokenizer teacher t's own columns."""
    return f"t{t}_"


# what a teacher of the student's vocabulary reading its own prompt has for itself (kd/data.py:
# own_prompt_dataset's columns, the Collator's, own_sampled's)
OWN_PROMPT = (
    "teacher_input_ids",
    "teacher_attention_mask",
    "teacher_pos",
    "teacher_own_row",
    "teacher_prompt",
    "teacher_prompt_len",
    "teacher_lead",
)


def _own(key: str) -> bool:
    """A column a teacher has for itself: a cross-tokenizer one's (xtok.py: its ids and aligned
    positions, its prompt text; a served one's top-K mapped to student ids), or the rows one of
    the student's vocabulary reads after its own chat template's prompt (OWN_PROMPT)."""
    return key.startswith("xtok") or key in ("teacher_ids", "teacher_logprobs", *OWN_PROMPT)


def _teachers_own(key: str) -> bool:
    """A column of one teacher (`t{index}_xtok_...`, `t{index}_teacher_input_ids`, ...)."""
    head, _, rest = key.partition("_")
    return head[:1] == "t" and head[1:].isdigit() and _own(rest)


def _view(inputs: dict[str, Any], t: int) -> dict[str, Any]:
    """The batch as teacher t alone sees it: its own columns unprefixed."""
    p = _prefix(t)
    out = {k: v for k, v in inputs.items() if not _own(k) and not _teachers_own(k)}
    out.update({k[len(p) :]: v for k, v in inputs.items() if k.startswith(p) and _own(k[len(p) :])})
    return out


class Teachers:
    """Several teachers (LocalTeacher / ServedTeacher of the student's vocabulary, XTokTeacher
    of another), weighted or routed, the completion tokens each scored and, for a teacher of
    another tokenizer, the ones it aligned."""

    def __init__(self, cfg: Any, teachers: list[Any], specs: list[Spec]):
        from distill.train.kd.xtok import XTokTeacher

        self.cfg, self.teachers, self.specs = cfg, teachers, specs
        self.routed = bool(cfg.teacher_route_field)
        # completion tokens each teacher scored in training (every process's, as the trainer's
        # teacher_tokens) and, another tokenizer, the ones it compared; live counts (kd.json
        # takes them as of the last optimizer step: KDState's snapshot)
        self.tokens = [0] * len(teachers)
        self.aligned = [0] * len(teachers)
        # another tokenizer: local (XTokTeacher) or served (ServedTeacher until dataset() reads
        # it by text: xtok.py's ServedXTok)
        self.xtok = [
            t
            for t, x in enumerate(teachers)
            if isinstance(x, XTokTeacher) or getattr(x, "other_tokenizer", False)
        ]
        # the student's vocabulary, another chat template: teacher index -> own_prompt_dataset's
        # counts, for those that read some rows after their own prompt (dataset())
        self.own: dict[int, dict[str, Any]] = {}
        self.pad_id: int | None = None  # the student's (own_sampled pads with it)

    @classmethod
    def build(cls, cfg: Any, tok: Any, dtype: Any) -> Teachers:
        from distill.teachers.scorers import LocalTeacher, ServedTeacher, probe_ids
        from distill.train.kd.xtok import XTokTeacher

        specs, teachers = teacher_specs(cfg), []
        for spec in specs:
            if spec.weight == 0.0:  # never scores: not loaded
                teachers.append(None)
                continue
            if spec.url:
                t = ServedTeacher(spec.url, spec.name, cfg.teacher_top_k, tok, cfg.model)
                try:
                    t.probe(probe_ids(tok))
                except DistillError as e:
                    if not t.other_tokenizer:
                        raise
                    t.refusal = e  # read by text (dataset()), or this where it cannot score text
            else:  # another tokenizer: its own rendering, alignment and loss (xtok.py)
                t = LocalTeacher(spec.name, tok, cfg.model, dtype, xtok=True)
                if t.tok is not None:
                    t = XTokTeacher(t, tok, cfg.xtok)
            teachers.append(t)
        return cls(cfg, teachers, specs)

    def dataset(
        self, cfg: Any, tok: Any, model_eos: Any, dataset: Any, collator: Any
    ) -> tuple[Any, Any]:
        """The run's (dataset, collator) as its teachers read it: with a teacher of another
        tokenizer, the examples as xtok_dataset renders them (_xtok); with a teacher of the
        student's vocabulary whose chat template renders prompts otherwise, its
        own_prompt_dataset columns under its prefix (_own_prompts). `dataset`, `collator`: the
        run's as they are where no teacher needs more."""
        self.pad_id = tok.pad_token_id
        cols: dict[str, Any] = {}
        collators: dict[int, Any] = {}
        base = self._xtok(cfg, tok, model_eos, cols, collators) if self.xtok else dataset
        self._own_prompts(cfg, tok, model_eos, base, cols, collators)
        if not cols:
            return base, collator
        for k, v in cols.items():
            base = base.add_column(k, v)
        return base, XTokCollators(tok.pad_token_id, collators, self.routed)

    def _xtok(self, cfg: Any, tok: Any, model_eos: Any, cols: dict, collators: dict) -> Any:
        """The examples as xtok_dataset renders them (the student's side is the same for every
        teacher) and each row's route; each teacher of another tokenizer's own columns into
        `cols` under its prefix, its collator into `collators`."""
        import copy

        from distill.train.kd.xtok import served_xtok, xtok_dataset

        origins: list[int] = []
        more = route_extra(cfg).get("extra")
        route = route_of(cfg) if self.routed else None
        base = None
        for t in self.xtok:
            first = t == self.xtok[0]  # its kept examples' indices are every teacher's
            x = self.teachers[t]
            # routed: it reads (a served one: scores) the examples routed to it only
            only = None if route is None else (lambda i, t=t: route(i) == t)
            if getattr(x, "other_tokenizer", False):  # served: scored by text (ServedXTok)
                one = copy.copy(cfg)
                one.teacher_model, one.teacher_url = self.specs[t].name, self.specs[t].url
                x, ds, collators[t] = served_xtok(
                    one, tok, model_eos, x, origins if first else None, more, only
                )
                self.teachers[t] = x
            else:
                ds, collators[t] = xtok_dataset(
                    cfg, tok, model_eos, x, origins if first else None, more, only
                )
            if base is None:
                base = ds
            elif ds["input_ids"] != base["input_ids"]:  # never: the student's side is shared
                raise DistillError("several teachers of another tokenizer kept different examples")
            cols.update({_prefix(t) + k: ds[k] for k in ds.column_names if _own(k)})
        assert base is not None
        base = base.remove_columns([k for k in base.column_names if _own(k)])
        if self.routed and "teacher_route" not in base.column_names:  # kept traces
            base = base.add_column("teacher_route", route_column(cfg, origins))
        return base

    def _own_prompts(
        self, cfg: Any, tok: Any, model_eos: Any, base: Any, cols: dict, collators: dict
    ) -> None:
        """Each teacher of the student's vocabulary reads the rows of `base` after its own chat
        template's prompt where that renders otherwise (kd/data.own_prompt_dataset, as it does
        alone; routed: its own rows): its columns into `cols` under its prefix, the Collator
        that batches them into `collators`, its counts into self.own."""
        import copy

        from distill.teachers.scorers import LocalTeacher, ServedTeacher
        from distill.train.kd.data import Collator, own_prompt_dataset, teacher_template

        for t, x in enumerate(self.teachers):
            if t in self.xtok or not isinstance(x, (LocalTeacher, ServedTeacher)):
                continue
            one = copy.copy(cfg)
            one.teacher_model, one.teacher_url = self.specs[t].name, self.specs[t].url
            if self.xtok:  # the rows xtok_dataset keeps: each example's last turn
                one.train_on = "last"
            only = [r == t for r in base["teacher_route"]] if self.routed else None
            t_tok, t_eos = teacher_template(one.teacher_model, x)
            ds, counts = own_prompt_dataset(
                one, tok, model_eos, t_tok, t_eos, base, x.name, x, only
            )
            if counts is None:
                continue
            self.own[t] = counts
            cols.update({_prefix(t) + k: ds[k] for k in OWN_PROMPT if k in ds.column_names})
            collators[t] = Collator(tok.pad_token_id)

    def sampled(self, ids: Any, labels: Any, inputs: Any) -> dict[str, Any]:
        """On policy: each teacher of another tokenizer reads the student's samples as text
        (XTokTeacher.sampled), and each of the student's vocabulary reading its own prompt reads
        them after it (kd/data.own_sampled, as the trainer does for one teacher), its columns
        under its prefix."""
        import torch

        from distill.train.kd.data import own_sampled

        out: dict[str, Any] = {}
        b = ids.shape[0]
        for t in self.own:
            view = _view(inputs, t)
            if "teacher_prompt" in view:
                ends = getattr(self.teachers[t], "own_ends", None)
                got = own_sampled(ids, inputs["labels"], view, self.pad_id, ends)
                out.update({_prefix(t) + k: v for k, v in got.items()})
        for t in self.xtok:
            view = _view(inputs, t)
            keep = inputs["teacher_route"].to(ids.device) == t if self.routed else None
            if keep is None or bool(keep.all()):
                got = self.teachers[t].sampled(ids, labels, view)
            else:  # routed: only its rows are read (a served teacher scores no other sample)
                rows = keep.nonzero().flatten().tolist()
                sub = {
                    k: [v[i] for i in rows] if isinstance(v, list) else v[keep]
                    for k, v in view.items()
                    if isinstance(v, list | torch.Tensor) and len(v) == b
                }
                got = self.teachers[t].sampled(ids[keep], labels[keep], sub) if rows else {}
                for k, v in got.items():  # the other rows: no ids, nothing paired
                    empty = -1 if k in ("xtok_pos", "teacher_ids") else 0
                    full = v.new_full((b, *v.shape[1:]), empty)
                    full[keep] = v
                    got[k] = full
            out.update({_prefix(t) + k: v for k, v in got.items()})
        return out

    def _one(self, trainer: Any, t: int, inputs: Any, mask: Any, pos: Any, chunk: int) -> Any:
        """Teacher t's (rows, pair) on these rows, as a run with it alone computes them (its
        own columns as its run has them: another tokenizer's, its own prompt's)."""
        if t in self.xtok:  # another tokenizer: its own ids and aligned positions (xtok.py)
            from distill.train.kd.loss import lm_head

            return self.teachers[t].rows(_view(inputs, t), mask, chunk, lm_head)
        me = _As(trainer, self.teachers[t])
        return type(trainer)._teacher_rows(me, _view(inputs, t), mask, pos, chunk)

    def rows(self, trainer: Any, inputs: Any, mask: Any, pos: Any, chunk: int) -> tuple[tuple, Any]:
        """(rows, loss) in the shape DistillTrainer._teacher_rows gives the chunked loss: rows are
        the per-position weights [N, T] and each scoring teacher's own rows; loss(logits, temp,
        *rows, gate=None) is the weighted sum of the teachers' divergences over those positions."""
        import torch

        from distill.teachers.scorers import ServedTeacher
        from distill.train.kd.loss import divergence

        ids = inputs["input_ids"]
        n_teachers = len(self.teachers)
        row_of = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(mask)[mask]
        if self.routed:
            route = inputs["teacher_route"].to(ids.device)
            w = torch.nn.functional.one_hot(route[row_of], n_teachers).float()
        else:
            w = torch.tensor([s.weight for s in self.specs], device=ids.device)
            w = w.expand(row_of.shape[0], n_teachers)
        flat: list[Any] = []
        parts: list[tuple[int, int, Any]] = []  # per teacher: its rows' slice of flat, its pair
        counts = torch.zeros(2, n_teachers, dtype=torch.long, device=ids.device)  # tokens, aligned
        # the positions any teacher scored (the run's teacher_tokens_scored: a routed teacher's
        # end-of-turn tokens it has no row for, kd/data.own_end, are none of them)
        scored = torch.zeros(row_of.shape[0], dtype=torch.bool, device=ids.device)
        for t, teacher in enumerate(self.teachers):
            on = w[:, t] > 0
            if teacher is None or not on.any():
                parts.append((0, 0, None))
                continue
            xtok = t in self.xtok
            if self.routed and not on.all():  # only its examples go through it
                keep = route == t
                p = _prefix(t)
                names = ("input_ids", "attention_mask", "labels")
                names += tuple(k for k in inputs if k.startswith(p) and _own(k[len(p) :]))
                sub = {k: inputs[k][keep] for k in names if hasattr(inputs[k], "shape")}
                t_rows, pair = self._one(trainer, t, sub, mask[keep], pos[keep], chunk)
                spread = []
                for r in t_rows:  # back to every position of the batch (zeros: never read)
                    full = r.new_zeros((row_of.shape[0], *r.shape[1:]))
                    full[on] = r
                    spread.append(full)
                t_rows = tuple(spread)
                if getattr(pair, "none", None) is not None:
                    pair.none = torch.zeros_like(on).masked_scatter(on, pair.none)
            else:
                t_rows, pair = self._one(trainer, t, inputs, mask, pos, chunk)
            none = getattr(pair, "none", None)
            if none is not None:  # positions it has no row for (kd/data.own_end): weight 0
                w = w.clone()
                w[:, t] = w[:, t].masked_fill(none, 0.0)
                on = w[:, t] > 0
            if trainer.model.training:
                got = on
                if isinstance(teacher, ServedTeacher):  # the positions it listed
                    got = on & ~(t_rows[0] < 0).all(-1)
                counts[0, t] = got.sum()
                scored |= got
                if xtok:  # the positions it aligned (a top-K teacher: any listed entry)
                    local = t_rows[1].dtype == torch.bool
                    paired = t_rows[1] if local else (t_rows[0] != -1).any(-1)
                    counts[1, t] = (paired & on).sum()
            if xtok:
                pair.xtok = True  # its loss takes the weights itself
            parts.append((len(flat), len(flat) + len(t_rows), pair))
            flat.extend(t_rows)
        if trainer.model.training:
            self._count(trainer, counts)
        beta = 0.0 if self.cfg.method == "kd" else self.cfg.beta

        # gate: the trainer's per-position weight of the teacher term (--gate-teacher; else 1)
        def loss(logits: Any, temp: float, w: Any, *flat: Any, gate: Any = None) -> Any:
            if gate is not None:
                w = w * gate[:, None]
            total = None
            for t, (lo, hi, pair) in enumerate(parts):
                on = w[:, t] > 0
                if pair is None or not on.any():
                    continue
                if getattr(pair, "xtok", False):  # its aligned positions alone, weighted
                    part = pair(logits, temp, *flat[lo:hi], weight=w[:, t])
                elif bool(on.all()):  # the positions as they are: a weight of 1 is a lone teacher
                    s_lp, t_lp = pair(logits, temp, *flat[lo:hi])
                    part = (divergence(s_lp, t_lp, beta) * w[:, t]).sum()
                else:
                    s_lp, t_lp = pair(logits[on], temp, *(r[on] for r in flat[lo:hi]))
                    part = (divergence(s_lp, t_lp, beta) * w[on, t]).sum()
                total = part if total is None else total + part
            return logits.sum() * 0.0 if total is None else total

        if trainer.model.training:
            loss.scored = scored.sum()  # type: ignore[attr-defined]
        scoring = [t for t, part in enumerate(parts) if part[2] is not None]
        if len(scoring) == 1 and bool((w[:, scoring[0]] == 1).all()):
            lo, _, pair = parts[scoring[0]]
            if hasattr(pair, "local"):  # a lone local teacher: the trainer's fused loss, as alone
                loss.local = (1 + lo, *pair.local[1:])  # type: ignore[attr-defined]
        return (w, *flat), loss

    def _count(self, trainer: Any, counts: Any) -> None:
        """Add one micro-batch's [tokens, aligned] per teacher, every process's (DDP: each
        trains its own rows; every process computes its loss here, so each gathers)."""
        if trainer.accelerator.num_processes > 1:
            counts = trainer.accelerator.gather(counts[None]).reshape(-1, *counts.shape).sum(0)
        tokens, aligned = counts.tolist()
        self.tokens = [a + b for a, b in zip(self.tokens, tokens, strict=True)]
        self.aligned = [a + b for a, b in zip(self.aligned, aligned, strict=True)]

    def counts(self) -> tuple[list[int], list[int]]:
        """(tokens, aligned) per teacher, live (a copy: KDState keeps the last step's)."""
        return list(self.tokens), list(self.aligned)

    def state(
        self, scored: int, counts: tuple[list[int], list[int]] | None = None
    ) -> dict[str, Any]:
        """kd.json's per-teacher lines: model, server, weight or route, tokens scored and share;
        `counts`: (tokens, aligned) as of the same step as `scored` (default: the live ones)."""
        out = []
        tokens, aligned = counts or self.counts()
        for i, (spec, n) in enumerate(zip(self.specs, tokens, strict=True)):
            entry: dict[str, Any] = {"model": spec.name, "url": redact_urls(spec.url)}
            if self.routed:
                entry["route"] = f"{self.cfg.teacher_route_field} = {spec.name} or {i}"
            else:
                entry["weight"] = round(spec.weight or 0.0, 6)
            entry["tokens_scored"] = n
            entry["share"] = round(n / scored, 4) if scored else None
            if i in self.xtok:  # another tokenizer: the share of its tokens it compared
                x = self.teachers[i]
                entry.update(
                    xtok=x.kind,
                    teacher_vocab=x.t_vocab,
                    shared_tokens=x.shared,
                    aligned_tokens=aligned[i],
                    aligned_share=round(aligned[i] / n, 4) if n else None,
                )
            own = self.own.get(i)
            if own:  # the rows it read after its own chat template's prompt (as kd.json alone)
                entry["teacher_own_prompt"] = {"rows": own["own"], "of": own["rows"]}
                if own.get("student"):  # rows its template refuses: read in the student's
                    entry["teacher_own_prompt"]["read_in_students"] = own["student"]
                if own.get("end"):  # its own end of turn after each completion (data.own_end)
                    entry["teacher_end_of_turn"] = own["end"]
            out.append(entry)
        return {"teacher_route_field": self.cfg.teacher_route_field, "teachers": out}

    def restore(self, state: dict[str, Any]) -> None:
        """A resumed run goes on counting from the saved per-teacher tokens."""
        for i, entry in enumerate(state.get("teachers") or []):
            if i < len(self.tokens):
                self.tokens[i] = int(entry.get("tokens_scored") or 0)
                self.aligned[i] = int(entry.get("aligned_tokens") or 0)


def card_lines(train: Any, state: dict[str, Any] | None) -> list[str]:
    """The model card's line per teacher (kd/__init__.card_lines, several teachers)."""
    specs = teacher_specs(train)
    saved = {i: e for i, e in enumerate((state or {}).get("teachers") or [])}
    field = train.teacher_route_field
    how = (
        f"each example routed by its `{field}` column to one teacher"
        if field
        else "the weighted sum of their divergences at every completion token"
    )
    lines = [f"Teachers ({len(specs)}; {how}):"]
    for i, spec in enumerate(specs):
        where = f"served at {redact_urls(spec.url)}" if spec.url else "local"
        rule = (
            f"`{field}` = `{spec.name}` or {i}"
            if field
            else f"weight {spec.weight:.3f}"
            if spec.weight is not None
            else "weight ?"
        )
        share = saved.get(i, {}).get("share")
        scored = saved.get(i, {}).get("tokens_scored")
        tail = (
            f", scored {scored:,} completion tokens ({share:.1%})"
            if scored is not None and share is not None
            else ""
        )
        xtok = saved.get(i, {}).get("xtok")
        if xtok:
            aligned = saved[i].get("aligned_share")
            tail += (
                f"; another tokenizer (--xtok {xtok}): compared at "
                f"{'?' if aligned is None else f'{aligned:.1%}'} of them (the boundaries both "
                "tokenizations share), nothing from it elsewhere"
            )
        own = saved.get(i, {}).get("teacher_own_prompt")
        if own:
            tail += (
                f"; read each completion after its own chat template's prompt "
                f"({own.get('rows', 0):,} of {own.get('of', 0):,} rows rendered otherwise than "
                "the student's)"
            )
            if own.get("read_in_students"):
                tail += f", {own['read_in_students']:,} rows its template refuses in the student's"
        end = saved.get(i, {}).get("teacher_end_of_turn")
        if isinstance(end, dict):
            tail += f"; {end_line(end, train, (own or {}).get('read_in_students') or 0)}"
        lines.append(f"- `{spec.name}` ({where}): {rule}{tail}")
    return lines


def end_line(end: dict[str, Any], train: Any = None, in_students: int = 0) -> str:
    """The card's words for kd.json's teacher_end_of_turn (kd/data.own_prompt_dataset) in a
    run of `train`'s settings: after a kept completion the teacher read its own end (own_end),
    after a sample on policy the end the student sampled (own_sampled), and in the
    `in_students` rows read in the student's rendering the student's (its end token compared as
    it is there)."""
    from distill.train.kd.data import kept_traces

    line = (
        f"its template ends a turn with {end.get('teacher')!r} where the student's writes "
        f"{end.get('student')!r}: "
    )
    if getattr(train, "method", "kd") == "onpolicy":
        line += "it read the end of turn the student sampled after each of its samples"
        if kept_traces(train):
            line += " and its own after each kept completion (the batches on the kept traces)"
    else:
        line += "it read its own after each completion"
    if in_students:
        line += f", the student's in the {in_students:,} rows read in the student's rendering"
    pair = end.get("pair")
    if end.get("paired"):
        if isinstance(pair, list) and len(pair) == 2:  # (past a first token both spell alike)
            line += f", its {pair[1]!r} compared as the student's {pair[0]!r}"
        else:
            line += ", its first end token compared as the student's"
        if in_students:
            line += " in the others"
    return line


class XTokCollators:
    """The kd Collator's batch + each teacher's own columns (its collator's, under its prefix:
    another tokenizer's, or its own prompt's) + each row's route where routed."""

    def __init__(self, pad_id: int, each: dict[int, Any], routed: bool):
        from distill.train.kd.data import Collator

        # each: teacher index -> its own collator (XTokCollator; a served one's TextCollator;
        # the Collator of a teacher reading its own prompt)
        self.base, self.each, self.routed = Collator(pad_id), each, routed

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        mine = [{k: v for k, v in f.items() if not _teachers_own(k)} for f in feats]
        batch = self.base(mine)
        for t, collate in self.each.items():
            p = _prefix(t)
            own = [
                m | {k[len(p) :]: v for k, v in f.items() if k.startswith(p)}
                for m, f in zip(mine, feats, strict=True)
            ]
            got = collate(own)
            batch.update({p + k: v for k, v in got.items() if _own(k)})
        if self.routed:
            batch["teacher_route"] = torch.tensor([f["teacher_route"] for f in feats])
        return batch
