"""A minimal in-tree PEP 517 build backend (standard library only), so
`pip install ./sdk-python` works offline, without fetching setuptools.

It builds a pure-Python wheel of the `weft` package (with py.typed and the
JSON Schemas) and an sdist.
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from typing import Any, Dict, List, Optional, Tuple

NAME = "weft"
VERSION = "0.1.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "py3-none-any"

METADATA = """Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: Weft SDK: build blueprints, call the API, run workers (standard library only)
Requires-Python: >=3.9
License: Apache-2.0
Classifier: Programming Language :: Python :: 3
Classifier: Typing :: Typed
""".format(name=NAME, version=VERSION)

ENTRY_POINTS = "[console_scripts]\nweft-py = weft.__main__:main\n"


def _package_files() -> List[Tuple[str, str]]:
    out = []
    base = os.path.join(ROOT, NAME)
    for d, dirs, files in os.walk(base):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith((".py", ".json", ".typed")):
                full = os.path.join(d, f)
                out.append((full, os.path.relpath(full, ROOT).replace(os.sep, "/")))
    return out


def _record_line(arc: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arc, digest, len(data))


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def _dist_info() -> Dict[str, bytes]:
    di = "%s-%s.dist-info" % (NAME, VERSION)
    return {
        di + "/METADATA": METADATA.encode(),
        di + "/WHEEL": ("Wheel-Version: 1.0\nGenerator: weft_build\nRoot-Is-Purelib: true\nTag: %s\n" % TAG).encode(),
        di + "/entry_points.txt": ENTRY_POINTS.encode(),
        di + "/top_level.txt": (NAME + "\n").encode(),
    }


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    for arc, data in _dist_info().items():
        path = os.path.join(metadata_directory, arc)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return "%s-%s.dist-info" % (NAME, VERSION)


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None,
                metadata_directory: Optional[str] = None) -> str:
    name = "%s-%s-%s.whl" % (NAME, VERSION, TAG)
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for full, arc in _package_files():
            with open(full, "rb") as f:
                data = f.read()
            z.writestr(arc, data)
            records.append(_record_line(arc, data))
        for arc, data in _dist_info().items():
            z.writestr(arc, data)
            records.append(_record_line(arc, data))
        rec = "%s-%s.dist-info/RECORD" % (NAME, VERSION)
        records.append(rec + ",,")
        z.writestr(rec, "\n".join(records) + "\n")
    return name


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        files = _package_files()
        for extra in ("pyproject.toml", "README.md", "_build/weft_build.py"):
            files.append((os.path.join(ROOT, extra), extra))
        for full, arc in files:
            if os.path.exists(full):
                t.add(full, arcname=base + "/" + arc)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
