"""Diversity: TF-IDF of the prompts (or an embedding model's vectors), spherical k-means, and a round-robin draw across clusters
(s1 drew its 1k uniformly over domains; a cluster of prompts stands in for a domain here).

    python -c "from distill.select.diversity import cluster; print(cluster(['a b', 'a c', 'x y'], 2, 0))"

Plain numpy + scipy.sparse (scipy comes with datasketch, the filter's near-dedup): scikit-learn
is not a dependency, and 100k prompts cluster in seconds this way. The vocabulary is built in
input order (not Python's salted hash), so the same input and seed give the same clusters.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any

_WORD = re.compile(r"\w+")
# Scripts written without spaces (Chinese, Japanese kana and kanji): a \w+ run is a whole
# clause, seen in one prompt only; their words are read as character bigrams instead.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def words(text: str) -> list[str]:
    """The terms TF-IDF counts: \w+ words, and character bigrams of unspaced-script runs."""
    found = _WORD.findall(text.lower())
    if not _UNSPACED.search(text):
        return found
    out: list[str] = []
    for w in found:
        if not _UNSPACED.search(w):
            out.append(w)
            continue
        for part in re.split(f"({_UNSPACED.pattern})", w):
            if not part:
                continue
            if _UNSPACED.fullmatch(part):
                out += [part[i : i + 2] for i in range(max(1, len(part) - 1))]
            else:
                out.append(part)
    return out


def default_k(n_prompts: int) -> int:
    """About sqrt(prompts), at most 64: enough groups to spread a budget, few enough to fill."""
    return max(1, min(64, n_prompts, round(math.sqrt(n_prompts))))


def tfidf(texts: Sequence[str]) -> Any:
    """Row-normalised TF-IDF (sublinear tf, smooth idf) of `words` as a scipy CSR matrix; words
    seen in one prompt only are left out (they cannot pull two prompts together)."""
    import numpy as np
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    indptr, indices, counts = [0], [], []
    for text in texts:
        row: dict[int, int] = {}
        for w in words(text):
            j = vocab.setdefault(w, len(vocab))
            row[j] = row.get(j, 0) + 1
        indices.extend(row)
        counts.extend(row.values())
        indptr.append(len(indices))
    n = len(texts)
    x = sp.csr_matrix(
        (np.asarray(counts, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
        shape=(n, max(1, len(vocab))),
    )
    df = np.bincount(x.indices, minlength=x.shape[1])
    keep = np.flatnonzero(df >= 2) if n > 2 else np.arange(x.shape[1])
    x = x[:, keep]
    df = df[keep]
    x.data = 1.0 + np.log(x.data)
    x = x.multiply((np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags((1.0 / norms).astype(np.float32)) @ x


def kmeans(x: Any, k: int, seed: int, iters: int = 20) -> list[int]:
    """Spherical k-means (cosine) on the rows of a normalised CSR matrix, k-means++ start."""
    import numpy as np
    import scipy.sparse as sp

    def rows(idx: Any) -> Any:  # TF-IDF is sparse, a model's embeddings dense: either works
        picked = x[idx]
        return picked.toarray() if sp.issparse(picked) else np.asarray(picked)

    n = x.shape[0]
    k = max(1, min(k, n))
    # numpy takes no negative seed; --seed -1 is a seed as good as any (random.Random's too)
    rng = np.random.default_rng(seed if seed >= 0 else seed % 2**64)
    centers = np.zeros((k, x.shape[1]), dtype=np.float32)
    centers[0] = rows(int(rng.integers(n)))
    best = np.asarray(x @ centers[0]).ravel()
    for c in range(1, k):
        dist = np.clip(1.0 - best, 0.0, None)  # cosine distance to the nearest center
        total = float(dist.sum())
        i = int(rng.choice(n, p=dist / total)) if total > 1e-9 else int(rng.integers(n))
        centers[c] = rows(i)
        best = np.maximum(best, np.asarray(x @ centers[c]).ravel())
    labels = np.full(n, -1)
    for _ in range(iters):
        sims = np.asarray(x @ centers.T)
        new = sims.argmax(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        onehot = sp.csr_matrix((np.ones(n, dtype=np.float32), (labels, np.arange(n))), shape=(k, n))
        sums = onehot @ x
        sums = np.asarray(sums.todense() if sp.issparse(sums) else sums)
        norms = np.linalg.norm(sums, axis=1)
        empty = norms == 0
        if empty.any():  # an emptied cluster restarts on the prompts worst served now
            worst = np.argsort(sims.max(axis=1))[: int(empty.sum())]
            sums[empty] = rows(worst)
            norms[empty] = 1.0
        centers = (sums / norms[:, None]).astype(np.float32)
    return [int(v) for v in labels]


def embed(texts: Sequence[str], model: str, batch: int = 32) -> Any:
    """Unit-norm sentence embeddings from a transformers encoder (or decoder): the last hidden
    state mean-pooled over each text's tokens (sentence-transformers' default pooling, without
    the dependency). A sentence-transformers checkpoint (e.g. all-MiniLM-L6-v2) loads this way."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from distill.errors import DistillError
    from distill.models import pick_device, resolve_model

    path = resolve_model(model)
    try:
        tok = AutoTokenizer.from_pretrained(path)
        net = AutoModel.from_pretrained(path).to(pick_device("auto")).eval()
    except (OSError, ValueError) as e:
        raise DistillError(
            f"--embed-model {model}: cannot load it: {str(e).splitlines()[0]}"
        ) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    out = []
    for start in range(0, len(texts), batch):
        enc = tok(
            list(texts[start : start + batch]),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=512,  # a prompt's gist; long ones need not be read whole to be placed
        ).to(net.device)
        with torch.inference_mode():
            hidden = net(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def cluster(texts: Sequence[str], k: int, seed: int, model: str | None = None) -> list[int]:
    """A cluster label per text: k-means over TF-IDF, or over `model`'s embeddings."""
    if not texts:
        return []
    if len(texts) == 1 or k <= 1:
        return [0] * len(texts)
    return kmeans(embed(texts, model) if model else tfidf(texts), k, seed)


def round_robin(
    groups: dict[Hashable, list[Any]],
    order: Sequence[Hashable],
    prompt_of: Callable[[Any], Hashable] | None = None,
) -> list[Any]:
    """Interleave the groups' lists (each already in its own priority order): one of every group
    in `order` a turn, until all are drawn. Without `prompt_of`, the first of each, then the
    second of each, ... With it, every prompt's first trace before any prompt's second (its
    third before ... ): at level L a group's turn takes its best trace whose prompt has L drawn
    so far, and a group with none at that level waits for the next (a group of one prompt's
    three traces no longer spends a budget on that prompt while another group's prompts get
    nothing); a prompt whose traces fall in several groups (--by teacher.model) counts its
    traces drawn in any."""
    lists = [groups[g] for g in order]
    out: list[Any] = []
    if prompt_of is None:
        depth = 0
        while True:
            row = [lst[depth] for lst in lists if depth < len(lst)]
            if not row:
                return out
            out.extend(row)
            depth += 1
    drawn: dict[Hashable, int] = defaultdict(int)
    # A level draws one trace of each prompt left, so a group's candidates at a level are each
    # prompt's best trace left in it (its head), in the group's order: a later one of the same
    # prompt cannot be drawn before the next level (scanning every trace left at every level
    # cost n x levels: 100k traces of 100 prompts, ~18 s). A group's heads are (place in its
    # list, prompt) in place order; a prompt's next trace in the group is a head from the next
    # level on, and so is one whose prompt another group drew first.
    heads: list[deque[tuple[int, Hashable]]] = []
    rest: list[dict[Hashable, deque[int]]] = []
    for lst in lists:
        firsts: deque[tuple[int, Hashable]] = deque()  # in place order
        others: dict[Hashable, deque[int]] = {}
        for k, item in enumerate(lst):
            p = prompt_of(item)
            if p in others:
                others[p].append(k)
            else:
                others[p] = deque()
                firsts.append((k, p))
        heads.append(firsts)
        rest.append(others)
    later: list[list[tuple[int, Hashable]]] = [[] for _ in lists]
    level = 0
    while any(heads):
        # the groups with a head left at this level, in `order`: one that has none waits for
        # the next level (its heads only go, within a level)
        turns = [i for i in range(len(lists)) if heads[i]]
        while turns:
            still = []
            for i in turns:
                queue = heads[i]
                while queue:
                    k, p = queue.popleft()
                    if drawn[p] == level:
                        out.append(lists[i][k])
                        drawn[p] += 1
                        if rest[i][p]:
                            later[i].append((rest[i][p].popleft(), p))
                        still.append(i)
                        break
                    later[i].append((k, p))  # more than `level` drawn: a head of a later level
            turns = still
        level += 1
        for i in range(len(lists)):
            heads[i] = deque(sorted(later[i]))  # (nothing left in heads[i] at a level's end)
            later[i] = []
    return out
