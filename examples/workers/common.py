"""Shared pieces of the example workers: the SDK import, state folders,
the notify.team / report.publish handlers and a main() helper.

Every example worker is started the same way:

    WEFT_URL=http://127.0.0.1:8080 python3 examples/workers/house_prices.py

State (models, registry, deployments, reports, notifications) goes under
./var unless the WEFT_* variables below say otherwise.
"""

import datetime
import json
import logging
import os
import sys
import threading
from typing import Any, Callable, Dict, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:
    import weft  # noqa: F401
except ImportError:  # running from a checkout without `pip install ./sdk-python`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "sdk-python"))

from weft import Worker, configure_logging  # noqa: E402

import mlkit  # noqa: E402

_lock = threading.Lock()


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def registry_dir() -> str:
    return mlkit.state_dir("WEFT_MODEL_REGISTRY", os.path.join("var", "registry"))


def notify_team(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    """notify.team: append the message to $WEFT_NOTIFY_FILE (default var/notifications.jsonl)."""
    path = os.environ.get("WEFT_NOTIFY_FILE") or os.path.join("var", "notifications.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    channel = input.get("channel") or "team"
    rec = {"time": now(), "channel": channel, "text": input["text"], "run_id": ctx.run_id, "task_id": ctx.task.id}
    with _lock:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    ctx.log.info("notified %s: %s" % (channel, input["text"]))
    return {"delivered": True, "channel": channel, "id": ctx.task.id}


def report_publish(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
    """report.publish: write the report to $WEFT_REPORTS (default var/reports)/<run>.json."""
    d = mlkit.state_dir("WEFT_REPORTS", os.path.join("var", "reports"))
    path = os.path.join(d, "%s.json" % ctx.run_id)
    doc = {"title": input["title"], "score": input.get("score"), "results": input.get("results", []),
           "published_at": now(), "run_id": ctx.run_id}
    uri = mlkit.write_json(path, doc)
    return {"uri": uri, "title": input["title"]}


def register_common(worker: Worker) -> None:
    worker.register("notify.team", notify_team)
    worker.register("report.publish", report_publish)


def main(register: Callable[[Worker], None], name: str, concurrency: Optional[int] = None) -> None:
    """Start a worker with the handlers register() adds, until SIGINT/SIGTERM."""
    configure_logging(logging.INFO)
    w = Worker(os.environ.get("WEFT_URL", "http://127.0.0.1:8080"),
               worker_id="%s-%d" % (name, os.getpid()),
               concurrency=concurrency or int(os.environ.get("WEFT_CONCURRENCY", "4")),
               shutdown_timeout=float(os.environ.get("WEFT_SHUTDOWN_TIMEOUT", "30")))
    register(w)
    w.run()
