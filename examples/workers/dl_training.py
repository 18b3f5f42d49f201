"""Worker for the dl-training flow: data.pull, embeddings.pull,
dataset.build, dl.train (queue "gpu"), model.evaluate, model.release.

Data travels as artifacts, not JSON: data.pull stores the samples CSV
(artifact "samples"), dataset.build the standardised split ("train",
"test"), dl.train the network ("model"), which model.release copies into
the registry. Each step gets its input artifacts as local paths."""

import csv
import json
import os
import shutil
import tempfile
from typing import Any, Dict, List

from common import main, registry_dir
from weft import BlockError, Worker

import mlkit

FEATURES = ["x1", "x2", "x3", "x4"]


def pull(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    try:
        columns, rows = mlkit.read_csv(input["source"])
    except FileNotFoundError:
        raise BlockError("samples %r not found" % input["source"])
    limit = int(input.get("limit") or len(rows))
    rows = rows[:limit]
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    try:
        ctx.save_artifact("samples", f.name)
    finally:
        os.remove(f.name)
    return {"count": len(rows), "columns": columns}


def _save_json(ctx: Any, name: str, doc: Any) -> Any:
    """Store doc as the JSON artifact name (written to a temporary file, then streamed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(doc, f)
    try:
        return ctx.save_artifact(name, f.name)
    finally:
        os.remove(f.name)


def embeddings(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    try:
        doc = json.loads(mlkit.read_text(input["source"]))
    except FileNotFoundError:
        raise BlockError("embeddings %r not found" % input["source"])
    return {"embeddings": doc["vectors"], "dim": int(doc["dim"])}


def build(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    emb = input["embeddings"]
    _, samples = mlkit.read_csv(input["samples"])
    usable: List[Any] = []
    missing = 0
    for r in samples:
        try:
            x = [float(r[c]) for c in FEATURES] + [float(v) for v in emb[r["category"]]]
            y = int(r["label"])
        except (KeyError, TypeError, ValueError):
            missing += 1
            continue
        usable.append((x, y))
    total = len(samples)
    if not usable:
        raise BlockError("no usable samples")
    train, test = mlkit.split(usable, float(input.get("test_fraction") or 0.25), int(input.get("seed") or 0))
    xtr, mean, std = mlkit.standardise([x for x, _ in train])
    xte = mlkit.apply_standardise([x for x, _ in test], mean, std)
    dim = len(next(iter(emb.values())))
    _save_json(ctx, "train", [{"x": x, "y": y} for x, (_, y) in zip(xtr, train)])
    _save_json(ctx, "test", [{"x": x, "y": y} for x, (_, y) in zip(xte, test)])
    return {"train_rows": len(train), "test_rows": len(test),
            "features": FEATURES + ["emb%d" % i for i in range(dim)],
            "quality": round(len(usable) / total, 4) if total else 0.0, "count": total, "missing": missing}


def dl_train(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    rows = mlkit.read_json(input["train"])
    x, y = [r["x"] for r in rows], [int(r["y"]) for r in rows]
    epochs = int(input.get("epochs") or 120)

    def progress(epoch: int, loss: float) -> bool:
        if epoch % 20 == 0:
            ctx.log.info("epoch", extra={"epoch": epoch, "loss": round(loss, 4)})
        return ctx.cancel_requested

    model, loss = mlkit.mlp_fit(x, y, hidden=int(input.get("hidden") or 6), epochs=epochs,
                                lr=float(input.get("learning_rate") or 0.5), seed=int(input.get("seed") or 0),
                                progress=progress)
    if ctx.cancel_requested:
        raise BlockError("cancelled")
    _save_json(ctx, "model", {"kind": "mlp", "model": model})
    return {"loss": loss, "epochs": epochs,
            "train_accuracy": mlkit.accuracy(y, mlkit.mlp_predict(model, x))}


def evaluate(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    doc = mlkit.read_json(input["model"])
    test = mlkit.read_json(input["test"])
    x, y = [r["x"] for r in test], [int(r["y"]) for r in test]
    pred = mlkit.mlp_predict(doc["model"], x) if doc.get("kind") == "mlp" else mlkit.logistic_predict(doc["weights"], x)
    return {"accuracy": mlkit.accuracy(y, pred), "count": len(y), "confusion": mlkit.confusion(y, pred)}


def release(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    channel = input.get("channel") or "staging"
    d = os.path.join(registry_dir(), "releases", mlkit._safe(channel))
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, mlkit._safe(ctx.run_id))
    shutil.copyfile(input["model"], base + ".model.json")
    src = ctx.input_artifacts.get("model")
    uri = mlkit.write_json(base + ".json",
                           {"model": base + ".model.json", "source": src.ref()["artifact"] if src else None,
                            "accuracy": input.get("accuracy"), "channel": channel, "run_id": ctx.run_id})
    return {"uri": uri, "channel": channel}


def register(w: Worker) -> None:
    w.register("data.pull", pull)
    w.register("embeddings.pull", embeddings)
    w.register("dataset.build", build)
    w.register("dl.train", dl_train, queue="gpu")
    w.register("model.evaluate", evaluate)
    w.register("model.release", release)


if __name__ == "__main__":
    main(register, "dl-training")
