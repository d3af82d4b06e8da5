"""Second read of the config / pipeline / teacher fixes: each test failed before its fix."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from distill.errors import DistillError
from distill.pipeline import run as pipeline_run
from tests.test_review_teachers import _FakeVLLM
from tests.test_teachers_openai import Collect


def _vllm_cfg():
    from distill.generate import GenerateConfig

    return GenerateConfig(data="builtin:arithmetic", teacher="vllm", model="m", out="u.jsonl")


def _templateless_vllm(resolve=None, tokenizer=None, chat_error=None):
    """A fake vLLM whose tokenizer has no chat_template; `resolve`: its
    entrypoints.chat_utils.resolve_hf_chat_template (a processor's template, a fallback)."""

    class LLM(_FakeVLLM.LLM):
        llm_engine = NS(model_config=NS(model_type="qwen2_vl"))

        def get_tokenizer(self):
            return tokenizer or NS(chat_template=None, apply_chat_template=lambda *a, **k: "")

        def chat(self, conversations, sampling_params, use_tqdm=False):
            if chat_error:
                raise ValueError(chat_error)
            return super().chat(conversations, sampling_params, use_tqdm)

    fake = NS(LLM=LLM, SamplingParams=_FakeVLLM.SamplingParams)
    if resolve is not None:
        fake.entrypoints = NS(chat_utils=NS(resolve_hf_chat_template=resolve))
    return fake


def test_vllm_renders_with_a_processors_template_when_its_tokenizer_has_none(monkeypatch):
    # vLLM's llm.chat takes the template of the model's processor (chat_template.json of a
    # multimodal model), then the tokenizer's, then its own fallbacks (model_type qwen, ...);
    # bb22160 refused every such model because its tokenizer alone has none.
    import distill.teachers.vllm as backend
    from distill.teachers.base import Job

    seen = []

    def resolve(tokenizer, chat_template, tools, *, model_config):
        seen.append(model_config.model_type)
        return "{{ processor template }}"

    monkeypatch.setattr(backend, "_import_vllm", lambda: _templateless_vllm(resolve))
    sink = Collect()
    backend.VLLMTeacher(_vllm_cfg()).run(
        [Job("p0", [{"role": "user", "content": "hi"}], [0])], sink
    )
    assert seen == ["qwen2_vl"] and len(sink.completions) == 1
    # nothing resolves: still the one line before any prompt
    monkeypatch.setattr(backend, "_import_vllm", lambda: _templateless_vllm(lambda *a, **k: None))
    with pytest.raises(DistillError, match="no chat template.*--raw-prompt"):
        backend.VLLMTeacher(_vllm_cfg())


def test_vllm_a_mistral_tokenizer_is_not_refused_and_a_template_vllm_cannot_find_is_one_line(
    monkeypatch,
):
    # vLLM's MistralTokenizer (tokenizer_mode mistral) renders with mistral_common and has no
    # chat_template attribute: refused by bb22160. And where the check cannot tell, vLLM's own
    # "must provide a chat template" at the first call failed every prompt one by one (as a
    # prompt over the context), the run ending with nothing but failures.
    import distill.teachers.vllm as backend
    from distill.teachers.base import Job

    class MistralTokenizer:
        pass

    monkeypatch.setattr(
        backend, "_import_vllm", lambda: _templateless_vllm(tokenizer=MistralTokenizer())
    )
    sink = Collect()
    backend.VLLMTeacher(_vllm_cfg()).run(
        [Job("p0", [{"role": "user", "content": "hi"}], [0])], sink
    )
    assert len(sink.completions) == 1
    why = (
        "As of transformers v4.44, default chat template is no longer allowed, so you must "
        "provide a chat template if the tokenizer does not define one."
    )

    def other_signature(tokenizer, chat_template, tools, *, trust_remote_code):
        return None

    monkeypatch.setattr(
        backend, "_import_vllm", lambda: _templateless_vllm(other_signature, chat_error=why)
    )
    t = backend.VLLMTeacher(_vllm_cfg())
    sink = Collect()
    js = [Job(f"p{i}", [{"role": "user", "content": "hi"}], [0]) for i in range(4)]
    with pytest.raises(DistillError, match="no chat template.*--raw-prompt"):
        t.run(js, sink)
    assert not sink.failures


TRAIN_EVAL_MERGED = """
run:
  dir: {run_dir}
train:
  data: "{{run_dir}}/kept.jsonl"
  model: builtin:smollm2
  output_dir: "{{run_dir}}/student"
  lora: true
eval:
  model: "{{run_dir}}/student/merged"
  data: builtin:arithmetic?start=1000&n=4
  out: "{{run_dir}}/eval.json"
"""


def test_set_of_trains_output_is_refused_when_eval_reads_its_merged_folder(tmp_path):
    # 6834eb2 compared eval.model with train.output_dir only: a recipe evaluating the merged
    # student ({run_dir}/student/merged) trained a new one under --set and evaluated the old.
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TRAIN_EVAL_MERGED.format(run_dir=tmp_path / "run"))
    with pytest.raises(
        DistillError,
        match=r"eval\.model still reads .*/run/student/merged .*--set eval\.model=\{run_dir\}/s1/merged too",
    ):
        pipeline_run(recipe, sets=["train.output_dir={run_dir}/s1"], dry_run=True)
    both = ["train.output_dir={run_dir}/s1", "eval.model={run_dir}/s1/merged"]
    assert pipeline_run(recipe, sets=both, dry_run=True)["stages"] == ["train", "eval"]
