"""The package stays readable: no import cycles (function-level imports counted), no module
importing its own package's __init__, no private name imported across modules, and the
configs the CLI reads import nothing heavy (`distill --help` stays instant)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import import_graph  # noqa: E402


def test_no_cycles_no_upward_imports_no_private_names_across_modules():
    mods = import_graph.modules()
    graph, private = import_graph.imports(mods)
    assert import_graph.cycles(graph) == []
    assert import_graph.upward(graph, mods) == []
    assert private == []


def test_the_cli_imports_no_heavy_library():
    code = (
        "import sys, distill.cli; "
        "print(sorted(m for m in ('numpy', 'torch', 'transformers', 'openai', 'aiohttp', "
        "'datasets', 'trl', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
