"""Review of the kd losses and the cross-tokenizer alignment (distill/train/kd/)."""

from pathlib import Path

import pytest
import torch

from distill.train import build_trainer
from tests.test_kd import first_batch, kd_cfg, loss_of


def with_prefill(src, dest):
    """A copy of a tiny Qwen2 whose tokenizer renames <|im_start|> (its id kept: the same model
    under another vocabulary hash) and whose generation prompt opens the think block itself, as
    DeepSeek-R1-Distill's template does (`<|Assistant|><think>\\n`)."""
    import shutil

    shutil.copytree(src, dest)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        f = Path(dest) / name
        if f.is_file():
            text = f.read_text().replace("<|im_start|>", "<|turn|>")
            if name == "chat_template.jinja":
                gen = "<|turn|>assistant\n' }}{% endif %}"
                assert gen in text, text
                text = text.replace(gen, "<|turn|>assistant\n<think>\n' }}{% endif %}")
            f.write_text(text)
    return Path(dest)


def test_a_teacher_whose_template_prefills_think_aligns_the_reasoning_not_the_first_token(
    tmp_path, tiny_qwen
):
    """The teacher's prompt ends with `<think>\\n` (its template writes it), the student's
    completion starts with it: the two completion texts are the same after that lead, and each
    reasoning token is compared where both follow the same text. Was: the texts differed from
    their first character, so only the first position was paired (the student's `<think>`
    against the teacher's first reasoning word) and nothing else was compared."""
    teacher = with_prefill(tiny_qwen, tmp_path / "prefill")
    from distill.models import load_tokenizer

    t_tok = load_tokenizer(str(teacher))
    gen = t_tok.apply_chat_template([{"role": "user", "content": "U"}], tokenize=False,
                                    add_generation_prompt=True)  # fmt: skip
    assert gen.endswith("assistant\n<think>\n")
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), kd_alpha=1.0)
    trainer = build_trainer(cfg)[0]
    assert trainer.teacher.tok is not None  # the cross-tokenizer path
    batch = first_batch(trainer)
    paired = batch["xtok_pos"][:, 1:][batch["labels"][:, 1:] != -100] >= 0
    assert paired.float().mean() > 0.8  # all but the student's own `<think>\n`
    # the same weights reading the same text: nothing to learn
    assert loss_of(trainer, batch) == pytest.approx(0.0, abs=1e-5)


def test_the_lead_a_prompt_holds_pairs_nothing_and_the_rest_pairs_after_the_same_text():
    from distill.train.kd.xtok import lead_shift, pair_texts

    text = "<think>\nabc"
    assert lead_shift(text, "abc") == (8, 0)
    assert lead_shift("abc", text) == (0, 8)
    assert lead_shift("<think>\n\nabc", "\nabc") == (8, 0)  # the prefill took one newline
    assert lead_shift(text, text) == (0, 0) and lead_shift("abc", "abd") == (0, 0)
    # an example without reasoning: the prefilling side's text closes the empty block
    assert lead_shift("The answer", "\n</think>\n\nThe answer") == (0, 11)
    assert lead_shift("<think>\n</think>\n\nx", "</think>\n\nx") == (8, 0)
    # student "<think>" "\n" "ab" "c", teacher "a" "bc": the student's "ab" follows the prompt's
    # "<think>\n" as the teacher's "a" does
    assert pair_texts([7, 8, 10, 11], [1, 3], text, "abc") == [(2, 0)]
    assert pair_texts([1, 3], [7, 8, 10, 11], "abc", text) == [(0, 2)]
    # a student token that runs from the lead into the text ("\nab") follows other text than
    # the teacher's "ab": only "c" pairs
    assert pair_texts([7, 10, 11], [2, 3], text, "abc") == [(2, 1)]


def test_onpolicy_samples_that_open_the_think_block_are_read_once_by_a_prefilling_teacher(
    tmp_path, tiny_qwen
):
    """On policy the student's sample starts with `<think>` (its prompt does not open it); the
    teacher's prompt ends with `<think>\\n`: the teacher reads the sample after that, not a
    second `<think>`, and compares each reasoning token. Was: it read `<think>\\n<think>\\n...`
    and the first position was compared with a prediction after other text."""
    teacher = with_prefill(tiny_qwen, tmp_path / "prefill")
    cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(teacher), method="onpolicy", lmbda=0.5)
    trainer = build_trainer(cfg)[0]
    batch = first_batch(trainer)
    think = trainer.processing_class.convert_tokens_to_ids("<think>")
    # the kept completions stand for the student's samples (each starts with <think>)
    got = trainer.teacher.sampled(batch["input_ids"], batch["labels"], batch)
    for row, attn in zip(got["xtok_ids"], got["xtok_attention_mask"], strict=True):
        assert int((row[attn.bool()] == think).sum()) == 1  # the teacher prompt's own
    sampled = {**batch, **got, "on_policy": True}
    paired = got["xtok_pos"][:, 1:][batch["labels"][:, 1:] != -100] >= 0
    assert paired.float().mean() > 0.8
    assert loss_of(trainer, sampled) == pytest.approx(0.0, abs=1e-5)


@pytest.fixture(scope="module")
def served_prefill(tiny_qwen, tmp_path_factory):
    """The student's own weights served under a tokenizer whose template prefills `<think>\\n`."""
    from tests.xtokserver import TextScoringServer

    path = with_prefill(tiny_qwen, tmp_path_factory.mktemp("served") / "prefill")
    srv = TextScoringServer(str(path), str(path)).start()
    yield srv, path
    srv.stop()


@pytest.mark.parametrize("method", ["kd", "onpolicy"])
def test_a_served_teacher_whose_template_prefills_think_is_read_after_it(
    tmp_path, tiny_qwen, served_prefill, method
):
    """As the local teacher: kept completions are paired after the lead the teacher's prompt
    holds, and on policy the server scores each sample after its own `<think>\\n`, once."""
    from distill.train.kd.xtok import ServedXTok

    srv, path = served_prefill
    kw = dict(teacher_url=srv.url, teacher_model=str(path), teacher_top_k=4, kd_alpha=1.0)
    if method == "onpolicy":
        kw.update(method="onpolicy", lmbda=0.5)
    trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, **kw))[0]
    assert isinstance(trainer.teacher, ServedXTok)
    batch = first_batch(trainer)
    if method == "onpolicy":
        got = trainer.teacher.sampled(batch["input_ids"], batch["labels"], batch)
        scored = srv.log[-1]["prompts"]
        assert all(p.count("<think>") == 1 for p in scored), scored
        batch = {**batch, **got, "on_policy": True}
    paired = (batch["teacher_ids"][:, 1:][batch["labels"][:, 1:] != -100] != -1).any(-1)
    assert paired.float().mean() > 0.8
    assert loss_of(trainer, batch) == pytest.approx(0.0, abs=1e-5)


def test_a_listed_token_mapped_to_student_id_0_is_left_out_of_the_unmapped_comparison():
    """Student id 0 is a real token ("!" in GPT-2's, Qwen's and Llama-3's vocabularies). The
    teacher's mapped "!" and its unmapped text: the student holding "!"'s mass on "!" and the
    unmapped mass on another id is the teacher's mapped distribution (loss 0), as for any other
    id. Was: the padding's and the unmapped entries' clamped id 0 overwrote "!"'s mark, so its
    mass was compared by rank with the unmapped text too (0.2 here)."""
    from distill.train.kd.xtok import UNMAPPED, topk_xtok_loss

    p = torch.tensor([[0.5, 0.3, 0.2 / 3, 0.2 / 3, 0.2 / 3]])
    t_lps = torch.tensor([[0.5, 0.3, 1.0]]).log()
    for first in (0, 3):  # "!" at id 0, or the same token at id 3
        s = p[:, [first, 1, 2, 3 - first, 4]] if first else p
        t_ids = torch.tensor([[first, UNMAPPED, -1]])
        loss = topk_xtok_loss("hybrid", s.log(), t_ids, t_lps, 1.0)
        assert float(loss) == pytest.approx(0.0, abs=1e-6), first


def test_a_completion_cut_to_max_length_is_read_by_the_teacher_only_as_far_as_it_is_compared(
    tmp_path, tiny_qwen
):
    """--overlong truncate cuts the student's completion to max_length; the teacher of another
    tokenizer read the whole completion all the same (a 16k-token trace: the teacher's forward
    over all of it, past the memory max_length was chosen for). Its logits at the compared
    positions depend on the tokens before them only: the loss is the same."""
    from tests.test_xtok import renamed_turns

    same = renamed_turns(tiny_qwen, tmp_path / "same")
    losses = []
    for max_length in (24, 128):
        cfg = kd_cfg(tmp_path, tiny_qwen, teacher_model=str(same), overlong="truncate",
                     max_length=max_length, kd_alpha=1.0)  # fmt: skip
        trainer = build_trainer(cfg)[0]
        for row in trainer.train_dataset:
            assert len(row["xtok_ids"]) <= max_length + 4  # the teacher's prompt ~ the student's
        batch = first_batch(trainer)
        assert (batch["xtok_pos"] >= 0).sum() > 4
        losses.append(loss_of(trainer, batch))
    assert losses[0] == pytest.approx(0.0, abs=1e-5)  # same weights, same text: nothing to learn


@pytest.mark.parametrize(
    "family, extra",
    [("falcon_h1", {"lm_head_multiplier": 0.5}), ("hyperclovax", {"logits_scaling": 4.0})],
)
def test_the_chunked_head_computes_falcon_h1s_and_hyperclovaxs_own_logits(family, extra):
    """The chunked kd loss (the default --loss-chunk-size) applies the head itself: Falcon-H1's
    forward multiplies the head's output by lm_head_multiplier, HyperCLOVA X's multiplies it by
    logits_scaling (Granite divides by it). Was: the one ignored, the other divided, so the
    student's (and a local teacher's) logits were not the model's."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from distill.train.kd.loss import lm_head

    config = AutoConfig.for_model(
        family, vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.randint(0, 64, (1, 7))
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        assert torch.allclose(lm_head(model)(out.hidden_states[-1]), out.logits, atol=1e-5)


def test_a_served_teacher_scores_a_cut_completion_only_as_far_as_it_is_kept(
    tmp_path, tiny_qwen, served_prefill
):
    """--overlong truncate: the served teacher of another tokenizer was sent each whole
    completion (past the server's --max-model-len on long traces: the run stops on its HTTP 400);
    now the text the student keeps, to the next whitespace, with the same top-K at every kept
    position."""
    srv, path = served_prefill
    kw = dict(teacher_url=srv.url, teacher_model=str(path), teacher_top_k=4, overlong="truncate")
    rows, sent = {}, {}
    for max_length in (128, 30):
        before = len(srv.log)
        trainer = build_trainer(kd_cfg(tmp_path, tiny_qwen, max_length=max_length, **kw))[0]
        rows[max_length] = list(trainer.train_dataset)
        sent[max_length] = [p for r in srv.log[before:] for p in r["prompts"]][-8:]
    for short, whole, a, b in zip(rows[30], rows[128], sent[30], sent[128], strict=True):
        n = len(short["teacher_ids"])
        assert n < len(whole["teacher_ids"])  # cut
        assert short["teacher_ids"] == whole["teacher_ids"][:n]
        got, want = torch.tensor(short["teacher_logprobs"]), torch.tensor(whole["teacher_logprobs"])
        assert torch.allclose(got, want[:n], atol=1e-4)
        assert len(a) < len(b) and b.startswith(a)
