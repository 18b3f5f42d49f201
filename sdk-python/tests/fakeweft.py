"""A small in-process HTTP server speaking the parts of the Weft API the SDK
uses, on 127.0.0.1 port 0: the worker protocol (poll, heartbeat, complete,
fail, with leases and 409 on stale ones) and a few run/definition routes.

It is a real HTTP server (http.server), so the SDK's transport, retries and
error decoding run for real; only the engine behind it is simple.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (an aborted long-poll) is expected


class FakeWeft:
    def __init__(self, lease_seconds: float = 30.0) -> None:
        self.lock = threading.Condition()
        self.lease_seconds = lease_seconds
        self.queue: List[Dict[str, Any]] = []  # tasks waiting for a worker
        self.leases: Dict[str, Dict[str, Any]] = {}  # task id -> {lease, task, expires}
        self.reports: List[Tuple[str, str, Dict[str, Any]]] = []  # (kind, task id, body)
        self.heartbeats: List[str] = []
        self.cancelled: set = set()  # task ids whose run was cancelled
        self.requests: List[Tuple[str, str, Dict[str, str], Any]] = []
        self.fail_next: List[int] = []  # statuses to answer before handling (transient errors)
        self.runs: Dict[str, Dict[str, Any]] = {}
        self.blocks: Dict[str, List[Dict[str, Any]]] = {}
        self.polls = 0
        self.srv = _Server(("127.0.0.1", 0), self._handler())
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.srv.server_port

    def __enter__(self) -> "FakeWeft":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.srv.shutdown()
        self.srv.server_close()

    # test helpers ----------------------------------------------------------
    def add_task(self, block: str, input: Any, ref: Optional[str] = None, run_id: str = "r1") -> str:
        tid = "t-" + uuid.uuid4().hex[:8]
        with self.lock:
            self.queue.append({"id": tid, "run_id": run_id, "ref": ref or block.replace(".", "_"), "block": block,
                               "version": 1, "attempt": 1, "input": input})
            self.lock.notify_all()
        return tid

    def wait_for(self, pred: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("condition not met within %.1fs" % timeout)
                self.lock.wait(min(left, 0.1))

    def report_for(self, tid: str) -> Optional[Tuple[str, Dict[str, Any]]]:
        for kind, t, body in self.reports:
            if t == tid:
                return kind, body
        return None

    def expire(self, tid: str) -> None:
        """Make the task's lease stale (as if it lapsed and went elsewhere)."""
        with self.lock:
            self.leases[tid]["lease"] = "stale-" + uuid.uuid4().hex
            self.lock.notify_all()

    # HTTP --------------------------------------------------------------------
    def _handler(self) -> Any:
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                return json.loads(raw) if raw else None

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def _err(self, status: int, code: str, message: str, details: Any = None) -> None:
                e: Dict[str, Any] = {"code": code, "message": message}
                if details is not None:
                    e["details"] = details
                self._send(status, {"error": e})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PUT(self) -> None:
                self._route("PUT")

            def _route(self, method: str) -> None:
                body = self._body()
                with fake.lock:
                    fake.requests.append((method, self.path, dict(self.headers), body))
                    status = fake.fail_next.pop(0) if fake.fail_next else None
                if status:
                    self._err(status, "unavailable", "try again")
                    return
                path = self.path.split("?")[0]
                parts = [p for p in path.split("/") if p]
                try:
                    fake.dispatch(self, method, parts, body)
                except Exception as e:  # pragma: no cover - shows up as a 500 in tests
                    self._err(500, "internal", repr(e))

        return H

    def dispatch(self, h: Any, method: str, parts: List[str], body: Any) -> None:
        if parts[:3] == ["api", "v1", "tasks"]:
            if parts[3:] == ["poll"]:
                return self._poll(h, body)
            tid, action = parts[3], parts[4]
            with self.lock:
                held = self.leases.get(tid)
                if held is None:
                    return h._err(404, "not_found", "no task %s" % tid)
                if body.get("lease") != held["lease"] or held.get("done"):
                    return h._err(409, "lease_conflict", "the lease is not current")
                if action == "heartbeat":
                    self.heartbeats.append(tid)
                    held["expires"] = time.time() + self.lease_seconds
                    self.lock.notify_all()
                    exp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(held["expires"])) + ".123456789Z"
                    return h._send(200, {"cancel_requested": tid in self.cancelled, "lease_expires_at": exp})
                held["done"] = True
                self.reports.append((action, tid, body))
                self.lock.notify_all()
            return h._send(204)
        if parts == ["api", "v1", "blocks"] and method == "PUT":
            versions = self.blocks.setdefault(body["name"], [])
            same = [i for i, b in enumerate(versions) if b == body]
            if same:
                return h._send(200, {"name": body["name"], "version": same[0] + 1})
            versions.append(body)
            return h._send(201, {"name": body["name"], "version": len(versions)})
        if parts == ["api", "v1", "flows"] and method == "POST":
            if not body.get("blocks"):
                return h._err(422, "validation_failed", "the blueprint has problems",
                              [{"path": "/blocks", "message": "must not be empty"}])
            return h._send(201, {"name": body["name"], "version": 1})
        if parts[:3] == ["api", "v1", "flows"] and len(parts) == 5 and parts[4] == "runs":
            key = body.get("idempotency_key")
            for r in self.runs.values():
                if key and r["idempotency_key"] == key:
                    return h._send(200, r)
            rid = "run-%d" % (len(self.runs) + 1)
            run = {"id": rid, "flow": parts[3], "version": 1, "status": "running", "input": body.get("input"),
                   "output": None, "error": None, "idempotency_key": key, "steps": []}
            self.runs[rid] = run
            return h._send(201, run)
        if parts[:3] == ["api", "v1", "runs"] and len(parts) >= 4:
            run = self.runs.get(parts[3])
            if run is None:
                return h._err(404, "not_found", "run %s does not exist" % parts[3])
            if len(parts) == 5 and parts[4] == "wait":
                deadline = time.monotonic() + 2.0
                with self.lock:
                    while run["status"] == "running" and time.monotonic() < deadline:
                        self.lock.wait(0.05)
                return h._send(200, run)
            if len(parts) == 5 and parts[4] == "cancel":
                with self.lock:
                    run["status"] = "cancelled"
                    self.lock.notify_all()
                return h._send(200, run)
            return h._send(200, run)
        h._err(404, "not_found", "no route %s %s" % (method, "/".join(parts)))

    def _poll(self, h: Any, body: Dict[str, Any]) -> None:
        wait = float(str(body.get("wait", "1s")).rstrip("s"))
        deadline = time.monotonic() + wait
        with self.lock:
            self.polls += 1
            while True:
                mine = [t for t in self.queue if t["block"] in body["queues"] or t["ref"] in body["queues"]]
                if mine or time.monotonic() >= deadline:
                    break
                self.lock.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            out = []
            for t in mine[: int(body.get("max", 1))]:
                self.queue.remove(t)
                lease = "L-" + uuid.uuid4().hex
                self.leases[t["id"]] = {"lease": lease, "task": t, "expires": time.time() + self.lease_seconds}
                d = dict(t, lease=lease, deadline=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime(time.time() + self.lease_seconds)))
                out.append(d)
            self.lock.notify_all()
        h._send(200, {"tasks": out})
