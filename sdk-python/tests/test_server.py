"""End-to-end tests against a real `weft serve` (SQLite in a temp dir).

The binary is $WEFT_BIN, else built with `go build -o <tmp>/weft ./cmd/weft`
from the repository root. When it cannot be built the tests are skipped
with a loud message, except with CI=true, where that is a failure.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional

from tests import _paths, _serve
from weft import BlockDefinition, BlockError, Client, Flow, Retry, Worker
from weft.schema import apply_defaults

import common
import local_llm
import mlkit

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
STATE: Dict[str, Any] = {}


def _binary(tmp: str) -> Optional[str]:
    env_bin = os.environ.get("WEFT_BIN")
    if env_bin and os.path.isfile(env_bin):
        return env_bin
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        STATE["why"] = "no go toolchain on PATH"
        return None
    out = os.path.join(tmp, "weft")
    env = dict(os.environ, CGO_ENABLED="0")
    p = subprocess.run([go, "build", "-o", out, "./cmd/weft"], cwd=_paths.REPO, capture_output=True, text=True,
                       env=env, timeout=600)
    if p.returncode != 0:
        STATE["why"] = "go build ./cmd/weft failed:\n" + p.stderr[-2000:]
        return None
    return out


def setUpModule() -> None:  # noqa: C901
    tmp = tempfile.mkdtemp(prefix="weft-sdk-e2e-")
    STATE["tmp"] = tmp
    binary = _binary(tmp)
    STATE["bin"] = binary
    if binary is None:
        msg = "\n*** SKIPPING the weft serve tests: %s ***\n" % STATE.get("why")
        sys.stderr.write(msg)
        if CI:
            raise RuntimeError(msg)
        raise unittest.SkipTest(msg)
    llm, _ = local_llm.serve(0)
    STATE["llm"] = llm
    for k, sub in (("WEFT_MODEL_DIR", "models"), ("WEFT_MODEL_REGISTRY", "registry"),
                   ("WEFT_DEPLOY_DIR", "deployments"), ("WEFT_REPORTS", "reports")):
        os.environ[k] = os.path.join(tmp, sub)
    os.environ["WEFT_NOTIFY_FILE"] = os.path.join(tmp, "notifications.jsonl")
    env = dict(os.environ, WEFT_LLM_URL="http://127.0.0.1:%d/v1/chat/completions" % llm.server_port,
               WEFT_LLM_KEY="test-key")
    _serve.start(STATE, binary, tmp, ["--load", os.path.join(_paths.REPO, "flows", "examples")], env)


def tearDownModule() -> None:
    _serve.stop(STATE)
    if "llm" in STATE:
        STATE["llm"].shutdown()
        STATE["llm"].server_close()
    if STATE.get("tmp"):
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


def example_worker(url: str, **kw: Any) -> Worker:
    import bpel_ml
    import dl_training
    import house_prices
    import rag_eval

    kw.setdefault("poll_wait", 2.0)
    w = Worker(url, concurrency=4, **kw)
    common.register_common(w)
    for m in (house_prices, dl_training, rag_eval, bpel_ml):
        m.register(w)
    return w


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def schema_defaults(flow: str) -> Dict[str, Any]:
    with open(os.path.join(_paths.REPO, "flows", "examples", flow + ".json")) as f:
        return apply_defaults(json.load(f)["input_schema"], {})


class ValidateTest(unittest.TestCase):
    def test_weft_validate_accepts_the_sdk_built_examples(self) -> None:
        import importlib
        d = os.path.join(STATE["tmp"], "sdk-built")
        shutil.copytree(os.path.join(_paths.REPO, "flows", "examples", "blocks"), os.path.join(d, "blocks"))
        for mod in ("house_prices", "dl_training", "rag_eval", "bpel_ml"):
            f = importlib.import_module("examples.sdk." + mod).build()
            with open(os.path.join(d, f.name + ".json"), "w") as fh:
                fh.write(f.to_json())
        p = subprocess.run([STATE["bin"], "validate", d], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for name in ("house-prices", "dl-training", "rag-eval", "bpel-ml"):
            self.assertIn("flow %s ok" % name, p.stdout + p.stderr)

    def test_weft_validate_reports_a_broken_sdk_flow(self) -> None:
        d = os.path.join(STATE["tmp"], "sdk-broken")
        shutil.copytree(os.path.join(_paths.REPO, "flows", "examples", "blocks"), os.path.join(d, "blocks"))
        f = Flow("broken")
        f.block("a", "no.such.block")
        with open(os.path.join(d, "broken.json"), "w") as fh:
            fh.write(f.to_json())
        p = subprocess.run([STATE["bin"], "validate", d], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/blocks/0/block", p.stdout + p.stderr)


class ExampleFlowsTest(unittest.TestCase):
    """The four example pipelines, run by the example workers."""

    worker: Worker

    @classmethod
    def setUpClass(cls) -> None:
        cls.c = Client(STATE["url"])
        cls.worker = example_worker(STATE["url"]).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.worker.stop()

    def test_house_prices_r2_matches_the_check_script(self) -> None:
        out = subprocess.run([sys.executable, os.path.join(_paths.REPO, "examples", "check_house_prices.py"), "--json"],
                             cwd=_paths.REPO, capture_output=True, text=True, check=True).stdout
        expected = json.loads(out)
        run = self.c.start("house-prices", schema_defaults("house-prices"))
        run = self.c.wait(run.id, timeout=60)
        self.assertEqual(run.status, "waiting")  # parked on the approval signal
        self.assertEqual(run.step("approve").status, "waiting")
        self.c.signal(run.id, "approval", {"by": "alice"})
        run = self.c.wait(run.id, timeout=60)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output["linear_r2"], expected["linear_r2"])
        self.assertEqual(run.output["forest_r2"], expected["forest_r2"])
        self.assertEqual(run.output["r2"], expected["r2"])
        self.assertEqual(run.output["algo"], expected["best"])
        entry = mlkit.read_json(run.output["model"])
        self.assertEqual(entry["approval"], {"by": "alice"})
        self.assertEqual(entry["metrics"]["r2"], expected["r2"])
        self.assertEqual(run.step("notify").status, "skipped")

    def test_dl_training_releases(self) -> None:
        run = self.c.wait(self.c.start("dl-training", schema_defaults("dl-training")).id, timeout=120)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertGreaterEqual(run.output["accuracy"], 0.85)
        self.assertTrue(os.path.exists(mlkit.resolve_path(run.output["released"])))
        self.assertEqual(run.step("bad_data").status, "skipped")

    def test_dl_training_bad_data_fails_with_alert(self) -> None:
        run = self.c.wait(self.c.start("dl-training", dict(schema_defaults("dl-training"), min_quality=0.999)).id,
                          timeout=60)
        self.assertEqual(run.status, "failed")
        self.assertIn("data quality 0.99 is below 0.999", run.error_message)
        self.assertEqual(run.step("data_alert").status, "succeeded")
        self.assertEqual(run.step("train").status, "skipped")  # its dependency failed: upstream_failed

    def test_rag_eval_with_the_local_llm(self) -> None:
        run = self.c.wait(self.c.start("rag-eval", schema_defaults("rag-eval")).id, timeout=120)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output["questions"], 3)
        self.assertEqual(len(run.output["results"]), 3)
        self.assertEqual(run.output["results"][0]["score"], 1)
        self.assertGreaterEqual(run.output["average_score"], 0.5)
        self.assertTrue(os.path.exists(mlkit.resolve_path(run.output["report"])))
        chat = run.step("answers[0].chat")
        self.assertEqual(chat.status, "succeeded")
        self.assertEqual(chat.output["object"], "chat.completion")
        self.assertNotIn("test-key", json.dumps(run.raw))  # the secret is not shown

    def test_bpel_ml_compensates_the_deployment(self) -> None:
        ok = self.c.wait(self.c.start("bpel-ml", dict(schema_defaults("bpel-ml"), service_name="svc-ok")).id,
                         timeout=60)
        self.assertEqual(ok.status, "succeeded", ok.error)
        path = os.path.join(os.environ["WEFT_DEPLOY_DIR"], "svc-ok.json")
        self.assertEqual(mlkit.read_json(path)["run_id"], ok.id)

        bad = self.c.wait(self.c.start("bpel-ml", dict(schema_defaults("bpel-ml"), service_name="svc-ok",
                                                       min_accuracy=0.99)).id, timeout=60)
        self.assertEqual(bad.status, "failed")
        self.assertIn("is below 0.99: the deployment is rolled back", bad.error_message)
        comp = [s for s in bad.steps if "compensate" in s.path]
        self.assertEqual([s.status for s in comp], ["succeeded"])
        self.assertEqual(mlkit.read_json(path)["run_id"], ok.id)  # rolled back to the earlier deployment

        caught = self.c.wait(self.c.start("bpel-ml", dict(schema_defaults("bpel-ml"), fail_training=True)).id,
                             timeout=60)
        self.assertEqual(caught.step("train").status, "failed")
        self.assertEqual(caught.step("train_alert").status, "succeeded")
        with open(os.environ["WEFT_NOTIFY_FILE"]) as f:
            texts = [json.loads(line)["text"] for line in f]
        self.assertIn("bpel-ml run %s: training failed; no model to evaluate" % caught.id, texts)


TEST_BLOCKS = [
    BlockDefinition("test.flaky", retry=Retry(max_attempts=3, backoff="fixed", initial_interval="100ms"),
                    heartbeat_timeout="5s"),
    BlockDefinition("test.fatal", retry=Retry(max_attempts=3, initial_interval="100ms"), heartbeat_timeout="5s"),
    BlockDefinition("test.long", heartbeat_timeout="2s"),
    BlockDefinition("test.hang", retry=Retry(max_attempts=3, backoff="fixed", initial_interval="100ms"),
                    heartbeat_timeout="1s"),
    BlockDefinition("test.graceful", heartbeat_timeout="5s"),
    BlockDefinition("test.handback", retry=Retry(max_attempts=3, backoff="fixed", initial_interval="100ms"),
                    heartbeat_timeout="1s"),
]


def one_block_flow(name: str, block: str) -> Flow:
    f = Flow(name)
    step = f.block("work", block, {"tag": f.input["tag"]})
    f.output({"result": step.output})
    return f


HANG_WORKER = r'''
import os, sys, time
sys.path[:0] = [%r]
from weft import Worker
w = Worker(%r, worker_id="doomed", poll_wait=2.0)
@w.block("test.hang")
def hang(input, ctx):
    open(%r, "w").write(ctx.task.id)
    time.sleep(600)
w.run()
'''


class ProtocolTest(unittest.TestCase):
    """Failure, retry, cancel, lease expiry and graceful stop."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.c = Client(STATE["url"])
        for b in TEST_BLOCKS:
            cls.c.deploy_block(b)
        for name, block in (("t-flaky", "test.flaky"), ("t-fatal", "test.fatal"), ("t-long", "test.long"),
                            ("t-hang", "test.hang"), ("t-graceful", "test.graceful"),
                            ("t-handback", "test.handback")):
            cls.c.deploy_flow(one_block_flow(name, block))
        cls.calls: Dict[str, List[int]] = {}
        cls.fatal_fixed = threading.Event()
        cls.cancel_seen = threading.Event()
        cls.long_release = threading.Event()
        w = Worker(STATE["url"], worker_id="proto", poll_wait=2.0, concurrency=4)

        @w.block("test.flaky")
        def flaky(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            n = cls.calls.setdefault(input["tag"], [])
            n.append(ctx.attempt)
            if len(n) < 3:
                raise RuntimeError("transient trouble %d" % len(n))
            return {"attempts_seen": len(n)}

        @w.block("test.fatal")
        def fatal(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            if not cls.fatal_fixed.is_set():
                raise BlockError("the input is wrong for good")
            return {"fixed": True}

        @w.block("test.long")
        def long(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            if input["tag"] == "cancel-me":
                while not ctx.cancel_requested:
                    ctx.sleep(0.1)
                cls.cancel_seen.set()
                return {"cancelled": True}
            cls.long_release.wait(20)
            return {"stopping": ctx.stopping}

        cls.w = w.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.w.stop(timeout=2)

    def test_reports_lease_the_next_task(self) -> None:
        # One worker, one slot, a chain of six steps: each report's answer
        # carries the next step's task, so the worker does not poll for it.
        self.c.deploy_block(BlockDefinition("test.inc", heartbeat_timeout="5s"))
        f = Flow("t-chain")
        prev = f.block("s0", "test.inc", {"n": f.input["n"]})
        for i in range(1, 6):
            prev = f.block("s%d" % i, "test.inc", {"n": prev.output["n"]})
        f.output({"n": prev.output["n"]})
        self.c.deploy_flow(f)
        w = Worker(STATE["url"], worker_id="chain", poll_wait=2.0, concurrency=1)

        @w.block("test.inc")
        def inc(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            return {"n": input["n"] + 1}

        w.start()
        try:
            run = self.c.wait(self.c.start("t-chain", {"n": 10}).id, timeout=30)
        finally:
            w.stop(timeout=5)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output, {"n": 16})
        self.assertEqual(w.stats["completed"], 6)
        # The first task comes from a poll; the other five came with the
        # reports (a poll racing the first report may take one of them).
        self.assertGreaterEqual(w.stats["chained"], 4, w.stats)

    def test_retry_then_success(self) -> None:
        run = self.c.wait(self.c.start("t-flaky", {"tag": "flaky-1"}).id, timeout=30)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output, {"result": {"attempts_seen": 3}})
        self.assertEqual(self.calls["flaky-1"], [1, 2, 3])
        step = run.step("work")
        self.assertEqual(step.attempt, 3)
        self.assertEqual([a["status"] for a in step.attempts], ["failed", "failed", "succeeded"])
        self.assertIn("RuntimeError: transient trouble 1", json.dumps(step.attempts[0]))

    def test_non_retryable_failure_then_operator_retry(self) -> None:
        run = self.c.wait(self.c.start("t-fatal", {"tag": "f"}).id, timeout=30)
        self.assertEqual(run.status, "failed")
        self.assertIn("the input is wrong for good", run.error_message)
        self.assertEqual(run.step("work").attempt, 1)  # retryable=False: no second attempt
        self.fatal_fixed.set()
        self.c.retry(run.id)
        run = self.c.wait(run.id, timeout=30, until_finished=True)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output, {"result": {"fixed": True}})
        again = self.c.rerun(run.id, "work")
        again = self.c.wait(again.id if again else run.id, timeout=30, until_finished=True)
        self.assertEqual((again.status, again.output), ("succeeded", {"result": {"fixed": True}}))
        self.assertTrue(self.c.events(run.id))
        listed = [r.id for r in self.c.iter_runs(flow="t-fatal", page_size=1)]
        self.assertIn(run.id, listed)

    def test_cancel_while_a_task_runs(self) -> None:
        run = self.c.start("t-long", {"tag": "cancel-me"})
        wait_until(lambda: self.c.run(run.id).step("work") and self.c.run(run.id).step("work").status == "running",
                   what="the task to start")
        self.c.cancel(run.id)
        self.assertTrue(self.cancel_seen.wait(15), "the handler never saw cancel_requested")
        run = self.c.wait(run.id, timeout=30)
        self.assertEqual(run.status, "cancelled")

    def test_killed_worker_task_is_redelivered(self) -> None:
        marker = os.path.join(STATE["tmp"], "hang-started")
        script = HANG_WORKER % (_paths.SDK, STATE["url"], marker)
        doomed = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
        try:
            run = self.c.start("t-hang", {"tag": "h"})
            wait_until(lambda: os.path.exists(marker), timeout=30, what="the doomed worker to take the task")
        finally:
            doomed.kill()
            doomed.wait()
        with open(marker) as fh:
            first_task = fh.read()
        rescuer = Worker(STATE["url"], worker_id="rescuer", poll_wait=2.0)
        rescuer.register("test.hang", lambda input, ctx: {"rescued_attempt": ctx.attempt, "task": ctx.task.id})
        rescuer.start()
        try:
            run = self.c.wait(run.id, timeout=60)
        finally:
            rescuer.stop()
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output["result"]["rescued_attempt"], 2)  # the lapsed lease counted as an attempt
        self.assertNotEqual(run.output["result"]["task"], "")
        step = run.step("work")
        self.assertEqual([a.get("worker_id") for a in step.attempts], ["doomed", "rescuer"])
        self.assertTrue(first_task)

    def test_graceful_stop_finishes_the_running_task(self) -> None:
        w = Worker(STATE["url"], worker_id="graceful", poll_wait=2.0, shutdown_timeout=20)
        started = threading.Event()

        @w.block("test.graceful")
        def slow(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            started.set()
            time.sleep(1.0)
            return {"stopping": ctx.stopping}

        w.start()
        run = self.c.start("t-graceful", {"tag": "g"})
        self.assertTrue(started.wait(30))
        t0 = time.monotonic()
        self.assertTrue(w.stop())
        self.assertLess(time.monotonic() - t0, 10)
        run = self.c.wait(run.id, timeout=30)
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output["result"], {"stopping": True})

    def test_stop_hands_back_unfinished_work(self) -> None:
        w = Worker(STATE["url"], worker_id="quitter", poll_wait=2.0, shutdown_timeout=0.2)
        started = threading.Event()
        release = threading.Event()

        def stuck(input: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
            started.set()
            release.wait(30)
            return {"by": "quitter"}

        w.register("test.handback", stuck)
        w.start()
        run = self.c.start("t-handback", {"tag": "hb"})
        self.assertTrue(started.wait(30))
        self.assertFalse(w.stop())  # still running after the bound: handed back, not reported
        release.set()
        taker = Worker(STATE["url"], worker_id="taker", poll_wait=2.0)
        taker.register("test.handback", lambda input, ctx: {"by": "taker", "attempt": ctx.attempt})
        taker.start()
        try:
            run = self.c.wait(run.id, timeout=60)
        finally:
            taker.stop()
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(run.output["result"]["by"], "taker")


if __name__ == "__main__":
    unittest.main()


class LiveFragmentSizeTest(unittest.TestCase):
    """While a run is live its page refreshes every 1.5 s. The refresh says
    which units of the page it holds (X-Weft-Have: key=hash) and the last
    history event it shows (X-Weft-Events); the answer carries only what
    changed. Each refresh must send under 30 KB for every example pipeline
    (asked for gzip, as browsers do), its HTML must stay under 40 KB, and
    the units the page ends up holding must be those a fresh load shows."""

    BOUND = 30 * 1024
    HTML_BOUND = 40 * 1024
    UNIT = re.compile(r'data-lk="([^"]*)" data-lh="([^"]*)"')
    SEQ = re.compile(r'data-events-seq="(\d+)"')

    def fetch(self, run_id: str, have: Optional[Dict[str, str]] = None, seq: int = 0) -> Any:
        """The run's page (have None), as a browser first loads it, or a
        refresh of its live part saying what the page holds."""
        import urllib.parse
        import urllib.request
        url, h = STATE["url"] + "/runs/%s" % run_id, {"Accept": "text/html", "Accept-Encoding": "gzip"}
        if have is not None:
            url += "/live"
            h.update({"X-Weft-Fragment": "1", "X-Weft-Have": urllib.parse.urlencode(sorted(have.items())),
                      "X-Weft-Events": str(seq), "X-Weft-Open": ""})
        req = urllib.request.Request(url, headers=h)
        import gzip
        with urllib.request.urlopen(req, timeout=30) as resp:
            sent = resp.read()
            body = gzip.decompress(sent) if resp.headers.get("Content-Encoding") == "gzip" else sent
            self.sent = len(sent)
            return body.decode(), resp.headers.get("X-Weft-Live") == "true"

    def absorb(self, body: str, have: Dict[str, str], seq: int) -> int:
        import html
        for k, h in self.UNIT.findall(body):
            have[html.unescape(k)] = h
        m = self.SEQ.search(body)
        return int(m.group(1)) if m else seq

    def test_live_refreshes_of_each_example_stay_under_30kb(self) -> None:
        c = Client(STATE["url"])
        w = example_worker(STATE["url"]).start()
        try:
            names = ("house-prices", "dl-training", "rag-eval", "bpel-ml")
            runs = {name: c.start(name, schema_defaults(name)).id for name in names}
            held: Dict[str, Dict[str, str]] = {}
            seqs: Dict[str, int] = {}
            first: Dict[str, int] = {}
            for name, rid in runs.items():
                body, _ = self.fetch(rid)
                first[name] = len(body)
                held[name] = {}
                seqs[name] = self.absorb(body, held[name], 0)
            biggest = {name: 0 for name in names}
            wire = {name: 0 for name in names}
            refreshes = {name: 0 for name in names}
            live = set(names)
            deadline = time.monotonic() + 180
            while live and time.monotonic() < deadline:
                time.sleep(1.5)
                for name in sorted(live):
                    rid = runs[name]
                    body, more = self.fetch(rid, held[name], seqs[name])
                    refreshes[name] += 1
                    biggest[name] = max(biggest[name], len(body))
                    wire[name] = max(wire[name], self.sent)
                    seqs[name] = self.absorb(body, held[name], seqs[name])
                    if not more:
                        live.discard(name)
                    elif any(s.status == "waiting" for s in c.run(rid).steps):
                        c.signal(rid, "approval", {"by": "alice", "approved": True})
            self.assertFalse(live, "runs still live after 180 s: %s" % sorted(live))
            sys.stderr.write("\nlive part: first load %s, biggest refresh %s (sent %s), refreshes %s\n"
                             % (first, biggest, wire, refreshes))
            for name in names:
                self.assertGreater(refreshes[name], 0)
                self.assertLess(wire[name], self.BOUND,
                                "a live refresh of the %s run sent %d bytes" % (name, wire[name]))
                self.assertLess(biggest[name], self.HTML_BOUND,
                                "a live refresh of the %s run is %d bytes of HTML" % (name, biggest[name]))
                fresh: Dict[str, str] = {}
                body, _ = self.fetch(runs[name])
                self.absorb(body, fresh, 0)
                differ = sorted(k for k in set(fresh) | set(held[name]) if k in fresh and held[name].get(k) != fresh[k])
                self.assertEqual(differ, [], "the %s page holds units that differ from a fresh load" % name)
                self.assertEqual(seqs[name], self.absorb(body, {}, 0), "%s: history rows missed" % name)
        finally:
            w.stop()


class KubernetesJobScriptTest(unittest.TestCase):
    """examples/kubernetes/train_job.py, the trainer image's entry point, played as a Job's container.

    The test control plane runs no containers, so this test is the container: it claims house-prices'
    model.train tasks, runs the script with the environment the Kubernetes dispatcher gives a Job
    (WEFT_INPUT, WEFT_SERVER, WEFT_TASK_ID, WEFT_LEASE) and reports what it wrote as its termination
    message as the output, as the dispatcher does when the Job completes. The run must end as it does
    with the local worker: the same r2 figures, the model stored as the step's artifact.
    """

    def _post(self, path: str, body: Dict[str, Any]) -> Any:
        import urllib.request
        req = urllib.request.Request(STATE["url"] + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def test_train_job_script_as_the_container(self) -> None:
        import house_prices

        expected = json.loads(subprocess.run(
            [sys.executable, os.path.join(_paths.REPO, "examples", "check_house_prices.py"), "--json"],
            cwd=_paths.REPO, capture_output=True, text=True, check=True).stdout)
        w = Worker(STATE["url"], concurrency=4, poll_wait=2.0)
        common.register_common(w)
        w.register("data.load_csv", house_prices.load_csv)
        w.register("data.prepare", house_prices.prepare)
        w.register("model.register", house_prices.register_model)
        w.register("model.unregister", house_prices.unregister_model)
        w.start()
        try:
            c = Client(STATE["url"])
            run = c.start("house-prices", schema_defaults("house-prices"))
            done: List[str] = []
            deadline = time.monotonic() + 120
            while len(done) < 2 and time.monotonic() < deadline:
                got = self._post("/api/v1/tasks/poll", {"worker_id": "job-container", "queues": ["train"], "max": 2,
                                                        "wait": "5s"})
                for task in got["tasks"]:
                    with tempfile.TemporaryDirectory() as d:
                        term = os.path.join(d, "termination-log")
                        env = dict(os.environ, WEFT_INPUT=json.dumps(task["input"]), WEFT_SERVER=STATE["url"],
                                   WEFT_TASK_ID=task["id"], WEFT_LEASE=task["lease"], WEFT_TERMINATION_LOG=term)
                        env.pop("WEFT_TOKEN", None)
                        p = subprocess.run([sys.executable, "examples/kubernetes/train_job.py"], cwd=_paths.REPO,
                                           env=env, capture_output=True, text=True, timeout=120)
                        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                        with open(term, encoding="utf-8") as f:
                            out = json.load(f)
                    self.assertIn("artifact", out["model"])  # stored under the lease, referenced from the output
                    self._post("/api/v1/tasks/%s/complete" % task["id"], {"lease": task["lease"], "output": out})
                    done.append(task["input"]["algo"])
            self.assertEqual(sorted(done), ["forest", "linear"])
            run = c.wait(run.id, timeout=60)
            self.assertEqual(run.status, "waiting", run.error)
            c.signal(run.id, "approval", {"by": "alice"})
            run = c.wait(run.id, timeout=60)
            self.assertEqual(run.status, "succeeded", run.error)
            self.assertEqual(run.output["linear_r2"], expected["linear_r2"])
            self.assertEqual(run.output["forest_r2"], expected["forest_r2"])
            self.assertEqual(run.output["algo"], expected["best"])
            models = [a.step for a in c.artifacts(run.id) if a.name == "model"]
            self.assertEqual(sorted(models), ["forest", "linear"])
        finally:
            w.stop()


class ArtifactsTest(unittest.TestCase):
    """A worker that saves artifacts and one that receives them as local paths."""

    def test_save_receive_list_download(self) -> None:
        import hashlib
        from weft import APIError
        c = Client(STATE["url"])
        cache = os.path.join(STATE["tmp"], "artifact-cache")
        os.environ["WEFT_ARTIFACT_CACHE"] = cache
        c.deploy_block(BlockDefinition("art.save", dispatch={"kind": "worker"}))
        c.deploy_block(BlockDefinition("art.read", dispatch={"kind": "worker"}))
        f = Flow("artifacts-sdk")
        save = f.block("save", "art.save", {})
        f.block("read", "art.read", {"file": save.artifacts["blob"], "notes": save.artifacts["notes.txt"],
                                     "size": save.artifacts["blob"]["artifact"]["size"]})
        c.deploy_flow(f)

        src = os.path.join(STATE["tmp"], "blob.bin")
        with open(src, "wb") as fh:
            for i in range(48):
                fh.write(hashlib.sha256(str(i).encode()).digest() * 2048)  # 3 MiB
        with open(src, "rb") as fh:
            want = hashlib.sha256(fh.read()).hexdigest()
        seen: Dict[str, Any] = {}

        def do_save(input: Any, ctx: Any) -> Any:
            a = ctx.save_artifact("blob", src)
            ctx.save_artifact("notes.txt", b"hello from save")
            try:
                ctx.save_artifact("bad name", b"x")
            except APIError as e:
                seen["bad_name"] = e.status
            return {"blob": a.ref()}

        def do_read(input: Any, ctx: Any) -> Any:
            seen["input"] = input
            seen["refs"] = dict(ctx.input_artifacts)
            with open(input["file"], "rb") as fh:
                got = hashlib.sha256(fh.read()).hexdigest()
            with open(input["notes"], "rb") as fh:
                notes = fh.read().decode()
            return {"sha256": got, "notes": notes}

        w = Worker(STATE["url"], queues=["art.save", "art.read"], poll_wait=2.0)
        w.register("art.save", do_save)
        w.register("art.read", do_read)
        w.start()
        try:
            run = c.wait(c.start("artifacts-sdk", {}).id, timeout=60)
        finally:
            w.stop()
        self.assertEqual(run.status, "succeeded", run.error)
        self.assertEqual(seen.get("bad_name"), 400)
        self.assertEqual(run.step("read").output, {"sha256": want, "notes": "hello from save"})
        # The input arrived as local paths in the sha256 cache, with its size alongside.
        self.assertTrue(seen["input"]["file"].startswith(cache), seen["input"])
        self.assertEqual(os.path.basename(seen["input"]["file"]), want)
        self.assertEqual(seen["input"]["size"], 3 << 20)
        self.assertEqual(seen["refs"]["blob"].sha256, want)
        # The save step's output carries the same reference.
        self.assertEqual(run.step("save").output["blob"]["artifact"]["sha256"], want)

        arts = c.artifacts(run.id)
        self.assertEqual(sorted((a.step, a.name, a.size) for a in arts),
                         [("save", "blob", 3 << 20), ("save", "notes.txt", 15)])
        blob = [a for a in arts if a.name == "blob"][0]
        dest = os.path.join(STATE["tmp"], "downloaded.bin")
        self.assertEqual(c.download_artifact(blob, dest), dest)
        with open(dest, "rb") as fh:
            self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), want)
