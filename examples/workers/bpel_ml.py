"""Worker for the bpel-ml flow: ml.preprocess, ml.train, ml.evaluate,
ml.deploy and its compensation ml.undeploy.

A deployment is a record $WEFT_DEPLOY_DIR/<name>.json (default
var/deployments); ml.deploy keeps the record it replaces so ml.undeploy
rolls back to it."""

import os
from typing import Any, Dict, List

from common import main, now
from weft import BlockError, Worker

import mlkit


def deploy_dir() -> str:
    return mlkit.state_dir("WEFT_DEPLOY_DIR", os.path.join("var", "deployments"))


def preprocess(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    target = input.get("target") or "churned"
    try:
        columns, rows = mlkit.read_csv(input["dataset_url"])
    except FileNotFoundError:
        raise BlockError("dataset %r not found" % input["dataset_url"])
    if target not in columns:
        raise BlockError("target column %r is not in the data (columns: %s)" % (target, ", ".join(columns)))
    features: List[str] = []
    for c in columns:
        if c == target:
            continue
        try:
            [float(r[c]) for r in rows[:20]]
            features.append(c)
        except ValueError:
            continue  # identifiers and text columns
    data = [([float(r[c]) for c in features], int(r[target])) for r in rows]
    train, test = mlkit.split(data, float(input.get("test_fraction") or 0.25), int(input.get("seed") or 0))
    xtr, mean, std = mlkit.standardise([x for x, _ in train])
    xte = mlkit.apply_standardise([x for x, _ in test], mean, std)
    return {"train": [{"x": x, "y": y} for x, (_, y) in zip(xtr, train)],
            "test": [{"x": x, "y": y} for x, (_, y) in zip(xte, test)],
            "features": features, "mean": mean, "std": std}


def train(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    if input.get("inject_failure"):
        raise BlockError("training failed: inject_failure is set", retryable=False)
    x, y = [r["x"] for r in input["train"]], [int(r["y"]) for r in input["train"]]
    w, loss = mlkit.logistic_fit(x, y, epochs=int(input.get("epochs") or 400), lr=float(input.get("learning_rate") or 0.5),
                                 progress=lambda e, l: ctx.cancel_requested)
    uri = mlkit.write_json(mlkit.artifact_path("logreg", ctx.run_id, ctx.ref), {"kind": "logistic", "weights": w})
    return {"model_uri": uri, "loss": loss, "epochs": int(input.get("epochs") or 400)}


def evaluate(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    if not input.get("model_uri"):
        raise BlockError("no model to evaluate: training did not produce one")
    doc = mlkit.read_json(input["model_uri"])
    x, y = [r["x"] for r in input["test"]], [int(r["y"]) for r in input["test"]]
    pred = mlkit.logistic_predict(doc["weights"], x)
    return {"accuracy": mlkit.accuracy(y, pred), "count": len(y)}


def deploy(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    name = input["name"]
    path = os.path.join(deploy_dir(), mlkit._safe(name) + ".json")
    previous = mlkit.read_json(path) if os.path.exists(path) else None
    if previous is not None and previous.get("run_id") == input["run_id"]:
        previous = previous.get("previous")  # a redelivery of this same deployment
    mlkit.write_json(path, {"name": name, "run_id": input["run_id"], "model_uri": input["model_uri"],
                            "accuracy": input.get("accuracy"), "deployed_at": now(), "previous": previous})
    ctx.log.info("deployed", extra={"service": name})
    return {"deployment_id": "%s@%s" % (name, input["run_id"]), "endpoint": "local://" + name, "name": name}


def undeploy(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    path = os.path.join(deploy_dir(), mlkit._safe(input["name"]) + ".json")
    removed = False
    if os.path.exists(path):
        current = mlkit.read_json(path)
        if current.get("run_id") == input["run_id"]:
            if current.get("previous"):
                mlkit.write_json(path, current["previous"])  # roll back to what was deployed before
            else:
                os.remove(path)
            removed = True
    ctx.log.info("undeployed", extra={"service": input["name"], "removed": removed})
    return {"removed": removed}


def register(w: Worker) -> None:
    w.register("ml.preprocess", preprocess)
    w.register("ml.train", train)
    w.register("ml.evaluate", evaluate)
    w.register("ml.deploy", deploy)
    w.register("ml.undeploy", undeploy)


if __name__ == "__main__":
    main(register, "bpel-ml")
