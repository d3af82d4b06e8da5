"""`distill export --model` read by TRL's own SFTTrainer (session 12b): the tokens it trains."""

import json

import pytest

from distill.train import ExportConfig, TrainConfig, build_dataset, export
from tests.test_train import kept_file


def trl_rows(tmp_path, model, data):
    """input_ids and loss mask as TRL's SFTTrainer builds them from an exported file."""
    import datasets
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from distill.models import load_tokenizer

    ds = datasets.load_dataset("json", data_files=str(data), split="train")
    args = SFTConfig(output_dir=str(tmp_path / "trl"), max_length=512, report_to=[], use_cpu=True)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model),
        args=args,
        train_dataset=ds,
        processing_class=load_tokenizer(str(model)),
    )
    rows = trainer.train_dataset
    return rows["input_ids"], [[int(x != -100) for x in r] for r in rows["labels"]]


@pytest.mark.parametrize("family", ["tiny_qwen", "tiny_llama"])
def test_trl_trains_the_exported_rows_as_train_does_or_export_says_where_not(
    tmp_path, family, request, capsys
):
    """TRL appends the tokenizer's EOS to a text completion that does not end with it. A ChatML
    student's turn ends '<|im_end|>\\n': TRL trains one more <|im_end|> per row than distill
    train, and export said nothing of it. Llama-3's turn ends with its EOS: the same tokens."""
    from distill.models import load_tokenizer

    model = request.getfixturevalue(family)
    kept = kept_file(tmp_path, n=3)
    out = tmp_path / "data.jsonl"
    export(ExportConfig(data=str(kept), format="r1", out=str(out), model=str(model)))
    said = capsys.readouterr().out
    tok = load_tokenizer(str(model))
    ours, _ = build_dataset(
        TrainConfig(data=str(kept), model=str(model), output_dir="x", max_length=512), tok
    )
    ids, masks = trl_rows(tmp_path, model, out)
    same = ids == ours["input_ids"] and masks == ours["completion_mask"]
    assert same == (family == "tiny_llama")
    if not same:  # the one difference: TRL's EOS after the end of turn, and export names it
        for a, m, b in zip(ours["input_ids"], ours["completion_mask"], ids):
            assert b == [*a, tok.eos_token_id] and m[-1] == 1
        assert "TRL's SFTTrainer appends" in said and repr(tok.eos_token) in said
        completions = [json.loads(x)["completion"] for x in out.read_text().splitlines()]
        assert all(not c.endswith(tok.eos_token) for c in completions)
    else:
        assert "TRL's SFTTrainer appends" not in said
