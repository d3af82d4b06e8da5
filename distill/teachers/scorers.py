"""The KD scoring teachers: a local model (LocalTeacher) or an OpenAI-compatible vLLM server
(ServedTeacher, prompt_logprobs) that score the student's tokens during `distill train`.

    distill train --data kept.jsonl --model S --output-dir out --method kd --teacher-model T
"""

from __future__ import annotations

from typing import Any

from distill.errors import DistillError
from distill.urls import redact_url


def vocab_check(student_tok: Any, teacher_tok: Any, student: str, teacher: str) -> None:
    """One clear error when the two tokenizers do not share a vocabulary."""
    from distill.logprobs import vocab_hash

    a, b = vocab_hash(student_tok), vocab_hash(teacher_tok)
    if a != b:
        raise DistillError(
            f"student tokenizer '{student}' (vocab {len(student_tok)}, hash {a}) and teacher tokenizer "
            f"'{teacher}' (vocab {len(teacher_tok)}, hash {b}) differ: onpolicy and served or stored "
            "teachers compare next-token distributions over one vocabulary; pick a teacher of the "
            "student's family (one teacher of another tokenizer is read by text: a single "
            "--teacher-model or --teacher-url)"
        )


class LocalTeacher:
    """A frozen model on the student's device: full-vocabulary logits for the same tokens."""

    def __init__(
        self, name: str, student_tok: Any, student_name: str, dtype: Any, xtok: bool = False
    ):
        from transformers import AutoModelForCausalLM

        from distill.models import load_tokenizer, resolve_model

        # tok: the teacher's own tokenizer when it is not the student's (only where `xtok`
        # allows it: kd and onpolicy, distill/train/kd/xtok.py); None on the same-vocabulary path.
        self.tok = None
        own = self.own_tok = load_tokenizer(name)  # its chat template, on either path
        try:
            vocab_check(student_tok, own, student_name, name)
        except DistillError:
            if not xtok:
                raise
            self.tok = own
        try:
            self.model = AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=dtype)
        except OSError as e:
            raise DistillError(f"cannot load teacher '{name}': {str(e).splitlines()[0]}") from None
        self.model.eval().requires_grad_(False)
        self.name, self.vocab = name, len(student_tok)

    def logits(self, input_ids: Any, attention_mask: Any, position_ids: Any) -> Any:
        import torch

        if self.model.device != input_ids.device:
            self.model.to(input_ids.device)
        with torch.no_grad():
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
            )
        return out.logits

    def hidden(self, input_ids: Any, attention_mask: Any, position_ids: Any) -> Any:
        """The last hidden states [B, L, H], without the full-vocabulary logits: the chunked loss
        applies the head to a chunk of completion positions at a time."""
        import torch

        if self.model.device != input_ids.device:
            self.model.to(input_ids.device)
        with torch.no_grad():
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=False,
                output_hidden_states=True,
                logits_to_keep=1,  # the forward's own logits: one position, not [B, L, V]
            )
        return out.hidden_states[-1]


class ServedTeacher:
    """An OpenAI-compatible vLLM server scoring token ids: POST /v1/completions with the ids as
    the prompt, `max_tokens` 1 and `prompt_logprobs` K (vLLM's extension, sent as extra_body).
    Each prompt position comes back with the top-K tokens and the actual token."""

    def __init__(self, url: str, name: str, k: int, student_tok: Any, student_name: str):
        import os

        from openai import OpenAI

        from distill.urls import split_query, url_secrets

        self.url, self.name, self.k, self.tok = url, name, k, student_tok
        self.shown = redact_url(url)  # in error lines: no user:token@ or ?api_key= of the URL
        key = self.key = os.environ.get("OPENAI_API_KEY") or "EMPTY"
        base, query = split_query(url)
        # scrubbed from error lines: the key, the URL's ?key= values and password
        self.secrets = [s for s in [key, *url_secrets(url)] if len(s) >= 3]
        self.client = OpenAI(
            base_url=base,
            api_key=key,
            default_query=query,
            max_retries=2,
            timeout=600,
        )
        self.student_name = student_name
        self.scored = 0
        self.decoded: dict[int, str | None] = {}
        self.other_tokenizer = False  # set by probe: the server reads our ids as other text

    def _complete(self, **kw: Any) -> Any:
        """One scoring request (max_tokens 1, temperature 1): a connection or HTTP error is one
        line naming the URL and the server's reason (vLLM: prompt_logprobs above its
        --max-logprobs, an unknown model), which is what the user acts on."""
        import openai

        try:
            return self.client.completions.create(
                model=self.name, max_tokens=1, temperature=1.0, **kw
            )
        except openai.APIConnectionError:
            raise DistillError(f"teacher URL {self.shown}: cannot connect") from None
        except openai.APIStatusError as e:
            from distill.teachers.openai import scrub

            why = scrub(str(e.message).splitlines()[0] if e.message else "", *self.secrets)
            raise DistillError(
                f"teacher URL {self.shown}: HTTP {e.status_code} for model '{self.name}': {why}"
            ) from None

    def score(self, seqs: list[list[int]]) -> list[list[dict[int, float] | None]]:
        """Per sequence, per position: {token id: log-prob} (None at position 0)."""
        r = self._complete(prompt=seqs, extra_body={"prompt_logprobs": self.k})
        out: list[Any] = [None] * len(seqs)
        for ch in r.choices:
            plp = (ch.model_extra or {}).get("prompt_logprobs")
            if not plp:
                raise DistillError(
                    f"teacher URL {self.shown} returned no prompt_logprobs for model '{self.name}': "
                    "kd/onpolicy need an OpenAI-compatible vLLM server (completions endpoint with "
                    "prompt_logprobs)"
                )
            seq = seqs[ch.index]
            if len(plp) != len(seq) or any(pos is None for pos in plp[1:]):
                # positions without a distribution would get no KL and no count, silently
                missing = sum(pos is None for pos in plp[1:]) + max(0, len(seq) - len(plp))
                raise DistillError(
                    f"teacher URL {self.shown} returned prompt_logprobs for {len(plp)} positions "
                    f"of a {len(seq)}-token sequence ({missing} without a distribution) for model "
                    f"'{self.name}': kd needs the teacher's top-K at every position (a vLLM "
                    "completions endpoint scoring token-id prompts)"
                )
            out[ch.index] = [
                None if pos is None else {int(t): float(v["logprob"]) for t, v in pos.items()}
                for pos in plp
            ]
            for pos in plp[1:]:  # the server's own text of each token, for the vocabulary check
                self.decoded.update(
                    {int(t): v.get("decoded_token") for t, v in (pos or {}).items()}
                )
        return out

    def score_text(
        self, texts: list[str], special: bool = False
    ) -> list[list[tuple[str, int, dict[str, float] | None]]]:
        """Per text, per token of the server's own tokenization: (token text, its character
        offset, {top-K token text: log-prob} or None at the first token). A teacher of another
        tokenizer reads text, not our ids: POST /v1/completions with the texts, `echo` and
        `logprobs` K (the OpenAI completions format: tokens, text_offset, top_logprobs, which
        vLLM returns for the echoed prompt), `max_tokens` 1; the one generated token is cut.

        `special`: whether the server's tokenizer adds its special tokens (BOS) to the text.
        vLLM's completions endpoint does by default (`add_special_tokens` true), and a chat
        template that writes BOS itself (Llama-3's `<|begin_of_text|>`, Llama-2's and Mistral's
        `<s>`, Gemma's `<bos>`) then had the teacher score after two BOS tokens: a rendered chat
        is sent with it false, as apply_chat_template tokenizes it; an alpaca or raw text prompt
        (no template to write BOS: Renderer.prompt_ids) with it true."""
        r = self._complete(
            prompt=texts, echo=True, logprobs=self.k, extra_body={"add_special_tokens": special}
        )
        out: list[Any] = [None] * len(texts)
        for ch in r.choices:
            lp = ch.logprobs
            if lp is None or not lp.tokens or lp.text_offset is None or lp.top_logprobs is None:
                raise DistillError(
                    f"teacher URL {self.shown} returned no echoed logprobs (tokens, text_offset, "
                    f"top_logprobs) for model '{self.name}': a teacher of another tokenizer is "
                    "scored on text through the completions endpoint with echo and logprobs (vLLM)"
                )
            n = len(texts[ch.index])
            offsets = list(lp.text_offset)
            # vLLM's text_offset is the running sum of the tokens' own decoded lengths: a BOS it
            # put before the text, or a byte piece read alone as U+FFFD, shifts every later one.
            # The tokens' texts place them (the last token is the one generated, max_tokens 1).
            starts = text_starts(texts[ch.index], list(lp.tokens[:-1]))
            if starts is not None:
                offsets = [*starts, n]
                added = next((j for j, s in enumerate(starts) if s >= 0), len(starts))
                if added and not special:
                    # a server that does not read vLLM's `add_special_tokens` (SGLang's
                    # CompletionRequest has no such field) put tokens before the text: a
                    # template's own BOS was scored after two, silently (starts place the text)
                    raise DistillError(
                        f"teacher URL {self.shown}: model '{self.name}' read the text with "
                        f"{lp.tokens[:added]!r} before it though asked add_special_tokens false "
                        "(a rendered chat is read as its chat template tokenizes it: a template "
                        "that writes BOS would be scored after two); serve the teacher with "
                        "vLLM (its completions endpoint honours add_special_tokens), or use a "
                        "local --teacher-model"
                    )
            out[ch.index] = [
                (t, int(o), None if top is None else {k: float(v) for k, v in top.items()})
                for t, o, top in zip(lp.tokens, offsets, lp.top_logprobs, strict=True)
                if 0 <= o < n
            ]
        return out

    def probe(self, ids: list[int]) -> None:
        """Refuse a server whose prompt log-probs are not reproducible or not over our vocabulary.

        vLLM with prefix caching on gave crashing or non-deterministic prompt log-probs (axolotl
        refuses such servers); the server does not tell us its flags, so we score the same text
        twice (the second request would hit a cached prefix) and compare."""
        try:
            first, second = self.score([ids, ids])
        except DistillError as e:
            # vLLM refuses ids past its vocabulary ("Token id N is out of vocabulary"): another
            # tokenizer, which teacher_for reads by text where the server scores text
            if "HTTP 400" in str(e) and "out of vocabulary" in str(e):
                self.other_tokenizer = True
            raise
        again = self.score([ids])[0]
        for a, b in ((first, second), (first, again)):
            for pa, pb in zip(a[1:], b[1:], strict=True):
                if pa.keys() != pb.keys() or any(abs(pa[t] - pb[t]) > 1e-3 for t in pa):
                    raise DistillError(
                        f"teacher URL {self.shown}: the same text scored twice gave different prompt "
                        "log-probs; restart vLLM with --no-enable-prefix-caching (prefix caching "
                        "breaks prompt_logprobs)"
                    )
        # Same ids, same text: the teacher's detokenizer must read the student's ids as the
        # student does (vLLM returns each token's text as `decoded_token`).
        for i in range(1, len(ids)):
            theirs, ours = self.decoded.get(ids[i]), self.tok.decode([ids[i]])
            # Partial UTF-8 pieces read as '' or U+FFFD on either side: no evidence either way.
            known = theirs and "\ufffd" not in theirs + ours
            if ids[i] not in first[i] or (known and theirs != ours):
                self.other_tokenizer = True  # teacher_for reads such a teacher by text if it can
                raise DistillError(
                    f"student tokenizer '{self.student_name}' and teacher tokenizer of '{self.name}' "
                    f"at {self.shown} differ: token {ids[i]} is {ours!r} to the student and "
                    f"{theirs!r} to the teacher; kd/onpolicy compare next-token distributions over "
                    "one vocabulary (across tokenizers a served teacher is read by text through "
                    "/v1/completions with echo and logprobs, which this server did not answer)"
                )

    def topk(self, seqs: list[list[int]], width: int, starts: list[int]) -> tuple[Any, Any]:
        """-> (ids, log-probs) [B, width, K] aligned to token positions (row b's sequence starts
        at starts[b]; position i: the teacher's distribution for token i given tokens < i);
        padding id -1."""
        import torch

        ids = torch.full((len(seqs), width, self.k), -1, dtype=torch.long)
        lps = torch.zeros((len(seqs), width, self.k))
        for b, per_pos in enumerate(self.score(seqs)):
            for i, pos in enumerate(per_pos):
                if not pos:
                    continue
                # vLLM adds the actual token when it is outside the top-K: keep the K best.
                best = sorted(pos.items(), key=lambda kv: -kv[1])[: self.k]
                ids[b, starts[b] + i, : len(best)] = torch.tensor([t for t, _ in best])
                lps[b, starts[b] + i, : len(best)] = torch.tensor([v for _, v in best])
        self.scored += sum(len(s) for s in seqs)
        return ids, lps


def text_starts(text: str, tokens: list[str]) -> list[int] | None:
    """Where each of a server's tokens of `text` starts in it, from the tokens' own texts: -1
    for tokens the server put before the text (a BOS: up to two skipped); a run of byte pieces
    (U+FFFD, '', 'bytes:...') starts where its characters do and the run's last piece closes
    them. None when the tokens do not spell the text (a normalising tokenizer: the caller's
    check names it)."""
    for skip in range(min(3, len(tokens) + 1)):
        starts, at, run = [-1] * skip, 0, 0  # run: byte pieces since the last clean token
        for t in tokens[skip:]:
            if not t or "\ufffd" in t or t.startswith("bytes:"):
                starts.append(at)
                run += 1
                continue
            j = at if text.startswith(t, at) else -1
            if run:  # the run's pieces hold at least one character: t is past them
                j = next((x for x in (text.find(t, at + 1),) if x >= 0), j)
            if j < 0:
                break
            starts.append(j)
            at, run = j + len(t), 0
        else:
            if at == len(text) or run:  # every character covered (the last run's to the end)
                return starts
    return None


def probe_ids(tok: Any) -> list[int]:
    """What a served teacher scores once before training, to show it reads the student's ids as
    the student does: plain text, a chat example in the student's own template (its turn markers,
    `<think>`), and every added or special token of the student's tokenizer. Families that share
    a BPE vocabulary can still give the added ids other meanings (DeepSeek-R1-Distill-Qwen's
    151644 is `<｜User｜>` where Qwen2.5's is `<|im_start|>`); plain text alone never shows that."""
    ids = tok("What is 12 + 34? The answer is 46.", add_special_tokens=False)["input_ids"]
    if tok.chat_template:
        chat = [
            {"role": "user", "content": "What is 12 + 34?"},
            {
                "role": "assistant",
                "content": "<think>\n12 + 34 = 46\n</think>\n\nThe answer is 46.",
            },
        ]
        try:
            text = tok.apply_chat_template(chat, tokenize=False)
        except Exception:  # noqa: BLE001 - a template that refuses this chat: text and added ids still
            text = ""
        ids += tok(text, add_special_tokens=False)["input_ids"]
    return ids + sorted(tok.added_tokens_decoder)


def teacher_for(cfg: Any, tok: Any, dtype: Any) -> Any:
    """The teacher the config names: served, local, or None (stored top-K in the records)."""
    if cfg.teacher_url:
        teacher = ServedTeacher(
            cfg.teacher_url, cfg.teacher_model, cfg.teacher_top_k, tok, cfg.model
        )
        try:
            teacher.probe(probe_ids(tok))
        except DistillError as e:
            if not teacher.other_tokenizer:
                raise
            # another tokenizer: the trainer reads it by text (distill/train/kd/xtok.py
            # served_xtok), or refuses with this error where the server cannot score text
            teacher.refusal = e
        return teacher
    if cfg.teacher_model:
        return LocalTeacher(cfg.teacher_model, tok, cfg.model, dtype, xtok=True)
    return None
