"""Start and stop a real `weft serve` on a free loopback port for a test
module (SQLite in the module's temp dir)."""

import os
import signal
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional

from weft import Client


def start(state: Dict[str, Any], binary: str, tmp: str, args: List[str], env: Optional[Dict[str, str]] = None) -> str:
    """Runs `weft serve --db tmp/weft.db --addr 127.0.0.1:0 ARGS`, waits until
    it listens and is ready, keeps it in state and returns its URL."""
    env = dict(os.environ if env is None else env)
    env.pop("WEFT_TOKEN", None)
    log = open(os.path.join(tmp, "server.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--db", os.path.join(tmp, "weft.db"), "--addr", "127.0.0.1:0"] + args,
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=tmp)
    state["proc"], state["log"] = proc, log
    url = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("listening on "):
            url = line.split("listening on ", 1)[1].strip()
            break
    if url is None:
        proc.kill()
        with open(os.path.join(tmp, "server.log")) as f:
            raise RuntimeError("weft serve did not start:\n" + f.read()[-3000:])
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
    state["url"] = url
    c = Client(url)
    deadline = time.monotonic() + 30
    while not c.ready():
        if time.monotonic() > deadline:
            raise RuntimeError("weft serve never became ready")
        time.sleep(0.1)
    return url


def stop(state: Dict[str, Any]) -> None:
    """Stops the server start() began (SIGTERM, then SIGKILL after 15 s)."""
    proc = state.get("proc")
    if proc is None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    state["log"].close()
    if proc.stdout is not None:
        proc.stdout.close()


CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def binary(tmp: str) -> str:
    """$WEFT_BIN, else a `weft` built from the repository into tmp. When
    neither works the calling test module is skipped loudly, or fails under
    CI=true."""
    import shutil
    import sys
    import unittest

    env_bin = os.environ.get("WEFT_BIN")
    if env_bin and os.path.isfile(env_bin):
        return env_bin
    why = "no go toolchain on PATH and no $WEFT_BIN"
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is not None:
        out = os.path.join(tmp, "weft")
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        p = subprocess.run([go, "build", "-o", out, "./cmd/weft"], cwd=repo, capture_output=True, text=True,
                           env=dict(os.environ, CGO_ENABLED="0"), timeout=900)
        if p.returncode == 0:
            return out
        why = "go build ./cmd/weft failed:\n" + p.stderr[-2000:]
    msg = "\n*** SKIPPING: no weft binary: %s ***\n" % why
    sys.stderr.write(msg)
    if CI:
        raise RuntimeError(msg)
    raise unittest.SkipTest(msg)
