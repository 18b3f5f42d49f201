"""A small JSON-over-HTTP transport with retries of transient errors."""

import json
import logging
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import APIError, LeaseConflict, NotFound, TransportError

log = logging.getLogger("weft.http")

TRANSIENT_STATUS = (429, 502, 503, 504)


class Transport:
    """Sends JSON requests to a Weft server.

    GET/PUT/DELETE are retried on connection errors and on 429/502/503/504;
    POST is retried on those statuses and when the connection was refused
    (the request never reached the server), because a POST may not be
    idempotent.
    """

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.25, user_agent: str = "weft-python") -> None:
        if not url:
            raise ValueError("a server URL is required, such as http://127.0.0.1:8080")
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.user_agent = user_agent

    def url(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        u = self.base + path
        if query:
            q = {k: _qv(v) for k, v in query.items() if v is not None}
            if q:
                u += "?" + urllib.parse.urlencode(q)
        return u

    def request(self, method: str, path: str, body: Any = None, query: Optional[Mapping[str, Any]] = None,
                timeout: Optional[float] = None, headers: Optional[Mapping[str, str]] = None,
                retries: Optional[int] = None) -> Tuple[int, Any]:
        """Send one request; returns (status, decoded JSON body or None)."""
        url = self.url(path, query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        hdrs = {"Accept": "application/json", "User-Agent": self.user_agent}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        if headers:
            hdrs.update(headers)
        attempts = (self.retries if retries is None else retries) + 1
        last: Optional[BaseException] = None
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                    return resp.status, _decode(resp.read())
            except urllib.error.HTTPError as e:
                raw = e.read()
                status = e.code
                if status in TRANSIENT_STATUS and attempt < attempts:
                    last = e
                    self._sleep(attempt, e.headers.get("Retry-After") if e.headers else None)
                    log.debug("retrying %s %s after %d", method, url, status)
                    continue
                raise _api_error(status, raw, method, url) from None
            except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
                last = e
                if attempt < attempts and (method != "POST" or _refused(e)):
                    self._sleep(attempt, None)
                    log.debug("retrying %s %s after %s", method, url, e)
                    continue
                break
        raise TransportError("%s %s failed: %s" % (method, url, _reason(last)))

    def _sleep(self, attempt: int, retry_after: Optional[str]) -> None:
        delay = self.backoff * (2 ** (attempt - 1))
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        time.sleep(min(delay, 10.0) * (0.75 + random.random() / 2))


def _qv(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return raw.decode("utf-8", "replace")


def _api_error(status: int, raw: bytes, method: str, url: str) -> APIError:
    body = _decode(raw)
    code, message, details = "http_%d" % status, "", []  # type: Tuple[str, str, Any]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err: Dict[str, Any] = body["error"]
        code = str(err.get("code") or code)
        message = str(err.get("message") or "")
        details = err.get("details") or []
    elif isinstance(body, str):
        message = body.strip()[:500]
    if not isinstance(details, list):
        details = [details]
    cls = APIError
    if status == 404:
        cls = NotFound
    elif status == 409 and code == "lease_conflict":
        cls = LeaseConflict
    return cls(status, code, message, details, method, url)


def _refused(e: BaseException) -> bool:
    reason = getattr(e, "reason", e)
    return isinstance(reason, ConnectionRefusedError)


def _reason(e: Optional[BaseException]) -> str:
    if e is None:
        return "unknown error"
    reason = getattr(e, "reason", None)
    return str(reason if reason is not None else e)
