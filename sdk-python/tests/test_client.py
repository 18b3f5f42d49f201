import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List

from tests import _paths  # noqa: F401
from tests.fakeweft import FakeWeft
from weft import APIError, Client, Flow, NotFound, Run, TransportError, ValidationError


class ClientTest(unittest.TestCase):
    def test_deploy_block_versions(self) -> None:
        with FakeWeft() as fake:
            c = Client(fake.url)
            b = {"name": "x.y", "dispatch": {"kind": "worker"}}
            first = c.deploy_block(b)
            again = c.deploy_block(b)
            changed = c.deploy_block(dict(b, title="changed"))
            self.assertEqual((first.version, first.created), (1, True))
            self.assertEqual((again.version, again.created), (1, False))
            self.assertEqual((changed.version, changed.created), (2, True))

    def test_validation_error_carries_details(self) -> None:
        with FakeWeft() as fake:
            c = Client(fake.url)
            with self.assertRaises(ValidationError) as cm:
                c.deploy_flow({"name": "empty", "blocks": []})
            self.assertEqual([(p.path, p.message) for p in cm.exception.problems], [("/blocks", "must not be empty")])
            self.assertIn("/blocks: must not be empty", str(cm.exception))

    def test_api_error_code_message(self) -> None:
        with FakeWeft() as fake:
            c = Client(fake.url)
            with self.assertRaises(NotFound) as cm:
                c.run("nope")
            e = cm.exception
            self.assertIsInstance(e, APIError)
            self.assertEqual((e.status, e.code, e.message), (404, "not_found", "run nope does not exist"))
            self.assertIn("GET", str(e))

    def test_step_status_detail(self) -> None:
        detail = "waiting for cluster capacity: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
        run = Run.from_json({"id": "r1", "flow": "f", "version": 1, "status": "running", "steps": [
            {"path": "train", "ref": "train", "status": "running", "status_detail": detail},
            {"path": "prep", "ref": "prep", "status": "succeeded"}]})
        self.assertEqual([s.status_detail for s in run.steps], [detail, ""])

    def test_start_idempotency_and_wait(self) -> None:
        with FakeWeft() as fake:
            c = Client(fake.url, token="tkn")
            f = Flow("demo")
            f.block("a", "x.y")
            self.assertEqual(c.deploy_flow(f).name, "demo")
            r1 = c.start("demo", {"n": 1}, idempotency_key="k1")
            r2 = c.start("demo", {"n": 1}, idempotency_key="k1")
            self.assertEqual(r1.id, r2.id)
            r3 = c.start("demo", {"n": 2})
            self.assertNotEqual(r3.id, r1.id)
            self.assertTrue(r3.idempotency_key.startswith("py-"))
            body = [b for m, p, h, b in fake.requests if p.endswith("/flows/demo/runs")][0]
            self.assertEqual(body, {"input": {"n": 1}, "idempotency_key": "k1"})
            self.assertTrue(all(h.get("Authorization") == "Bearer tkn" for m, p, h, b in fake.requests))

            seen = []
            import threading

            def finish() -> None:
                with fake.lock:
                    fake.runs[r1.id]["status"] = "succeeded"
                    fake.runs[r1.id]["output"] = {"ok": True}
                    fake.lock.notify_all()

            timer = threading.Timer(0.3, finish)
            timer.start()
            run = c.wait(r1.id, timeout=10, poll=5, on_progress=lambda r: seen.append(r.status))
            timer.join()
            self.assertEqual((run.status, run.output), ("succeeded", {"ok": True}))
            self.assertTrue(run.finished)
            self.assertEqual(seen[-1], "succeeded")

    def test_transient_errors_are_retried(self) -> None:
        with FakeWeft() as fake:
            c = Client(fake.url)
            r = c.start("demo", {})
            fake.fail_next.extend([503, 503])
            self.assertEqual(c.run(r.id).id, r.id)  # two 503s, then the answer
            fake.fail_next.extend([503] * 10)
            with self.assertRaises(APIError) as cm:
                Client(fake.url, retries=1).run(r.id)
            self.assertEqual(cm.exception.status, 503)

    def test_503_is_retried_after_retry_after(self) -> None:
        # The server answers 503 with Retry-After while its database is away
        # or full; both reads and a POST that changed nothing are retried,
        # no sooner than Retry-After says.
        hits: List[float] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                hits.append(time.monotonic())
                if len(hits) % 2 == 1:
                    body = json.dumps({"error": {"code": "unavailable", "message": "the database is unreachable"}})
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                else:
                    body = json.dumps({"flows": []} if self.command == "GET" else {"id": "r1", "flow": "f",
                                                                                    "status": "queued"})
                    self.send_response(200 if self.command == "GET" else 201)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            c = Client("http://127.0.0.1:%d" % srv.server_address[1], backoff=0.01)
            self.assertEqual(c.flows(), {"flows": []})
            self.assertGreaterEqual(hits[1] - hits[0], 0.7)
            self.assertEqual(c.start("f", {}).id, "r1")
            self.assertGreaterEqual(hits[3] - hits[2], 0.7)
        finally:
            srv.shutdown()
            srv.server_close()

    def test_unreachable_server(self) -> None:
        with FakeWeft() as fake:
            url = fake.url
        with self.assertRaises(TransportError) as cm:
            Client(url, retries=1).run("x")
        self.assertIn("failed", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
