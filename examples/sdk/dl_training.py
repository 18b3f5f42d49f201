"""dl-training (flows/examples/dl-training.json) built with the SDK."""

from weft import Flow, if_


def build() -> Flow:
    f = Flow(
        "dl-training",
        title="Deep-learning training DAG",
        description="A DAG: pulls labelled samples and category embeddings side by side, builds a dataset from "
                    "both, stops with an alert to the data team when its quality is poor, trains a small neural "
                    "network, evaluates it and releases it or holds it back.",
        input_schema={
            "type": "object",
            "properties": {
                "samples_url": {"type": "string", "title": "Samples CSV", "default": "examples/data/sensor_samples.csv"},
                "embeddings_url": {"type": "string", "title": "Category embeddings (JSON)",
                                   "default": "examples/data/category_embeddings.json"},
                "min_quality": {"type": "number", "title": "Minimum data quality (share of usable rows)",
                                "minimum": 0, "maximum": 1, "default": 0.9},
                "hidden": {"type": "integer", "title": "Hidden units", "minimum": 1, "maximum": 64, "default": 6},
                "epochs": {"type": "integer", "title": "Epochs", "minimum": 1, "maximum": 5000, "default": 120},
                "learning_rate": {"type": "number", "title": "Learning rate", "default": 0.5},
                "seed": {"type": "integer", "title": "Seed", "default": 3},
                "min_accuracy": {"type": "number", "title": "Accuracy needed to release", "minimum": 0, "maximum": 1,
                                 "default": 0.85},
                "channel": {"type": "string", "title": "Release channel", "default": "staging"},
            },
        },
    )
    inp = f.input
    seed = inp["seed"].or_default(3)
    min_quality = inp["min_quality"].or_default(0.9)
    min_accuracy = inp["min_accuracy"].or_default(0.85)

    # A DAG: every block says what it waits for (.after); samples and
    # vectors wait for nothing and start together.
    samples = f.block("samples", "data.pull", {
        "source": inp["samples_url"].or_default("examples/data/sensor_samples.csv"), "limit": 5000}).after()
    vectors = f.block("vectors", "embeddings.pull", {
        "source": inp["embeddings_url"].or_default("examples/data/category_embeddings.json")}).after()

    build_ = f.block("build", "dataset.build", {
        "samples": samples.output["samples"], "embeddings": vectors.output["embeddings"],
        "test_fraction": 0.25, "seed": seed}).after(samples, vectors)

    quality = f.decision("quality", if_(build_.output["quality"] >= min_quality, "ok", "bad")).after(build_)
    quality.case("ok").lambda_("quality_ok", {"quality": build_.output["quality"], "rows": build_.output["count"]})
    bad = quality.case("bad")
    bad.block("data_alert", "notify.team", {
        "channel": "data-team",
        "text": f"dl-training run {f.run_id}: data quality {build_.output['quality']} is below {min_quality} "
                f"({build_.output['missing']} unusable rows)"})
    bad.fail("bad_data", f"data quality {build_.output['quality']} is below {min_quality}: "
                         "fix the samples and start again")

    train = f.block("train", "dl.train", {
        "train": build_.output["train"], "hidden": inp["hidden"].or_default(6),
        "epochs": inp["epochs"].or_default(120), "learning_rate": inp["learning_rate"].or_default(0.5),
        "seed": seed}, timeout="30m").after(build_, quality)
    evaluate = f.block("evaluate", "model.evaluate", {"model_uri": train.output["model_uri"],
                                                      "test": build_.output["test"]}).after(train, build_)

    gate = f.decision("release_gate", if_(evaluate.output["accuracy"] >= min_accuracy, "release", "hold")).after(evaluate, train)
    gate.case("release").block("release", "model.release", {
        "model_uri": train.output["model_uri"], "accuracy": evaluate.output["accuracy"],
        "channel": inp["channel"].or_default("staging")})
    gate.case("hold").block("hold", "notify.team", {
        "channel": "ml-team",
        "text": f"dl-training run {f.run_id}: accuracy {evaluate.output['accuracy']} is below {min_accuracy}; "
                "model held back"})

    f.output({"model_uri": train.output["model_uri"], "loss": train.output["loss"],
              "accuracy": evaluate.output["accuracy"], "released": gate.output.get("uri")})
    f.on_failure().block("alert", "notify.team", {
        "channel": "ml-team", "text": f"dl-training run {f.run_id} failed: {f.error}"})
    return f


flow = build()
