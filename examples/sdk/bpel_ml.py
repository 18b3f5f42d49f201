"""bpel-ml (flows/examples/bpel-ml.json) built with the SDK."""

from weft import Compensate, Flow, if_


def build() -> Flow:
    f = Flow(
        "bpel-ml",
        title="Train and deploy with compensation",
        description="A BPEL-style process: preprocess, train (a fault handler alerts the team when training fails), "
                    "evaluate, deploy (compensated by undeploy) and a final check that fails the run when the "
                    "evaluation is poor, which rolls the deployment back.",
        input_schema={
            "type": "object",
            "properties": {
                "dataset_url": {"type": "string", "title": "Labelled CSV", "default": "examples/data/churn.csv"},
                "epochs": {"type": "integer", "title": "Epochs", "minimum": 1, "maximum": 10000, "default": 400},
                "learning_rate": {"type": "number", "title": "Learning rate", "default": 0.5},
                "seed": {"type": "integer", "title": "Split seed", "default": 11},
                "min_accuracy": {"type": "number", "title": "Accuracy the deployment must reach", "minimum": 0,
                                 "maximum": 1, "default": 0.75},
                "service_name": {"type": "string", "title": "Service name", "default": "churn-model"},
                "fail_training": {"type": "boolean", "title": "Make training fail (to see the fault handler)",
                                  "default": False},
            },
        },
    )
    inp = f.input
    service = inp["service_name"].or_default("churn-model")
    min_accuracy = inp["min_accuracy"].or_default(0.75)

    pre = f.block("preprocess", "ml.preprocess", {
        "dataset_url": inp["dataset_url"].or_default("examples/data/churn.csv"), "target": "churned",
        "test_fraction": 0.25, "seed": inp["seed"].or_default(11)})
    train = f.block("train", "ml.train", {
        "train": pre.output["train"], "epochs": inp["epochs"].or_default(400),
        "learning_rate": inp["learning_rate"].or_default(0.5),
        "inject_failure": inp["fail_training"].or_default(False)})
    train.catch().block("train_alert", "notify.team", {
        "channel": "ml-team", "text": f"bpel-ml run {f.run_id}: training failed; no model to evaluate"})
    evaluate = f.block("evaluate", "ml.evaluate", {
        "model_uri": train.output.get("model_uri").or_default(""), "test": pre.output["test"]})
    deploy = f.block("deploy", "ml.deploy", {
        "model_uri": train.output["model_uri"], "name": service, "run_id": f.run_id,
        "accuracy": evaluate.output["accuracy"]},
        compensate=Compensate("ml.undeploy", {"name": service, "run_id": f.run_id}))

    check = f.decision("check", if_(evaluate.output["accuracy"] >= min_accuracy, "pass", "poor"))
    check.case("pass").lambda_("accepted", deploy.output)
    check.case("poor").fail("reject", f"accuracy {evaluate.output['accuracy']} is below {min_accuracy}: "
                                      "the deployment is rolled back")

    f.output({"deployment": check.output, "accuracy": evaluate.output["accuracy"]})
    f.on_failure().block("alert", "notify.team", {
        "channel": "ml-team", "text": f"bpel-ml run {f.run_id} failed: {f.error}"})
    return f


flow = build()
