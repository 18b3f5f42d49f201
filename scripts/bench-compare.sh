#!/usr/bin/env bash
# Compare two weft binaries with weft bench, interleaved in one session so
# that the ratios hold even on a shared machine:
#
#   scripts/bench-compare.sh BEFORE_BIN AFTER_BIN [REPS] [SCALE]
#
# For each database (a new SQLite file; a scratch PostgreSQL database when
# WEFT_BENCH_POSTGRES is set, e.g. postgres://postgres@127.0.0.1:5432/postgres),
# each rep measures the database's floor (workload 0, with AFTER_BIN), then
# runs workloads 1, 2 and 3 separately with each binary in turn, and
# records the figures and the process's CPU time (user + system, from
# /usr/bin/time) per step. Prints min / median / max per figure.
set -euo pipefail
before=${1:?usage: bench-compare.sh BEFORE_BIN AFTER_BIN [REPS] [SCALE]}
after=${2:?usage: bench-compare.sh BEFORE_BIN AFTER_BIN [REPS] [SCALE]}
reps=${3:-3}
scale=${4:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

dbs=(sqlite)
[ -n "${WEFT_BENCH_POSTGRES:-}" ] && dbs+=(postgres)

# steps each workload runs at scale 1 (for CPU per step)
declare -A steps=([1]=400 [2]=5000 [3]=10000)

for db in "${dbs[@]}"; do
  dbflag=()
  [ "$db" = postgres ] && dbflag=(--db "$WEFT_BENCH_POSTGRES")
  for rep in $(seq 1 "$reps"); do
    "$after" bench --workloads 0 "${dbflag[@]}" > "$out/$db.floor.0.$rep.out"
    for w in 1 2 3; do
      for which in before after; do
        bin=$before
        [ "$which" = after ] && bin=$after
        f="$out/$db.$which.$w.$rep"
        /usr/bin/time -f 'cpu %U %S' -o "$f.time" "$bin" bench --workloads "$w" --scale "$scale" "${dbflag[@]}" > "$f.out"
        n=$(( ${steps[$w]} / scale ))
        awk -v n="$n" -v w="$w" '{printf "workload %s  %-28s %12.3f ms\n", w, "process CPU per step", ($2 + $3) * 1000 / n}' "$f.time" >> "$f.out"
        echo "$db rep $rep workload $w $which done" >&2
      done
    done
  done
done

python3 - "$out" <<'EOF'
import collections, glob, os, re, statistics, sys
vals = collections.defaultdict(list)
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.out"))):
    db, which, _, _ = os.path.basename(f)[:-4].split(".")
    if which == "floor":
        which = "after"
    for line in open(f):
        m = re.match(r"workload (\d)\s+(.+?)\s{2,}\s*([\d.]+)\s*(\S*)", line)
        if m and m.group(1) != "0":
            vals[(db, m.group(1), m.group(2).strip(), m.group(4), which)].append(float(m.group(3)))
        elif m:
            vals[(db, "0", m.group(2).strip(), m.group(4), which)].append(float(m.group(3)))
keys = sorted({k[:4] for k in vals})
print("| database | workload | figure | before: min / median / max | after: min / median / max | after ÷ before (medians) |")
print("|---|---|---|---|---|---|")
def fmt(xs):
    return "%.3g / %.3g / %.3g" % (min(xs), statistics.median(xs), max(xs)) if xs else "-"
for k in keys:
    b, a = vals.get(k + ("before",), []), vals.get(k + ("after",), [])
    ratio = "%.2f" % (statistics.median(a) / statistics.median(b)) if a and b and statistics.median(b) else "-"
    print("| %s | %s | %s (%s) | %s | %s | %s |" % (k[0], k[1], k[2], k[3] or "", fmt(b), fmt(a), ratio))
EOF
