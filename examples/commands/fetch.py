"""cmd.fetch: fetch a file over HTTP(S), from a local path or from the
artifact store into WEFT_ARTIFACTS_OUT, where it becomes an artifact."""

import hashlib
import os
import shutil
import urllib.request

import weftcmd


def main() -> None:
    args = weftcmd.read_input()
    src = args.get("url")
    name = args.get("name") or "file"
    dest = weftcmd.artifact_out(name)
    if isinstance(src, dict):
        shutil.copyfile(weftcmd.artifact_in(src), dest)
        print("copied artifact %s" % src["artifact"]["name"], flush=True)
    elif isinstance(src, str) and src.startswith(("http://", "https://")):
        with urllib.request.urlopen(src, timeout=float(args.get("timeout_s", 60))) as resp, open(dest, "wb") as out:
            shutil.copyfileobj(resp, out)
        print("downloaded %s" % src, flush=True)
    elif isinstance(src, str) and src:
        path = src[len("file://"):] if src.startswith("file://") else src
        if not os.path.isfile(path):
            weftcmd.fail("no such file: %s (a path is read relative to the worker's folder)" % path)
        shutil.copyfile(path, dest)
        print("copied %s" % path, flush=True)
    else:
        weftcmd.fail("url: give an http(s) URL, a file path or an artifact reference")
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    size = os.path.getsize(dest)
    print("%s: %d bytes, sha256 %s" % (name, size, h.hexdigest()), flush=True)
    weftcmd.write_output({"name": name, "size": size, "sha256": h.hexdigest()})


if __name__ == "__main__":
    main()
