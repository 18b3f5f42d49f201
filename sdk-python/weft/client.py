"""A client for the Weft HTTP API (``/api/v1``).

    c = Client("http://127.0.0.1:8080", token=os.environ.get("WEFT_TOKEN"))
    c.deploy_block(json.load(open("flows/examples/blocks/model.train.json")))
    c.deploy_flow(flow)                      # a weft.Flow or a dict
    run = c.start("house-prices", {"dataset_url": "examples/data/house_prices.csv"}, idempotency_key="nightly-1")
    run = c.wait(run.id, timeout=600, on_progress=lambda r: print(r.status))

Errors from the server raise :class:`weft.APIError` (``code``, ``message``,
``details``); an unreachable server raises :class:`weft.TransportError`
after retries (see :class:`weft._http.Transport` for what is retried).
"""

import json
import os
import time
import urllib.parse
import uuid
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

from . import artifacts as _artifacts
from ._http import Transport
from .artifacts import Artifact, ArtifactInfo
from .errors import APIError, Problem, ValidationError
from .flow import BlockDefinition, Flow
from .types import Deployed, Run, RunPage

__all__ = ["Client"]

FlowLike = Union[Flow, Mapping[str, Any], str]
BlockLike = Union[BlockDefinition, Mapping[str, Any], str]


def _doc(x: Any) -> Any:
    if isinstance(x, (Flow, BlockDefinition)):
        return x.to_dict()
    if isinstance(x, str):
        if os.path.isfile(x):
            with open(x, encoding="utf-8") as f:
                return json.load(f)
        return json.loads(x)
    return dict(x)


def _q(s: str) -> str:
    return urllib.parse.quote(str(s), safe="")


class Client:
    """See the module documentation. ``url`` defaults to $WEFT_URL and
    ``token`` to $WEFT_TOKEN."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0,
                 retries: int = 4, backoff: float = 0.25) -> None:
        url = url or os.environ.get("WEFT_URL") or "http://127.0.0.1:8080"
        token = token if token is not None else os.environ.get("WEFT_TOKEN")
        self.http = Transport(url, token=token, timeout=timeout, retries=retries, backoff=backoff)

    @property
    def url(self) -> str:
        return self.http.base

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return self.http.request(method, "/api/v1" + path, body, **kw)[1]

    # definitions -----------------------------------------------------------
    def deploy_block(self, block: BlockLike) -> Deployed:
        """Store a block definition (a new version only when it changed)."""
        status, body = self.http.request("PUT", "/api/v1/blocks", _doc(block))
        return Deployed(str(body["name"]), int(body["version"]), status == 201)

    def deploy_flow(self, flow: FlowLike) -> Deployed:
        """Upload a blueprint; a 422 raises :class:`weft.ValidationError` with every problem."""
        try:
            status, body = self.http.request("POST", "/api/v1/flows", _doc(flow))
        except APIError as e:
            if e.status in (400, 422) and e.details:
                raise ValidationError(e.problems, "blueprint") from e
            raise
        return Deployed(str(body["name"]), int(body["version"]), status == 201)

    def validate_flow(self, flow: FlowLike) -> List[Problem]:
        """Every problem the server finds (an empty list when valid); stores nothing."""
        try:
            self.http.request("POST", "/api/v1/flows/validate", _doc(flow))
        except APIError as e:
            if e.status in (400, 422):
                return e.problems or [Problem("", e.message)]
            raise
        return []

    def deploy_dir(self, path: str) -> List[Deployed]:
        """Deploy every block definition under path/blocks/ and then every flow in path/*.json."""
        out: List[Deployed] = []
        bdir = os.path.join(path, "blocks")
        if os.path.isdir(bdir):
            for name in sorted(os.listdir(bdir)):
                if name.endswith(".json"):
                    out.append(self.deploy_block(os.path.join(bdir, name)))
        for name in sorted(os.listdir(path)):
            if name.endswith(".json"):
                out.append(self.deploy_flow(os.path.join(path, name)))
        return out

    def blocks(self) -> Any:
        return self._call("GET", "/blocks")

    def block(self, name: str, version: Optional[int] = None) -> Any:
        path = "/blocks/" + _q(name) + ("/versions/%d" % version if version else "")
        return self._call("GET", path)

    def flows(self) -> Any:
        return self._call("GET", "/flows")

    def flow(self, name: str, version: Optional[int] = None) -> Any:
        path = "/flows/" + _q(name) + ("/versions/%d" % version if version else "")
        return self._call("GET", path)

    # runs ------------------------------------------------------------------
    def start(self, flow: str, input: Optional[Mapping[str, Any]] = None, *, version: Optional[int] = None,
              idempotency_key: Optional[str] = None) -> Run:
        """Start a run. Without an idempotency key one is generated, so the
        transport can retry the request without starting two runs."""
        body: Dict[str, Any] = {"input": dict(input or {})}
        if version is not None:
            body["version"] = version
        body["idempotency_key"] = idempotency_key or "py-" + uuid.uuid4().hex
        return Run.from_json(self._call("POST", "/flows/" + _q(flow) + "/runs", body))

    def run(self, run_id: str, steps: bool = True) -> Run:
        """The run (with its steps unless steps=False)."""
        q = None if steps else {"steps": False}
        return Run.from_json(self._call("GET", "/runs/" + _q(run_id), query=q))

    get_run = run

    def wait(self, run_id: str, timeout: Optional[float] = None, *, poll: float = 30.0,
             on_progress: Optional[Callable[[Run], None]] = None, until_finished: bool = False) -> Run:
        """Follow a run with ``GET /runs/{id}/wait`` until it finishes.

        Returns the run once it is finished, or — unless until_finished —
        as soon as it is paused or waiting for a signal (the server answers
        at once then, so looping would only spin). ``on_progress`` is called
        with the run whenever its status or a step's status changed.
        ``timeout`` (seconds, None = forever) bounds the whole wait; when it
        passes the current run is returned (check ``run.finished``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last_sig = None
        while True:
            budget = poll if deadline is None else min(poll, deadline - time.monotonic())
            secs = max(1, int(budget))
            started = time.monotonic()
            run = Run.from_json(self._call("GET", "/runs/" + _q(run_id) + "/wait", query={"timeout": "%ds" % secs},
                                           timeout=secs + self.http.timeout))
            sig = (run.status, tuple((s.path, s.status) for s in run.steps))
            if on_progress is not None and sig != last_sig:
                on_progress(run)
            last_sig = sig
            if run.finished or (deadline is not None and time.monotonic() >= deadline):
                return run
            if time.monotonic() - started < secs - 0.5:
                # answered before its timeout without finishing: paused or waiting for a signal
                if not until_finished:
                    return run
                time.sleep(1.0)

    def runs(self, flow: Optional[str] = None, status: Optional[str] = None, since: Optional[str] = None,
             limit: Optional[int] = None, cursor: Optional[str] = None) -> RunPage:
        """One page of runs, newest first."""
        body = self._call("GET", "/runs", query={"flow": flow, "status": status, "since": since, "limit": limit,
                                                 "cursor": cursor})
        items = body.get("runs", body.get("items", [])) if isinstance(body, dict) else body
        nxt = body.get("next_cursor") if isinstance(body, dict) else None
        return RunPage(tuple(Run.from_json(r) for r in items or []), nxt or None)

    list_runs = runs

    def iter_runs(self, flow: Optional[str] = None, status: Optional[str] = None, since: Optional[str] = None,
                  page_size: int = 100) -> Iterator[Run]:
        """Every matching run, following the pages."""
        cursor: Optional[str] = None
        while True:
            page = self.runs(flow=flow, status=status, since=since, limit=page_size, cursor=cursor)
            for r in page.runs:
                yield r
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def events(self, run_id: str) -> Any:
        """The run's event history."""
        body = self._call("GET", "/runs/" + _q(run_id) + "/events")
        if isinstance(body, dict) and "events" in body:
            return body["events"]
        return body

    def logs(self, run_id: str, step: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every log line of the run (or of one step, by path), oldest first:
        ``{"step", "attempt", "ts", "level", "message"}``."""
        out: List[Dict[str, Any]] = []
        query: Dict[str, Any] = {"limit": 5000}
        if step:
            query["step"] = step
        while True:
            _, body = self.http.request("GET", "/api/v1/runs/" + _q(run_id) + "/logs", query=query)
            lines = (body or {}).get("lines") or []
            out.extend(lines)
            if len(lines) < 5000:
                return out
            query["after"] = body["next_cursor"]

    def signal(self, run_id: str, name: str, payload: Any = None) -> None:
        """Deliver a signal (the payload becomes the wait block's output)."""
        self._call("POST", "/runs/" + _q(run_id) + "/signals/" + _q(name), payload if payload is not None else {})

    def waiting_runs(self, limit: Optional[int] = None) -> RunPage:
        """Runs whose live steps all wait for a signal (``status=waiting``), newest first."""
        return self.runs(status="waiting", limit=limit)

    def approve(self, run_id: str, payload: Any = None, *, signal: Optional[str] = None) -> str:
        """Send the signal the run waits for and return its name. With
        several waiting, name one with ``signal=`` (ValueError lists them)."""
        names: List[str] = []
        for w in self.run(run_id).waiting_for:
            if w.signal not in names:
                names.append(w.signal)
        if signal is None:
            if len(names) != 1:
                raise ValueError("run %s waits for %s; pass signal= with one of them"
                                 % (run_id, ", ".join(names) if names else "no signal"))
            signal = names[0]
        self.signal(run_id, signal, payload if payload is not None else {"approved": True})
        return signal

    def _action(self, run_id: str, action: str, body: Any = None) -> Optional[Run]:
        out = self._call("POST", "/runs/" + _q(run_id) + "/" + action, body if body is not None else {})
        return Run.from_json(out) if isinstance(out, dict) and "id" in out else None

    def cancel(self, run_id: str) -> Optional[Run]:
        return self._action(run_id, "cancel")

    def pause(self, run_id: str) -> Optional[Run]:
        return self._action(run_id, "pause")

    def resume(self, run_id: str) -> Optional[Run]:
        return self._action(run_id, "resume")

    def retry(self, run_id: str) -> Optional[Run]:
        """Resume a failed run from its failed steps."""
        return self._action(run_id, "retry")

    def rerun(self, run_id: str, from_ref: str, input: Optional[Mapping[str, Any]] = None,
              latest: bool = False) -> Optional[Run]:
        """Run again from a chosen block, optionally with edited input / the latest flow version."""
        body: Dict[str, Any] = {"from": from_ref}
        if input is not None:
            body["input"] = dict(input)
        if latest:
            body["latest"] = True
        return self._action(run_id, "rerun", body)

    # health ----------------------------------------------------------------
    def artifacts(self, run_id: str) -> List[ArtifactInfo]:
        """The run's artifacts, oldest first."""
        return _artifacts.list_run(self.http, run_id)

    def download_artifact(self, artifact: Union[str, ArtifactInfo, Artifact], dest: str) -> str:
        """Stream an artifact (its id, or a listed or referenced artifact) to the file dest, checked."""
        if isinstance(artifact, str):
            return _artifacts.download(self.http, artifact, dest)
        return _artifacts.download(self.http, artifact.id, dest, sha256=artifact.sha256)

    def ready(self) -> bool:
        """True when /readyz answers 200."""
        try:
            self.http.request("GET", "/readyz", retries=0)
            return True
        except Exception:
            return False
