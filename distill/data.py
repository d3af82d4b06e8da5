"""Prompt data: local files, Hugging Face datasets, and built-in offline sets with gold answers.

    distill generate --data builtin:arithmetic?digits=3&ops=+-* --limit 10 ...
    distill generate --data problems.jsonl --prompt-field question --answer-field answer ...

Every source yields plain dict rows; `Row` picks out the prompt, gold answer and id so the
rest of the pipeline never cares where data came from.
"""

from __future__ import annotations

import csv
import itertools
import json
import operator
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from distill.choices import Layout, multiple_choice, read_ahead
from distill.errors import DistillError
from distill.records import read_records

PROMPT_FIELDS = ("problem", "question", "prompt", "instruction", "query")
ANSWER_FIELDS = ("answer", "gold", "final_answer", "expected_answer")  # the last: OpenMathReasoning
ID_FIELDS = ("id", "problem_id", "unique_id", "idx")
# ShareGPT speakers (`from`) -> chat roles: the one table train (distill.examples) and a prompt's
# user text (below) read. OpenThoughts / Bespoke-Stratos write user/assistant; the raw ShareGPT
# dump bing/chatgpt (FastChat's cleaning maps them to gpt); a tool's result is LLaMA-Factory's
# `observation`, others' `tool` or `function` (OpenAI's legacy name): the `tool` role of a
# `messages` chat. LLaMA-Factory's `function_call` (a tool call) has no role here: train reads it
# as the assistant's `tool_calls`, as OpenAI's (distill.examples).
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bing": "assistant",
    "chatgpt": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


@dataclass
class Row:
    prompt: str
    gold: str | None
    row_id: str | None
    fields: dict[str, Any] = field(default_factory=dict)  # the whole source row
    # a prompt field holding a chat (TRL's conversational prompt: a list of messages, or its
    # JSON text): the messages as the row holds them; `prompt` is then its user turns' text
    chat: list[dict[str, Any]] | None = None
    # a multiple-choice row's layout (choices.py): `prompt` is its question column's text with
    # the lettered options (a free-form row's: after the passage it is about), which a
    # template's {question} (that column) renders too
    choices: Layout | None = None


# --------------------------------------------------------------------------- built-in sets

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def arithmetic(
    n: int = 1000, digits: int = 2, ops: str = "+", terms: int = 2, seed: int = 0, start: int = 0
) -> Iterator[dict[str, Any]]:
    """Deterministic integer arithmetic. Difficulty knobs: digits per operand, operators, terms.

    Problems never repeat within a seed, so `start` carves held-out sets: the first 200
    problems (`?n=200`) and `?start=1000&n=100` share none.
    """
    for op in ops:
        if op not in _OPS:
            raise DistillError(f"builtin:arithmetic: unknown operator '{op}' (use + - *)")
    if digits < 1 or terms < 2:
        raise DistillError("builtin:arithmetic: digits must be >= 1 and terms >= 2")
    if n < 1 or start < 0:  # a negative start gave n + start problems, under ids from 000000
        raise DistillError("builtin:arithmetic: n must be >= 1 and start >= 0")
    rng = random.Random(seed)
    lo, hi = 10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1
    space = (hi - lo + 1) ** terms * len(set(ops)) ** (terms - 1)
    if start + n > space:
        raise DistillError(f"builtin:arithmetic: only {space} distinct problems with these options")
    seen: set[str] = set()
    i = 0
    while i < start + n:
        nums = [rng.randint(lo, hi) for _ in range(terms)]
        chosen = [rng.choice(ops) for _ in range(terms - 1)]
        expr = str(nums[0])
        for op, x in zip(chosen, nums[1:]):
            expr += f" {op} {x}"
        if expr in seen:
            continue
        seen.add(expr)
        i += 1
        if i <= start:
            continue
        value = _eval_int(nums, chosen)
        yield {
            "id": f"arith-d{digits}-{ops}-t{terms}-s{seed}-{i - 1:06d}",
            "problem": f"What is {expr}?",
            "answer": str(value),
            "expression": expr,
        }


def _eval_int(nums: list[int], ops: list[str]) -> int:
    # Standard precedence: fold * first, then + and - left to right.
    vals, pending = [nums[0]], []
    for op, x in zip(ops, nums[1:]):
        if op == "*":
            vals[-1] = vals[-1] * x
        else:
            pending.append(op)
            vals.append(x)
    total = vals[0]
    for op, x in zip(pending, vals[1:]):
        total = _OPS[op](total, x)
    return total


def countdown(
    n: int = 1000, numbers: int = 4, max_number: int = 99, max_target: int = 1000, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """TinyZero's Countdown: reach `target` using each number once with + - * /.

    Each instance is made solvable by building a random expression first; the gold is that
    reference expression and the target, which a rule checks (see filter/verify.py).
    """
    # numbers=0 and max_number=0 stopped in a traceback; max_target=0 looped for ever
    if n < 1 or numbers < 2 or max_number < 1 or max_target < 1:
        raise DistillError(
            "builtin:countdown: n, max_number and max_target must be >= 1 and numbers >= 2"
        )
    rng = random.Random(seed)
    made = 0
    while made < n:
        nums = [rng.randint(1, max_number) for _ in range(numbers)]
        expr, value = _random_expression(nums, rng)
        if value is None or value.denominator != 1 or not 1 <= value <= max_target:
            continue
        target = int(value)
        yield {
            "id": f"countdown-n{numbers}-s{seed}-{made:06d}",
            "numbers": nums,
            "target": target,
            "problem": (
                f"Using the numbers {nums}, create an equation that equals {target}. "
                "You can use basic arithmetic operations (+, -, *, /) and each number "
                "exactly once."
            ),
            "answer": str(target),
            "solution": expr,
        }
        made += 1


def _random_expression(nums: list[int], rng: random.Random) -> tuple[str, Fraction | None]:
    items: list[tuple[str, Fraction]] = [(str(x), Fraction(x)) for x in nums]
    rng.shuffle(items)
    while len(items) > 1:
        (ea, va), (eb, vb) = items.pop(), items.pop()
        op = rng.choice("+-*/")
        if op == "/" and vb == 0:
            return "", None
        value = {"+": va + vb, "-": va - vb, "*": va * vb, "/": va / vb if vb else None}[op]
        items.append((f"({ea} {op} {eb})", value))
    expr, value = items[0]
    return expr[1:-1] if expr.startswith("(") and expr.endswith(")") else expr, value


BUILTINS = {"arithmetic": arithmetic, "countdown": countdown}
# The template a built-in set uses when the user names none.
BUILTIN_TEMPLATES = {"arithmetic": "r1-math", "countdown": "countdown"}


def parse_builtin(src: str) -> tuple[str, dict[str, Any]]:
    """'builtin:arithmetic?digits=3&ops=+-' -> ('arithmetic', {'digits': 3, 'ops': '+-'})."""
    name, _, query = src.removeprefix("builtin:").partition("?")
    if name not in BUILTINS:
        raise DistillError(f"unknown built-in dataset '{name}' (have: {', '.join(BUILTINS)})")
    import inspect

    signature = inspect.signature(BUILTINS[name]).parameters
    params: dict[str, Any] = {}
    # parse_qsl would turn '+' into a space; ops strings need it kept.
    for key, value in parse_qsl(query.replace("+", "%2B"), keep_blank_values=True):
        if key not in signature:
            raise DistillError(
                f"builtin:{name}: unknown option '{key}' (have: {', '.join(signature)})"
            )
        if isinstance(signature[key].default, int):  # every option's default says its type
            try:
                params[key] = int(value)
            except ValueError:
                raise DistillError(
                    f"builtin:{name}: option '{key}' must be an integer, got '{value}'"
                ) from None
        else:
            params[key] = value
    return name, params


# --------------------------------------------------------------------------- files and hub


def _read_jsonl_strict(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a user's JSONL file. Every line must parse, the last one too:
    read_records forgives a torn last line because distill's own writer may have been killed
    mid-line, but in a file the user made, a line that does not parse is a mistake to name."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except RecursionError:  # json's: a value nested past Python's recursion limit
                raise DistillError(
                    f"{path}:{lineno}: not valid JSON here (a value nested too deep to read)"
                ) from None
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                last = not raw.endswith(b"\n") and not f.read(1)
                hint = (
                    "; the last line is cut short: if a distill command was writing this file "
                    "and was stopped, rerun it to finish the file"
                    if last
                    else ""
                )
                why = e.msg if isinstance(e, json.JSONDecodeError) else "not UTF-8"
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (lineno > 1 and _utf16(path)):
                    why = "UTF-16, as Windows PowerShell's > writes: save it as UTF-8"
                    lineno, hint = 1, ""
                raise DistillError(f"{path}:{lineno}: not valid JSON ({why}){hint}") from None
            if not isinstance(row, dict):
                raise DistillError(
                    f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}"
                )
            yield lineno, row


def _utf16(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) in (b"\xff\xfe", b"\xfe\xff")


def _concatenated_objects(path: Path, text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of `text`, one after another (whitespace between them)."""
    decoder, at, end = json.JSONDecoder(), 0, len(text)
    while True:
        while at < end and text[at].isspace():
            at += 1
        if at == end:
            return
        try:
            row, after = decoder.raw_decode(text, at)
        except json.JSONDecodeError as e:  # (cut short at the end: its last line named)
            line = min(e.lineno, text.rstrip().count("\n") + 1)
            raise DistillError(f"{path}:{line}: not valid JSON ({e.msg})") from None
        except RecursionError:  # json's: a value nested past Python's recursion limit
            line = text.count("\n", 0, at) + 1
            raise DistillError(
                f"{path}:{line}: not valid JSON here (a value nested too deep to read)"
            ) from None
        if not isinstance(row, dict):
            line = text.count("\n", 0, at) + 1
            raise DistillError(f"{path}:{line}: expected a JSON object, got {type(row).__name__}")
        yield row
        at = after


# Compressed files (HF's .jsonl.gz / .json.zst shards): not read; named as "unknown file type",
# and one that is not there is "not found", never asked of the hub as a dataset's name.
COMPRESSED = (".gz", ".zst", ".bz2", ".xz", ".zip")


def _suffix(path: Path) -> str:
    """'.jsonl', or '.jsonl.gz' for a compressed file; lower case (a Windows 'DATA.JSONL')."""
    last = path.suffix.lower()
    return "".join(path.suffixes[-2:]).lower() if last in COMPRESSED else last


def _iter_file(path: Path, strict: bool = False) -> Iterator[dict[str, Any]]:
    suffix = _suffix(path)
    if suffix in (".jsonl", ".ndjson"):
        if strict:
            yield from (row for _, row in _read_jsonl_strict(path))
        else:
            yield from read_records(path)
    elif suffix == ".json":
        several = False  # JSON objects one after another
        try:  # utf-8-sig: a BOM (Notepad, Excel) is not part of the JSON
            text = path.read_text(encoding="utf-8-sig")
            data = json.loads(text)
        except RecursionError:  # json's: a value nested past Python's recursion limit
            raise DistillError(f"{path}: a value nested too deep to read as JSON") from None
        except json.JSONDecodeError as e:
            if e.msg != "Extra data" or not e.doc[: e.pos].rstrip().endswith("}"):
                raise DistillError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
            # JSON objects one after another (JSON Lines under a .json name, as `datasets`
            # reads it; `jq . x.jsonl` pretty-prints each over many lines): read in turn, the
            # one that does not parse named by its line
            several = True
        except UnicodeDecodeError as e:
            raise DistillError(f"{path}: not UTF-8 (byte {e.start}); save it as UTF-8") from None
        if several:
            yield from _concatenated_objects(path, text)
            return
        if isinstance(data, dict):  # {"data": [...]} or {"train": [...]} style
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DistillError(f"{path}: expected a JSON list of objects")
            data = lists[0]
        if not isinstance(data, list):
            raise DistillError(f"{path}: expected a JSON list of objects")
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise DistillError(f"{path}: item {i} is not an object")
            yield row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types
            raise DistillError(f"{path}: not a readable Parquet file ({e})") from None
        for batch in pf.iter_batches(batch_size=1024):
            yield from batch.to_pylist()
    elif suffix in (".csv", ".tsv"):
        # A reasoning trace is easily longer than csv's default field limit (131072 characters)
        csv.field_size_limit(2**31 - 1)  # (the C long of Windows too)
        # utf-8-sig: Excel's BOM would otherwise become part of the first column's name
        with open(path, newline="", encoding="utf-8-sig") as f:
            try:
                yield from csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            except UnicodeDecodeError as e:
                raise DistillError(f"{path}: not UTF-8 ({e.reason}); save it as UTF-8") from None
    else:
        raise DistillError(
            f"{path}: unknown file type '{suffix}' (use .jsonl, .json, .parquet, .csv)"
        )


def _iter_hub(name: str, split: str) -> Iterator[dict[str, Any]]:
    import datasets

    config = None
    if ":" in name:  # "openai/gsm8k:main"
        name, config = name.split(":", 1)
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # noqa: BLE001 - datasets raises many types for "not found/offline"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DistillError(
            f"could not load dataset '{name}' split '{split}': {first} "
            "(offline, a hub dataset must already be in the local HF cache; or pass a local file)"
        ) from None
    yield from ds


# ----------------------------------------------------------------------------- splits
# --split means on every source what it means to `datasets`: a hub dataset's split, or a local
# folder's: one `save_to_disk` wrote (a DatasetDict's splits), or data files named by split
# (train-*.parquet, test.jsonl, data/train-00000-of-00001.parquet, train/ and test/ folders).
# A source without splits (builtin:, a lone file, a folder holding one saved Dataset) is one
# set, read whole: under the split a command reads when none is named (generate's and train's
# train, eval's test), and refused under any other (--split test used the whole file).

DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv", ".tsv")


def _saved_dataset(path: Path) -> bool:
    """A folder `Dataset.save_to_disk` wrote (one set; a DatasetDict writes dataset_dict.json)."""
    return (path / "state.json").is_file() and not (path / "dataset_dict.json").is_file()


def has_splits(src: str) -> bool:
    """Whether --data names a source that has splits: a hub dataset or a local folder of them.
    Read from the name alone where it names no folder (a file a stage before has yet to write)."""
    if src.startswith("builtin:"):
        return False
    path = Path(src)
    if path.is_dir():
        return not _saved_dataset(path)
    return not (path.is_file() or _suffix(path) in (*DATA_SUFFIXES, *COMPRESSED))


def check_split(src: str, split: str, default: str, flag: str = "--split") -> None:
    """Refuse a split a source without splits cannot honour: it is read whole, which a split
    other than the command's `default` (what a user who names none gets) would silently mean."""
    if split == default or has_splits(src):
        return
    if src.startswith("builtin:"):
        what = "a built-in set, generated (its parameters pick other problems: ?start=, ?seed=)"
    elif Path(src).is_dir():
        what = "a folder holding one saved Dataset"
    else:
        what = "one data file"
    raise DistillError(
        f"{flag} {split}: {src} has no splits ({what}), so all of it would be read; leave "
        f"{flag} out, or give --data a folder or hub dataset that has a '{split}' split"
    )


def check_source_split(cfg: Any, flag: str = "--split") -> None:
    """check_split of a stage config's --data and --split, against the split its stage reads
    when none is named (the default of its `split` field)."""
    check_split(cfg.data, cfg.split, type(cfg).__dataclass_fields__["split"].default, flag)


# datasets' split names in file and folder names (datasets.data_files.SPLIT_KEYWORDS), matched
# in lower case only: a split word and the separators around it (-._ digits, a folder's /)
_OTHER_SPLIT_WORDS = re.compile(
    r"(?:^|[/\-._ 0-9])(test|testing|eval|evaluation|validation|valid|dev|val)(?=[/\-._ 0-9])"
)


def _split_in_another_case(path: Path, files: dict[str, list[str]]) -> str | None:
    """A file that names a split other than train only in another case (Test.jsonl,
    TEST/part.jsonl), where datasets, finding no split named in its own case, reads every file
    of the folder as its train split: that one's path in the folder."""
    if list(files) != ["train"]:
        return None
    root = path.resolve()
    for f in files["train"]:
        rel = Path(os.path.relpath(f, root)).as_posix()  # (a file symlinked from elsewhere too)
        if _OTHER_SPLIT_WORDS.search(rel.lower()) and not _OTHER_SPLIT_WORDS.search(rel):
            return rel
    return None


def _iter_folder(
    path: Path, split: str, strict: bool, flag: str | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of a local folder's `split`, as `datasets` finds them (see above); its data
    files read as a lone file is. `flag`: how the user named the folder where not by --data and
    --split (`--decontam NAME@SPLIT`), for the error lines."""
    import datasets

    which = flag or f"--split {split}"

    if (path / "dataset_dict.json").is_file() or _saved_dataset(path):
        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as e:  # noqa: BLE001 - datasets raises many types for a bad folder
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            where = flag or f"--data {path}"
            raise DistillError(f"{where}: not a readable saved dataset ({first})") from None
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DistillError(f"{which}: {path} has no such split (has: {', '.join(ds)})")
            ds = ds[split]
        yield from ds
        return
    for f in _data_files(path, split, flag):
        yield from _iter_file(Path(f), strict)


def _data_files(path: Path, split: str, flag: str | None = None) -> list[str]:
    """The data files of a folder (not a saved dataset) that make its `split`, as `datasets`
    finds them."""
    import logging

    import datasets

    which = flag or f"--split {split}"
    # (a README.md without a YAML header is logged as a warning on every read: nothing wrong)
    card_log = logging.getLogger("huggingface_hub.repocard")
    level = card_log.level
    card_log.setLevel(logging.ERROR)
    try:
        files = datasets.load_dataset_builder(str(path)).config.data_files or {}
    except Exception as e:  # noqa: BLE001 - no data files, or of a kind it has no reader for
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DistillError(
            f"{flag or '--data ' + str(path)}: no data files read from this folder ({first})"
        ) from None
    finally:
        card_log.setLevel(level)
    files = {str(name): list(found) for name, found in files.items()}
    odd = _split_in_another_case(path, files)
    if odd:  # its held-out rows would be trained on, or eval refused for a "train only" folder
        raise DistillError(
            f"{which}: {path}: {odd} names a split in other than lower case, so datasets reads "
            "every file here as one train split; rename the files by split in lower case "
            "(train.jsonl, test.jsonl), or give --data one file"
        )
    if split not in files:
        raise DistillError(
            f"{which}: {path} has no such split (its files make: {', '.join(files)})"
        )
    return [str(f) for f in files[split]]


def folder_files(path: Path, split: str) -> list[str]:
    """The files a local folder's `split` is read from (its rows are theirs): a saved
    DatasetDict's dataset_dict.json and its split's folder, a saved Dataset's every file, or
    the data files `datasets` makes the split of. A folder whose split cannot be read: every
    file in it (its reader names what is wrong when it reads it). What a stage stamps to know
    an input folder changed (filter's --decontam NAME@SPLIT)."""
    if (path / "dataset_dict.json").is_file():
        return [str(path / "dataset_dict.json"), *_files_under(path / split)]
    if not _saved_dataset(path):
        try:
            return _data_files(path, split)
        except DistillError:
            pass
    return _files_under(path)


def _files_under(folder: Path) -> list[str]:
    """Every file in `folder` and its subfolders, by path; hidden ones (.cache, .git) left out,
    as datasets leaves them out."""
    if not folder.is_dir():
        return []
    return sorted(
        str(p)
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def iter_source(
    src: str, split: str = "train", strict: bool = False, flag: str | None = None
) -> Iterator[dict[str, Any]]:
    """Raw rows from `src`: builtin:NAME, a local file or folder, or a hub dataset name.
    `split`: a hub dataset's or folder's (a source without splits is read whole: check_split).
    `strict`: a JSONL file's torn last line is an error (a user's file), not skipped (distill's
    own output). `flag`: how the user named a folder, where not --data and --split (its
    error lines)."""
    if src.startswith("builtin:"):
        name, params = parse_builtin(src)
        yield from BUILTINS[name](**params)
        return
    path = Path(src)
    if path.is_dir():
        yield from _iter_folder(path, split, strict, flag)
        return
    if path.exists():
        from distill.manifest import check_input

        check_input(path)  # a kept file whose filter run did not finish: refused in one line
        yield from _iter_file(path, strict)
        return
    known = (*DATA_SUFFIXES, *COMPRESSED)
    if path.suffix.lower() in known or src.startswith((".", "/")):
        raise DistillError(f"data file not found: {src}")
    yield from _iter_hub(src, split)


def _iter_located(src: str, split: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(place, number, row) of a prompt source, read strictly: place + number is `file:LINE`
    for a JSONL file (what an editor jumps to), else `SRC row N`. Kept apart so a row's place
    is a small int until an error needs the words (a million rows pass through here)."""
    path = Path(src)
    if not src.startswith("builtin:") and path.is_file() and _suffix(path) in (".jsonl", ".ndjson"):
        from distill.manifest import check_input

        check_input(path)  # as iter_source does
        head = f"{path}:"
        for lineno, row in _read_jsonl_strict(path):
            yield head, lineno, row
        return
    head = f"{src} row "
    for i, row in enumerate(iter_source(src, split, strict=True)):
        yield head, i + 1, row


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """`value` (a string, or lists and dicts of them) with each lone surrogate as U+FFFD; the
    same object when it holds none. A lone surrogate escape ("\\ud83d": half an emoji another
    tool cut) is valid JSON, but no UTF-8: a tokenizer refuses the string (a TypeError)."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        new = [without_surrogates(v) for v in value]
        return value if all(a is b for a, b in zip(new, value)) else new
    if isinstance(value, dict):
        fixed = {k: without_surrogates(v) for k, v in value.items()}
        return value if all(fixed[k] is v for k, v in value.items()) else fixed
    return value


def _nan(value: Any) -> bool:
    """A float NaN: what pandas writes for a missing cell (`json.dumps` of its rows gives NaN,
    which Python's json reads back), no value at all."""
    return isinstance(value, float) and value != value


def gold_text(value: Any) -> str | None:
    """A gold answer as the text verifiers compare with; None where the row has none to
    compare with. A float is written as a number is: 42.0 (pandas' int column with a missing
    cell) as "42", 1e-07 as "0.0000001" (math-verify read "1e-07" as 1*e - 7, so the right
    answer was "wrong"). A list of one answer is that answer; a list of several accepted
    answers (NQ-open) or a dict (TriviaQA's) is no one gold: None (its repr "['a', 'b']" matched
    no answer, every sample "wrong")."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if value is None or _nan(value) or isinstance(value, (list, tuple, dict)):
        return None
    if isinstance(value, str) and not value.strip():
        return None  # a CSV's empty cell: no gold (eval refuses a set with none, as reward reads)
    if isinstance(value, float) and value not in (float("inf"), float("-inf")):
        if value == 0:
            return "0"  # -0.0 too
        # the shortest digits that read back as this float (what its writer wrote), written
        # out: Decimal keeps them exact. Not int(value): past 2**53 that is the binary
        # expansion (1e23 -> 99999999999999991611392, which no right answer matched).
        text = repr(float(value))  # float(): a numpy float's repr is "np.float64(...)"
        if "e" in text:
            from decimal import Decimal

            text = format(Decimal(text), "f")
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _pick(row: dict[str, Any], explicit: str | None, candidates: tuple[str, ...]) -> str | None:
    if explicit:
        return explicit
    return next((c for c in candidates if c in row), None)


def asks_nothing(text: str) -> bool:
    """A prompt that holds no request: empty, or the '-' a set writes where it leaves the request
    out (nvidia/OpenCodeReasoning's split_1: the question is in the set the row came from)."""
    return text.strip() in ("", "-")


def left_out(row: dict[str, Any]) -> str:
    """What a prompt of '-' stands for, for a refusal (OpenCodeReasoning's split_1 names where its
    question is: its card's code loads the set's `split` and takes row `index`'s question)."""
    here = ", ".join(
        f"{k} {row[k]!r}" for k in ("dataset", "split", "index") if row.get(k) is not None
    )
    return (
        "a stand-in for a question the row leaves out (nvidia/OpenCodeReasoning's split_1: the "
        "question is row 'index' of the 'split' of the set its 'dataset' column names"
        + (f"; here {here}" if here else "")
        + ")"
    )


def is_chat(value: Any) -> bool:
    """A list of messages ({"role", ...} or ShareGPT's {"from", ...})."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and ("role" in m or "from" in m) for m in value)
    )


def chat_json(value: Any) -> Any:
    """A chat column kept as its JSON text (some Hub conversions, CSV exports written with json):
    the list of messages it holds; anything else as it is."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):  # (RecursionError: nested past Python's limit)
            return value
        return parsed if isinstance(parsed, list) else value
    return value


def pairs_chat(value: Any) -> Any:
    """A chat kept as a list of exchanges, each the user's `input` and the assistant's `output`
    (LDJnr/Capybara's `conversation`, and LDJnr's Pure-Dove, Verified-Camel): its role/content
    messages; anything else as it is."""
    if not (
        isinstance(value, list)
        and value
        and all(
            isinstance(t, dict) and "input" in t and "output" in t and not {"role", "from"} & set(t)
            for t in value
        )
    ):
        return value
    msgs = []
    for turn in value:
        msgs += [
            {"role": "user", "content": turn["input"]},
            {"role": "assistant", "content": turn["output"]},
        ]
    return msgs


def json_chat(value: Any) -> Any:
    """A `prompt` or `completion` kept as the JSON text of a chat (TRL's conversational rows
    written to CSV or a string column): the messages; a text prompt or reply as it is (a JSON
    list of anything but messages is some prompt's text)."""
    parsed = chat_json(value)
    return parsed if parsed is not value and is_chat(parsed) else value


def _asked_text(turn: dict[str, Any]) -> str | None:
    """The text of a chat's turn where it is the user's, as text (role/content or ShareGPT's
    from/value); None for any other turn, or content in parts (an image asks something)."""
    if "role" in turn:
        role, content = turn["role"], turn.get("content")
    else:
        role, content = SHAREGPT_ROLES.get(str(turn.get("from"))), turn.get("value")
    return content if role == "user" and isinstance(content, str) else None


def _user_text(value: Any) -> str:
    """The user turns of a list of messages ({"role", "content"} or ShareGPT's {"from",
    "value"}, content text or parts with "text"), or a list of turns given as text, joined; ""
    for anything else."""
    if not isinstance(value, list):
        return ""
    texts = []
    for turn in value:
        if isinstance(turn, str):
            texts.append(turn)
        elif isinstance(turn, dict) and "from" in turn and "role" not in turn:  # ShareGPT
            content = turn.get("value")
            if SHAREGPT_ROLES.get(str(turn["from"])) == "user" and isinstance(content, str):
                texts.append(content)
        elif isinstance(turn, dict) and turn.get("role", "user") == "user":
            content = turn.get("content")
            if isinstance(content, list):  # multimodal parts: their text
                content = " ".join(
                    str(p.get("text")) for p in content if isinstance(p, dict) and p.get("text")
                )
            if isinstance(content, str):
                texts.append(content)
    return "\n".join(t for t in texts if t.strip())


def load_rows(
    src: str,
    split: str = "train",
    prompt_field: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    limit: int | None = None,
    require_prompt: bool = True,
    skip_no_text: bool = False,
) -> Iterator[Row]:
    """Rows with the prompt, gold and id picked out; the first row decides auto-detected fields.
    skip_no_text: a row whose prompt is null or not text is left out, not refused (a --decontam
    benchmark: one such row of a public set is no reason to stop the filter); a list of
    messages or turns is read as its user turns' text. Otherwise a prompt field holding a chat
    (a list of role/content or from/value messages, or its JSON text) is the row's `chat`, its
    user turns' text its `prompt`; generate.prompt_messages checks and sends it.

    The user's rows are checked before any work: a source with no rows, a line that does not
    parse (the last one too) and one id given to two different rows are refused by name."""
    rows = _iter_located(src, split)
    # MMLU, ARC, GPQA...: the question with its options, the letter as gold (choices.py); the
    # rows that settle how the set counts its answer read ahead (MedMCQA's copies: from 0 or 1)
    mc = None
    if not skip_no_text:
        mc, rows = read_ahead(
            rows,
            lambda located: without_surrogates(located[2]),
            lambda row: multiple_choice(row, prompt_field, answer_field),
        )
    if limit is not None:
        rows = itertools.islice(rows, limit)
    pf = af = idf = None
    # id -> (the line/row it first was on, a hash of its prompt and gold): two different prompts
    # under one id would share sample ids, so one would silently stand for the other downstream.
    # Python's own hash: compared within this one run only, and cheap on a million rows.
    seen: dict[str, tuple[int, int]] = {}
    i = -1
    halves = 0  # rows holding a lone surrogate, read as U+FFFD
    several = 0  # rows whose gold is a list of several answers (or a dict): no gold
    for i, (head, at, raw) in enumerate(rows):
        clean = without_surrogates(raw)
        if clean is not raw:
            halves += 1
            raw = clean
        if i == 0:
            pf = mc.question if mc else _pick(raw, prompt_field, PROMPT_FIELDS)
            af = mc.answer if mc else _pick(raw, answer_field, ANSWER_FIELDS)
            idf = _pick(raw, id_field, ID_FIELDS)
            fields = ", ".join(map(str, raw)) or "none"
            if require_prompt and (pf is None or pf not in raw):
                what = f"no field '{pf}'" if pf else "no prompt field found"
                raise DistillError(f"{src}: {what} (fields: {fields}); pass --prompt-field")
            for flag, name in (("--answer-field", answer_field), ("--id-field", id_field)):
                if name and name not in raw:
                    raise DistillError(f"{src}: no field '{name}' for {flag} (fields: {fields})")
        if pf is not None and pf not in raw:
            raise DistillError(f"{src}: row {i + 1} has no field '{pf}'")
        if pf is not None and _nan(raw[pf]):
            raw = {**raw, pf: None}  # pandas' missing cell: no prompt (the teacher was sent "nan")
        # a chat, or its JSON text (TRL's conversational `prompt`, in a CSV too): the prompt is
        # that chat (generate.prompt_messages sends it as it is, as on-policy samples it); its
        # JSON text sent as text asked the teacher '[{"role": "system", ...}]'
        value = raw[pf] if pf is not None else ""
        chat = json_chat(value) if isinstance(value, str) else value
        if pf is not None and is_chat(chat) and not skip_no_text:
            prompt = _user_text(chat)
            asked = _asked_text(chat[-1])
            if asked is not None and asks_nothing(asked):
                what = "'-', " + left_out(raw) if asked.strip() == "-" else "empty"
                raise DistillError(
                    f"{head}{at}: field '{pf}' is a chat whose last user turn is {what}: the "
                    f"model would be asked {'nothing' if what == 'empty' else repr('-')}; fill "
                    "the turn with the question first, or drop the row"
                )
        elif pf is not None and (value is None or isinstance(chat, (list, dict))):
            if skip_no_text:
                # a chat benchmark's messages (or MT-Bench's list of turns): its user turns are
                # the problem (a --decontam set is read for its words, never sent anywhere)
                text = _user_text(chat)
                if text:
                    yield Row(prompt=text, gold=None, row_id=None, fields=dict(raw))
                continue
            # str() of these is no prompt: the teacher was asked "None" (and a --decontam set
            # flagged every prompt with the word), or the Python repr of a list
            what = (
                "is empty (null)"
                if value is None
                else f"is a {type(value).__name__}, neither text nor a chat (a list of "
                "role/content messages)"
            )
            raise DistillError(
                f"{head}{at}: field '{pf}' {what}; give each row its prompt as text or as a "
                "chat, drop the row, or pick another --prompt-field"
            )
        else:
            prompt = str(value) if pf is not None else ""
            if mc is not None and not prompt.strip() and not mc.free_form(raw):
                mc.parts(raw, f"{head}{at}")  # options, no question: its own refusal says so
            if pf is not None and not skip_no_text and asks_nothing(prompt):
                what = "'-', " + left_out(raw) if prompt.strip() == "-" else "empty"
                raise DistillError(
                    f"{head}{at}: field '{pf}' is {what}: the model would be asked "
                    f"{'nothing' if what == 'empty' else repr('-')}; fill the field with the "
                    "question first, or drop the row"
                )
        gold = raw.get(af) if af else None
        if mc is not None and mc.spans:
            # SQuAD's `answers` {"text": [...], "answer_start": [...]}: its spans' texts, each
            # once (a dict was no gold at all, read as "several answers"); none (SQuAD 2.0's
            # unanswerable question) no gold
            gold = mc.free_answer(raw)
        if _nan(gold):
            gold = None  # (hash(nan) differs between two NaNs: one id's two rows "differed")
        rid = raw.get(idf) if idf else None
        if (isinstance(rid, str) and not rid.strip()) or _nan(rid):
            rid = None  # a CSV's empty cell: no id (generate names the row by its prompt's hash)
        text = gold_text(gold)
        # a free-form row of a multiple-choice set (its options null: MathVista, MMMU) is
        # asked as its question, its answer column's text the gold; where the set's questions
        # are about a passage (bigbio's QA schema: BioASQ's snippets in `context`), after it
        asked = mc.read(raw, f"{head}{at}") if mc is not None else None
        free = mc.free_prompt(raw, f"{head}{at}") if mc is not None and asked is None else None
        if asked is not None:
            prompt, text = asked
        elif free is not None:
            prompt = free
        if text is None and (
            isinstance(gold, dict) or (isinstance(gold, (list, tuple)) and len(gold) > 1)
        ):
            several += 1  # ([] or [null] is no answer at all, as an empty cell)
        if rid is not None:
            try:
                digest = hash((raw.get(pf) if pf is not None else None, gold))
            except TypeError:  # a list or dict value (several golds): hash its JSON instead
                both = [raw.get(pf) if pf else None, gold]
                digest = hash(json.dumps(both, sort_keys=True, default=str))
            first = seen.setdefault(str(rid), (at, digest))
            if first[1] != digest:
                raise DistillError(
                    f"{head}{at}: id '{rid}' (field '{idf}') is already used by {head}{first[0]} for "
                    "another prompt or answer; give each row its own id (or pick another "
                    "--id-field)"
                )
        yield Row(
            prompt=prompt,
            gold=text,
            row_id=None if rid is None else str(rid),
            fields=dict(raw),
            chat=chat if pf is not None and is_chat(chat) else None,
            choices=mc if asked is not None or free is not None else None,
        )
    if i < 0 and (limit is None or limit > 0):
        raise DistillError(f"{src}: no rows (an empty or blank file?); nothing to do")
    if several:
        print(
            f"{src}: field '{af}' holds several answers (a list, or a dict) in {several} "
            f"row{'s' if several > 1 else ''}: no one gold, unverifiable (keep one answer per "
            "row, or pick another --answer-field)"
        )
    if halves:
        print(
            f"{src}: {halves} row{'s' if halves > 1 else ''} held a lone surrogate (half an "
            "emoji), read as U+FFFD"
        )
