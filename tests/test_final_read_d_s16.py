"""A last read of this session's verify and select changes: a value-then-option statement
listing a second value with its option (5ee9b41); the draw by level (cc237f9) against the
scanning draw of 2135f34 on groups of uneven sizes, prompts spread over them."""

from __future__ import annotations

import random

import pytest

from distill.filter.verify import choice_key, verify_choice
from distill.select.diversity import round_robin


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is 3 (A), 4 (B).",
        "The answer is 3 (A), 4 (B), 5 (C)",
        "The answer is $3$ (A), and $4$ (option B).",
    ],
)
def test_values_listed_with_their_options_are_a_hedge(reply):
    """5ee9b41 read "The answer is 5 (option B)." as B; a second value listed with its option
    after it was missed, so the reply was right against A, where "(A), (B)" is a hedge."""
    assert verify_choice(reply, "A") == "wrong"
    assert choice_key(reply).startswith("A, B")


def test_one_value_with_its_option_is_still_read():
    assert verify_choice("The answer is 5 (option B).", "B") == "correct"
    assert verify_choice("The answer is 5 (B), since 3 (A) fails.", "B") == "correct"


def _draw_by_scanning(groups, order, prompt_of):
    """2135f34's draw: at level L each group in turn takes its first trace left whose prompt
    has L drawn; a level ends when no group can."""
    left = {g: list(groups[g]) for g in order}
    drawn, count, level = [], {}, 0
    while any(left.values()):
        took = False
        for g in order:
            i = next(
                (i for i, t in enumerate(left[g]) if count.get(prompt_of(t), 0) == level), None
            )
            if i is not None:
                t = left[g].pop(i)
                drawn.append(t)
                count[prompt_of(t)] = level + 1
                took = True
        level += 0 if took else 1
    return drawn


def test_the_draw_is_the_scanning_one_on_uneven_groups():
    rng = random.Random(16)
    for _ in range(1500):
        n_groups = rng.randint(1, 8)
        weights = [rng.random() ** 3 + 1e-3 for _ in range(n_groups)]  # some groups tiny
        traces = [
            {"p": f"p{rng.randrange(rng.randint(1, 12))}", "k": k} for k in range(rng.randrange(60))
        ]
        groups: dict[str, list] = {f"g{g}": [] for g in range(n_groups)}  # some left empty
        for t in traces:
            groups[f"g{rng.choices(range(n_groups), weights)[0]}"].append(t)
        for lst in groups.values():
            if rng.random() < 0.5:
                rng.shuffle(lst)  # a prompt's traces interleaved with others' in a group
        order = list(groups)
        rng.shuffle(order)
        got = round_robin(groups, order, lambda t: t["p"])
        assert got == _draw_by_scanning(groups, order, lambda t: t["p"])
        assert got == round_robin(groups, order, lambda t: t["p"])  # the same every time
