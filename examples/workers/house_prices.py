"""Worker for the house-prices flow: data.load_csv, data.prepare,
model.train (queue "train"), model.register, model.unregister."""

import os
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
    return {"rows": rows, "columns": columns, "count": len(rows)}


def prepare(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    target = input.get("target") or "price"
    try:
        clean, features, dropped = mlkit.clean_rows(input["rows"], target)
    except KeyError as e:
        raise BlockError(str(e.args[0]))
    if len(clean) < 10:
        raise BlockError("only %d usable rows after cleaning; at least 10 are needed" % len(clean))
    train, test = mlkit.split(clean, float(input.get("test_fraction") or 0.25), int(input.get("seed") or 0))
    ctx.log.info("prepared", extra={"train": len(train), "test": len(test), "dropped": dropped})
    return {"train": train, "test": test, "features": features, "target": target, "dropped": dropped}


def train(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    algo, features, target = input["algo"], input["features"], input["target"]
    xtr, ytr = mlkit.matrix(input["train"], features), [float(r[target]) for r in input["train"]]
    xte, yte = mlkit.matrix(input["test"], features), [float(r[target]) for r in input["test"]]
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
    uri = mlkit.write_json(mlkit.artifact_path("model", ctx.run_id, ctx.ref), model)
    ctx.log.info("trained", extra={"algo": algo, "r2": round(r2, 4)})
    return {"algo": algo, "model_uri": uri, "r2": r2, "rmse": mlkit.rmse(yte, pred),
            "train_rows": len(xtr), "test_rows": len(xte)}


def _entry(name: str, run_id: str) -> str:
    d = os.path.join(registry_dir(), mlkit._safe(name))
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, mlkit._safe(run_id) + ".json")


def register_model(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    try:
        model = mlkit.read_json(input["model_uri"])
    except FileNotFoundError:
        raise BlockError("model %r does not exist any more" % input["model_uri"])
    path = _entry(input["name"], input["run_id"])
    uri = mlkit.write_json(path, {"name": input["name"], "version": input["run_id"], "source": input["model_uri"],
                                  "metrics": input.get("metrics") or {}, "approval": input.get("approval"),
                                  "model": model})
    ctx.log.info("registered", extra={"uri": uri})
    return {"uri": uri, "name": input["name"], "version": input["run_id"]}


def unregister_model(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    path = _entry(input["name"], input["run_id"])
    removed = os.path.exists(path)
    if removed:
        os.remove(path)
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
