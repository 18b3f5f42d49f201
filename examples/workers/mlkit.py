"""Small machine-learning routines in pure Python (no numpy), used by the
example workers and by examples/check_house_prices.py.

Everything is deterministic: the same data and seed give the same numbers
on every machine.
"""

import csv
import hashlib
import io
import json
import math
import os
import random
import re
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, Tuple

Vector = List[float]
Matrix = List[List[float]]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- files and places ---------------------------------------------------------

def resolve_path(url: str) -> str:
    """A local path for url: file:// URLs, absolute paths, paths relative to
    the working directory, else relative to the repository root."""
    if url.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if os.path.isabs(url) or os.path.exists(url):
        return url
    return os.path.join(REPO, url)


def read_text(url: str) -> str:
    """The text at url (http(s), file:// or a path)."""
    if url.startswith("http://") or url.startswith("https://"):
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (user-chosen dataset URL)
            return resp.read().decode("utf-8")
    with open(resolve_path(url), encoding="utf-8") as f:
        return f.read()


def read_csv(url: str) -> Tuple[List[str], List[Dict[str, str]]]:
    text = read_text(url)
    reader = csv.DictReader(io.StringIO(text))
    rows = [dict(r) for r in reader]
    return list(reader.fieldnames or []), rows


def state_dir(env: str, default: str) -> str:
    """A directory from $env (default under ./var), created if needed."""
    path = os.environ.get(env) or default
    os.makedirs(path, exist_ok=True)
    return path


def artifact_path(kind: str, run_id: str, ref: str) -> str:
    d = os.path.join(state_dir("WEFT_MODEL_DIR", os.path.join("var", "models")), _safe(run_id))
    os.makedirs(d, exist_ok=True)
    return os.path.abspath(os.path.join(d, "%s-%s.json" % (_safe(ref), kind)))


def write_json(path: str, doc: Any) -> str:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return "file://" + os.path.abspath(path)


def read_json(uri: str) -> Any:
    with open(resolve_path(uri), encoding="utf-8") as f:
        return json.load(f)


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s) or "_"


# -- splitting ----------------------------------------------------------------

def split(rows: Sequence[Any], test_fraction: float, seed: int) -> Tuple[List[Any], List[Any]]:
    """A deterministic shuffle-split."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    n_test = max(1, int(round(len(rows) * test_fraction)))
    test = sorted(idx[:n_test])
    train = sorted(idx[n_test:])
    return [rows[i] for i in train], [rows[i] for i in test]


# -- regression -----------------------------------------------------------------

def solve(a: Matrix, b: Vector) -> Vector:
    """Solve a x = b by Gaussian elimination with partial pivoting."""
    n = len(a)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[piv][col]) < 1e-12:
            raise ValueError("the normal equations are singular (a feature is constant or duplicated)")
        m[col], m[piv] = m[piv], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def ols_fit(x: Matrix, y: Vector) -> Vector:
    """Ordinary least squares with an intercept: solves (XᵀX) w = Xᵀy."""
    xs = [[1.0] + row for row in x]
    k = len(xs[0])
    xtx = [[sum(r[i] * r[j] for r in xs) for j in range(k)] for i in range(k)]
    xty = [sum(r[i] * t for r, t in zip(xs, y)) for i in range(k)]
    return solve(xtx, xty)


def ols_predict(w: Vector, x: Matrix) -> Vector:
    return [w[0] + sum(wi * xi for wi, xi in zip(w[1:], row)) for row in x]


def r2_score(y: Vector, pred: Vector) -> float:
    mean = sum(y) / len(y)
    ss_tot = sum((t - mean) ** 2 for t in y)
    ss_res = sum((t - p) ** 2 for t, p in zip(y, pred))
    return 1.0 - ss_res / ss_tot if ss_tot else 0.0


def rmse(y: Vector, pred: Vector) -> float:
    return math.sqrt(sum((t - p) ** 2 for t, p in zip(y, pred)) / len(y))


def _tree(x: Matrix, y: Vector, idx: List[int], depth: int, max_depth: int, min_leaf: int,
          rnd: random.Random, n_features: int) -> Dict[str, Any]:
    vals = [y[i] for i in idx]
    mean = sum(vals) / len(vals)
    if depth >= max_depth or len(idx) < 2 * min_leaf:
        return {"v": mean}
    feats = rnd.sample(range(len(x[0])), n_features)
    best: Optional[Tuple[float, int, float]] = None
    for f in feats:
        order = sorted(idx, key=lambda i: x[i][f])
        total, total_sq = sum(vals), sum(v * v for v in vals)
        left_sum = left_sq = 0.0
        for pos in range(1, len(order)):
            v = y[order[pos - 1]]
            left_sum += v
            left_sq += v * v
            if pos < min_leaf or len(order) - pos < min_leaf:
                continue
            a, b = x[order[pos - 1]][f], x[order[pos]][f]
            if a == b:
                continue
            nl, nr = pos, len(order) - pos
            sse = (left_sq - left_sum ** 2 / nl) + ((total_sq - left_sq) - (total - left_sum) ** 2 / nr)
            if best is None or sse < best[0]:
                best = (sse, f, (a + b) / 2)
    if best is None:
        return {"v": mean}
    _, f, thr = best
    li = [i for i in idx if x[i][f] <= thr]
    ri = [i for i in idx if x[i][f] > thr]
    return {"f": f, "t": thr,
            "l": _tree(x, y, li, depth + 1, max_depth, min_leaf, rnd, n_features),
            "r": _tree(x, y, ri, depth + 1, max_depth, min_leaf, rnd, n_features)}


def forest_fit(x: Matrix, y: Vector, trees: int = 12, max_depth: int = 6, min_leaf: int = 3,
               seed: int = 7) -> List[Dict[str, Any]]:
    """A small random forest: bootstrap samples, a random feature subset per split."""
    rnd = random.Random(seed)
    n_features = max(1, int(round(len(x[0]) * 0.6)))
    out = []
    for _ in range(trees):
        idx = [rnd.randrange(len(x)) for _ in range(len(x))]
        out.append(_tree(x, y, idx, 0, max_depth, min_leaf, rnd, n_features))
    return out


def _tree_predict(node: Dict[str, Any], row: Vector) -> float:
    while "v" not in node:
        node = node["l"] if row[node["f"]] <= node["t"] else node["r"]
    return float(node["v"])


def forest_predict(forest: List[Dict[str, Any]], x: Matrix) -> Vector:
    return [sum(_tree_predict(t, row) for t in forest) / len(forest) for row in x]


# -- house prices ------------------------------------------------------------------

def clean_rows(rows: Sequence[Dict[str, Any]], target: str) -> Tuple[List[Dict[str, float]], List[str], int]:
    """Numeric rows with every value present and not negative; the id column dropped."""
    if not rows:
        return [], [], 0
    cols = sorted(c for c in rows[0].keys() if c != "id")
    if target not in cols:
        raise KeyError("target column %r is not in the data (columns: %s)" % (target, ", ".join(cols)))
    out: List[Dict[str, float]] = []
    dropped = 0
    for r in rows:
        try:
            vals = {c: float(r[c]) for c in cols}
        except (TypeError, ValueError, KeyError):
            dropped += 1
            continue
        if any(math.isnan(v) or v < 0 for v in vals.values()):
            dropped += 1
            continue
        out.append(vals)
    features = [c for c in cols if c != target]
    return out, features, dropped


def matrix(rows: Sequence[Dict[str, float]], features: Sequence[str]) -> Matrix:
    return [[float(r[f]) for f in features] for r in rows]


def house_prices_r2(path: str, target: str = "price", test_fraction: float = 0.25, seed: int = 7,
                    trees: int = 12, max_depth: int = 6) -> Dict[str, float]:
    """The whole house-prices computation outside Weft: r2 of both models."""
    _, rows = read_csv(path)
    clean, features, _ = clean_rows(rows, target)
    train, test = split(clean, test_fraction, seed)
    xtr, ytr = matrix(train, features), [r[target] for r in train]
    xte, yte = matrix(test, features), [r[target] for r in test]
    w = ols_fit(xtr, ytr)
    f = forest_fit(xtr, ytr, trees=trees, max_depth=max_depth, seed=seed)
    return {"linear": r2_score(yte, ols_predict(w, xte)), "forest": r2_score(yte, forest_predict(f, xte))}


# -- classification ---------------------------------------------------------------------

def standardise(x: Matrix) -> Tuple[Matrix, Vector, Vector]:
    k = len(x[0])
    mean = [sum(r[j] for r in x) / len(x) for j in range(k)]
    std = [math.sqrt(sum((r[j] - mean[j]) ** 2 for r in x) / len(x)) or 1.0 for j in range(k)]
    return apply_standardise(x, mean, std), mean, std


def apply_standardise(x: Matrix, mean: Vector, std: Vector) -> Matrix:
    return [[(v - m) / s for v, m, s in zip(r, mean, std)] for r in x]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def logistic_fit(x: Matrix, y: Sequence[int], epochs: int = 400, lr: float = 0.5,
                 progress: Any = None) -> Tuple[Vector, float]:
    """Logistic regression by full-batch gradient descent; returns (weights, final log loss)."""
    k = len(x[0])
    w = [0.0] * (k + 1)
    n = len(x)
    loss = 0.0
    for epoch in range(epochs):
        grad = [0.0] * (k + 1)
        loss = 0.0
        for row, t in zip(x, y):
            p = _sigmoid(w[0] + sum(a * b for a, b in zip(w[1:], row)))
            d = p - t
            grad[0] += d
            for j in range(k):
                grad[j + 1] += d * row[j]
            loss -= math.log(max(p, 1e-12)) if t else math.log(max(1 - p, 1e-12))
        w = [wi - lr * g / n for wi, g in zip(w, grad)]
        loss /= n
        if progress is not None and progress(epoch, loss):
            break
    return w, loss


def logistic_predict(w: Vector, x: Matrix) -> List[int]:
    return [1 if _sigmoid(w[0] + sum(a * b for a, b in zip(w[1:], row))) >= 0.5 else 0 for row in x]


def mlp_init(n_in: int, hidden: int, seed: int) -> Dict[str, Any]:
    rnd = random.Random(seed)
    s1, s2 = 1.0 / math.sqrt(n_in), 1.0 / math.sqrt(hidden)
    return {"w1": [[rnd.uniform(-s1, s1) for _ in range(n_in)] for _ in range(hidden)],
            "b1": [0.0] * hidden,
            "w2": [rnd.uniform(-s2, s2) for _ in range(hidden)],
            "b2": 0.0}


def mlp_forward(m: Dict[str, Any], row: Vector) -> Tuple[List[float], float]:
    h = [math.tanh(b + sum(w * v for w, v in zip(ws, row))) for ws, b in zip(m["w1"], m["b1"])]
    return h, _sigmoid(m["b2"] + sum(w * v for w, v in zip(m["w2"], h)))


def mlp_fit(x: Matrix, y: Sequence[int], hidden: int = 8, epochs: int = 300, lr: float = 0.5, seed: int = 3,
            batch: int = 16, progress: Any = None) -> Tuple[Dict[str, Any], float]:
    """A one-hidden-layer perceptron (tanh, sigmoid output) trained with
    mini-batch gradient descent on log loss; returns (model, final loss)."""
    m = mlp_init(len(x[0]), hidden, seed)
    rnd = random.Random(seed + 1)
    order = list(range(len(x)))
    loss = 0.0
    for epoch in range(epochs):
        rnd.shuffle(order)
        loss = 0.0
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            gw1 = [[0.0] * len(x[0]) for _ in range(hidden)]
            gb1 = [0.0] * hidden
            gw2 = [0.0] * hidden
            gb2 = 0.0
            for i in chunk:
                row, t = x[i], y[i]
                h, p = mlp_forward(m, row)
                loss -= math.log(max(p, 1e-12)) if t else math.log(max(1 - p, 1e-12))
                d = p - t
                gb2 += d
                for j in range(hidden):
                    gw2[j] += d * h[j]
                    dh = d * m["w2"][j] * (1 - h[j] * h[j])
                    gb1[j] += dh
                    gj = gw1[j]
                    for k, v in enumerate(row):
                        gj[k] += dh * v
            s = lr / len(chunk)
            m["b2"] -= s * gb2
            for j in range(hidden):
                m["w2"][j] -= s * gw2[j]
                m["b1"][j] -= s * gb1[j]
                wj, gj = m["w1"][j], gw1[j]
                for k in range(len(wj)):
                    wj[k] -= s * gj[k]
        loss /= len(x)
        if progress is not None and progress(epoch, loss):
            break
    return m, loss


def mlp_predict(m: Dict[str, Any], x: Matrix) -> List[int]:
    return [1 if mlp_forward(m, row)[1] >= 0.5 else 0 for row in x]


def accuracy(y: Sequence[int], pred: Sequence[int]) -> float:
    return sum(1 for a, b in zip(y, pred) if a == b) / len(y) if y else 0.0


def confusion(y: Sequence[int], pred: Sequence[int]) -> Dict[str, int]:
    c = {"tp": 0, "tn": 0, "fp": 0, "fn": 0}
    for t, p in zip(y, pred):
        c[("t" if t == p else "f") + ("p" if p else "n")] += 1
    return c


# -- text -------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9_]+")
STOP = frozenset("a an and are as at be by do does for from how in is it its of on one or the to what when "
                 "where which who why with".split())


def words(text: str) -> List[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> List[str]:
    return [w for w in words(text) if w not in STOP]


def _stem(w: str) -> str:
    for suf in ("ing", "es", "s", "ed"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def embed(text: str, dim: int = 256) -> Vector:
    """A deterministic hashing embedding: stemmed content words and word
    bigrams hashed into dim buckets with a sign, L2-normalised."""
    v = [0.0] * dim
    toks = [_stem(w) for w in content_words(text)]
    feats = toks + [a + "_" + b for a, b in zip(toks, toks[1:])]
    for t in feats:
        h = hashlib.sha256(t.encode("utf-8")).digest()
        idx = int.from_bytes(h[:4], "big") % dim
        v[idx] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(a * a for a in v))
    return [round(a / norm, 6) for a in v] if norm else v


def cosine(a: Vector, b: Vector) -> float:
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb) if na and nb else 0.0


def chunk_words(text: str, size: int) -> List[str]:
    """Sentence-aligned chunks of about size words."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?;])\s+", text.strip()) if s.strip()]
    out: List[str] = []
    cur: List[str] = []
    for s in sentences:
        n = len(s.split())
        if cur and len(" ".join(cur).split()) + n > size:
            out.append(" ".join(cur))
            cur = []
        cur.append(s)
    if cur:
        out.append(" ".join(cur))
    return out


def f1_overlap(answer: str, expected: str) -> Tuple[float, float, float]:
    """Token-overlap precision, recall and F1 of answer against expected (content words, stemmed)."""
    a = [_stem(w) for w in content_words(answer)]
    e = [_stem(w) for w in content_words(expected)]
    if not a or not e:
        return 0.0, 0.0, 0.0
    common = 0
    pool = list(e)
    for w in a:
        if w in pool:
            pool.remove(w)
            common += 1
    if not common:
        return 0.0, 0.0, 0.0
    p, r = common / len(a), common / len(e)
    return p, r, 2 * p * r / (p + r)
