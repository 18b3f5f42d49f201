#!/usr/bin/env bash
# make run: weft on embedded SQLite (var/weft.db) with the example flows and
# their Python workers, plus an offline chat-completions stand-in when no
# WEFT_LLM_URL is set. Ctrl-C stops everything gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."

ADDR="${WEFT_ADDR:-127.0.0.1:8080}"
PY="${PY:-python3}"
mkdir -p var
pids=()

# Children run in their own sessions (setsid) so Ctrl-C reaches only this
# script, which stops them in order: workers first (they finish running
# tasks and report them while the server is still up), then the server,
# then the chat stand-in.
stopped=0
stop() {
  trap - INT TERM
  [[ $stopped == 1 ]] && return
  stopped=1
  echo "run.sh: stopping" >&2
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
}
trap stop INT TERM

if [[ -z "${WEFT_LLM_URL:-}" ]]; then
  port="${WEFT_LLM_PORT:-8099}"
  setsid "$PY" examples/workers/local_llm.py --port "$port" &
  pids+=($!)
  export WEFT_LLM_URL="http://127.0.0.1:${port}/v1/chat/completions"
  export WEFT_LLM_KEY="${WEFT_LLM_KEY:-local}"
  echo "run.sh: no WEFT_LLM_URL set: using the offline stand-in at $WEFT_LLM_URL" >&2
fi

setsid "${WEFT_BIN:-bin/weft}" serve --db "${WEFT_DB:-var/weft.db}" --addr "$ADDR" --load flows/examples --run-commands &
pids+=($!)

export WEFT_URL="http://${ADDR}"
for _ in $(seq 1 100); do
  if "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/readyz', timeout=1)" "$WEFT_URL" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

PYTHONPATH="$PWD/sdk-python${PYTHONPATH:+:$PYTHONPATH}" setsid "$PY" examples/workers/run_all.py &
pids+=($!)

echo "run.sh: Weft is at $WEFT_URL (UI and API); the example workers are running. Ctrl-C stops." >&2
echo "run.sh: try  bin/weft run house-prices --input '{\"dataset_url\": \"examples/data/house_prices.csv\"}' --wait" >&2
wait -n "${pids[@]}" || true
stop
