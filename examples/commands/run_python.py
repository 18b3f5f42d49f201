"""Run a Python script after checking its requirements file: a line
"python>=3.9" checks the interpreter, "name>=version" (or "name") that the
package is installed at that version. A missing requirement exits 2
naming it, so the step fails without retrying on a machine that cannot run
it. Usage: run_python.py REQUIREMENTS SCRIPT [ARGS...]"""

import re
import runpy
import sys
from importlib import metadata

import weftcmd

REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|==)?\s*([0-9][0-9A-Za-z.]*)?\s*$")


def version_tuple(v: str):
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.]", v))


def check(path: str) -> None:
    missing = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = REQ.match(line)
            if not m:
                weftcmd.fail("%s:%d: cannot read requirement %r (write name, name>=1.2 or name==1.2)" % (path, n, line))
            name, op, want = m.groups()
            if name.lower() == "python":
                have = "%d.%d.%d" % sys.version_info[:3]
            else:
                try:
                    have = metadata.version(name)
                except metadata.PackageNotFoundError:
                    missing.append("%s is not installed (pip install '%s')" % (name, line))
                    continue
            if want and ((op == ">=" and version_tuple(have) < version_tuple(want)) or (op == "==" and have != want)):
                missing.append("%s %s does not satisfy %s" % (name, have, line))
            else:
                print("requirement %s: %s" % (line, have), flush=True)
    if missing:
        weftcmd.fail("requirements not met on this machine:\n  " + "\n  ".join(missing))


def main() -> None:
    if len(sys.argv) < 3:
        weftcmd.fail("usage: run_python.py REQUIREMENTS SCRIPT [ARGS...]")
    check(sys.argv[1])
    script = sys.argv[2]
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
