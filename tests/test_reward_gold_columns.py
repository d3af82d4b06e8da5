"""--reward math reads a prompt source's gold from the column generate auto-detects: an
OpenMathReasoning / OpenMathInstruct-2 row keeps it in `expected_answer`, which the reward's own
list of columns lacked (every sample unverifiable: no reward, no policy gradient, silently)."""

from distill.train.kd.reward import gold_of


def test_expected_answer_is_the_gold_of_an_openmathreasoning_row():
    row = {
        "problem": "What is 2 + 3?",
        "generated_solution": "... \\boxed{5}",
        "expected_answer": "5",
    }
    assert gold_of(row) == "5"


def test_the_same_column_generate_picks_wins_when_a_row_has_two():
    row = {"problem": "What is 2 + 3?", "answer": "5", "final_answer": "6"}
    assert gold_of(row) == "5"
    assert gold_of({"problem": "p", "final_answer": "6"}) == "6"
    assert gold_of({"reasoning": "r", "answer": "7", "gold": None}) is None  # a trace record's own


def test_a_gold_from_pandas_or_a_list_is_read_as_generate_reads_it():
    """--reward read a raw dataset's gold with str(): pandas' int column with a missing cell
    gave '42.0' and 1e-07 '1e-07' (math-verify: 1*e - 7), so the right answer scored 0; a NaN
    cell was the gold 'nan', and a list of accepted answers its Python repr."""
    from distill.train.kd.reward import reward_of

    assert gold_of({"problem": "6 x 7?", "answer": 42.0}) == "42"
    assert (
        reward_of("\\boxed{42}", gold_of({"problem": "6 x 7?", "answer": 42.0}), {}, "math") == 1.0
    )
    assert gold_of({"problem": "p", "answer": 1e-07}) == "0.0000001"
    assert gold_of({"problem": "p", "answer": float("nan")}) is None
    assert gold_of({"problem": "p", "answer": ["3"]}) == "3"
    assert gold_of({"problem": "p", "answer": ["3", "4"]}) is None


def test_a_chat_prompt_row_with_id_0_keeps_it(tmp_path, tiny_qwen):
    """A chat prompt source's row with `id: 0` was keyed by its messages' hash (0 is falsy),
    where generate names it '0': the reward's prompt id and the traces' did not match."""
    import json

    from transformers import AutoTokenizer

    from distill.train.config import TrainConfig
    from distill.train.kd import reward

    data = tmp_path / "prompts.jsonl"
    rows = [
        {"id": 0, "messages": [{"role": "user", "content": "What is 2 + 3?"}], "answer": "5"},
        {"id": 1, "messages": [{"role": "user", "content": "What is 2 + 4?"}], "answer": "6"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        data=str(data), model=str(tiny_qwen), output_dir=str(tmp_path / "o"), method="onpolicy",
        teacher_model=str(tiny_qwen), max_length=128,
    )  # fmt: skip
    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    refs = reward._references(cfg, tok, tok.eos_token_id)
    assert sorted(r["prompt_id"] for r in refs.values()) == ["0", "1"]
