"""Compute the house-prices r2 outside Weft, with the same code and split.

    python3 examples/check_house_prices.py [--json] [CSV]

The house-prices flow (default input) must record the same numbers:
run.output.linear_r2 and run.output.forest_r2.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))

import mlkit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", nargs="?", default="examples/data/house_prices.csv")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--test-fraction", type=float, default=0.25)
    ap.add_argument("--trees", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = mlkit.house_prices_r2(a.csv, test_fraction=a.test_fraction, seed=a.seed, trees=a.trees, max_depth=6)
    best = max(r, key=lambda k: r[k])
    out = {"linear_r2": r["linear"], "forest_r2": r["forest"], "best": best, "r2": r[best]}
    if a.json:
        print(json.dumps(out))
    else:
        print("linear r2 = %.6f\nforest r2 = %.6f\nbest     = %s (%.6f)" % (r["linear"], r["forest"], best, r[best]))


if __name__ == "__main__":
    main()
