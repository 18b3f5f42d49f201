#!/usr/bin/env bash
# Artifact throughput (BENCHMARKS.md): upload and download of one file
# through weft serve, to the folder store and to SeaweedFS (S3), against cp
# and curl to the same targets, measured in the same run.
#
#   scripts/bench_artifacts.sh [SIZE_MB] [ROUNDS]     # default 256 MB, 3 rounds (best kept)
#
# Needs bin/weft (make build), curl >= 7.75 (--aws-sigv4) and the SeaweedFS
# binary of scripts/seaweedfs.sh (the S3 rows are left out without it).
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-256}
ROUNDS=${2:-3}
WEED=${WEFT_WEED:-$HOME/.cache/weft/weed}
work=$(mktemp -d /var/tmp/weft-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
# keep the logs of a failed run
trap 'cp "$work"/*.log /tmp/ 2>/dev/null || true' ERR
trap cleanup EXIT

# a free loopback port below 55000 (SeaweedFS also binds port+10000)
free_port() { python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p < 55000:
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 10000)); print(p); break
        except OSError:
            pass'; }
now() { date +%s.%N; }
mbps() { python3 -c "import sys; print('%.0f' % ($MB * 1048576 / 1e6 / (float(sys.argv[2]) - float(sys.argv[1]))))" "$1" "$2"; }
# best SECONDS of ROUNDS runs of a command, as MB/s
best() {
  local top=0 t0 t1 r
  for _ in $(seq 1 "$ROUNDS"); do
    sync; t0=$(now)
    "$@" >/dev/null || { echo "bench: failed: $*" >&2; tail -20 "$work/weed.log" >&2 2>/dev/null; kill $$; }
    t1=$(now)
    r=$(mbps "$t0" "$t1"); (( r > top )) && top=$r
  done
  echo "$top"
}

head -c $((MB * 1048576)) /dev/urandom > "$work/data.bin"
echo "bench: $MB MB file, $ROUNDS rounds, best kept" >&2

KEY=bench-key SECRET=bench-secret-key
s3=""
if [[ -x "$WEED" ]]; then
  p=( $(for _ in 1 2 3 4; do free_port; done) )
  mkdir -p "$work/weed"
  printf '{"identities": [{"name": "b", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "Write", "List"]}]}' "$KEY" "$SECRET" > "$work/s3.json"
  "$WEED" server -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port="${p[0]}" -volume.port="${p[1]}" \
    -filer -filer.port="${p[2]}" -s3 -s3.port="${p[3]}" -s3.config="$work/s3.json" -master.volumeSizeLimitMB=1024 -volume.max=100 \
    > "$work/weed.log" 2>&1 &
  pids+=($!)
  s3="http://127.0.0.1:${p[3]}"
  sig=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET")
  for _ in $(seq 1 300); do curl -sf "${sig[@]}" -X PUT "$s3/bench" >/dev/null 2>&1 && break; sleep 0.3; done
fi

# weft serve on STORE; prints its URL
serve() {
  local port; port=$(free_port)
  AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET bin/weft serve --db "$work/$1.db" --addr "127.0.0.1:$port" \
    --artifacts "$2" --log-level warn > "$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "weft serve --artifacts $2 did not start:" >&2; cat "$work/$1.log" >&2; exit 1; }
  curl -sf -X PUT "http://127.0.0.1:$port/api/v1/blocks" -d '{"name": "bench.art", "dispatch": {"kind": "worker"}, "heartbeat_timeout": "1h"}' >/dev/null
  curl -sf -X POST "http://127.0.0.1:$port/api/v1/flows" -d '{"name": "bench", "blocks": [{"ref": "make", "block": "bench.art"}]}' >/dev/null
  echo "http://127.0.0.1:$port"
}

# a leased task of a new run: "TASK LEASE"
lease() {
  curl -sf -X POST "$1/api/v1/flows/bench/runs" -d '{"input": {}}' >/dev/null
  curl -sf -X POST "$1/api/v1/tasks/poll" -d '{"worker_id": "bench", "queues": ["bench.art"], "wait": "5s"}' |
    python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"][0]; print(t["id"], t["lease"])'
}

upload_weft() { curl -sf -T "$work/data.bin" -H "X-Weft-Lease: $3" -H "Content-Type: application/octet-stream" "$1/api/v1/tasks/$2/artifacts/data" -o "$work/answer.json"; }

row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }

echo "| target | upload MB/s | download MB/s |"
echo "|---|---:|---:|"

# Folder store vs cp to and from the same disk.
mkdir -p "$work/plain"
up=$(best cp "$work/data.bin" "$work/plain/copy.bin")
sync
down=$(best cp "$work/plain/copy.bin" "$work/plain/back.bin")
row "cp to/from the folder's disk" "$up" "$down"
cpsync() { cp "$1" "$2" && sync "$2"; }
up=$(best cpsync "$work/data.bin" "$work/plain/copy.bin")
row "cp + fsync (what the folder store does)" "$up" "—"
url=$(serve folder "$work/artifacts")
read -r task l < <(lease "$url")
up=$(best upload_weft "$url" "$task" "$l")
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/answer.json")
down=$(best curl -sf -o "$work/down.bin" "$url/api/v1/artifacts/$id")
cmp "$work/down.bin" "$work/data.bin"
row "weft serve, folder store (curl)" "$up" "$down"

if [[ -n "$s3" ]]; then
  up=$(best curl -sf "${sig[@]}" -T "$work/data.bin" "$s3/bench/data.bin")
  down=$(best curl -sf "${sig[@]}" -o "$work/down.bin" "$s3/bench/data.bin")
  cmp "$work/down.bin" "$work/data.bin"
  row "curl to/from SeaweedFS S3" "$up" "$down"
  url=$(serve s3 "s3://bench/weft?endpoint=$s3&region=us-east-1")
  read -r task l < <(lease "$url")
  up=$(best upload_weft "$url" "$task" "$l")
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/answer.json")
  down=$(best curl -sf -o "$work/down.bin" "$url/api/v1/artifacts/$id")
  cmp "$work/down.bin" "$work/data.bin"
  row "weft serve, SeaweedFS store (curl)" "$up" "$down"
fi
