"""Artifacts (docs/concepts.md): files that travel between steps by reference.

A step stores a file with ``ctx.save_artifact(name, path_or_bytes)``: the
bytes stream to ``PUT /api/v1/tasks/{task_id}/artifacts/{name}`` under the
task's lease and the server answers the artifact's reference. Downstream,
``${ref.artifacts.NAME}`` in an input reaches the worker as
``{"artifact": {"id", "name", "size", "sha256", "uri"}}``, which the worker
turns into a local path before the handler runs: downloaded once, checked,
and cached by sha256 (``WEFT_ARTIFACT_CACHE``, default
``~/.cache/weft/artifacts``).
"""

import hashlib
import http.client
import json
import os
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import IO, Any, Dict, List, Mapping, Optional, Tuple, Union

from .errors import APIError, TransportError, WeftError
from ._http import Transport, _api_error

__all__ = ["Artifact", "ArtifactInfo", "is_artifact_ref", "cache_dir"]

_BLOCK = 1 << 20  # bytes per read and write


@dataclass(frozen=True)
class Artifact:
    """An artifact's reference, as a step's input or output carries it."""

    id: str
    name: str
    size: int
    sha256: str
    uri: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Artifact":
        return cls(id=str(d.get("id", "")), name=str(d.get("name", "")), size=int(d.get("size") or 0),
                   sha256=str(d.get("sha256", "")), uri=str(d.get("uri", "")))

    def ref(self) -> Dict[str, Any]:
        """The object to put in an output: ``{"artifact": {...}}``."""
        return {"artifact": {"id": self.id, "name": self.name, "size": self.size, "sha256": self.sha256,
                             "uri": self.uri}}


@dataclass(frozen=True)
class ArtifactInfo:
    """One row of ``GET /api/v1/runs/{id}/artifacts``."""

    id: str
    step: str
    name: str
    size: int
    sha256: str
    media_type: str
    created_at: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ArtifactInfo":
        return cls(id=str(d.get("id", "")), step=str(d.get("step", "")), name=str(d.get("name", "")),
                   size=int(d.get("size") or 0), sha256=str(d.get("sha256", "")),
                   media_type=str(d.get("media_type", "")), created_at=str(d.get("created_at", "")), raw=dict(d))


def is_artifact_ref(v: Any) -> bool:
    """True for ``{"artifact": {"id": ..., "sha256": ...}}``."""
    return (isinstance(v, dict) and len(v) == 1 and isinstance(v.get("artifact"), dict)
            and "id" in v["artifact"] and "sha256" in v["artifact"])


def cache_dir() -> str:
    d = os.environ.get("WEFT_ARTIFACT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "weft", "artifacts")
    os.makedirs(d, exist_ok=True)
    return d


def _connect(t: Transport, timeout: float) -> Tuple[http.client.HTTPConnection, str]:
    u = urllib.parse.urlsplit(t.base)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = cls(u.hostname or "127.0.0.1", u.port, timeout=timeout, blocksize=_BLOCK)
    return conn, u.path.rstrip("/")


def _headers(t: Transport) -> Dict[str, str]:
    h = {"User-Agent": t.user_agent}
    if t.token:
        h["Authorization"] = "Bearer " + t.token
    return h


def upload(t: Transport, task_id: str, lease: str, name: str, source: Union[str, "os.PathLike[str]", bytes],
           timeout: float = 300.0, attempts: int = 5) -> Artifact:
    """Stream source (a file path or bytes) as the task's artifact name.

    The store being down (503) or full (507) is retried after the server's
    Retry-After; a stale lease raises LeaseConflict.
    """
    path = "/api/v1/tasks/%s/artifacts/%s" % (urllib.parse.quote(task_id, safe=""), urllib.parse.quote(name, safe=""))
    last: Optional[BaseException] = None
    for attempt in range(1, attempts + 1):
        body: Union[bytes, IO[bytes]]
        if isinstance(source, (bytes, bytearray)):
            body, size, fh = bytes(source), len(source), None
        else:
            fh = open(source, "rb")
            body, size = fh, os.fstat(fh.fileno()).st_size
        conn, base = _connect(t, timeout)
        try:
            hdrs = _headers(t)
            hdrs.update({"Content-Type": "application/octet-stream", "Content-Length": str(size), "X-Weft-Lease": lease})
            conn.request("PUT", base + path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status == 201:
                return Artifact.from_json(json.loads(raw.decode("utf-8")))
            err = _api_error(resp.status, raw, "PUT", t.base + path)
            if resp.status not in (502, 503, 504, 507) or attempt == attempts:
                raise err
            last = err
            delay = float(resp.getheader("Retry-After") or 1.0)
        except (OSError, http.client.HTTPException) as e:
            last = e
            if attempt == attempts:
                break
            delay = 0.5 * attempt
        finally:
            conn.close()
            if fh is not None:
                fh.close()
        time.sleep(min(delay, 30.0))
    if isinstance(last, APIError):
        raise last
    raise TransportError("PUT %s failed: %s" % (t.base + path, last))


def download(t: Transport, artifact_id: str, dest: str, sha256: Optional[str] = None, timeout: float = 300.0) -> str:
    """Stream an artifact's bytes to the file dest, checking sha256 when given."""
    path = "/api/v1/artifacts/%s" % urllib.parse.quote(artifact_id, safe="")
    conn, base = _connect(t, timeout)
    d = os.path.dirname(os.path.abspath(dest))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=d)
    try:
        conn.request("GET", base + path, headers=_headers(t))
        resp = conn.getresponse()
        if resp.status != 200:
            raise _api_error(resp.status, resp.read(), "GET", t.base + path)
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            fd = -1
            while True:
                chunk = resp.read(_BLOCK)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
        if sha256 and h.hexdigest() != sha256:
            raise WeftError("artifact %s: downloaded bytes have sha256 %s, want %s" % (artifact_id, h.hexdigest(), sha256))
        os.replace(tmp, dest)
        return dest
    except (OSError, http.client.HTTPException) as e:
        raise TransportError("GET %s failed: %s" % (t.base + path, e)) from None
    finally:
        conn.close()
        if fd >= 0:
            os.close(fd)
        if os.path.exists(tmp):
            os.remove(tmp)


def fetch(t: Transport, ref: Artifact) -> str:
    """A local path holding ref's bytes: from the cache, else downloaded."""
    d = os.path.join(cache_dir(), ref.sha256[:2])
    dest = os.path.join(d, ref.sha256)
    if not os.path.exists(dest):
        download(t, ref.id, dest, sha256=ref.sha256)
    return dest


def resolve(t: Transport, v: Any, found: Dict[str, Artifact]) -> Any:
    """v with every artifact reference replaced by a local path."""
    if is_artifact_ref(v):
        ref = Artifact.from_json(v["artifact"])
        found[ref.name] = ref
        return fetch(t, ref)
    if isinstance(v, dict):
        return {k: resolve(t, x, found) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(t, x, found) for x in v]
    return v


def list_run(t: Transport, run_id: str) -> List[ArtifactInfo]:
    _, body = t.request("GET", "/api/v1/runs/%s/artifacts" % urllib.parse.quote(run_id, safe=""))
    return [ArtifactInfo.from_json(a) for a in ((body or {}).get("artifacts") or [])]
