"""Worker for the rag-eval flow: docs.chunk_embed, index.build,
rag.retrieve and rag.judge (llm.chat is an http block the server calls)."""

import threading
from typing import Any, Dict, List, Tuple

from common import main
from weft import BlockError, Worker

import mlkit

_cache: Dict[str, Tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def chunk_embed(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    doc = input["doc"]
    doc_id = str(doc.get("id") or "doc")
    dim = int(input.get("dim") or 256)
    pieces = mlkit.chunk_words(doc["text"], int(input.get("chunk_words") or 24))
    return {"doc_id": doc_id, "chunks": [{"id": "%s#%d" % (doc_id, i), "doc_id": doc_id, "text": t,
                                          "vector": mlkit.embed(t, dim)} for i, t in enumerate(pieces)]}


def build_index(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    chunks: List[Dict[str, Any]] = []
    for part in input["parts"]:
        chunks.extend(part.get("chunks", []) if isinstance(part, dict) else [])
    if not chunks:
        raise BlockError("nothing to index: every document produced no chunks")
    dim = int(input.get("dim") or len(chunks[0]["vector"]))
    bad = [c["id"] for c in chunks if len(c["vector"]) != dim]
    if bad:
        raise BlockError("chunks %s do not have %d dimensions" % (", ".join(bad[:5]), dim))
    uri = mlkit.write_json(mlkit.artifact_path("index", ctx.run_id, ctx.ref), {"dim": dim, "chunks": chunks})
    return {"index_uri": uri, "chunks": len(chunks), "dim": dim}


def _index(uri: str) -> Any:
    import os

    path = mlkit.resolve_path(uri)
    mtime = os.path.getmtime(path)
    with _cache_lock:
        hit = _cache.get(path)
        if hit and hit[0] == mtime:
            return hit[1]
    doc = mlkit.read_json(uri)
    with _cache_lock:
        _cache[path] = (mtime, doc)
    return doc


def retrieve(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    try:
        idx = _index(input["index_uri"])
    except FileNotFoundError:
        raise BlockError("index %r not found" % input["index_uri"])
    q = mlkit.embed(input["question"], idx["dim"])
    scored = sorted(((mlkit.cosine(q, c["vector"]), c) for c in idx["chunks"]), key=lambda t: (-t[0], t[1]["id"]))
    top = scored[: int(input.get("top_k") or 2)]
    passages = [{"id": c["id"], "text": c["text"], "score": round(s, 4)} for s, c in top]
    return {"passages": passages, "context": "\n".join(p["text"] for p in passages)}


def judge(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    answer = input.get("answer") or ""
    p, r, f1 = mlkit.f1_overlap(answer, input["expected"])
    ctx_words = set(mlkit.content_words(input.get("context") or ""))
    ans_words = mlkit.content_words(answer)
    grounded = bool(ans_words) and sum(1 for w in ans_words if w in ctx_words) / len(ans_words) >= 0.5
    return {"score": round(f1, 4), "precision": round(p, 4), "recall": round(r, 4), "grounded": grounded,
            "question": input.get("question") or "", "answer": answer}


def register(w: Worker) -> None:
    w.register("docs.chunk_embed", chunk_embed)
    w.register("index.build", build_index)
    w.register("rag.retrieve", retrieve)
    w.register("rag.judge", judge)


if __name__ == "__main__":
    main(register, "rag-eval")
