"""Generate the example data sets deterministically.

    python3 examples/data/generate.py

writes house_prices.csv, sensor_samples.csv, category_embeddings.json and
churn.csv next to this file. The same seed always gives byte-identical files,
so the committed files can be checked with `git diff` after running it.
"""

import csv
import json
import math
import os
import random
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))


def house_prices(path: str, rows: int = 300, seed: int = 20261201) -> None:
    """House sales: a mostly linear price with noise, plus a few dirty rows."""
    rnd = random.Random(seed)
    header = ["id", "sqft", "bedrooms", "bathrooms", "age", "lot_size", "garage", "price"]
    out: List[List[str]] = []
    for i in range(1, rows + 1):
        sqft = int(rnd.gauss(1700, 450))
        sqft = max(520, min(sqft, 4200))
        bedrooms = max(1, min(6, int(round(sqft / 600 + rnd.gauss(0, 0.7)))))
        bathrooms = max(1.0, min(4.0, round((bedrooms * 0.6 + rnd.gauss(0, 0.5)) * 2) / 2))
        age = rnd.randint(0, 80)
        lot = int(rnd.uniform(1500, 12000))
        garage = 1 if rnd.random() < 0.6 else 0
        price = (40000 + 118 * sqft + 9000 * bedrooms + 14000 * bathrooms - 850 * age
                 + 3.1 * lot + 16000 * garage - 40 * max(0, age - 50) ** 2 + rnd.gauss(0, 26000))
        row = [str(i), str(sqft), str(bedrooms), "%.1f" % bathrooms, str(age), str(lot), str(garage),
               str(int(round(price, -2)))]
        out.append(row)
    # dirty rows the prepare step must drop
    for k, col, bad in [(17, 1, ""), (42, 7, "n/a"), (88, 4, "-3"), (131, 1, "abc"), (175, 7, ""),
                        (203, 2, "NaN"), (250, 5, ""), (289, 1, "-900")]:
        out[k][col] = bad
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(out)


CATEGORIES = {"a": [0.9, 0.1, -0.2], "b": [-0.5, 0.8, 0.3], "c": [0.1, -0.7, 0.9], "d": [-0.8, -0.3, -0.6]}
RADIUS = {"a": 1.0, "b": 1.25, "c": 0.85, "d": 1.1}


def sensor_samples(path: str, emb_path: str, rows: int = 400, seed: int = 3) -> None:
    """Two sensor readings inside/outside a category-dependent circle: a
    problem a linear model cannot solve but a small MLP can."""
    rnd = random.Random(seed)
    header = ["id", "x1", "x2", "x3", "x4", "category", "label"]
    out: List[List[str]] = []
    cats = sorted(CATEGORIES)
    for i in range(1, rows + 1):
        c = cats[rnd.randrange(len(cats))]
        x1, x2 = rnd.uniform(-2, 2), rnd.uniform(-2, 2)
        x3, x4 = rnd.gauss(0, 1), rnd.gauss(0, 1)
        inside = math.hypot(x1, x2) < RADIUS[c] * 1.3
        if rnd.random() < 0.03:
            inside = not inside  # label noise
        out.append([str(i), "%.4f" % x1, "%.4f" % x2, "%.4f" % x3, "%.4f" % x4, c, "1" if inside else "0"])
    for k in (9, 77, 156, 301):
        out[k][3] = ""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(out)
    with open(emb_path, "w") as f:
        json.dump({"dim": 3, "vectors": CATEGORIES}, f, indent=2, sort_keys=True)
        f.write("\n")


def churn(path: str, rows: int = 320, seed: int = 11) -> None:
    """Customer churn: a noisy logistic relation."""
    rnd = random.Random(seed)
    header = ["customer", "tenure_months", "monthly_charges", "support_calls", "contract_months", "churned"]
    out: List[List[str]] = []
    for i in range(1, rows + 1):
        tenure = rnd.randint(1, 72)
        charges = round(rnd.uniform(20, 120), 2)
        calls = min(9, int(rnd.expovariate(0.6)))
        contract = rnd.choice([1, 1, 12, 24])
        z = 1.2 - 0.06 * tenure + 0.025 * charges + 0.45 * calls - 0.08 * contract + rnd.gauss(0, 0.8)
        p = 1 / (1 + math.exp(-z))
        out.append(["c%04d" % i, str(tenure), "%.2f" % charges, str(calls), str(contract), "1" if rnd.random() < p else "0"])
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(out)


def main() -> None:
    house_prices(os.path.join(HERE, "house_prices.csv"))
    sensor_samples(os.path.join(HERE, "sensor_samples.csv"), os.path.join(HERE, "category_embeddings.json"))
    churn(os.path.join(HERE, "churn.csv"))


if __name__ == "__main__":
    main()
