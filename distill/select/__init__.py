"""`distill select`: the few traces that teach most (difficulty, judge, length, diversity).

    distill select runs/smoke/kept.jsonl --out runs/smoke/selected.jsonl --budget 50

config.py holds the settings (light: the CLI imports it), stage.py the run; difficulty.py,
judge.py and diversity.py one criterion each.
"""

from distill.select.config import CRITERIA, SelectConfig

__all__ = ["CRITERIA", "SelectConfig"]
