"""cmd.validate_csv: check a CSV artifact against thresholds: at least
min_rows rows, at most max_null_fraction empty cells per column, the
columns the schema names, and at most max_invalid_fraction values per
column that do not fit the column's type. Exits 2 on a violation,
listing every one."""

import csv
import weftcmd


def is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def main() -> None:
    args = weftcmd.read_input()
    path = weftcmd.artifact_in(args.get("dataset"))
    min_rows = int(args.get("min_rows", 1))
    max_null = float(args.get("max_null_fraction", 0.0))
    max_invalid = float(args.get("max_invalid_fraction", 0.0))
    schema = args.get("columns") or {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        rows = list(reader)
    problems = []
    for col, typ in sorted(schema.items()):
        if col not in header:
            problems.append("column %s is missing (the file has %s)" % (col, ", ".join(header)))
    nulls = {c: 0 for c in header}
    bad_type = {c: 0 for c in header}
    for row in rows:
        for c in header:
            v = (row.get(c) or "").strip()
            if v == "":
                nulls[c] += 1
            elif schema.get(c) == "number" and not is_number(v):
                bad_type[c] += 1
    n = len(rows)
    if n < min_rows:
        problems.append("%d rows, fewer than min_rows %d" % (n, min_rows))
    for c in header:
        frac = nulls[c] / n if n else 0.0
        if frac > max_null:
            problems.append("column %s: %.1f%% empty, more than max_null_fraction %.1f%%" % (c, 100 * frac, 100 * max_null))
        if n and bad_type[c] / n > max_invalid:
            problems.append("column %s: %d value(s) are not numbers, more than max_invalid_fraction %.1f%%" % (c, bad_type[c], 100 * max_invalid))
        elif bad_type[c]:
            print("column %s: %d value(s) are not numbers (within max_invalid_fraction)" % (c, bad_type[c]), flush=True)
    print("%d rows, %d columns" % (n, len(header)), flush=True)
    if problems:
        weftcmd.fail("the dataset fails validation:\n  " + "\n  ".join(problems))
    weftcmd.write_output({"rows": n, "columns": header, "null_fraction": {c: (nulls[c] / n if n else 0.0) for c in header}})


if __name__ == "__main__":
    main()
