"""Human steps against a real `weft serve`: a run waiting for a signal is
``waiting``, lists what it waits for, refuses a payload its form rejects
and moves on once approved."""

import shutil
import sys
import tempfile
import unittest
from typing import Any, Dict

from tests import _paths, _serve  # noqa: F401  (_paths puts the SDK on sys.path)
from tests.test_server import CI, _binary
from weft import APIError, Client, Flow

STATE: Dict[str, Any] = {}


def setUpModule() -> None:
    tmp = tempfile.mkdtemp(prefix="weft-sdk-human-")
    STATE["tmp"] = tmp
    binary = _binary(tmp)
    if binary is None:
        from tests import test_server
        msg = "\n*** SKIPPING the human step tests: %s ***\n" % test_server.STATE.get("why")
        sys.stderr.write(msg)
        if CI:
            raise RuntimeError(msg)
        raise unittest.SkipTest(msg)
    _serve.start(STATE, binary, tmp, [])


def tearDownModule() -> None:
    _serve.stop(STATE)
    if STATE.get("tmp"):
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


class HumanStepTest(unittest.TestCase):
    def test_waiting_run_form_and_approval(self) -> None:
        c = Client(STATE["url"])
        c.deploy_block({"name": "human.notify", "dispatch": {"kind": "worker"}})
        f = Flow("sdk-review")
        w = f.wait("approve", signal="approval", assignee="reviewers", sla="4h", timeout="1d",
                   form={"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}})
        w.escalate().block("nudge", "human.notify", {"to": "lead"})
        f.output(w.output)
        doc = f.to_dict()
        self.assertEqual(doc["blocks"][0]["on_sla"], [{"ref": "nudge", "block": "human.notify", "input": {"to": "lead"}}])
        self.assertEqual(f.validate(), [])
        c.deploy_flow(f)

        run = c.start("sdk-review", {})
        run = c.wait(run.id, timeout=30)
        self.assertEqual(run.status, "waiting")
        self.assertTrue(run.waiting)
        self.assertEqual([(x.signal, x.assignee, x.sla) for x in run.waiting_for], [("approval", "reviewers", "4h0m0s")])
        self.assertIsNotNone(run.waiting_for[0].sla_due_at)
        self.assertIn(run.id, [r.id for r in c.waiting_runs().runs])

        with self.assertRaises(APIError) as bad:
            c.signal(run.id, "approval", {"ok": "yes"})
        self.assertEqual(bad.exception.status, 422)
        self.assertIn("/ok", str(bad.exception))
        with self.assertRaises(APIError) as other:
            c.signal(run.id, "deploy", {})
        self.assertEqual(other.exception.status, 409)
        self.assertIn("approval", str(other.exception))
        self.assertEqual(c.run(run.id).status, "waiting")

        self.assertEqual(c.approve(run.id, {"ok": True}), "approval")
        done = c.wait(run.id, timeout=30)
        self.assertEqual(done.status, "succeeded")
        self.assertEqual(done.output, {"ok": True})


if __name__ == "__main__":
    unittest.main()
