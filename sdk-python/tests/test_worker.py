import logging
import threading
import time
import unittest

from tests import _paths  # noqa: F401
from tests.fakeweft import FakeWeft
from weft import BlockError, Worker

logging.getLogger("weft").setLevel(logging.CRITICAL)


def make_worker(fake: FakeWeft, **kw: object) -> Worker:
    kw.setdefault("poll_wait", 1.0)
    kw.setdefault("shutdown_timeout", 5.0)
    return Worker(fake.url, worker_id="test", **kw)  # type: ignore[arg-type]


class WorkerTest(unittest.TestCase):
    def test_completes_with_output_and_ctx(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake)
            seen = {}

            @w.block("math.add")
            def add(input, ctx):  # type: ignore[no-untyped-def]
                seen["ref"] = ctx.ref
                seen["run"] = ctx.run_id
                return {"sum": input["a"] + input["b"]}

            @w.block("math.neg")
            def neg(input):  # type: ignore[no-untyped-def]
                return {"neg": -input["x"]}

            w.start()
            try:
                t1 = fake.add_task("math.add", {"a": 2, "b": 3}, ref="add")
                t2 = fake.add_task("math.neg", {"x": 4})
                fake.wait_for(lambda: fake.report_for(t1) and fake.report_for(t2))
            finally:
                self.assertTrue(w.stop())
            kind, body = fake.report_for(t1)
            self.assertEqual(kind, "complete")
            self.assertEqual(body["output"], {"sum": 5})
            self.assertEqual(body["lease"], fake.leases[t1]["lease"])
            self.assertEqual(fake.report_for(t2)[1]["output"], {"neg": -4})
            self.assertEqual(seen, {"ref": "add", "run": "r1"})
            poll = next(b for m, p, h, b in fake.requests if p.endswith("/tasks/poll"))
            self.assertEqual(sorted(poll["queues"]), ["math.add", "math.neg"])
            self.assertEqual(poll["worker_id"], "test")

    def test_block_error_and_exceptions(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake)

            @w.block("x.bad")
            def bad(input):  # type: ignore[no-untyped-def]
                raise BlockError("dataset is empty", retryable=False)

            @w.block("x.flaky")
            def flaky(input):  # type: ignore[no-untyped-def]
                raise ConnectionResetError("peer went away")

            @w.block("x.nojson")
            def nojson(input):  # type: ignore[no-untyped-def]
                return {"when": object()}

            w.start()
            try:
                a = fake.add_task("x.bad", {})
                b = fake.add_task("x.flaky", {})
                c = fake.add_task("x.nojson", {})
                fake.wait_for(lambda: all(fake.report_for(t) for t in (a, b, c)))
            finally:
                w.stop()
            kind, body = fake.report_for(a)
            self.assertEqual(kind, "fail")
            self.assertEqual(body["error"]["message"], "dataset is empty")
            self.assertIs(body["retryable"], False)
            kind, body = fake.report_for(b)
            self.assertEqual(kind, "fail")
            self.assertIs(body["retryable"], True)
            self.assertEqual(body["error"]["type"], "ConnectionResetError")
            self.assertIn("peer went away", body["error"]["message"])
            kind, body = fake.report_for(c)
            self.assertEqual((kind, body["retryable"], body["error"]["type"]), ("fail", False, "bad_output"))

    def test_stale_lease_is_dropped(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake)
            gate = threading.Event()

            @w.block("x.slow")
            def slow(input):  # type: ignore[no-untyped-def]
                gate.wait(5)
                return {"ok": True}

            w.start()
            try:
                t = fake.add_task("x.slow", {})
                fake.wait_for(lambda: t in fake.leases)
                fake.wait_for(lambda: t in fake.heartbeats)
                fake.expire(t)  # the lease lapsed: reports must be refused
                gate.set()
                fake.wait_for(lambda: w.stats["dropped"] == 1)
            finally:
                w.stop()
            self.assertIsNone(fake.report_for(t))

    def test_heartbeats_and_cancel(self) -> None:
        with FakeWeft(lease_seconds=1.2) as fake:
            w = make_worker(fake, heartbeat_interval=10.0)
            result = {}

            @w.block("x.long")
            def long(input, ctx):  # type: ignore[no-untyped-def]
                cancelled = ctx.sleep(10)
                result["cancelled"] = cancelled
                return {"stopped_early": cancelled}

            w.start()
            try:
                t = fake.add_task("x.long", {})
                # the lease is 1.2s: beats must come every ~0.4s, well before it lapses
                fake.wait_for(lambda: fake.heartbeats.count(t) >= 3, timeout=5)
                self.assertIsNone(fake.report_for(t))
                fake.cancelled.add(t)
                fake.wait_for(lambda: fake.report_for(t), timeout=5)
            finally:
                w.stop()
            self.assertEqual(result, {"cancelled": True})

    def test_transient_errors_on_report_are_retried(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake)

            @w.block("x.one")
            def one(input, ctx):  # type: ignore[no-untyped-def]
                with fake.lock:
                    fake.fail_next.extend([503, 502])  # the next two requests fail
                return {"n": 1}

            w.start()
            try:
                t = fake.add_task("x.one", {})
                fake.wait_for(lambda: fake.report_for(t))
            finally:
                w.stop()
            self.assertEqual(fake.report_for(t)[1]["output"], {"n": 1})

    def test_graceful_stop_finishes_in_flight(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake, shutdown_timeout=5.0)
            started = threading.Event()

            @w.block("x.work")
            def work(input, ctx):  # type: ignore[no-untyped-def]
                started.set()
                time.sleep(0.5)
                return {"stopping": ctx.stopping}

            w.start()
            t = fake.add_task("x.work", {})
            self.assertTrue(started.wait(5))
            t0 = time.monotonic()
            self.assertTrue(w.stop())
            self.assertLess(time.monotonic() - t0, 4.0)  # the long-poll was aborted, not waited out
            kind, body = fake.report_for(t)
            self.assertEqual((kind, body["output"]), ("complete", {"stopping": True}))
            # nothing is polled after the stop
            n = fake.polls
            time.sleep(0.3)
            self.assertEqual(fake.polls, n)

    def test_stop_hands_back_what_does_not_finish(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake, shutdown_timeout=0.3)
            release = threading.Event()
            began = threading.Event()

            @w.block("x.stuck")
            def stuck(input):  # type: ignore[no-untyped-def]
                began.set()
                release.wait(5)
                return {"late": True}

            w.start()
            t = fake.add_task("x.stuck", {})
            self.assertTrue(began.wait(5))
            self.assertFalse(w.stop())
            release.set()
            time.sleep(0.3)
            self.assertIsNone(fake.report_for(t))  # not reported: the lease lapses and it is redelivered
            self.assertEqual(w.stats["handed_back"], 1)

    def test_concurrency_limits_polls(self) -> None:
        with FakeWeft() as fake:
            w = make_worker(fake, concurrency=2)
            running = []
            peak = [0]
            lock = threading.Lock()

            @w.block("x.c")
            def c(input):  # type: ignore[no-untyped-def]
                with lock:
                    running.append(1)
                    peak[0] = max(peak[0], len(running))
                time.sleep(0.2)
                with lock:
                    running.pop()
                return {}

            w.start()
            try:
                ids = [fake.add_task("x.c", {"i": i}) for i in range(6)]
                fake.wait_for(lambda: all(fake.report_for(t) for t in ids))
            finally:
                w.stop()
            self.assertLessEqual(peak[0], 2)
            self.assertTrue(all(b["max"] <= 2 for m, p, h, b in fake.requests if p.endswith("/poll")))

    def test_bearer_token(self) -> None:
        with FakeWeft() as fake:
            w = Worker(fake.url, worker_id="tok", token="s3cret", poll_wait=1.0)
            w.register("x.t", lambda input: {})
            w.start()
            try:
                t = fake.add_task("x.t", {})
                fake.wait_for(lambda: fake.report_for(t))
            finally:
                w.stop()
            auth = {h.get("Authorization") for m, p, h, b in fake.requests}
            self.assertEqual(auth, {"Bearer s3cret"})


if __name__ == "__main__":
    unittest.main()
