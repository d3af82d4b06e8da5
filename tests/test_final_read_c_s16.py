"""A last read of this session's select changes: a reasoning judge whose
thinking closes inside a line before a bare score (4d16655); the diversity draw by level
(2135f34) on prompts with many traces."""

from __future__ import annotations

import pytest

from distill.select.judge import parse_score


@pytest.mark.parametrize(
    "reply",
    [
        "The steps check out, so a high mark.</think>\n\n8",
        "The steps check out, so a high mark. </think> **8**",
    ],
)
def test_a_bare_score_after_thinking_closed_inside_a_line_is_read(reply):
    """A judge whose template opened <think> (R1) and closed it at the end of its last line of
    thinking, then replied with the number alone: 4d16655 read a bare reply, but not after
    such a close (the text after it was taken for the verdict only when it held a label), so
    the trace was dropped as judge_no_score."""
    assert parse_score(reply) == (8.0, "")


def test_a_tag_quoted_in_a_verdict_still_reads_the_verdict():
    reply = 'The trace leaks a stray </think> tag into its answer.\n\n{"score": 4}'
    assert parse_score(reply)[0] == 4.0


def test_the_draw_by_level_looks_at_each_trace_once_per_level_it_can_be_drawn_at():
    """2135f34 drew by level, scanning every trace left at every level: n x levels, so 100k
    traces of 100 prompts (1000 each, 20 groups) took ~18 s, against ~0.03 s before it (and a
    million traces minutes); one group of 90k traces beside 2000 small ones ~6 s. A level can
    draw only each prompt's best trace left in a group: those alone are looked at now. Counted
    as the prompt_of calls (the old draw made two per trace looked at), the order unchanged:
    every prompt's k-th trace before any prompt's (k+1)-th, each group's in its order."""
    import random

    from distill.select.diversity import round_robin

    rng = random.Random(0)
    traces = [(f"p{p}", k) for p in range(10) for k in range(100)]
    groups: dict[str, list] = {}
    for t in traces:
        groups.setdefault(f"g{rng.randrange(5)}", []).append(t)
    calls = 0

    def prompt_of(t):
        nonlocal calls
        calls += 1
        return t[0]

    order = sorted(groups)
    drawn = round_robin(groups, order, prompt_of)
    assert sorted(drawn) == sorted(traces)
    assert calls <= len(traces)  # the old draw: ~100,000
    seen: dict[str, int] = {}
    levels = []
    for p, _ in drawn:
        levels.append(seen.get(p, 0))
        seen[p] = levels[-1] + 1
    assert levels == sorted(levels)
    for lst in groups.values():  # a prompt's traces in a group: in the group's order
        mine = set(lst)
        for p in {q for q, _ in lst}:
            assert [t for t in drawn if t in mine and t[0] == p] == [t for t in lst if t[0] == p]


def _draw_by_scanning(groups, order):
    """2135f34's draw, as the README words it: at level L each group in turn takes its first
    trace left whose prompt has L drawn; a level ends when no group can."""
    left = {g: list(groups[g]) for g in order}
    drawn, count, level = [], {}, 0
    while any(left.values()):
        took = False
        for g in order:
            t = next((t for t in left[g] if count.get(t[0], 0) == level), None)
            if t is not None:
                left[g].remove(t)
                drawn.append(t)
                count[t[0]] = level + 1
                took = True
        level += 0 if took else 1
    return drawn


def test_the_draw_is_the_one_by_scanning():
    import random

    from distill.select.diversity import round_robin

    rng = random.Random(3)
    for _ in range(300):
        traces = [(f"p{rng.randrange(6)}", k) for k in range(rng.randrange(25))]
        groups: dict[str, list] = {}
        for t in traces:
            groups.setdefault(f"g{rng.randrange(4)}", []).append(t)
        order = list(groups)
        rng.shuffle(order)
        assert round_robin(groups, order, lambda t: t[0]) == _draw_by_scanning(groups, order)


def test_a_large_skewed_draw_stays_fast():
    from distill.select.diversity import round_robin

    traces = [(f"p{p}", k) for p in range(25_000) for k in range(4)]
    groups = {"big": traces[:90_000]}
    for j, t in enumerate(traces[90_000:]):
        groups.setdefault(f"g{j % 2000}", []).append(t)
    drawn = round_robin(groups, sorted(groups), lambda t: t[0])
    assert sorted(drawn) == sorted(traces)
    # every prompt's first trace before any prompt's second (its time: ~0.15 s here, 2135f34's
    # ~6 s, is make bench-select's to measure, not a unit test's)
    assert len({p for p, _ in drawn[:25_000]}) == 25_000
