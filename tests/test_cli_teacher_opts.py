"""`generate` and `instruct` take the same teacher flags, defined once (cli.TEACHER_OPTS)."""

import dataclasses

import pytest
import typer

from distill.cli import app
from distill.generate import GenerateConfig
from distill.instruct import InstructConfig

# Every teacher flag both commands document, with a value and what it parses to.
FLAGS = {
    "--teacher": ("openai", "openai"),
    "--model": ("m", "m"),
    "--base-url": ("http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1"),
    "--api-key-env": ("MY_KEY", "MY_KEY"),
    "--concurrency": ("3", 3),
    "--max-retries": ("2", 2),
    "--request-timeout": ("1.5", 1.5),
    "--rpm": ("60", 60.0),
    "--tpm": ("1000", 1000.0),
    "--price-input": ("0.5", 0.5),
    "--price-output": ("1.5", 1.5),
    "--tensor-parallel-size": ("2", 2),
    "--gpu-memory-utilization": ("0.8", 0.8),
    "--dtype": ("bfloat16", "bfloat16"),
    "--max-model-len": ("4096", 4096),
    "--shard-size": ("7", 7),
    "--batch-size": ("4", 4),
    "--device": ("cpu", "cpu"),
}


def _command(name):
    return typer.main.get_command(app).commands[name]


@pytest.mark.parametrize(
    "command, config", [("generate", GenerateConfig), ("instruct", InstructConfig)]
)
def test_both_commands_accept_every_teacher_flag(command, config):
    cmd = _command(command)
    args = [a for flag, (value, _) in FLAGS.items() for a in (flag, value)]
    params = cmd.make_context(command, args).params
    fields = {f.name for f in dataclasses.fields(config)}
    for flag, (_, parsed) in FLAGS.items():
        name = flag[2:].replace("-", "_")
        assert params[name] == parsed, flag
        assert name in fields, f"{flag} has no {config.__name__} field to override"
    # Untyped flags stay None, so only what the user typed overrides the recipe.
    assert all(
        v is None for k, v in cmd.make_context(command, []).params.items() if f"--{k}" in FLAGS
    )


def test_teacher_flags_read_the_same_in_both_helps():
    helps = {
        c: {p.opts[0]: (p.help, p.default) for p in _command(c).params if p.opts[0] in FLAGS}
        for c in ("generate", "instruct")
    }
    assert set(helps["generate"]) == set(helps["instruct"]) == set(FLAGS)
    assert helps["generate"] == helps["instruct"]
