"""Step logs against a real `weft serve` (SQLite in a temp dir): a worker's
handlers log and print, the lines are read back through the API."""

import logging
import os
import shutil
import sys
import tempfile
import time
import unittest
from typing import Any, Dict, List

from tests import _paths, _serve  # noqa: F401  (_paths puts the SDK on sys.path)
from tests.test_server import CI, _binary
from weft import Client, Worker
from weft import _logs
from weft._http import Transport

STATE: Dict[str, Any] = {}


def setUpModule() -> None:
    tmp = tempfile.mkdtemp(prefix="weft-sdk-logs-")
    STATE["tmp"] = tmp
    binary = _binary(tmp)
    if binary is None:
        from tests import test_server
        msg = "\n*** SKIPPING the step log tests: %s ***\n" % test_server.STATE.get("why")
        sys.stderr.write(msg)
        if CI:
            raise RuntimeError(msg)
        raise unittest.SkipTest(msg)
    _serve.start(STATE, binary, tmp, [])


def tearDownModule() -> None:
    _serve.stop(STATE)
    if STATE.get("tmp"):
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


class StepLogTest(unittest.TestCase):
    def test_a_worker_ships_what_its_handlers_log_and_print(self) -> None:
        c = Client(STATE["url"])
        c.deploy_block({"name": "logs.talk", "dispatch": {"kind": "worker"}})
        c.deploy_flow({"name": "talk", "blocks": [
            {"ref": "a", "block": "logs.talk", "input": {"n": "${flow.input.n}", "fail": False}},
            {"ref": "b", "block": "logs.talk", "input": {"n": "${flow.input.n}", "fail": True},
             "retry": {"max_attempts": 2, "initial_interval": "10ms"}, "optional": True},
        ]})
        app = logging.getLogger("talk.app")
        # ctx.log goes to "weft.worker": other tests may have quietened "weft".
        weft_log = logging.getLogger("weft")
        self.addCleanup(weft_log.setLevel, weft_log.level)
        weft_log.setLevel(logging.INFO)

        # Several tasks at once and one after another in each thread: every
        # line must land in its own step, in order.
        w = Worker(STATE["url"], concurrency=2, poll_wait=2.0)

        @w.block("logs.talk")
        def talk(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            n = input["n"]
            print("start", n)
            app.info("info %d", n)
            app.debug("debug %d is below the level", n)
            ctx.log.warning("warning %d", n)
            sys.stderr.write("to stderr %d\n" % n)
            sys.stdout.write("no newline %d" % n)
            for i in range(3):
                time.sleep(0.01)
                print("step", i, "of", n)
            if input["fail"] and ctx.attempt == 1:
                app.error("about to fail %d", n)
                raise RuntimeError("boom %d" % n)
            return {"n": n}

        w.start()
        try:
            runs = [c.start("talk", {"n": i}) for i in range(6)]
            for r in runs:
                done = c.wait(r.id, timeout=60)
                self.assertEqual(done.status, "succeeded", done.error)
        finally:
            self.assertTrue(w.stop(10))

        for i, r in enumerate(runs):
            a = [(l["attempt"], l["level"], l["message"]) for l in c.logs(r.id, "a")]
            body = [
                (1, "info", "start %d" % i),
                (1, "info", "info %d" % i),
                (1, "warning", "warning %d" % i),
                (1, "error", "to stderr %d" % i),
                (1, "info", "no newline %dstep 0 of %d" % (i, i)),
                (1, "info", "step 1 of %d" % i),
                (1, "info", "step 2 of %d" % i),
            ]
            self.assertEqual([x for x in a if x[2] != "task started"], body, "run %s step a" % r.id)
            b = [(l["attempt"], l["level"], l["message"]) for l in c.logs(r.id, "b")]
            msgs = [x for x in b if x[2] != "task started"]
            # Attempt 1 fails: its lines, then the error and the traceback
            # the worker logs, then attempt 2's lines.
            self.assertEqual(msgs[:7], body, "run %s step b" % r.id)
            self.assertEqual(msgs[7], (1, "error", "about to fail %d" % i))
            self.assertEqual(msgs[8][:2], (1, "error"))
            self.assertIn("RuntimeError: boom %d" % i, msgs[8][2])
            self.assertEqual(msgs[9:], [(2,) + x[1:] for x in body], "run %s step b, attempt 2" % r.id)
            every = c.logs(r.id)
            self.assertEqual(len(every), len(a) + len(b))
            self.assertTrue(all(l["ts"] for l in every))
        # Capture ended with the worker: prints are no longer wrapped.
        self.assertNotIsInstance(sys.stdout, _logs._Tee)

    def test_a_failed_log_shipment_does_not_raise(self) -> None:
        # A port nothing listens on.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        warnings: List[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                warnings.append(record.getMessage())

        log = logging.getLogger("test_logs.shipping")
        log.addHandler(Collect())
        log.propagate = False
        tl = _logs.TaskLog(Transport("http://127.0.0.1:%d" % port, timeout=2.0, retries=0), "t1", "lease",
                           logging.LoggerAdapter(log, {}))
        tl.add("info", time.time(), "a line nobody will read")
        tl.flush()  # the heartbeat thread's flush keeps the line for later
        self.assertTrue(tl.pending())
        tl.flush(final=True)  # the last one drops it with a warning
        self.assertFalse(tl.pending())
        self.assertTrue(any("not sent" in m for m in warnings), warnings)


if __name__ == "__main__":
    unittest.main()
