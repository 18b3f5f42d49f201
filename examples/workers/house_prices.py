"""Worker for the house-prices flow: data.load_csv, data.prepare,
model.train (queue "train"), model.register, model.unregister.

Data travels as artifacts, not JSON: load_csv stores the CSV once
(artifact "dataset"), prepare stores the split ("train", "test"), each
trainer stores its model ("model", referenced from its output), and
register copies the chosen model into the registry. The SDK hands a
step its input artifacts as local paths.
"""

import json
import os
import shutil
import tempfile
from typing import Any, Dict

from common import main, registry_dir
from weft import BlockError, Worker

import mlkit


def load_csv(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    url = input["url"]
    try:
        columns, rows = mlkit.read_csv(url)
    except FileNotFoundError:
        raise BlockError("dataset %r not found (a path relative to the repository, file:// or http(s) URL)" % url)
    if not rows:
        raise BlockError("dataset %r has no rows" % url)
    if url.startswith("http://") or url.startswith("https://"):
        ctx.save_artifact("dataset", mlkit.read_text(url).encode("utf-8"))
    else:
        ctx.save_artifact("dataset", mlkit.resolve_path(url))  # streamed from the file
    return {"columns": columns, "count": len(rows)}


def _save_json(ctx: Any, name: str, doc: Any) -> Any:
    """Store doc as the JSON artifact name (written to a temporary file, then streamed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(doc, f)
    try:
        return ctx.save_artifact(name, f.name)
    finally:
        os.remove(f.name)


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def prepare(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    target = input.get("target") or "price"
    _, rows = mlkit.read_csv(input["dataset"])
    try:
        clean, features, dropped = mlkit.clean_rows(rows, target)
    except KeyError as e:
        raise BlockError(str(e.args[0]))
    if len(clean) < 10:
        raise BlockError("only %d usable rows after cleaning; at least 10 are needed" % len(clean))
    train, test = mlkit.split(clean, float(input.get("test_fraction") or 0.25), int(input.get("seed") or 0))
    _save_json(ctx, "train", train)
    _save_json(ctx, "test", test)
    ctx.log.info("prepared", extra={"train": len(train), "test": len(test), "dropped": dropped})
    return {"features": features, "target": target, "dropped": dropped, "train_rows": len(train), "test_rows": len(test)}


def train(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    algo, features, target = input["algo"], input["features"], input["target"]
    train_rows, test_rows = _load_json(input["train"]), _load_json(input["test"])
    xtr, ytr = mlkit.matrix(train_rows, features), [float(r[target]) for r in train_rows]
    xte, yte = mlkit.matrix(test_rows, features), [float(r[target]) for r in test_rows]
    if algo == "linear":
        try:
            w = mlkit.ols_fit(xtr, ytr)
        except ValueError as e:
            raise BlockError(str(e))
        pred = mlkit.ols_predict(w, xte)
        model: Dict[str, Any] = {"algo": "linear", "features": features, "weights": w}
    elif algo == "forest":
        trees = int(input.get("trees") or 12)
        forest = mlkit.forest_fit(xtr, ytr, trees=trees, max_depth=int(input.get("max_depth") or 6),
                                  seed=int(input.get("seed") or 0))
        if ctx.cancel_requested:
            raise BlockError("cancelled")
        pred = mlkit.forest_predict(forest, xte)
        model = {"algo": "forest", "features": features, "trees": forest}
    else:
        raise BlockError("unknown algo %r: use linear or forest" % algo)
    r2 = mlkit.r2_score(yte, pred)
    saved = _save_json(ctx, "model", model)
    ctx.log.info("trained", extra={"algo": algo, "r2": round(r2, 4)})
    return {"algo": algo, "model": saved.ref(), "r2": r2, "rmse": mlkit.rmse(yte, pred),
            "train_rows": len(xtr), "test_rows": len(xte)}


def _entry(name: str, run_id: str) -> str:
    d = os.path.join(registry_dir(), mlkit._safe(name))
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, mlkit._safe(run_id) + ".json")


def register_model(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    """Copy the model artifact (a local path by now) into the registry, with its card."""
    model_path = input["model"]
    path = _entry(input["name"], input["run_id"])
    shutil.copyfile(model_path, path[:-len(".json")] + ".model.json")
    src = ctx.input_artifacts.get("model")
    uri = mlkit.write_json(path, {"name": input["name"], "version": input["run_id"],
                                  "source": src.ref()["artifact"] if src else None,
                                  "metrics": input.get("metrics") or {}, "approval": input.get("approval"),
                                  "model": _load_json(model_path)})
    ctx.log.info("registered", extra={"uri": uri})
    return {"uri": uri, "name": input["name"], "version": input["run_id"]}


def unregister_model(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    path = _entry(input["name"], input["run_id"])
    removed = os.path.exists(path)
    if removed:
        os.remove(path)
    copy = path[:-len(".json")] + ".model.json"
    if os.path.exists(copy):
        os.remove(copy)
    ctx.log.info("unregistered", extra={"path": path, "removed": removed})
    return {"removed": removed, "uri": "file://" + os.path.abspath(path)}


def register(w: Worker) -> None:
    w.register("data.load_csv", load_csv)
    w.register("data.prepare", prepare)
    w.register("model.train", train, queue="train")
    w.register("model.register", register_model)
    w.register("model.unregister", unregister_model)


if __name__ == "__main__":
    main(register, "house-prices")
