"""An offline stand-in for an OpenAI-compatible chat-completions endpoint.

    python3 examples/workers/local_llm.py --port 8099
    export WEFT_LLM_URL=http://127.0.0.1:8099/v1/chat/completions   # in the server's environment

It answers POST <any path> with a chat.completion whose content is the
sentence of the prompt's "Context:" that shares the most words with the
"Question:" (an extractive reader: deterministic, no model weights). When
WEFT_LLM_KEY is set in its environment, requests must carry
"Authorization: Bearer $WEFT_LLM_KEY". It listens on 127.0.0.1 only.
"""

import argparse
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import mlkit  # noqa: E402


def answer(messages: List[Dict[str, Any]]) -> str:
    user = ""
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "user":
            user = str(m.get("content") or "")
    context, question = user, user
    m = re.search(r"Context:\s*(.*?)\s*Question:\s*(.*)\Z", user, re.S)
    if m:
        context, question = m.group(1), m.group(2)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?;])\s+|\n+", context) if s.strip()]
    if not sentences:
        return "I do not know."
    q = {mlkit._stem(w) for w in mlkit.content_words(question)}
    best = max(sentences, key=lambda s: (len(q & {mlkit._stem(w) for w in mlkit.content_words(s)}), -len(s)))
    return best


class Handler(BaseHTTPRequestHandler):
    server_version = "weft-local-llm/1"

    def log_message(self, fmt: str, *args: Any) -> None:
        if os.environ.get("WEFT_LLM_VERBOSE"):
            sys.stderr.write("local_llm: " + fmt % args + "\n")

    def _send(self, status: int, body: Dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # health and model list
        self._send(200, {"object": "list", "data": [{"id": "weft-local", "object": "model"}]})

    def do_POST(self) -> None:
        key = os.environ.get("WEFT_LLM_KEY")
        if key and self.headers.get("Authorization") != "Bearer " + key:
            self._send(401, {"error": {"message": "invalid API key", "type": "invalid_request_error"}})
            return
        try:
            n = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(n).decode("utf-8") or "{}")
            messages = req["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, {"error": {"message": "bad request: %s" % e, "type": "invalid_request_error"}})
            return
        content = answer(messages)
        self.server.calls += 1  # type: ignore[attr-defined]
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        self._send(200, {
            "id": "chatcmpl-local-%d" % self.server.calls,  # type: ignore[attr-defined]
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model") or "weft-local",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()),
                      "total_tokens": prompt_tokens + len(content.split())},
        })


def serve(port: int = 0, host: str = "127.0.0.1") -> Tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the server in a thread; returns (server, thread). server.server_port is the port."""
    srv = ThreadingHTTPServer((host, port), Handler)
    srv.calls = 0  # type: ignore[attr-defined]
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, name="local-llm", daemon=True)
    t.start()
    return srv, t


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("WEFT_LLM_PORT", "8099")))
    args = ap.parse_args(argv)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.calls = 0  # type: ignore[attr-defined]
    sys.stderr.write("local_llm: listening on http://127.0.0.1:%d/v1/chat/completions\n" % srv.server_port)
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
