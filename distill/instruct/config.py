"""The instruct stage's settings (light: the CLI and recipe checks import it).

distill instruct --help
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from distill.config import check_values, like, setting
from distill.errors import DistillError
from distill.generate.config import Sampling, TeacherConfig

METHODS = ("self-instruct", "magpie")
DEDUP = ("none", "exact", "near")
# Alpaca's list: tasks a text-only model cannot do (matched as whole words, any case).
BLACKLIST = [
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
]
# TeacherConfig keys of generate's that instruct never reads: refused when set (cli.py hides them).
UNUSED_TEACHER_KEYS = ("n_per_request", "logprobs", "logprobs_shard")
# Report keys, in the order the filters run.
FILTERS = (
    "too_short",
    "too_long",
    "keyword",
    "punctuation",
    "non_english",
    "exact_duplicate",
    "near_duplicate",
    "rouge",
)


# =========================================================================== config


@dataclass
class InstructConfig(TeacherConfig):
    """`distill instruct`; the teacher keys are generate's (TeacherConfig)."""

    # Alpaca sampled its lists at temperature 1.0, top_p 1.0, up to 3072 tokens.
    temperature: float = like(Sampling, "temperature", 1.0)
    top_p: float = like(Sampling, "top_p", 1.0)
    max_tokens: int = like(Sampling, "max_tokens", 3072, "Max new tokens per reply.")
    seed: int | None = like(Sampling, "seed", None, "Seed for in-context sampling and the teacher.")
    method: str = setting(
        "self-instruct", "self-instruct (default) | magpie (hf/vllm teachers only)."
    )
    # self-instruct JSONL by path, or a name in prompts/
    seed_tasks: str = setting(
        "seed_tasks",
        "Seed tasks, self-instruct's JSONL (instruction, instances[0].input/output): a path, or a name in prompts/.",
    )
    num_instructions: int = setting(100, "Kept instructions to reach (Alpaca: 52000).")
    out: str = setting("", "instructions.jsonl (Alpaca columns; a rerun resumes from it).")
    template: str = setting("self-instruct", "Prompt template with {num_tasks} {examples} {next}.")
    num_prompt_tasks: int = setting(
        3, "In-context tasks per request (Alpaca: 3; self-instruct: 8)."
    )
    num_prompt_generated: int = setting(
        1, "Of those, how many come from already-kept instructions."
    )
    # the list length the prompt asks for (Alpaca: 20)
    num_tasks_per_request: int = setting(20, "Length of the list each request asks for.")
    request_batch_size: int | None = setting(
        None,
        "Requests per round (default: --concurrency, or --batch-size for hf; a rerun keeps the "
        "earlier run's).",
    )
    # drop if ROUGE-L F >= this against any seed or kept instruction
    max_rouge: float = setting(
        0.7, "Drop an instruction with ROUGE-L >= this vs any kept or seed one."
    )
    # Alpaca dropped instructions of <= 3 words
    min_words: int = setting(4, "Drop instructions shorter.")
    max_words: int = setting(150, "Drop instructions longer.")
    blacklist: list[str] = setting(
        factory=lambda: list(BLACKLIST),
        help="Comma list of words that drop an instruction (default: Alpaca's list).",
        csv=True,
    )
    # en: drop instructions that are not English text; None: keep all
    language: str | None = setting("en", "en (default): drop non-English instructions | any.")
    dedup: str = setting("near", "none | exact | near (default; MinHash, includes exact).")
    dedup_threshold: float = setting(0.8, "Jaccard similarity for near-duplicates.")
    include_seeds: bool = setting(False, "Also write the seed tasks (source: seed).")
    # magpie: steers the kind of instruction the model writes
    system_prompt: str | None = setting(
        None, "magpie: system message that steers the instructions."
    )
    # magpie: cap for the instruction the model writes
    instruction_max_tokens: int = setting(256, "magpie: max tokens of a written instruction.")
    stall_rounds: int = setting(5, "Stop after this many rounds in a row keep nothing.")

    def __post_init__(self) -> None:
        super().__post_init__()
        # generate's teacher keys instruct has no use for (its command line hides them): a
        # recipe that sets one is told, not run as if it had not
        for name in UNUSED_TEACHER_KEYS:
            given, default = getattr(self, name), TeacherConfig.__dataclass_fields__[name].default
            if given != default:
                raise DistillError(
                    f"key '{name}' {given}: instruct does not use it (a generate key: instruct "
                    "keeps no log-probs and asks for one reply per request); drop it"
                )
        if self.method not in METHODS:
            raise DistillError(f"--method {self.method}: expected one of {', '.join(METHODS)}")
        if self.method == "magpie" and self.teacher == "openai":
            raise DistillError(
                "--method magpie needs a local teacher (--teacher hf or vllm): it sends the raw "
                "chat-template prefix, which a chat-completions API does not accept"
            )
        if self.system_prompt and self.method != "magpie":
            # self-instruct's requests are one user turn: the message was silently not sent
            raise DistillError(
                "--system-prompt steers the instructions --method magpie makes the model write; "
                "self-instruct sends none (its --template is the whole request): drop it, or "
                "use --method magpie"
            )
        if not self.model:
            raise DistillError("missing --model")
        if not self.out:
            raise DistillError("missing --out (the instructions file to write)")
        check_values(
            self,
            [
                ("num_instructions", self.num_instructions >= 1, ">= 1"),
                ("num_prompt_tasks", self.num_prompt_tasks >= 1, ">= 1"),
                (
                    "num_prompt_generated",
                    0 <= self.num_prompt_generated <= self.num_prompt_tasks,
                    f"in [0, --num-prompt-tasks {self.num_prompt_tasks}]",
                ),
                (
                    "num_tasks_per_request",
                    self.num_tasks_per_request > self.num_prompt_tasks,
                    f"> --num-prompt-tasks {self.num_prompt_tasks}",
                ),
                (
                    "request_batch_size",
                    self.request_batch_size is None or self.request_batch_size >= 1,
                    ">= 1",
                ),
                ("max_rouge", 0 < self.max_rouge <= 1, "in (0, 1]"),
                ("dedup_threshold", 0 < self.dedup_threshold <= 1, "in (0, 1]"),
                ("min_words", self.min_words >= 0, ">= 0"),
                (
                    "max_words",
                    self.max_words >= max(1, self.min_words),
                    f">= 1 and >= --min-words {self.min_words}",
                ),
                ("stall_rounds", self.stall_rounds >= 1, ">= 1"),
                ("instruction_max_tokens", self.instruction_max_tokens >= 1, ">= 1"),
            ],
        )
        if self.dedup not in DEDUP:
            raise DistillError(f"--dedup {self.dedup}: expected one of {', '.join(DEDUP)}")
        if self.language not in (None, "en", "any"):
            raise DistillError(f"--language {self.language}: expected en or any")

    def teacher_config(self) -> TeacherConfig:
        names = [f.name for f in dataclasses.fields(TeacherConfig)]
        return TeacherConfig(**{k: getattr(self, k) for k in names})

    def round_size(self) -> int:
        if self.request_batch_size:
            return self.request_batch_size
        return {"openai": self.concurrency, "hf": self.batch_size}.get(self.teacher, 64)
