"""Cross-tokenizer kd (distill/train/kd/xtok.py): byte-offset alignment, ULD / hybrid losses, the
local teacher of another tokenizer in `distill train --method kd`."""

import copy
import json
import math
import random
from pathlib import Path

import pytest
import torch

from distill.models import load_tokenizer
from distill.train import build_trainer, run
from distill.train.kd import card_lines
from distill.train.kd.xtok import (
    XTokTeacher,
    align,
    char_ends,
    hybrid_loss,
    pair_positions,
    uld_loss,
)
from tests.tiny import CORPUS


def bpe(vocab_size, corpus, end="<|end|>"):
    """A byte-level BPE trained here (as tests/tiny.py), with its own size and merges; `end`
    its EOS (a special token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[end, "<think>", "</think>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=end, pad_token=end)


@pytest.fixture(scope="module")
def two_toks():
    small = bpe(300, CORPUS * 20)
    # other merges: the same words with the spaces moved and reversed, a bigger vocabulary
    other = [" ".join(reversed(x.split())) + " ".join(x.split()).upper() for x in CORPUS]
    big = bpe(700, (other + CORPUS[::-1]) * 20)
    assert len(small) != len(big)
    return small, big


WORDS = "the answer is 12 + 34 = 46 Let me add numbers. <think> </think> \\boxed{46} é 中文 🙂 ü".split()


def random_text(rng):
    out = []
    for _ in range(rng.randint(1, 25)):
        w = rng.choice(WORDS)
        if rng.random() < 0.2:
            w = "".join(rng.sample(w, len(w)))
        out.append(w + rng.choice([" ", "", "\n", "  ", ", "]))
    return "".join(out)


def check_partition(text, s_ends, t_ends, spans):
    s_idx = [k for s_lo, s_hi, _, _ in spans for k in range(s_lo, s_hi)]
    t_idx = [k for _, _, t_lo, t_hi in spans for k in range(t_lo, t_hi)]
    assert s_idx == list(range(len(s_ends))) and t_idx == list(range(len(t_ends)))
    at = 0
    for s_lo, s_hi, t_lo, t_hi in spans:
        s_end = s_ends[s_hi - 1] if s_hi > s_lo else at
        t_end = t_ends[t_hi - 1] if t_hi > t_lo else at
        assert s_end == t_end, (text, spans)  # the two runs cover the same characters
        assert (s_ends[s_lo - 1] if s_lo else 0) == at == (t_ends[t_lo - 1] if t_lo else 0)
        at = s_end
    assert at == len(text)  # every character once, in order


# --------------------------------------------------------------------------- alignment


def test_alignment_covers_every_character_once_with_spans_that_coincide(two_toks):
    small, big = two_toks
    rng = random.Random(0)
    many = 0
    for _ in range(200):
        text = random_text(rng)
        s_ids = small(text, add_special_tokens=False)["input_ids"]
        t_ids = big(text, add_special_tokens=False)["input_ids"]
        s_ends, t_ends = char_ends(small, s_ids, text), char_ends(big, t_ids, text)
        assert s_ends[-1] == t_ends[-1] == len(text)
        assert s_ends == sorted(s_ends) and t_ends == sorted(t_ends)
        spans = align(s_ends, t_ends)
        check_partition(text, s_ends, t_ends, spans)
        many += any(s_hi - s_lo != t_hi - t_lo for s_lo, s_hi, t_lo, t_hi in spans)
    assert many > 100  # the two tokenizations really differ on most texts


def test_a_text_tokenized_alike_aligns_one_to_one(two_toks):
    small, _ = two_toks
    rng = random.Random(1)
    for _ in range(50):
        text = random_text(rng)
        ids = small(text, add_special_tokens=False)["input_ids"]
        ends = char_ends(small, ids, text)
        spans = align(ends, list(ends))
        check_partition(text, ends, ends, spans)
        assert all(s == t for s, _, t, _ in spans)
        # one token a side, except byte pieces of one multi-byte character (no text alone)
        wide = [(s_lo, s_hi) for s_lo, s_hi, _, _ in spans if s_hi - s_lo > 1]
        for s_lo, s_hi in wide:
            assert any(ends[k] == (ends[k - 1] if k else 0) for k in range(s_lo, s_hi))
    ascii_text = "the answer is 12 + 34 = 46"
    ids = small(ascii_text, add_special_tokens=False)["input_ids"]
    ends = char_ends(small, ids, ascii_text)
    assert align(ends, ends) == [(k, k + 1, k, k + 1) for k in range(len(ids))]


def test_byte_pieces_of_a_character_end_where_it_closes_and_other_text_is_none(two_toks):
    small, _ = two_toks
    text = "a 🙂 b"
    ids = small(text, add_special_tokens=False)["input_ids"]
    ends = char_ends(small, ids, text)
    assert len(ids) > len(text) and ends[-1] == len(text)  # the emoji is several byte pieces
    assert char_ends(small, ids, "a :) b") is None


def test_pairs_stop_at_the_shared_text_and_add_the_end_of_turn():
    # student "ab|c|<eot>", teacher "a|bc|<eot2>|\n": shared text "abc" (3 characters)
    pairs = pair_positions([2, 3, 8], [1, 3, 9, 10], shared=3)
    assert pairs == [(0, 0), (2, 2)]  # one span "abc" (2 tokens a side), then the end of turn
    # the last boundary both have inside the shared text ends the pairs: what follows it on
    # each side follows the same text (an end of turn spelled "<|im_end|>" / "<|end|>": "<|" shared)
    assert pair_positions([1, 2, 4], [1, 3, 5], shared=3) == [(0, 0), (1, 1)]
    assert pair_positions([5, 7], [5, 6, 9], shared=7) == [(0, 0), (1, 1)]


# --------------------------------------------------------------------------- losses


def test_shared_vocab_matches_tokens_by_their_text(two_toks):
    from distill.train.kd.xtok import shared_vocab

    small, big = two_toks
    s_ids, t_ids = shared_vocab(small, big)
    assert len(s_ids) == len(set(s_ids)) and len(t_ids) == len(set(t_ids))
    texts = [(small.decode([s]), big.decode([t])) for s, t in zip(s_ids, t_ids, strict=True)]
    assert all(a == b for a, b in texts)
    # the ASCII bytes (a byte >= 0x80 alone is no text), merges both learnt, the added tokens
    assert 128 < len(s_ids) < min(len(small), len(big))
    assert {"<think>", " the"} <= {a for a, _ in texts}


def student_like_teacher(t_lp, s_shared, t_shared, s_vocab):
    """The student's log-probs that put each shared token's teacher mass on its own id and the
    teacher's other probabilities, in some order, on its own other ids."""
    s = torch.full((t_lp.shape[0], s_vocab), -1e4)
    s[:, s_shared] = t_lp[:, t_shared]
    t_rest = [i for i in range(t_lp.shape[1]) if i not in t_shared]
    s_rest = [i for i in range(s_vocab) if i not in s_shared]
    for row in range(t_lp.shape[0]):
        vals = t_lp[row, t_rest].sort(descending=True).values[: len(s_rest)]
        s[row, list(reversed(s_rest))[: len(vals)]] = vals
    return s


def test_uld_and_hybrid_are_zero_for_the_teachers_mapped_distribution_and_positive_otherwise():
    torch.manual_seed(0)
    s_shared, t_shared = [0, 1, 2, 3], [5, 2, 6, 0]  # student vocab 6, teacher vocab 9
    t_logits = torch.randn(5, 9) * 2
    t_logits[:, [1, 7, 8]] = -1e4  # never predicted: two unshared tokens live, as the student has
    t_logits[:, 5] += 3  # shared tokens 0 and 1 of the student get clearly different mass
    t_lp = torch.log_softmax(t_logits, -1)
    s_lp = student_like_teacher(t_lp, s_shared, t_shared, 6)
    assert torch.allclose(s_lp.exp().sum(-1), torch.ones(5), atol=1e-5)
    hy = hybrid_loss(s_lp, t_lp, torch.tensor(s_shared), torch.tensor(t_shared))
    assert hy.abs().max() < 1e-5 and uld_loss(s_lp, t_lp).abs().max() < 1e-5
    # ULD alone cannot tell which token is which; the hybrid can: swap two shared tokens
    swapped = s_lp[:, [1, 0, 2, 3, 4, 5]]
    assert uld_loss(swapped, t_lp).abs().max() < 1e-5
    assert (hybrid_loss(swapped, t_lp, torch.tensor(s_shared), torch.tensor(t_shared)) > 1e-3).all()
    # any other student is at a positive loss, and the gradient reaches its logits
    logits = torch.randn(5, 6, requires_grad=True)
    for fn in (
        uld_loss,
        lambda s, t: hybrid_loss(s, t, torch.tensor(s_shared), torch.tensor(t_shared)),
    ):
        loss = fn(torch.log_softmax(logits, -1), t_lp)
        assert (loss > 1e-3).all()
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        assert grad.abs().sum() > 0 and torch.isfinite(grad).all()


def test_hybrid_of_one_vocabulary_is_the_exact_kl():
    torch.manual_seed(1)
    s_lp, t_lp = torch.log_softmax(torch.randn(4, 7), -1), torch.log_softmax(torch.randn(4, 7), -1)
    every = torch.arange(7)
    want = (t_lp.exp() * (t_lp - s_lp)).sum(-1)
    assert torch.allclose(hybrid_loss(s_lp, t_lp, every, every), want, atol=1e-5)


# --------------------------------------------------------------------------- training

TEMPLATE = (
    "{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] + '<|end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}"
)


def tiny_model_with(tok, path, seed=0):
    """A tiny random Llama over `tok` (its own chat template, <|end|> ends a turn)."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(seed)
    tok.chat_template = TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def other_teacher(two_toks, tmp_path_factory):
    """A tiny teacher whose tokenizer has other merges, another size and other turn markers."""
    return tiny_model_with(two_toks[1], tmp_path_factory.mktemp("xtok-teacher"), seed=3)


def test_kd_from_a_teacher_of_another_tokenizer_trains_and_logs_the_aligned_share(
    tmp_path, tiny_qwen, other_teacher
):
    from tests.test_kd import kd_cfg

    out = run(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(other_teacher), max_steps=2))
    rows = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert math.isfinite(row["loss"]) and row["kl"] > 0
        assert 0.3 < row["aligned_share"] < 1.0  # other merges: not every position pairs
    state = json.loads((out / "kd.json").read_text())
    assert state["xtok"] == "hybrid" and 0.3 < state["aligned_share"] < 1.0
    assert state["teacher_vocab"] == len(load_tokenizer(str(other_teacher)))
    assert "Cross-tokenizer (hybrid)" in " ".join(card_lines(kd_cfg(tmp_path, tiny_qwen), state))


def test_the_aligned_loss_is_the_same_chunked_and_whole_and_each_xtok_kind_differs(
    tmp_path, tiny_qwen, other_teacher
):
    from tests.test_kd import first_batch, kd_cfg, loss_of

    losses = {}
    for kind in ("hybrid", "uld"):
        for chunk in (0, 3):
            cfg = kd_cfg(
                tmp_path, tiny_qwen, teacher_model=str(other_teacher), kd_alpha=1.0, xtok=kind,
                loss_chunk_size=chunk, kd_temperature=2.0,
            )  # fmt: skip
            trainer = build_trainer(cfg)[0]
            batch = first_batch(trainer)
            assert batch["xtok_ids"].shape[0] == 4 and (batch["xtok_pos"] >= 0).any()
            losses[kind, chunk] = loss_of(trainer, batch)
    for kind in ("hybrid", "uld"):
        assert losses[kind, 3] == pytest.approx(losses[kind, 0], rel=1e-5)
        assert losses[kind, 0] > 1e-3
    assert losses["hybrid", 0] != pytest.approx(losses["uld", 0], rel=1e-3)


def renamed_turns(src, dest):
    """A copy of a tiny Qwen2 whose tokenizer renames <|im_start|> (its id kept): another
    vocabulary to the hash, the same ids and text for everything the completions hold."""
    import shutil

    shutil.copytree(src, dest)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        f = Path(dest) / name
        if f.is_file():
            f.write_text(f.read_text().replace("<|im_start|>", "<|turn|>"))
    return Path(dest)


def test_the_aligned_loss_is_zero_when_the_teacher_is_the_student_under_another_tokenizer(
    tmp_path, tiny_qwen
):
    """Same weights, a tokenizer that differs only by a turn marker's name: every completion
    token pairs 1:1 and the teacher's distribution is the student's mapped one, so the loss is 0;
    another teacher's is not."""
    from tests.test_kd import first_batch, kd_cfg, loss_of
    from tests.tiny import make_tiny_model

    same = renamed_turns(tiny_qwen, tmp_path / "same")
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(same), kd_alpha=1.0))[0]
    assert trainer.teacher.tok is not None  # the cross-tokenizer path
    batch = first_batch(trainer)
    paired = batch["xtok_pos"][:, 1:][batch["labels"][:, 1:] != -100] >= 0
    assert paired.float().mean() > 0.9  # all but the template's trailing newline
    assert loss_of(trainer, batch) == pytest.approx(0.0, abs=1e-5)
    other = renamed_turns(make_tiny_model(tmp_path / "o", "qwen2", seed=1), tmp_path / "other")
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(other), kd_alpha=1.0))[0]
    assert loss_of(trainer, first_batch(trainer)) > 1e-3


def test_same_tokenizer_with_more_embedding_rows_stays_on_the_same_vocabulary_path(
    tmp_path, tiny_qwen
):
    """Qwen2.5-1.5B (151,936 rows) and 7B (152,064) share a tokenizer: the teacher's padding rows
    are never tokens. A copy of the student with 64 extra rows of large logits is at loss 0."""
    from transformers import AutoModelForCausalLM

    from tests.test_kd import first_batch, kd_cfg, loss_of

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen)
    n = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(n + 64, mean_resizing=False)
    with torch.no_grad():
        model.get_output_embeddings().weight[n:] = 5.0  # would dominate the softmax if read
    big = tmp_path / "wide-teacher"
    model.save_pretrained(big)
    load_tokenizer(str(tiny_qwen)).save_pretrained(big)
    assert AutoModelForCausalLM.from_pretrained(big).config.vocab_size == n + 64
    for chunk in (0, 512):
        cfg = kd_cfg(
            tmp_path, tiny_qwen, teacher_model=str(big), kd_alpha=1.0, loss_chunk_size=chunk
        )
        trainer = build_trainer(cfg)[0]
        assert not isinstance(trainer.teacher, XTokTeacher)
        batch = first_batch(trainer)
        assert "xtok_ids" not in batch
        assert loss_of(trainer, batch) == pytest.approx(0.0, abs=1e-6)


def test_a_teacher_tokenizer_that_normalises_text_is_one_error_for_kd_and_onpolicy(
    tmp_path, tiny_qwen, two_toks
):
    from tokenizers import normalizers

    from tests.test_kd import cli
    from tests.test_train import kept_file

    small, _ = two_toks
    lower = copy.deepcopy(small)
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    teacher = tiny_model_with(lower, tmp_path / "lower")
    data = kept_file(tmp_path, n=4)
    args = ["--data", data, "--model", tiny_qwen, "--teacher-model", teacher, "--max-steps", "1",
            "--max-length", "128"]  # fmt: skip
    rc, errors = cli(*args, "--output-dir", tmp_path / "o", "--method", "kd")
    assert rc == 1 and len(errors) == 1, errors
    assert f"teacher tokenizer '{teacher}'" in errors[0] and "normalises" in errors[0], errors
    assert not list((tmp_path / "o").glob("adapter_*"))
    # on policy across tokenizers: the same one line (tests/test_xtok_onpolicy.py)
    rc, errors = cli(*args, "--output-dir", tmp_path / "p", "--method", "onpolicy")
    assert rc == 1 and len(errors) == 1 and "normalises" in errors[0], errors
    rc, errors = cli(
        *args, "--output-dir", tmp_path / "q", "--method", "kd", "--xtok", "wasserstein"
    )
    assert rc == 1 and "unknown --xtok 'wasserstein' (have: uld, hybrid)" in errors[0], errors


def test_the_two_templates_end_of_turn_is_one_outcome(two_toks):
    """The student's end of turn (<|end|>) and the teacher's (<|eot|>) are spelled apart, so
    each was a token only its side holds, compared by rank: a student putting the teacher's stop
    mass on any token the teacher lacks scored as well as one that stops (make smoke-xtok's
    gemma learned `\\boxed{47}dollarsdollars`). Paired (pair_ends), stopping is the teacher's
    distribution and running on is not."""
    from types import SimpleNamespace

    from distill.train.kd.xtok import XTokTeacher

    student = two_toks[0]
    other = [" ".join(reversed(x.split())) for x in CORPUS]
    teacher_tok = bpe(700, (other + CORPUS[::-1]) * 20, end="<|eot|>")
    teacher = XTokTeacher(SimpleNamespace(tok=teacher_tok, name="t"), student, "hybrid")
    s_end, t_end = student.convert_tokens_to_ids("<|end|>"), teacher_tok.eos_token_id
    assert s_end not in teacher.s_shared.tolist() and t_end not in teacher.t_shared.tolist()
    unshared = set(range(len(student))) - set(teacher.s_shared.tolist()) - {s_end}
    run_on = min(i for i in unshared if student.decode([i]).strip())  # a word the teacher lacks

    def dist(n, top, rest_ids, rest):  # log-probs: 0.9 on `top`, 0.1 spread over rest_ids
        p = torch.full((1, n), 1e-9)
        p[0, rest_ids] = rest / len(rest_ids)
        p[0, top] = 0.9
        return (p / p.sum()).log()

    k = 20
    t_lp = dist(len(teacher_tok), t_end, teacher.t_shared[:k], 0.1)
    stops = dist(len(student), s_end, teacher.s_shared[:k], 0.1)
    runs_on = dist(len(student), run_on, teacher.s_shared[:k], 0.1)

    def loss(s_lp):
        return float(hybrid_loss(s_lp, t_lp, teacher.s_shared, teacher.t_shared)[0])

    before = loss(stops), loss(runs_on)
    assert before[0] == pytest.approx(before[1], abs=1e-6)  # indistinguishable unpaired
    teacher.pair_ends("<|end|>\n", "<|eot|>\n")
    assert teacher.ends == {("<|end|>\n", "<|eot|>\n"): (s_end, t_end)}
    assert loss(stops) < 1e-4 and loss(runs_on) > 1.0
    teacher.pair_ends("<|end|>\n", "<|eot|>\n")  # once per pair of texts
    assert teacher.s_shared.tolist().count(s_end) == 1


def test_kd_pairs_each_examples_end_of_turn_with_the_teachers(tmp_path, tiny_qwen, other_teacher):
    """A Qwen student (<|im_end|>) and a teacher whose template ends turns with <|end|>: the
    build pairs the two, and each kept example's end-of-turn label is compared with the
    teacher's position that predicts its <|end|>."""
    from tests.test_kd import first_batch, kd_cfg

    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, teacher_model=str(other_teacher)))[0]
    teacher = trainer.teacher
    s_end = load_tokenizer(str(tiny_qwen)).convert_tokens_to_ids("<|im_end|>")
    t_end = teacher.tok.convert_tokens_to_ids("<|end|>")
    assert set(teacher.ends.values()) == {(s_end, t_end)}
    assert (s_end, t_end) in zip(teacher.s_shared.tolist(), teacher.t_shared.tolist())
    batch = first_batch(trainer)
    labels, pos = batch["labels"][:, 1:], batch["xtok_pos"][:, 1:]
    ends = (labels == s_end).nonzero().tolist()
    assert len(ends) == 4  # one end of turn an example
    for row, col in ends:
        t_pos = int(pos[row, col])
        assert t_pos >= 0 and int(batch["xtok_ids"][row, t_pos + 1]) == t_end


def test_kd_on_chats_counts_the_last_turn_it_aligns_not_every_turn(
    tmp_path, tiny_qwen, other_teacher
):
    """Two-turn chats (--train-on all): SFT's rendering trains both replies, but a teacher of
    another tokenizer is aligned on the last reply of each chat only; train_data.json and the
    line say what carries the loss, not SFT's count of every turn."""
    from tests.test_kd import kd_cfg

    rows = []
    for i in range(6):
        a, b = i + 3, 2 * i + 1
        msgs = [
            {"role": "user", "content": f"What is {a} + {b}?"},
            {"role": "assistant", "content": f"The answer is {a + b}."},
            {"role": "user", "content": "And doubled?"},
            {"role": "assistant", "content": f"Doubled: {2 * (a + b)}."},
        ]
        rows.append({"messages": msgs})
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = kd_cfg(tmp_path, tiny_qwen, data=str(data), teacher_model=str(other_teacher))
    trainer = build_trainer(cfg)[0]
    stats = json.loads((tmp_path / "out" / "train_data.json").read_text())
    trained = sum(sum(m) for m in trainer.train_dataset["completion_mask"])
    assert stats["completion_tokens"] == trained and stats["turns"] == stats["kept"] == 6
    assert stats["last_turn_only"] is True
    sft = tmp_path / "sft"  # SFT's count: both replies of each chat
    build_trainer(kd_cfg(tmp_path, tiny_qwen, data=str(data), method="sft", output_dir=str(sft)))
    both = json.loads((sft / "train_data.json").read_text())
    assert both["turns"] == 12 and both["completion_tokens"] > trained


def test_an_end_of_turn_that_starts_with_no_stop_token_is_not_paired(two_toks):
    """A template whose text after a completion starts with an ordinary token (a newline, a
    space) pairs nothing: only the student's stop is the teacher's end of turn."""
    from types import SimpleNamespace

    from distill.train.kd.xtok import XTokTeacher

    student = two_toks[0]
    teacher_tok = bpe(700, CORPUS[::-1] * 20, end="<|eot|>")
    teacher = XTokTeacher(SimpleNamespace(tok=teacher_tok, name="t"), student, "hybrid")
    teacher.s_stops = {student.convert_tokens_to_ids("<|end|>")}
    width = len(teacher.s_shared)
    teacher.pair_ends("é<|end|>", "<|eot|>")  # the student's first token there is no stop
    assert len(teacher.s_shared) == width and set(teacher.ends.values()) == {None}
    teacher.pair_ends("<|end|>", "<|eot|>")
    assert len(teacher.s_shared) == width + 1
