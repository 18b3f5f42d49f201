"""Worker for the dl-training flow: data.pull, embeddings.pull,
dataset.build, dl.train (queue "gpu"), model.evaluate, model.release."""

import json
import os
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
    rows = rows[: int(input.get("limit") or len(rows))]
    return {"samples": rows, "count": len(rows), "columns": columns}


def embeddings(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    try:
        doc = json.loads(mlkit.read_text(input["source"]))
    except FileNotFoundError:
        raise BlockError("embeddings %r not found" % input["source"])
    return {"embeddings": doc["vectors"], "dim": int(doc["dim"])}


def build(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    emb = input["embeddings"]
    usable: List[Any] = []
    missing = 0
    for r in input["samples"]:
        try:
            x = [float(r[c]) for c in FEATURES] + [float(v) for v in emb[r["category"]]]
            y = int(r["label"])
        except (KeyError, TypeError, ValueError):
            missing += 1
            continue
        usable.append((x, y))
    total = len(input["samples"])
    if not usable:
        raise BlockError("no usable samples")
    train, test = mlkit.split(usable, float(input.get("test_fraction") or 0.25), int(input.get("seed") or 0))
    xtr, mean, std = mlkit.standardise([x for x, _ in train])
    xte = mlkit.apply_standardise([x for x, _ in test], mean, std)
    dim = len(next(iter(emb.values())))
    return {"train": [{"x": x, "y": y} for x, (_, y) in zip(xtr, train)],
            "test": [{"x": x, "y": y} for x, (_, y) in zip(xte, test)],
            "features": FEATURES + ["emb%d" % i for i in range(dim)],
            "quality": round(len(usable) / total, 4) if total else 0.0, "count": total, "missing": missing}


def dl_train(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    rows = input["train"]
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
    uri = mlkit.write_json(mlkit.artifact_path("mlp", ctx.run_id, ctx.ref), {"kind": "mlp", "model": model})
    return {"model_uri": uri, "loss": loss, "epochs": epochs,
            "train_accuracy": mlkit.accuracy(y, mlkit.mlp_predict(model, x))}


def evaluate(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    try:
        doc = mlkit.read_json(input["model_uri"])
    except FileNotFoundError:
        raise BlockError("model %r not found" % input["model_uri"])
    x, y = [r["x"] for r in input["test"]], [int(r["y"]) for r in input["test"]]
    pred = mlkit.mlp_predict(doc["model"], x) if doc.get("kind") == "mlp" else mlkit.logistic_predict(doc["weights"], x)
    return {"accuracy": mlkit.accuracy(y, pred), "count": len(y), "confusion": mlkit.confusion(y, pred)}


def release(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    channel = input.get("channel") or "staging"
    d = os.path.join(registry_dir(), "releases", mlkit._safe(channel))
    os.makedirs(d, exist_ok=True)
    uri = mlkit.write_json(os.path.join(d, mlkit._safe(ctx.run_id) + ".json"),
                           {"model_uri": input["model_uri"], "accuracy": input.get("accuracy"), "channel": channel,
                            "run_id": ctx.run_id})
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
