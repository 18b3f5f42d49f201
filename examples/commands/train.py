"""Train a linear model on a CSV artifact: least squares on the numeric
columns, a held-out split for r2. Leaves model.json in WEFT_ARTIFACTS_OUT."""

import csv
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "workers"))
import mlkit  # noqa: E402

import weftcmd  # noqa: E402


def main() -> None:
    args = weftcmd.read_input()
    target = args.get("target", "price")
    with open(weftcmd.artifact_in(args.get("dataset")), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    clean, features, dropped = mlkit.clean_rows(rows, target)
    train, test = mlkit.split(clean, float(args.get("test_fraction", 0.25)), int(args.get("seed", 7)))
    print("training on %d rows, testing on %d (%d dropped); features: %s" % (len(train), len(test), dropped, ", ".join(features)), flush=True)
    w = mlkit.ols_fit(mlkit.matrix(train, features), [r[target] for r in train])
    pred = mlkit.ols_predict(w, mlkit.matrix(test, features))
    y = [r[target] for r in test]
    r2, rmse = mlkit.r2_score(y, pred), mlkit.rmse(y, pred)
    print("r2 %.4f, rmse %.1f" % (r2, rmse), flush=True)
    with open(weftcmd.artifact_out("model.json"), "w", encoding="utf-8") as f:
        json.dump({"algo": "linear", "target": target, "features": features, "weights": w}, f)
    weftcmd.write_output({"r2": r2, "rmse": rmse, "rows": len(clean)})


if __name__ == "__main__":
    main()
