"""house-prices (flows/examples/house-prices.json) built with the SDK."""

from weft import Compensate, Flow, Retry, if_


def build() -> Flow:
    f = Flow(
        "house-prices",
        title="House price model",
        description="Loads a CSV of house sales once (an artifact), cleans and splits it, trains a linear model and a random forest "
                    "in parallel, keeps the better one and, after a human approval, registers it (a failed run "
                    "unregisters it again).",
        input_schema={
            "type": "object",
            "required": ["dataset_url"],
            "properties": {
                "dataset_url": {"type": "string", "title": "Dataset",
                                "description": "CSV path (relative to the repository), file:// or http(s) URL",
                                "default": "examples/data/house_prices.csv"},
                "target": {"type": "string", "title": "Target column", "default": "price"},
                "test_fraction": {"type": "number", "title": "Held-out fraction", "minimum": 0.05, "maximum": 0.5,
                                  "default": 0.25},
                "seed": {"type": "integer", "title": "Split and forest seed", "default": 7},
                "trees": {"type": "integer", "title": "Forest size", "minimum": 1, "maximum": 50, "default": 12},
                "min_r2": {"type": "number", "title": "Minimum r2 to register", "default": 0.8},
                "model_name": {"type": "string", "title": "Registry name", "default": "house-prices"},
            },
        },
    )
    inp = f.input
    seed = inp["seed"].or_default(7)
    min_r2 = inp["min_r2"].or_default(0.8)
    model_name = inp["model_name"].or_default("house-prices")

    load = f.block("load", "data.load_csv", {"url": inp["dataset_url"]})
    prep = f.block("prep", "data.prepare", {
        "dataset": load.artifacts["dataset"],
        "target": inp["target"].or_default("price"),
        "test_fraction": inp["test_fraction"].or_default(0.25),
        "seed": seed,
    }, retry=Retry(max_attempts=5))

    data = {"train": prep.artifacts["train"], "test": prep.artifacts["test"], "features": prep.output["features"],
            "target": prep.output["target"]}
    train = f.fork("train")
    linear = train.branch().block("linear", "model.train", dict(data, algo="linear"))
    forest = train.branch().block("forest", "model.train", dict(
        data, algo="forest", trees=inp["trees"].or_default(12), max_depth=6, seed=seed), timeout="1h")

    best = f.lambda_("best", if_(linear.output["r2"] >= forest.output["r2"], linear.output, forest.output))

    gate = f.decision("gate", if_(best.output["r2"] >= min_r2, "good", "bad"))
    good = gate.case("good")
    approve = good.wait("approve", signal="approval", timeout="24h")
    good.block("register", "model.register", {
        "model": best.output["model"],
        "name": model_name,
        "run_id": f.run_id,
        "metrics": {"r2": best.output["r2"], "rmse": best.output["rmse"], "algo": best.output["algo"]},
        "approval": approve.output,
    }, compensate=Compensate("model.unregister", {"name": model_name, "run_id": f.run_id}))
    gate.case("bad").block("notify", "notify.team", {
        "channel": "ml-team",
        "text": f"house-prices run {f.run_id}: best r2 {best.output['r2']} ({best.output['algo']}) "
                f"is below {min_r2}; nothing registered",
    })

    f.output({
        "model": gate.output.get("uri"),
        "algo": best.output["algo"],
        "r2": best.output["r2"],
        "linear_r2": linear.output["r2"],
        "forest_r2": forest.output["r2"],
    })
    f.on_failure().block("alert", "notify.team", {
        "channel": "ml-team", "text": f"house-prices run {f.run_id} failed: {f.error}"})
    f.trigger("0 3 * * MON", input={"dataset_url": "examples/data/house_prices.csv"})
    return f


flow = build()
