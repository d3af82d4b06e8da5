"""Judge: an LLM scores each trace 1-10 with a reason, from the rubric in prompts/judge.txt.

    distill select kept.jsonl --out sel.jsonl --judge M --judge-base-url http://127.0.0.1:8000/v1 --min-score 7

Requests go through generate's openai teacher (same client, concurrency, retries). Each reply
is appended to a cache file the moment it arrives, keyed by a hash of (trace id, judge server
and model, rubric, the request's text), so a killed or repeated run pays only for traces not yet judged,
and a trace whose text changed under the same id is judged again; a reply cut off at
--judge-max-tokens is asked again under a larger one, a finished reply is not. Replies
are parsed when read (`parse_score`): one with no score in 1-10 is dropped and counted, never
a crash; a request that failed after its retries is not cached: the run stops and the next
asks again. One the server refuses for its content (HTTP 400/413/422: a trace longer than the
judge's context) leaves that trace judge_no_score, counted in `refused`, with a note.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from distill.errors import DistillError

# "Score: 8", "**Score:** 8/10", "rating = 7", {"score": 9, ...}, "8/10", "8 out of 10"
# The separators before the number are matched lazily, so "Score: -2" keeps its sign (and is
# dropped) instead of the "-" being read as a separator and the score as 2; a scale after the
# number is captured: "8/100" or "4/5" is not a score out of 10 and is dropped, not misread.
# The rubric's range is no score: a label may name it ("Score (1-10): 8", "Rating 1-10: 7",
# "Score (out of 10): 8"; the number may be bracketed, "Score: [8]", "Score: (8)"),
# and a number that starts a range ("a rating 1-10 scale", "score 1 to 10") is skipped, never
# read as a score of 1.
_SCALE = r"(?:\s*[(\[]?\s*(?:1\s*(?:-|\u2013|to)|/|out\s+of)\s*10(?![\d.])\s*[)\]]?)?"
# A number followed by a dash and another is captured with it: a range when the other is larger
# ('1-10', '4 to 5'), skipped; a count otherwise ('Score: 9 - 1 minor typo'), read as the score.
_NUMBER = (
    r"(?P<n>-?\d+(?:\.\d+)?)(?!\.?\d)"
    r"(?:(?=\s*(?:-|\u2013|to\b)\s*(?P<to>\d+(?:\.\d+)?)))?"
)
_LABELLED = re.compile(
    r"(?i)\b(?:score|rating|grade)\b"
    + _SCALE
    + r"[\s*_:=\"'\-]*?(?:is\s*)?[\s*_:=\"']*(?P<open>(?:\[\[|[(\[])\s*)?"
    + _NUMBER
    + r"(?:\s*(?:/|out\s+of)\s*(?P<scale>\d+(?:\.\d+)?))?"
    + r"(?(open)\s*(?:\]\]|[)\]]))"  # "Score: [8]", "(8)", MT-Bench's "Rating: [[8]]"
)
_OUT_OF_TEN = re.compile(r"(?<![\d.])(-?\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*10\b")
# The rubric's own last line, "Score: N" (bold, a "/10" after it, "Final score" allowed): a line
# that is nothing else. It is the verdict even when a remark after it names another score
# ("Score: 8\n\nI did not give a score 10 because ..."). "Verdict: 8", "Final mark: 8" as well, a
# line of their own (they were no score).
_RUBRIC_LINE = re.compile(
    r"(?im)^[ \t>#*_-]*(?:final\s+|overall\s+)?(?:score|verdict|mark)"
    + _SCALE
    + r"[*_ \t]*[:=][*_ \t]*"
    r"(?P<open>[(\[][ \t]*)?(?P<n>-?\d+(?:\.\d+)?)(?:\s*/\s*(?P<scale>\d+(?:\.\d+)?))?"
    r"(?(open)[ \t]*[)\]])[*_ \t.]*$"
)
# "The trace gets a score of 8." in prose, read only when no labelled score or "N/10" is there,
# and not where the sentence says the trace does not get it ("not a score of 10", "would need a
# score of 9", "short of a score of 10"): a remark naming another score never wins.
_SCORE_OF = re.compile(
    r"(?i)\bscore\s+of\s+(?P<n>-?\d+(?:\.\d+)?)(?![\d.]*\d)"
    r"(?:\s*(?:/|out\s+of)\s*(?P<scale>\d+(?:\.\d+)?))?"
)
_NOT_GIVEN = re.compile(
    r"(?i)\b(?:not|no|never|nor|without|would|could|might|should|if|than|rather|instead|"
    r"short|need|needs|needed|deserve\s+more|lacks?)\b|n't\b"
)
# A reply that is the number alone ("8", "**8**", "10."), as a judge asked for the score only
# writes it: no label to find, and it was dropped as no score. The whole number: "10" is 10.
_BARE = re.compile(
    r"[\s*_]*(?P<open>\[\[|[(\[])?(?P<n>-?\d+(?:\.\d+)?)(?(open)(?:\]\]|[)\]]))[\s*_.]*"
)
# A reply that gives its reasons and then the number alone on its last line ("The steps are
# clear and correct.\n8"), as judges given the rubric often end: the score, where the reasons
# ended a sentence before it. A number that goes on with the text before it ("The trace's final
# answer is\n8", "2 + 6 =\n8", "...:\n8") or sits in a code block, display maths or a quote
# is the text's own, no score.
_LAST_LINE = re.compile(
    r"\n[ \t]*[*_]*(?P<open>[(\[])?(?P<n>-?\d+(?:\.\d+)?)(?(open)[)\]])[*_ \t.]*\Z"
)
_SENTENCE_ENDED = re.compile(r"[.!?。！？][*_\"'”’)\]]*\Z")
# Where the last line is no score after all: the next marker of a numbered list ("1. ...\n2.
# ...\n3."), the number the reasons' last sentence ends with ("The trace's answer is 8.\n8", a
# quote of it), or a scale other than 1-10 named in the reasons ("4 out of 5", "a 1-5 scale",
# "a 100-point scale"): each was read as the score.
_LIST_ITEM = re.compile(r"^[ \t>*_-]*(?P<n>\d+)[.)][ \t]")
# A sub-score on a line of its own ("- correctness: 4/5", "**Clarity**: 5", "2. Depth - 3 out of
# 5"): where two or more of them stand right above the last line's number, it is the overall score
# the usual judge prompts ask for after them (it was no score: the line before it ended no
# sentence). One no larger than a sub-score's own scale other than 10 may be on that scale, as
# "I would rate this 4 out of 5.\n4" is: no score.
_SUBSCORE_LINE = re.compile(
    r"[ \t>*_-]*(?:\d+[.)][ \t]*)?[*_]*(?P<label>[A-Za-z][A-Za-z /&'-]{0,40}?)[*_]*[ \t]*"
    r"[:=\-\u2013][ \t]*"
    r"[*_]*(?P<n>\d+(?:\.\d+)?)(?:[ \t]*(?:/|out[ \t]+of)[ \t]*(?P<of>\d+(?:\.\d+)?))?[*_ \t.]*"
)
# A line of that shape that is no sub-score: a variable's value ("x = 2"), an answer or count the
# judge quotes ("Trace answer: 3", "Reference answer: 3", "Errors: 0"): the number after such
# lines was read as the score (it was none before).
_NOT_A_CRITERION = re.compile(
    r"(?i)\A[a-z]\Z|\b(?:answers?|results?|gold|reference|expected|values?|outputs?|solutions?"
    r"|totals?|sums?|counts?|numbers?|errors?|mistakes?|steps?|lines?|items?|[a-z])\Z"
)


def _not_a_criterion(m: re.Match) -> bool:
    """Whether a `_SUBSCORE_LINE` is a value quoted (`_NOT_A_CRITERION`), not a sub-score. One
    on a scale ("- Final answer: 5/5", "Reasoning steps: 8/10", "Efficiency of solution: 7 out
    of 10") is a rubric's criterion whatever it is named, but a variable's ("x = 3/4")."""
    label = m.group("label").strip(" /&'-")
    if m.group("of") is not None:
        return len(label) == 1
    return _NOT_A_CRITERION.search(label) is not None


_ENDS_WITH_NUMBER = re.compile(
    r"(?<![\d.])(?P<n>-?\d+(?:\.\d+)?)[*_ \t]*[.!?。！？][*_\"'”’)\]]*\Z"
)
_OTHER_SCALE = re.compile(
    r"(?i)\b(?:(?:rat|scor|grad)(?:e|es|ed|ing)|(?:giv(?:e|es|ing)|award\w*|mark(?:s|ed)?)\s+"
    r"(?:it|this|the\s+trace))\b[^.\n]{0,40}?"
    r"(?<![\d.])\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*(?P<of>\d+)(?!\.?\d)"
    r"|\bscale\s+(?:of|from)\s+[01]\s*(?:-|\u2013|to)\s*(?P<to>\d+)(?!\.?\d)"
    r"|\b[01]\s*(?:-|\u2013|to)\s*(?P<range>\d+)(?!\.?\d)[- ]?(?:point\s+)?scale\b"
    r"|\b(?P<points>\d+)[- ]point\s+scale\b"
)
# A last sentence that gives the score it ends with ("I would rate it an 8.\n8", "This trace
# deserves a 9.\n9", "Final verdict: 9.\n9"): the line after it says it again (it was no score).
_GIVES = re.compile(
    r"(?i)\b(?:rat(?:e|es|ed|ing)|scor(?:e|es|ed|ing)|grad(?:e|es|ed|ing)|verdict|mark"
    r"|deserv(?:e|es|ing)|earn(?:s|ed|ing)?|(?:giv(?:e|es|ing)|award(?:s|ed|ing)?"
    r"|assign(?:s|ed|ing)?)\s+(?:it|this|(?:the|this)\s+(?:trace|solution|response|answer)))\b"
    r"[^.!?\n]{0,30}\Z"
)
_THINK = re.compile(r"(?s)<think>.*?</think>")
_LONE_CLOSE = re.compile(r"(?m)^[ \t]*</think>")  # a close tag on a line of its own
_LONE_OPEN = re.compile(r"(?m)^[ \t]*<think>")  # an open tag starting a line
# A request the server refuses for what it holds (longer than the judge's context, 413, 422):
# every rerun gets the same answer, so the trace is left unscored instead of stopping the run.
REFUSED = ("HTTP 400:", "HTTP 413:", "HTTP 422:")


def parse_score(text: str | None, cut_off: bool = False) -> tuple[float | None, str]:
    """A judge reply -> (score in [1, 10] or None, reason). The last labelled score wins (a
    judge may quote the rubric's scale first); a JSON object with "score" is read as such.
    `cut_off`: the judge's max tokens cut the reply off (finish_reason "length"), so its last
    line is where it stopped, no score alone ("...\n7" of "7 steps follow")."""
    if not isinstance(text, str) or not text.strip():
        return None, ""
    body = _THINK.sub("", text).strip()
    if "</think>" in body:  # a template that opened <think> itself (R1): its thinking comes first
        ends = list(_LONE_CLOSE.finditer(body))
        if ends:  # the tag on a line of its own, as reasoning models close their thinking
            body = body[ends[-1].end() :].strip()
        else:
            # Inside a line: the thinking's end ("... so 8.</think>"), or the verdict quoting a
            # trace's stray tag ({"score": 4, "reason": "leaks a </think>"}): the text after
            # it is the verdict only when it holds one.
            after = body.rsplit("</think>", 1)[1].strip()
            if _has_score(after):
                body = after
    if _LONE_OPEN.search(body):  # an unclosed think block: cut off before any verdict
        return None, ""  # (a tag inside a line is the verdict quoting a trace's: read on)
    obj = _json_verdict(body)
    if obj is not None:
        reason = obj.get("reason") or obj.get("explanation") or ""
        return _in_range(obj.get("score")), str(reason).strip()[:500]
    hits = list(_RUBRIC_LINE.finditer(body))
    hits = hits or [m for m in _LABELLED.finditer(body) if not _starts_range(m)]
    hits = hits or list(_OUT_OF_TEN.finditer(body))
    hits = hits or [m for m in _SCORE_OF.finditer(body) if _given(body, m)]
    if hits and not cut_off and hits[0].re is not _RUBRIC_LINE:
        # "- correctness: 8/10\n- clarity: 7/10\n8": the scores found are the sub-scores, the
        # last line the overall score after them (the clarity's 7 was read)
        line = _last_line(body)
        if line is not None:
            subscores, top = _subscores(body[: line.start()].rstrip())
            if len(subscores) > 1 and all(h.start() >= top for h in hits):
                return _in_range(line.group("n")), body[: line.start()].strip("* \n")[:500]
    if not hits and (bare := _BARE.fullmatch(body)) is not None:
        return _in_range(bare.group("n")), ""
    if not hits and not cut_off and (line := _last_line(body)) is not None:  # "Correct.\n8"
        return _in_range(line.group("n")), body[: line.start()].strip("* \n")[:500]
    if not hits:
        return None, ""
    last = hits[-1]
    reason = (body[: last.start()] + body[last.end() :]).strip()
    reason = re.sub(r"(?i)^\s*(?:reason(?:s|ing)?|explanation)\s*:\s*", "", reason)
    scale = last.group("scale") if last.re is not _OUT_OF_TEN else None
    if scale is not None and float(scale) != 10:
        return None, reason.strip("* \n")[:500]
    value = last.group("n") if "n" in last.re.groupindex else last.group(1)
    return _in_range(value), reason.strip("* \n")[:500]


def _json_verdict(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` with a "score" key (a judge's {"score": 8, "reason": ..})."""
    for m in re.finditer(r"\{[^{}]*\}", text):
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict) and "score" in obj:
            return obj
    return None


def _last_line(text: str) -> re.Match | None:
    """The last line of `text` when it is a number alone after reasons that ended a sentence,
    outside a code block, display maths and a quote (`_LAST_LINE`), and not the next item of a
    list, the number the reasons ended with or one on another scale; None otherwise."""
    m = _LAST_LINE.search(text)
    if m is None:
        return None
    before = text[: m.start()].rstrip()
    line = before.rsplit("\n", 1)[-1]
    opened = (
        before.count("```") % 2
        or before.count("$$") % 2
        or before.count("\\[") > before.count("\\]")
        or before.count("\\begin{") > before.count("\\end{")
    )
    # a line right after a quote's goes on with it (markdown); after a blank line it does not
    quoted = line.lstrip().startswith(">") and not re.search(
        r"\n[ \t]*\n[ \t]*\Z", text[: m.start() + 1]
    )
    n = float(m.group("n"))
    subscores = _subscores(before)[0]
    if opened or quoted or not (_SENTENCE_ENDED.search(line.rstrip()) or len(subscores) > 1):
        return None
    if any(
        s.group("of") and float(s.group("of")) != 10 and n <= float(s.group("of"))
        for s in subscores
    ):
        return None  # "- correctness: 4/5\n- clarity: 5/5\n4": maybe on their scale of 5
    item = _LIST_ITEM.match(line)
    if item is not None and n == int(item.group("n")) + 1:
        return None  # "1. ...\n2. ...\n3.": the list's next item, cut off or not begun
    said = _ENDS_WITH_NUMBER.search(before)
    if (
        said is not None
        and float(said.group("n")) == n
        and not _GIVES.search(before, max(0, said.start() - 80), said.start())
    ):
        return None  # 'The trace's last line reads "x = 2."\n2': the text's own number
    for scale in _OTHER_SCALE.finditer(before):
        named = next(g for g in scale.group("of", "to", "range", "points") if g is not None)
        if float(named) != 10 and n <= float(named):
            return None  # "I would rate this 4 out of 5.\n4": not out of 10
    return m


def _subscores(before: str) -> tuple[list[re.Match], int]:
    """The sub-score lines (`_SUBSCORE_LINE`) that end `before`, the last first, and where the
    first of them starts."""
    out, start = [], len(before)
    for line in reversed(before.split("\n")):
        m = _SUBSCORE_LINE.fullmatch(line.rstrip())
        if m is None or _not_a_criterion(m):
            break
        out.append(m)
        start -= len(line) + 1
    return out, max(start + 1, 0)


def _has_score(text: str) -> bool:
    """Whether `text` holds a verdict parse_score would read: a JSON "score", or a score."""
    if _json_verdict(text) is not None:
        return True
    labelled = any(not _starts_range(m) for m in _LABELLED.finditer(text))
    given = any(_given(text, m) for m in _SCORE_OF.finditer(text))
    # the number alone, as parse_score reads it (a reasoning judge's "...so 8.</think>\n\n8")
    bare = _BARE.fullmatch(text.strip())
    alone = bare is not None and _in_range(bare.group("n")) is not None
    line = _last_line(text.strip())
    last = line is not None and _in_range(line.group("n")) is not None
    return labelled or given or alone or last or bool(_OUT_OF_TEN.search(text))


def _given(text: str, m: re.Match) -> bool:
    """A "score of N" its sentence gives the trace (not "not a score of 10", "would need ...")."""
    start = max(text.rfind(c, 0, m.start()) for c in ".!?;:,\n") + 1
    return _NOT_GIVEN.search(text, start, m.start()) is None


def _starts_range(m: re.Match) -> bool:
    """A labelled number that starts a range ('a rating 1-10 scale'): the rubric's, no score."""
    return m.group("to") is not None and float(m.group("to")) > float(m.group("n"))


def _in_range(value: Any) -> float | None:
    if isinstance(value, bool):  # {"score": true} is no score (float(True) would be 1.0)
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 1 <= score <= 10 else None


def judge_id(
    trace_id: str,
    model: str,
    template_sha: str,
    max_tokens: int | None,
    content: str,
    url: str | None = None,
) -> str:
    """The cache key of one judge request: the trace, the judge (its server's `url`, judge_url,
    and the model name it serves), the rubric, and the request's text itself (a trace rewritten
    under the same id, e.g. traces generated again with the same teacher and params, is judged
    again instead of given the old text's score). `max_tokens` None: not part of the key (a
    reply that finished is the same under another cap; one cut off is asked again under a
    larger one: `usable`); an int: the keys written before. `url` None: the keys written
    before the server was one (two servers serving two models under one name shared replies)."""
    from distill.records import stable_hash

    key = {
        "trace": trace_id,
        "judge": model,
        "template": template_sha,
        "max_tokens": max_tokens,
        "content": stable_hash(content, 32),
    }
    if max_tokens is None:
        del key["max_tokens"]
    if url is not None:
        key["url"] = url
    return stable_hash(key)


def judge_url(base_url: str | None) -> str:
    """The judge's server as its cache keys name it: the URL without its user:password@, query
    and fragment (a key rotated is the same server; none of it is written to the cache), and
    without a trailing slash; OpenAI's API when none is given."""
    from distill.teachers.openai import OPENAI_URL
    from distill.urls import redact_url

    return redact_url(base_url or OPENAI_URL).rstrip("/")


# The cache's record saying whose the replies cached before judge_url keyed them are: the
# server the select run that wrote them last asked (its saved select.yaml), or null, unknown.
# One per judge model (legacy_id): the cache holds every judge's replies, each of its own server.
LEGACY = "replies-before-judge-url"


def legacy_id(model: str) -> str:
    """The cache's LEGACY record of the replies judge `model` gave before the server was in
    the key. One record for the whole cache took the server of one model's select.yaml for
    every model's: another model's replies, of another server, were given to that one."""
    return f"{LEGACY} {model}"


def legacy_url(cfg: Any, cache: Path) -> str | None:
    """The one server the cache's replies of the keys before (no server in them) may be used
    for, or None: no server is certain. Decided once, by the first run that meets such a reply,
    and kept in the cache (legacy_id): the judge_base_url of the select.yaml beside --out, which
    the run before wrote, when it asked this judge model into this cache (on these traces);
    else none (the replies are asked again: they may be those of any server that served this
    name). Every later run keeps that decision (a run with another server rewrites select.yaml,
    never whose those replies are)."""
    import yaml

    from distill.select.config import config_path

    try:
        saved = yaml.safe_load(config_path(cfg).read_text())
    except (OSError, yaml.YAMLError):
        saved = None
    url = None
    if isinstance(saved, dict) and saved.get("judge") == cfg.judge and _caches_into(saved, cache):
        base = saved.get("judge_base_url")
        url = judge_url(base) if base is None or isinstance(base, str) else None
    return url


def _caches_into(saved: dict[str, Any], cache: Path) -> bool:
    """Whether the select run a saved select.yaml is of judged into `cache`: the cache is named
    after the input, so the select.yaml beside --out may be that of a run on other traces (its
    server says nothing of whose this cache's replies are)."""
    from types import SimpleNamespace

    from distill.records import same_file
    from distill.select.config import cache_path

    keys = ("input", "out", "cache_dir")
    if not all(isinstance(saved.get(k), (str, type(None))) for k in keys):
        return False
    if not (saved.get("input") and saved.get("out")):
        return False
    return same_file(cache_path(SimpleNamespace(**{k: saved.get(k) for k in keys}), "judge"), cache)


def usable(reply: dict[str, Any], max_tokens: int) -> bool:
    """Whether a cached reply answers a request capped at `max_tokens`: one the judge finished,
    one cut off that still gave its score (its trace was scored: asking again re-pays it), or
    one cut off at no fewer tokens (asked again with more, the judge may finish)."""
    if reply.get("finish_reason") != "length":
        return True
    if parse_score(reply.get("text"), cut_off=True)[0] is not None:
        return True
    cap = reply.get("max_tokens")
    return isinstance(cap, int) and cap >= max_tokens


def prompt_text(rec: dict[str, Any]) -> str:
    """The problem as the teacher saw it: its user turns."""
    return "\n".join(
        str(m.get("content") or "") for m in rec.get("messages") or [] if m.get("role") == "user"
    )


class _Cache:
    """Sink for the teacher: each judge reply appended to the cache as it arrives."""

    def __init__(self, writer: Any, max_tokens: int, url: str):
        self.writer, self.max_tokens, self.url = writer, max_tokens, url
        self.failures: list[str] = []
        self.refused: list[str] = []  # not cached: asked again (unbilled) by the next run
        self.timeouts = 0  # requests with no reply in time: their cost unknown

    def done(self, job: Any, sample: int, c: Any) -> None:
        from distill.manifest import kill_point

        jid, trace_id = job.payload
        self.writer.write(
            {
                "id": jid,
                "trace_id": trace_id,
                "text": c.text,
                "reasoning": c.reasoning,
                "finish_reason": c.finish_reason,
                "max_tokens": self.max_tokens,
                "base_url": self.url,  # judge_url: no credential of it
                "usage": {
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                },
            }
        )
        kill_point(f"select:judged:{self.writer.written}")  # tests kill a run here

    def failed(self, job: Any, sample: int, why: str, usage: Any = None) -> None:
        (self.refused if why.startswith(REFUSED) else self.failures).append(
            f"{job.payload[1]}: {why}"
        )

    def timed_out(self, job: Any, samples: list[int]) -> None:
        """A request that got no reply in time (it `failed` too): counted, and a line of its
        own in the cache, so the report of the run that asks it again says it."""
        from distill.generate.stage import timed_out_line

        self.timeouts += 1
        self.writer.write(timed_out_line(job.payload[1], [job.payload[0]]))


def score_traces(cfg: Any, wanted: set[str], cache: Path) -> tuple[dict[str, tuple], dict]:
    """Judge every trace of cfg.input whose id is in `wanted` -> ({trace id: (score, reason)}
    for the parsed ones, stats). Cached replies are reused; only the rest are requested."""
    if getattr(cfg, "judge_backend", "openai") == "reward":
        from distill.select.reward import score_traces as reward_scores

        return reward_scores(cfg, wanted, cache)
    from distill.generate import TeacherConfig
    from distill.generate.stage import timed_out_in
    from distill.records import RecordWriter, read_records
    from distill.teachers import TEACHERS, Job
    from distill.templates import load_template

    template = load_template(cfg.judge_template)
    if not {"reasoning", "answer"} & set(template.placeholders):
        raise DistillError(
            f"--judge-template {cfg.judge_template}: names neither {{reasoning}} nor {{answer}}: "
            "the judge would not see the trace"
        )
    replies: dict[str, dict[str, Any]] = {}
    if cache.exists():
        for rec in read_records(cache, required=("id",)):
            replies[rec["id"]] = rec
    # Two servers serving two models under one name are two judges: the server is in the key.
    # The replies cached before it was are used only for the one server they are known to be
    # of (legacy_url; kept in the cache the first time it is decided).
    url = judge_url(cfg.judge_base_url)
    legacy: list[bool] = []  # [whether they are this server's], once a run meets one

    def ours(reply: dict[str, Any]) -> bool:
        """A reply of a key before the server was in it is this server's: it says so (its
        base_url), or the cache's LEGACY record does."""
        if "base_url" in reply:
            return reply["base_url"] == url
        if not legacy:
            lid = legacy_id(cfg.judge)
            if lid not in replies:
                replies[lid] = {"id": lid, "base_url": legacy_url(cfg, cache)}
                with RecordWriter(cache) as writer:
                    writer.write(replies[lid])
            legacy.append(replies[lid].get("base_url") == url)
        return legacy[0]

    jobs, ids = [], {}
    for rec in read_records(cfg.input, required=("id",)):
        tid = str(rec["id"])
        if tid not in wanted:
            continue
        context = {
            **{
                k: v for k, v in (rec.get("meta") or {}).items() if isinstance(v, (str, int, float))
            },
            "problem": prompt_text(rec),
            "reasoning": rec.get("reasoning") or "(none)",
            "answer": rec.get("answer") or "",
            "gold": rec.get("gold") if rec.get("gold") is not None else "(none)",
        }
        content = template.render(context, where=f"trace {tid}")
        jid = judge_id(tid, cfg.judge, template.sha256, None, content, url)
        ids[tid] = jid
        if jid in replies and usable(replies[jid], cfg.judge_max_tokens):
            continue
        # cached before the server was in the key (and before the cap left it: the same
        # request, the same cap)
        old = judge_id(tid, cfg.judge, template.sha256, None, content)
        if old in replies and usable(replies[old], cfg.judge_max_tokens) and ours(replies[old]):
            ids[tid] = old
            continue
        old = judge_id(tid, cfg.judge, template.sha256, cfg.judge_max_tokens, content)
        if old in replies and ours(replies[old]):
            ids[tid] = old
            continue
        jobs.append(Job(tid, [{"role": "user", "content": content}], [0], payload=(jid, tid)))
    requests = 0
    refused: list[str] = []
    if jobs:
        tcfg = TeacherConfig(
            teacher="openai",
            model=cfg.judge,
            base_url=cfg.judge_base_url,
            api_key_env=cfg.api_key_env,
            temperature=0.0,
            top_p=1.0,
            max_tokens=cfg.judge_max_tokens,
            concurrency=cfg.concurrency,
            max_retries=cfg.max_retries,
            request_timeout=cfg.request_timeout,
        )
        teacher = TEACHERS["openai"](tcfg)
        with RecordWriter(cache) as writer:
            sink = _Cache(writer, cfg.judge_max_tokens, url)
            writer.on_write = lambda r: replies.__setitem__(r["id"], r)
            teacher.run(jobs, sink)
        requests = getattr(teacher, "requests", len(jobs))
        refused = sink.refused
        if sink.failures:
            from distill.generate.stage import timed_out_words

            why = sink.failures[0].split(": ", 1)[-1].strip().splitlines() or ["no reason given"]
            raise DistillError(
                f"{len(sink.failures)} judge requests failed: {why[0]}"
                + timed_out_words(sink.timeouts, sink.timeouts)
                + f"; the other replies are kept in {cache}: rerun the same command to ask "
                "only for those"
            )
    scores: dict[str, tuple[float, str]] = {}
    malformed, first_bad, cut = 0, None, 0
    for tid, jid in ids.items():
        reply = replies.get(jid)
        if reply is None:  # refused: judge_no_score, counted in "refused"
            continue
        cut_off = reply.get("finish_reason") == "length"
        score, reason = parse_score(reply.get("text"), cut_off=cut_off)
        if score is None:
            malformed += 1
            # a reply the judge's max tokens cut off (a reasoning judge still thinking): no
            # verdict, for a reason the rubric's format does not fix
            cut += cut_off
            first_bad = first_bad if first_bad is not None else (reply.get("text") or "")
            continue
        scores[tid] = (score, reason)
    cut_off = (
        f"{cut} of the replies without a score were cut off at --judge-max-tokens "
        f"{cfg.judge_max_tokens} (finish_reason 'length'): raise it to let the judge finish "
        "(those traces are asked again then)"
        if cut
        else None
    )
    if ids and not scores and refused and not malformed:
        # every request refused: the request itself (a parameter the judge does not take,
        # --judge-max-tokens over its context), not the traces, whatever the replies' format
        why = refused[0].split(": ", 1)[-1]
        raise DistillError(
            f"the judge's server refused all {len(refused)} requests (first: {why[:160]}), so "
            f"no trace was scored: fix the request (--judge-max-tokens {cfg.judge_max_tokens} "
            f"over {cfg.judge}'s context, a parameter or model name it does not take)"
        )
    if ids and not scores:
        shown = " ".join(str(first_bad).split())[:80]
        raise DistillError(
            f"judge {cfg.judge} returned no score for any of the {len(ids)} traces (first reply: "
            f"{shown!r}); "
            + (
                cut_off
                if cut
                else f"its replies must end with 'Score: N', 1-10 (see {cfg.judge_template})"
            )
        )
    stats = {
        "model": cfg.judge,
        "template": {"name": template.name, "sha256": template.sha256},
        "judged": len(ids),
        "scored": len(scores),
        "malformed": malformed,
        "cut_off": cut,
        "refused": len(refused),
        "requests_this_run": requests,
        "cached": len(ids) - len(jobs),
        "cache": str(cache),
        # requests with no reply in time over the cache's runs (each run that had one stopped,
        # and a later one asked them again): their cost is unknown
        "timed_out_requests": timed_out_in(replies.values()),
    }
    notes = []
    if refused:  # the stage prints it with its notes
        notes.append(
            f"the judge's server refused {len(refused)} request(s) (first: {refused[0][:160]}): "
            "those traces are judge_no_score; a rerun asks for them again"
        )
    if cut_off:
        notes.append(cut_off)
    if notes:
        stats["note"] = "; ".join(notes)
    return scores, stats
