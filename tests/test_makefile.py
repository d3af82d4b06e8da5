"""The Makefile's run targets (`make smoke`, `smoke-kd`, `smoke-alpaca`, and any `smoke-*` to
come) honour RUN= and SEED=: a second try with another RUN never resumes the first run, and
SEED reaches every stage whose recipe section fixes a seed. Read from `make -n` (nothing runs)."""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from distill.pipeline import run as run_recipe

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "Makefile"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def run_targets() -> list[str]:
    """Every `smoke*` target the Makefile defines (a target-specific variable line counts too)."""
    names = re.findall(r"^(smoke[\w-]*)\s*:", MAKEFILE.read_text(), flags=re.M)
    return sorted(set(names))


def make_n(target: str, *assignments: str) -> list[str]:
    """The command `make -n target ...` would run for the target itself, split as the shell
    would. A parent make's MAKEFLAGS (e.g. `make test RUN=x`) and RUN/SEED in the environment
    are left out: only what this test passes counts."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "RUN", "SEED", "TEACHER")
    }
    res = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target, *assignments],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    # Continuation lines (`\` + newline) are one command; `install`'s commands, printed when the
    # venv is older than pyproject.toml, are not the target's own.
    commands = res.stdout.replace("\\\n", " ").splitlines()
    mine = [c for c in commands if "--run-dir" in c or ".yaml" in c]
    assert len(mine) == 1, f"make -n {target}: expected one run command, got:\n{res.stdout}"
    return shlex.split(mine[0])


def recipe_of(argv: list[str]) -> Path:
    return ROOT / next(a for a in argv if a.endswith(".yaml"))


def seeds_set(argv: list[str]) -> dict[str, str]:
    """{stage: value} of every `--set <stage>.seed=<value>` on a `distill run` line."""
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    return {s.split(".")[0]: s.split("=", 1)[1] for s in sets if re.match(r"\w+\.seed=", s)}


def test_the_run_targets_are_found():
    assert {"smoke", "smoke-kd", "smoke-alpaca"} <= set(run_targets())


@pytest.mark.parametrize("target", run_targets())
def test_a_run_target_writes_where_run_says_with_the_seed_seed_says(target, tmp_path):
    argv = make_n(target, "RUN=runs/other-try", "SEED=3")
    assert argv[argv.index("--run-dir") + 1] == "runs/other-try"
    recipe = recipe_of(argv)
    if "run" in argv and "--recipe" in argv:  # `distill run`: the seed goes to stages by --set
        seeds = seeds_set(argv)
        assert seeds and set(seeds.values()) == {"3"}, argv
        # A seed the recipe fixes would otherwise win over SEED=: each one is overridden.
        data = yaml.safe_load(recipe.read_text())
        fixed = {s for s, sec in data.items() if isinstance(sec, dict) and "seed" in sec}
        assert fixed - {"run"} <= set(seeds), f"{target}: SEED does not reach {fixed - set(seeds)}"
        # ... and every --set names a real field: the recipe validates with them (runs nothing).
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        done = run_recipe(recipe, str(tmp_path / "run"), sets, dry_run=True)
        assert set(seeds) <= set(done["stages"])
    else:  # a driver script with its own flags (smoke-kd)
        assert argv[argv.index("--seed") + 1] == "3", argv


@pytest.mark.parametrize("target", run_targets())
def test_a_run_target_defaults_to_its_recipes_own_run_dir_and_seed_0(target):
    argv = make_n(target)
    run_dir = argv[argv.index("--run-dir") + 1]
    # The recipe's run.dir: `make smoke-alpaca` and `distill run --recipe` write the same run.
    assert run_dir == yaml.safe_load(recipe_of(argv).read_text())["run"]["dir"]
    seeds = seeds_set(argv) or {"--seed": argv[argv.index("--seed") + 1]}
    assert set(seeds.values()) == {"0"}, argv


def test_no_two_run_targets_share_a_default_run_dir():
    """Otherwise one target's run silently resumes (or is refused by) another's."""
    argvs = [make_n(t) for t in run_targets()]
    dirs = [argv[argv.index("--run-dir") + 1] for argv in argvs]
    assert len(set(dirs)) == len(dirs), dict(zip(run_targets(), dirs))
