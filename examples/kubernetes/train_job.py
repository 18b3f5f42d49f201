"""The trainer image's entry point: one attempt of model.train, run as a Kubernetes Job.

Weft's Kubernetes dispatcher starts the container with the step's input in WEFT_INPUT (or the
path of a mounted file in WEFT_INPUT_FILE when the input is large), the server's address in
WEFT_SERVER, and the task's id and lease in WEFT_TASK_ID and WEFT_LEASE. This script reads the
input, downloads the train and test artifacts it references, fits the model with the same code the
local worker runs (examples/workers/house_prices.py), stores the model as the step's artifact under
the lease, and writes the output as JSON to /dev/termination-log: when the Job completes, the
dispatcher makes that the step's output. A failure exits non-zero: the Job fails and the block's
retry policy decides what happens next.
"""

import json
import logging
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "sdk-python"), os.path.join(ROOT, "examples", "workers")]

from weft import artifacts  # noqa: E402
from weft._http import Transport  # noqa: E402

import house_prices  # noqa: E402


class JobContext:
    """What house_prices.train uses of a worker's task context."""

    cancel_requested = False  # cancel deletes the Job: the container is stopped, not asked

    def __init__(self, transport: Transport, task_id: str, lease: str) -> None:
        self.log = logging.getLogger("model.train")
        self._t, self._task_id, self._lease = transport, task_id, lease

    def save_artifact(self, name, source):
        return artifacts.upload(self._t, self._task_id, self._lease, name, source)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    raw = os.environ.get("WEFT_INPUT")
    if raw is None:
        with open(os.environ["WEFT_INPUT_FILE"], encoding="utf-8") as f:
            raw = f.read()
    t = Transport(os.environ["WEFT_SERVER"], token=os.environ.get("WEFT_TOKEN"))
    step_input = artifacts.resolve(t, json.loads(raw), {})
    out = house_prices.train(step_input, JobContext(t, os.environ["WEFT_TASK_ID"], os.environ["WEFT_LEASE"]))
    text = json.dumps(out)
    path = os.environ.get("WEFT_TERMINATION_LOG", "/dev/termination-log")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
