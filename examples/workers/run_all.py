"""Start every example worker against $WEFT_URL and keep them running.

    WEFT_URL=http://127.0.0.1:8080 python3 examples/workers/run_all.py [--llm]

--llm also starts the offline chat-completions stand-in (local_llm.py) on
$WEFT_LLM_PORT (default 8099); point the server's WEFT_LLM_URL at it.
SIGINT/SIGTERM stop the workers gracefully (each finishes its running
tasks within WEFT_SHUTDOWN_TIMEOUT seconds) and then this launcher exits.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
WORKERS = ["house_prices.py", "dl_training.py", "rag_eval.py", "bpel_ml.py", "notify.py"]


def main(argv: List[str] = sys.argv[1:]) -> int:
    ap = argparse.ArgumentParser(description="start every example worker")
    ap.add_argument("--llm", action="store_true", help="also start local_llm.py")
    args = ap.parse_args(argv)
    env = dict(os.environ)
    env.setdefault("WEFT_URL", "http://127.0.0.1:8080")
    sdk = os.path.join(os.path.dirname(os.path.dirname(HERE)), "sdk-python")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (sdk, env.get("PYTHONPATH", "")) if p)
    files = WORKERS + (["local_llm.py"] if args.llm else [])
    # own sessions: a Ctrl-C reaches only this launcher, which stops the workers once
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, f)], env=env, start_new_session=True)
             for f in files]
    sys.stderr.write("run_all: started %s against %s\n" % (", ".join(files), env["WEFT_URL"]))
    stopping = {"flag": False, "at": 0.0}

    def stop(signum: int, frame: object) -> None:
        if stopping["flag"]:
            if time.monotonic() - stopping["at"] < 2.0:
                return  # the same stop delivered twice (e.g. to the group and to us)
            sys.stderr.write("run_all: second signal: killing the workers\n")
            for p in procs:
                if p.poll() is None:
                    p.kill()
            return
        stopping["flag"] = True
        stopping["at"] = time.monotonic()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while True:
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            break
        if not stopping["flag"]:
            dead = [(f, p.returncode) for f, p in zip(files, procs) if p.poll() is not None]
            if dead:
                sys.stderr.write("run_all: %s exited (%s); stopping the others\n" % dead[0])
                code = 1
                stop(signal.SIGTERM, None)
        time.sleep(0.2)
    return code


if __name__ == "__main__":
    sys.exit(main())
