"""Tiny random Llama / Qwen2 models with a tokenizer trained on the fly: no downloads.

The tokenizer is byte-level BPE (any text encodes), with the special tokens and chat template
of the real family, so tests see the same turn structure a real student has.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ '<|begin_of_text|>' }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
FAMILIES = {
    "qwen2": dict(
        template=CHATML,
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        eos="<|im_end|>",
        pad="<|endoftext|>",
        bos=None,
    ),
    "llama": dict(
        template=LLAMA3,
        specials=[
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|pad|>",
        ],
        eos="<|eot_id|>",
        pad="<|pad|>",
        bos="<|begin_of_text|>",
    ),
}
CORPUS = [
    "What is 12 + 34? Please reason step by step, and put your final answer within \\boxed{}.",
    "<think> Let me add the numbers. 12 plus 34 is 46. </think> The answer is \\boxed{46}.",
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
    "### Instruction: ### Input: ### Response: user assistant system",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 + - * / = ( ) the a is of and to",
]


def make_tokenizer(family: str = "qwen2"):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    spec = FAMILIES[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=spec["specials"] + ["<think>", "</think>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 20, trainer)
    if spec["bos"]:  # like real Llama tokenizers: BOS when asked for special tokens
        bos_id = tok.token_to_id(spec["bos"])
        tok.post_processor = processors.TemplateProcessing(
            single=f"{spec['bos']} $A",
            pair=f"{spec['bos']} $A $B",
            special_tokens=[(spec["bos"], bos_id)],
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=spec["eos"], pad_token=spec["pad"], bos_token=spec["bos"]
    )
    fast.chat_template = spec["template"]
    return fast


def make_tiny_model(path: str | Path, family: str = "qwen2", seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    torch.manual_seed(seed)
    tok = make_tokenizer(family)
    common = dict(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    config = (
        Qwen2Config(**common)
        if family == "qwen2"
        else LlamaConfig(bos_token_id=tok.bos_token_id, **common)
    )
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
