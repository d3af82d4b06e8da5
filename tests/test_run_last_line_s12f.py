"""`distill run` of a recipe with neither eval nor instruct (generate -> filter, a data-only
recipe; `--only generate,filter` of a full one) ended on the filter's table: no `NAME: ...`
line said the run was over and where its result file was, though RUN_DIR/NAME.json was
written. It ends with `NAME: generate, filter done minutes=Z.Z` now, as NAME.json records."""

from __future__ import annotations

import json
import re

from tests import inproc
from tests.test_run_lock_s12f import ENV, RECIPE


def test_a_run_without_eval_or_instruct_ends_with_its_name_line(tmp_path, server):
    run = tmp_path / "run"
    recipe = tmp_path / "data-only.yaml"
    recipe.write_text(RECIPE.format(run=run, url=server.url))
    for _ in range(2):  # bought, then every stage done
        res = inproc.distill("run", "--recipe", recipe, env=ENV)
        assert res.returncode == 0, res.stderr
        last = res.stdout.strip().splitlines()[-1]
        assert re.fullmatch(r"data-only: generate, filter done minutes=\d+\.\d", last), last
        result = json.loads((run / "data-only.json").read_text())
        assert abs(float(last.rpartition("=")[2]) - result["minutes"]) <= 0.06
