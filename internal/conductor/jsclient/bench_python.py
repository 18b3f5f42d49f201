"""The Conductor benchmark's workload through Weft's own worker protocol.

Imports the same five-task Conductor workflow the JavaScript benchmark
(run.mjs bench) runs, starts N runs, and works them with the Python SDK's
worker in this process, speaking Weft's worker protocol to weft serve.
Prints "RESULT <json>" with the steps per second.

    WEFT_URL=http://127.0.0.1:8080 PYTHONPATH=sdk-python python3 bench_python.py 1000
"""
import json
import os
import sys
import time
import urllib.request

from weft import Client, Worker

NAMES = ["b_one", "b_two", "b_three", "b_four", "b_five"]


def main() -> None:
    url = os.environ["WEFT_URL"]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    wf = {"name": "py_bench", "version": 1, "tasks": [
        {"name": name, "taskReferenceName": name, "type": "SIMPLE",
         "inputParameters": {"x": "${workflow.input.x}" if i == 0 else "${" + NAMES[i - 1] + ".output.x}"}}
        for i, name in enumerate(NAMES)]}
    req = urllib.request.Request(url + "/api/v1/import/conductor", data=json.dumps(wf).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
    client = Client(url)
    t0 = time.time()
    ids = [client.start("py_bench", {"x": 0}).id for _ in range(n)]
    started = time.time()
    worker = Worker(url, concurrency=10, capture_logs=False)
    for name in NAMES:
        worker.register(name, lambda input, ctx: {"x": input["x"] + 1}, queue=name)
    worker.start()
    try:
        for rid in ids:
            run = client.wait(rid, timeout=600, poll=1.0)
            if run.status != "succeeded" or run.output.get("x") != 5:
                raise SystemExit(f"run {rid}: {run.status} {run.output}")
    finally:
        worker.stop(timeout=10)
    secs = time.time() - started
    print("RESULT " + json.dumps({"scenario": "python", "workflows": n, "steps": n * 5,
                                  "start_seconds": started - t0, "seconds": secs, "steps_per_second": n * 5 / secs}))


if __name__ == "__main__":
    main()
