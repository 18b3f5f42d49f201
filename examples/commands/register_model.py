"""cmd.register_model: copy a model artifact into a folder registry
(WEFT_MODEL_REGISTRY, default var/registry): NAME/vN/ with the model and
a metadata.json of its metrics, run and sha256."""

import hashlib
import json
import os
import shutil

import weftcmd


def main() -> None:
    args = weftcmd.read_input()
    name = args.get("name") or ""
    if not name or "/" in name or name.startswith("."):
        weftcmd.fail("name: give a registry name without '/', such as house-prices")
    src = weftcmd.artifact_in(args.get("model"))
    root = os.path.abspath(os.environ.get("WEFT_MODEL_REGISTRY") or os.path.join("var", "registry"))
    base = os.path.join(root, name)
    os.makedirs(base, exist_ok=True)
    n = 1
    while True:
        dest = os.path.join(base, "v%d" % n)
        try:
            os.mkdir(dest)  # atomic: two registrations never share a version
            break
        except FileExistsError:
            n += 1
    model = os.path.join(dest, os.path.basename(src))
    shutil.copyfile(src, model)
    with open(model, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = {"name": name, "version": "v%d" % n, "run_id": os.environ["WEFT_RUN_ID"], "sha256": digest,
            "metrics": args.get("metrics") or {}}
    with open(os.path.join(dest, "metadata.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    print("registered %s %s at %s" % (name, meta["version"], dest), flush=True)
    weftcmd.write_output({"uri": "file://" + model, "name": name, "version": meta["version"]})


if __name__ == "__main__":
    main()
