"""What `distill train` puts under the loss for 30 public SFT / reasoning datasets, row by row.

    .venv/bin/python -m pytest tests/test_datasets.py -q -k s1k

Each dataset has a fixture in tests/fixtures/datasets/<name>.jsonl: one or two rows written by
hand in that dataset's exact column layout (column names, nesting, speakers, markers), taken from
its dataset card or from the loaders that read it (LLaMA-Factory's data/dataset_info.json, TRL,
open-r1); the source of each layout is named in CASES. Each row is rendered with the real chat
templates of tests/fixtures/chat_templates (Qwen2.5-Instruct, DeepSeek-R1-Distill-Qwen with its
`<think>\\n` pre-fill, Llama-3.1-Instruct, and Qwen3 for the reasoning sets) on a tiny tokenizer;
the tokens with loss are decoded and checked: the reasoning inside a think block, the answer,
every assistant turn (train_on="all"), the system message in the prompt, and no thought/solution
marker trained as text. The README table "Datasets: what is trained" is this file's CASES.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from distill.errors import DistillError
from distill.examples import Columns, Renderer, load_examples, tokenize_examples
from tests.test_examples import real_template_tokenizer

DATA = Path(__file__).parent / "fixtures" / "datasets"
TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
MARKERS = (
    "<|begin_of_thought|>",
    "<|end_of_thought|>",
    "<|begin_of_solution|>",
    "<|end_of_solution|>",
)


@dataclass
class Case:
    name: str  # fixture file (tests/fixtures/datasets/<name>.jsonl) and README row
    hub: str  # the public dataset (and config) whose layout the fixture copies
    source: str  # where that layout was read
    columns: dict[str, str] | None = None  # Columns(...): the flags the README names
    prompt: list[str] = field(default_factory=list)  # text the prompt must hold (first row)
    turns: list[str] = field(default_factory=list)  # every assistant turn trained (first row)
    reasoning: str | None = None  # trained inside a think block before the last turn
    system: str | None = None  # a system message the prompt must hold
    guess: str | None = None  # what the refusal without flags must suggest (default: the flags)
    fixture: str | None = None  # another case's fixture (two mappings of one dataset)
    sep: str = "\n\n"  # after </think>: a completion that holds its own think block keeps its own

    @property
    def flags(self) -> str:
        return " ".join(f"{k} {v}" for k, v in Columns(**(self.columns or {})).named().items())

    @property
    def path(self) -> str:
        return str(DATA / f"{self.fixture or self.name}.jsonl")


# Texts the fixtures hold (kept in step with tests/fixtures/datasets/*.jsonl).
ODD = "Find the sum of the first 10 positive odd integers."
R1_THINK = (
    "Okay, the first 10 odd numbers are 1, 3, ..., 19. Their sum is 10^2 = 100. "
    "Let me check: 1+19=20, five pairs, 100."
)
R1_ANS = "The sum of the first $n$ odd numbers is $n^2$, so the answer is $\\boxed{100}$."
OT_SYSTEM_START = "Your role as an assistant involves thoroughly exploring questions"
OT_USER = "Return your final response within \\boxed{}. Find the sum of the first 10 positive odd integers."
OT_THINK = (
    "Okay, so I need to find the sum of the first 10 odd numbers.\n\nThe odd numbers are 1, 3, "
    "5, ..., 19.\n\nPairing 1+19, 3+17, ... gives five pairs of 20, so 100."
)
OT_SOL = "The first $n$ odd integers sum to $n^2$.\n\nThus the sum is $\\boxed{100}$."
S1_Q = "Find the remainder when $9 \\times 99 \\times 999 \\times \\cdots$ (999 nines) is divided by 1000."
ZH_Q = "能给我讲一个寓意深刻的故事吗？"
ZH_THINK = "嗯，用户想要一个寓意深刻的故事。我想到守株待兔，它讲的是不劳而获的道理。"
ZH_ANS = (
    "好的，这是一个关于守株待兔的故事：一个农夫偶然捡到撞死的兔子，从此天天守在树下，田地荒芜了。"
)

CASES = [
    # ---------------------------------------------------------------- reasoning traces
    Case(
        "openr1-math-220k",
        "open-r1/OpenR1-Math-220k (default)",
        "dataset card features; open-r1's recipes train its `messages`",
        prompt=[ODD],
        turns=[R1_ANS],
        reasoning=R1_THINK,
    ),
    Case(
        "openthoughts-114k",
        "open-thoughts/OpenThoughts-114k (default)",
        "dataset card: `system` + ShareGPT `conversations` (from user/assistant), thought/solution markers",
        prompt=[OT_USER],
        turns=[OT_SOL],
        reasoning=OT_THINK,
        system=OT_SYSTEM_START,
    ),
    Case(
        "openthoughts-114k-metadata",
        "open-thoughts/OpenThoughts-114k (metadata)",
        "dataset card, config `metadata` (problem, deepseek_reasoning, deepseek_solution, ...)",
        columns=dict(
            prompt_field="problem",
            reasoning_field="deepseek_reasoning",
            answer_field="deepseek_solution",
        ),
        prompt=[ODD],
        turns=[OT_SOL],
        reasoning=OT_THINK,
    ),
    Case(
        "openthoughts-114k-math",
        "open-r1/OpenThoughts-114k-math (its R1 trace)",
        "dataset card: `messages` = NuminaMath's solution, `system` + `conversations` = the R1 trace",
        columns=dict(messages_field="conversations"),
        prompt=[OT_USER],
        turns=[OT_SOL],
        reasoning=OT_THINK,
        system=OT_SYSTEM_START,
        guess="--messages-field",
    ),
    Case(
        "openthoughts-114k-math-messages",
        "open-r1/OpenThoughts-114k-math (NuminaMath's solution)",
        "dataset card (as above)",
        columns=dict(messages_field="messages"),
        prompt=[ODD],
        turns=["NUMINA: pairing gives five pairs of 20, so the sum is $\\boxed{100}$."],
        guess="--messages-field",
        fixture="openthoughts-114k-math",
    ),
    Case(
        "bespoke-stratos-17k",
        "bespokelabs/Bespoke-Stratos-17k",
        "dataset card: `system` + `conversations` (from user/assistant), thought/solution markers",
        prompt=["What is $2 + 3 \\times 4$?"],
        turns=["By the order of operations, $3 \\times 4 = 12$ and $2 + 12 = 14$.\n\n\\boxed{14}"],
        reasoning=(
            "Okay, let's see. I need 2 + 3 times 4.\n\nMultiplication first: 3 times 4 is 12."
            "\n\nThen 2 + 12 = 14."
        ),
        system=OT_SYSTEM_START,
    ),
    Case(
        "sky-t1-data-17k",
        "NovaSky-AI/Sky-T1_data_17k",
        "dataset card / Sky-T1 training data: `system` + `conversations`, thought/solution markers",
        prompt=["reverses a string s."],
        turns=["```python\ndef reverse(s):\n    return s[::-1]\n```"],
        reasoning="Okay, I need a function that reverses a string.\n\nSlicing with [::-1] does it in Python.",
        system=OT_SYSTEM_START,
    ),
    Case(
        "s1k",
        "simplescaling/s1K",
        "dataset card features: thinking_trajectories is a sequence of strings",
        columns=dict(
            prompt_field="question", reasoning_field="thinking_trajectories", answer_field="attempt"
        ),
        prompt=[S1_Q],
        turns=[
            "The product is $9 \\cdot 99 \\cdot (-1)^{997} \\equiv -891 \\equiv 109 \\pmod{1000}$.\n\n"
            "Final Answer: The final answer is $\\boxed{109}$"
        ],
        reasoning=(
            "Let the product be P. Terms from 999 on are -1 mod 1000.\n\n"
            "So P = 9 * 99 * (-1)^997 mod 1000 = -891 = 109 mod 1000."
        ),
    ),
    Case(
        "s1k-1.1",
        "simplescaling/s1K-1.1",
        "dataset card features (gemini_* and deepseek_* trajectories/attempts)",
        columns=dict(
            prompt_field="question",
            reasoning_field="deepseek_thinking_trajectory",
            answer_field="deepseek_attempt",
        ),
        prompt=[S1_Q],
        turns=["The remainder is $\\boxed{109}$."],
        reasoning=(
            "Okay, so I need the product mod 1000. Every factor from 999 on is -1 mod 1000, so "
            "P = 9 * 99 * (-1)^997 = -891 = 109."
        ),
    ),
    Case(
        "limo",
        "GAIR/LIMO",
        "limo.jsonl (question, solution, answer); LIMO trains the solution as the response",
        columns=dict(prompt_field="question", answer_field="solution"),
        prompt=["positive divisors of 2010"],
        turns=[
            "Okay, so I need the odd divisors of 2010 = 2 * 3 * 5 * 67. The odd part is 3 * 5 * 67, "
            "which has 2^3 = 8 divisors.\n\n**Final Answer**\n\\boxed{8}"
        ],
    ),
    Case(
        "openmathreasoning",
        "nvidia/OpenMathReasoning (cot split)",
        "dataset card fields: generated_solution holds <think>...</think> then the solution",
        columns=dict(prompt_field="problem", answer_field="generated_solution"),
        prompt=[ODD],
        turns=[R1_ANS],
        reasoning=R1_THINK,
        sep="\n",
    ),
    Case(
        "multilingual-thinking",
        "HuggingFaceH4/Multilingual-Thinking",
        "dataset card: messages with a `thinking` key on the assistant (gpt-oss cookbook)",
        prompt=["latest trends on Twitter"],
        turns=["I can't browse Twitter in real time, but you can see trends in the Explore tab."],
        reasoning="L'utilisateur demande les tendances Twitter. Je n'ai pas d'accès en temps réel.",
        system="reasoning language: French",
    ),
    Case(
        "chinese-r1-distill-110k",
        "Congliu/Chinese-DeepSeek-R1-Distill-data-110k",
        "dataset card: input, reasoning_content, content (+ token counts, score)",
        columns=dict(
            prompt_field="input", reasoning_field="reasoning_content", answer_field="content"
        ),
        prompt=[ZH_Q],
        turns=[ZH_ANS],
        reasoning=ZH_THINK,
    ),
    Case(
        "chinese-r1-distill-110k-sft",
        "Congliu/Chinese-DeepSeek-R1-Distill-data-110k-SFT",
        "LLaMA-Factory dataset_info.json `chinese_r1_distill` (Alpaca columns, <think> in output)",
        prompt=[ZH_Q],
        turns=[ZH_ANS],
        reasoning=ZH_THINK,
    ),
    # ---------------------------------------------------------------- math / instruction pairs
    Case(
        "numinamath-cot",
        "AI-MO/NuminaMath-CoT",
        "dataset card: source, problem, solution, messages",
        prompt=["What is $2 + 3 \\times 4$?"],
        turns=["Multiply first: $3 \\times 4 = 12$. Then $2 + 12 = \\boxed{14}$."],
    ),
    Case(
        "numinamath-1.5",
        "AI-MO/NuminaMath-1.5",
        "dataset card features: problem, solution, answer, problem_type, ... (no messages)",
        columns=dict(prompt_field="problem", answer_field="solution"),
        prompt=["What is $2 + 3 \\times 4$?"],
        turns=["Multiply first: $3 \\times 4 = 12$. Then $2 + 12 = \\boxed{14}$."],
    ),
    Case(
        "metamathqa",
        "meta-math/MetaMathQA",
        "dataset card: type, query, original_question, response",
        columns=dict(prompt_field="query", answer_field="response"),
        prompt=["If James buys 5 packs of 3 apples each"],
        turns=["He has 5 * 3 = 15 apples.\nThe answer is: 15"],
    ),
    Case(
        "gsm8k",
        "openai/gsm8k (main)",
        "dataset card: question, answer (rationale with <<calc>> then '#### 72')",
        columns=dict(prompt_field="question", answer_field="answer"),
        prompt=["Natalia sold clips to 48 of her friends"],
        turns=[
            "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
            "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
        ],
    ),
    Case(
        "dolly-15k",
        "databricks/databricks-dolly-15k",
        "dataset card: instruction, context, response, category",
        columns=dict(prompt_field="instruction", context_field="context", answer_field="response"),
        prompt=["When was the Eiffel Tower completed?", "completed in 1889 for the World's Fair."],
        turns=["The Eiffel Tower was completed in 1889."],
    ),
    Case(
        "openorca",
        "Open-Orca/OpenOrca",
        "LLaMA-Factory dataset_info.json `openorca`: prompt=question, response, system=system_prompt",
        columns=dict(
            system_field="system_prompt", prompt_field="question", answer_field="response"
        ),
        prompt=["Translate to French: The weather is nice today."],
        turns=["Il fait beau aujourd'hui."],
        system="You are an AI assistant that follows instruction extremely well.",
    ),
    Case(
        "alpaca",
        "tatsu-lab/alpaca",
        "dataset card: instruction, input, output, text",
        prompt=["Classify the sentiment.", "I loved this film."],
        turns=["Positive"],
    ),
    Case(
        "alpaca-cleaned",
        "yahma/alpaca-cleaned",
        "dataset card: output, input, instruction",
        prompt=["Classify the sentiment.", "I loved this film."],
        turns=["Positive"],
    ),
    Case(
        "alpaca-gpt4",
        "vicgalle/alpaca-gpt4",
        "dataset card: instruction, input, output, text",
        prompt=["Classify the sentiment.", "I loved this film."],
        turns=["The sentiment of the sentence is positive."],
    ),
    # ---------------------------------------------------------------- chats (multi-turn)
    Case(
        "sharegpt-vicuna",
        "anon8231489123/ShareGPT_Vicuna_unfiltered",
        "LLaMA-Factory `sharegpt` format: id, conversations from human/gpt",
        prompt=["Summarize the plot of Hamlet in one sentence."],
        turns=[
            "A Danish prince avenges his father's murder, and nearly everyone dies.",
            "Prince avenges father; everyone dies.",
        ],
    ),
    Case(
        "ultrachat-200k",
        "HuggingFaceH4/ultrachat_200k (train_sft)",
        "dataset card: prompt, prompt_id, messages; LLaMA-Factory `ultrachat_200k`",
        prompt=["How does photosynthesis work?"],
        turns=[
            "Plants turn light, water and carbon dioxide into glucose and oxygen.",
            "In the chloroplasts of leaf cells.",
        ],
    ),
    Case(
        "tulu-3-sft-mixture",
        "allenai/tulu-3-sft-mixture",
        "dataset card: id, messages (system/user/assistant), source",
        prompt=["What is the capital of France?"],
        turns=["The capital of France is Paris.", "The capital of Italy is Rome."],
        system="You are a helpful assistant named Tulu.",
    ),
    Case(
        "smoltalk",
        "HuggingFaceTB/smoltalk (all)",
        "dataset card: messages, source",
        prompt=["Can you suggest a name for a cat?"],
        turns=["How about Miso?", "Pepper is a nice one too."],
    ),
    Case(
        "capybara",
        "trl-lib/Capybara",
        "dataset card: source, messages, num_turns (TRL's SFT example data)",
        prompt=["Which planet is known as the Red Planet?"],
        turns=[
            "Mars is known as the Red Planet.",
            "Its surface is rich in iron oxide, which looks red.",
        ],
    ),
    Case(
        "lmsys-chat-1m",
        "lmsys/lmsys-chat-1m",
        "LLaMA-Factory `lmsys_chat`: messages=conversation (role/content)",
        columns=dict(messages_field="conversation"),
        prompt=["What is the boiling point of water?"],
        turns=[
            "Water boils at 100 degrees Celsius at sea level.",
            "That is 212 degrees Fahrenheit.",
        ],
    ),
    Case(
        "openhermes-2.5",
        "teknium/OpenHermes-2.5",
        "dataset card: conversations from system/human/gpt with `weight`, many null columns",
        prompt=["Every day, a tree drops 7 leaves."],
        turns=["It drops 7 x 7 = 49 leaves in a week."],
        system="You are an AI assistant. Provide a detailed answer.",
    ),
    Case(
        "slimorca",
        "Open-Orca/SlimOrca",
        "LLaMA-Factory `slimorca` (sharegpt): conversations from system/human/gpt with `weight`",
        prompt=["Translate to French: The weather is nice today."],
        turns=["Il fait beau aujourd'hui."],
        system="You are an AI assistant. You will be given a task.",
    ),
]
REASONING = [c for c in CASES if c.reasoning]
MULTI_TURN = [c for c in CASES if len(c.turns) > 1]
TEMPLATE_NAMES = ("qwen2.5-instruct", "deepseek-r1-distill-qwen", "llama-3.1-instruct")
END = {  # each template's end of an assistant turn (a stop token: no EOS is added)
    "qwen2.5-instruct": "<|im_end|>\n",
    "deepseek-r1-distill-qwen": "<｜end▁of▁sentence｜>",
    "llama-3.1-instruct": "<|eot_id|>",
}


@functools.cache
def template_tokenizer(name: str):
    """A tiny tokenizer wearing a real checkpoint's chat template (built once per template)."""
    return real_template_tokenizer(name)


@dataclass
class Trained:
    prompt: str  # every token without loss, decoded
    spans: list[str]  # each run of tokens with loss, decoded
    full: str  # the whole sequence

    @property
    def loss(self) -> str:
        return "\n".join(self.spans)


def train_rows(case: Case, template: str, train_on: str = "all") -> list[Trained]:
    tok = template_tokenizer(template)
    examples = list(load_examples(case.path, columns=Columns(**(case.columns or {}))))
    cols, stats = tokenize_examples(examples, Renderer(tok, "r1", train_on=train_on), 8192)
    assert stats.kept == len(examples)
    out = []
    for ids, mask in zip(cols["input_ids"], cols["completion_mask"]):
        spans, run = [], []
        for t, m in zip(ids, mask):
            if m:
                run.append(t)
            elif run:
                spans.append(tok.decode(run))
                run = []
        if run:
            spans.append(tok.decode(run))
        prompt = tok.decode([t for t, m in zip(ids, mask) if not m])
        out.append(Trained(prompt, spans, tok.decode(ids)))
    return out


def assert_in_think_block(full: str, reasoning: str, answer: str) -> None:
    """`reasoning` sits between an opening <think> and its </think>, and `answer` comes after."""
    i = full.find(reasoning)
    opening, closing = full.rfind("<think>", 0, i), full.find("</think>", i)
    assert opening >= 0 and "</think>" not in full[opening:i], full
    assert closing > i and answer in full[closing:], full


def case_ids(cases):
    return [c.name for c in cases]


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_dataset_trains_what_its_authors_meant(case, template):
    # A chat may become one sequence with a span per assistant turn, or (where the template
    # re-renders history differently, as R1-Distill drops earlier reasoning) one per turn.
    rows = train_rows(case, template)
    spans = [s for row in rows for s in row.spans]
    for text in case.prompt:
        assert text in rows[0].prompt and not any(text in s for s in spans)
    if case.system:
        assert all(case.system in row.prompt for row in rows[: len(case.turns)])
        assert not any(case.system in s for s in spans)
    # Every assistant turn is trained, once.
    for turn in case.turns:
        assert sum(turn in s for s in spans) == 1, (turn, spans)
    assert not any(m in s for s in spans for m in MARKERS), spans
    first = next(row for row in rows if case.turns[-1] in row.loss)
    # The last turn's span, exactly: the pre-fill's `<think>\n` is the prompt's, and a turn
    # without reasoning closes that block empty, as the model answers at inference.
    think = f"<think>\n{case.reasoning}\n</think>{case.sep}" if case.reasoning else ""
    if template.startswith("deepseek"):
        think = think.removeprefix("<think>\n") or "\n</think>\n\n"
    assert first.spans[-1] == think + case.turns[-1] + END[template]
    for turn in case.turns[:-1]:
        [span] = [s for s in spans if turn in s]
        assert span.removeprefix("\n</think>\n\n") == turn + END[template]
    if case.reasoning:
        assert case.reasoning in first.loss
        assert_in_think_block(first.full, case.reasoning, case.turns[-1])
        # Never an empty think block in front of the reasoning (the pre-fill's, or a new one).
        assert "<think>\n\n</think>" not in first.full and not first.loss.startswith("\n</think>")
    else:
        assert not any("<think>" in s.replace("<think>\n\n</think>", "") for s in spans)


@pytest.mark.parametrize("case", REASONING, ids=case_ids(REASONING))
def test_reasoning_datasets_on_qwen3_train_what_its_template_renders(case):
    # Qwen3's template renders the last assistant turn's reasoning itself (from reasoning_content,
    # or split off its content): the trained text is what the template writes for that turn.
    [first, *_] = train_rows(case, "qwen3")
    assert first.loss.startswith("<think>\n") and case.reasoning in first.loss, first.loss
    assert_in_think_block(first.full, case.reasoning, case.turns[-1])
    assert first.loss.endswith(case.turns[-1] + "<|im_end|>\n") or first.loss.endswith(
        case.turns[-1] + "<|im_end|>"
    )
    assert "<think>\n\n</think>" not in first.full
    assert not any(m in first.loss for m in MARKERS)


@pytest.mark.parametrize("case", MULTI_TURN, ids=case_ids(MULTI_TURN))
def test_train_on_last_trains_the_last_assistant_turn_only(case):
    [row] = train_rows(case, "qwen2.5-instruct", train_on="last")
    assert len(row.spans) == 1 and case.turns[-1] in row.spans[0]
    assert case.turns[0] in row.prompt  # earlier turns are context


MAPPED = [c for c in CASES if c.columns]


@pytest.mark.parametrize("case", MAPPED, ids=case_ids(MAPPED))
def test_without_the_flags_the_refusal_names_the_flags_to_try(case):
    with pytest.raises(DistillError) as e:
        list(load_examples(case.path))
    message = str(e.value)
    assert "\n" not in message and "row 1" in message
    assert (case.guess or case.flags) in message, message


def test_two_chat_columns_are_refused_naming_both():
    with pytest.raises(DistillError, match="'messages' and 'conversations'.*--messages-field"):
        list(load_examples(str(DATA / "openthoughts-114k-math.jsonl")))


def test_trl_text_prompt_completion_trains_a_raw_continuation():
    # trl-lib/tldr (dataset card: prompt, completion as plain text): TRL's "standard" layout,
    # trained as the text continuation it is, without a chat template.
    [ex] = load_examples(str(DATA / "tldr.jsonl"))
    for template in TEMPLATE_NAMES:
        tok = template_tokenizer(template)
        cols, _ = tokenize_examples([ex], Renderer(tok, "r1"), 8192)
        ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
        loss = tok.decode([t for t, m in zip(ids, mask) if m])
        prompt = tok.decode([t for t, m in zip(ids, mask) if not m])
        assert (
            loss == " Roommate ignores our chore agreement and the dishes pile up." + tok.eos_token
        )
        assert prompt.removeprefix(tok.bos_token or "").startswith("SUBREDDIT: r/relationships")
        assert prompt.endswith("TL;DR:") and "<|im_start|>" not in prompt
        # --chat: the same row as a user turn and the assistant's reply, in the chat template.
        cols, _ = tokenize_examples([ex], Renderer(tok, "r1", chat=True), 8192)
        ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
        loss = tok.decode([t for t, m in zip(ids, mask) if m])
        prompt = tok.decode([t for t, m in zip(ids, mask) if not m])
        reply = " Roommate ignores our chore agreement and the dishes pile up."
        if template.startswith("llama"):  # as its template writes the turn: `content | trim`
            reply = reply.lstrip()
        reply += END[template]
        assert loss == ("\n</think>\n\n" if template.startswith("deepseek") else "") + reply
        assert "SUBREDDIT: r/relationships" in prompt and prompt != ex.prompt[-1]["content"]


def test_keep_markers_trains_the_thought_and_solution_markers_verbatim():
    case = next(c for c in CASES if c.name == "openthoughts-114k")
    tok = template_tokenizer("qwen2.5-instruct")
    examples = list(load_examples(case.path, keep_markers=True))
    cols, _ = tokenize_examples(examples, Renderer(tok, "r1"), 8192)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    loss = tok.decode([t for t, m in zip(ids, mask) if m])
    assert loss.startswith("<|begin_of_thought|>\n\n" + OT_THINK) and "<|end_of_solution|>" in loss


@pytest.mark.parametrize(
    "fixture, columns, message",
    [
        ("numinamath-1.5", dict(prompt_field="problem", answer_field="nope"), r"row 1.*'nope'"),
        # s1K's `cot` is null in every row, the Chinese set's `score` a number: neither is a
        # string or a list of strings.
        (
            "s1k",
            dict(prompt_field="question", reasoning_field="cot", answer_field="attempt"),
            r"row 1.*'cot'",
        ),
        (
            "chinese-r1-distill-110k",
            dict(prompt_field="input", reasoning_field="score", answer_field="content"),
            r"row 1.*'score'",
        ),
        # dolly's second row has an empty `context`: fine as context, not as the answer.
        (
            "dolly-15k",
            dict(prompt_field="instruction", answer_field="context"),
            r"row 2.*'context'",
        ),
    ],
)
def test_a_mapping_that_names_a_missing_or_unusable_column_is_one_line(fixture, columns, message):
    with pytest.raises(DistillError, match=message) as e:
        list(load_examples(str(DATA / f"{fixture}.jsonl"), columns=Columns(**columns)))
    assert "\n" not in str(e.value)


def test_the_system_column_goes_with_the_chat_it_was_written_for():
    # open-r1/OpenThoughts-114k-math: `system` is what R1 was sent with `conversations`;
    # NuminaMath's short solution in `messages` was never written under it.
    case = next(c for c in CASES if c.name == "openthoughts-114k-math-messages")
    [row] = train_rows(case, "qwen2.5-instruct")
    assert OT_SYSTEM_START not in row.prompt


ALPACA = CASES


@pytest.mark.parametrize("case", ALPACA, ids=case_ids(ALPACA))
def test_alpaca_format_trains_the_answer_or_refuses_what_it_cannot_hold(case):
    tok = template_tokenizer("qwen2.5-instruct")
    examples = load_examples(case.path, columns=Columns(**(case.columns or {})))
    if case.system or len(case.turns) > 1:
        with pytest.raises(DistillError, match=r"row 1: --format alpaca .*--format r1$"):
            tokenize_examples(examples, Renderer(tok, "alpaca"), 8192)
        return
    cols, _ = tokenize_examples(examples, Renderer(tok, "alpaca"), 8192)
    ids, mask = cols["input_ids"][0], cols["completion_mask"][0]
    prompt = tok.decode([t for t, m in zip(ids, mask) if not m])
    assert tok.decode([t for t, m in zip(ids, mask) if m]) == case.turns[-1] + tok.eos_token
    assert prompt.startswith("Below is an instruction") and prompt.endswith("### Response:")
    assert all(text in prompt for text in case.prompt)
    # The context column is Alpaca's input.
    assert ("### Input:" in prompt) == (len(case.prompt) > 1), prompt


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_every_dataset_passes_the_preflight_checks(template):
    from distill.preflight import problems

    tok = template_tokenizer(template)
    renderer = Renderer(tok, "r1")
    for case in CASES:
        examples = load_examples(case.path, columns=Columns(**(case.columns or {})))
        cols, _ = tokenize_examples(examples, renderer, 8192)
        for ids, mask in zip(cols["input_ids"], cols["completion_mask"]):
            assert problems(tok, ids, mask, renderer.stops) == [], case.name


@pytest.mark.parametrize("name", ["openthoughts-114k", "bespoke-stratos-17k", "sky-t1-data-17k"])
def test_keep_markers_under_a_think_prefill_is_stopped_by_the_preflight(name):
    # --keep-markers on R1-Distill: the pre-fill's block closes empty and the whole thought is
    # trained as the visible answer, the silent failure of issue 25; the pre-flight names it.
    from distill.preflight import problems

    tok = template_tokenizer("deepseek-r1-distill-qwen")
    renderer = Renderer(tok, "r1")
    examples = load_examples(str(DATA / f"{name}.jsonl"), keep_markers=True)
    cols, _ = tokenize_examples(examples, renderer, 8192)
    [found] = problems(tok, cols["input_ids"][0], cols["completion_mask"][0], renderer.stops)
    assert "the think block is empty while the answer holds thought/solution markers" in found


@pytest.mark.parametrize("case", REASONING, ids=case_ids(REASONING))
def test_export_keeps_the_reasoning_in_the_messages_it_writes(case, tmp_path, capsys):
    # `distill export --format r1` (no --model): a `messages` dataset TRL / LLaMA-Factory read;
    # reasoning kept beside the content, in a column, or in markers lands in a think block.
    import json

    from distill.train import ExportConfig, export

    out = tmp_path / "data.jsonl"
    export(ExportConfig(data=case.path, out=str(out), **(case.columns or {})))
    messages = json.loads(out.read_text().splitlines()[0])["messages"]
    content = f"<think>\n{case.reasoning}\n</think>{case.sep}{case.turns[-1]}"
    assert messages[-1] == {"role": "assistant", "content": content}
    assert not any(m in json.dumps(messages[1:]) for m in MARKERS)
