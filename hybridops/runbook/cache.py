"""Runbooks known to be valid, kept between runs in the user cache dir.

Validating a runbook's AWS calls loads botocore and its service models (about half a second), and
every `incident` and `validate` did it again for files that had not changed. A runbook found valid is
remembered under a key of everything its validity depends on: its bytes, its file name, this copy of
hybridops (each file's size and mtime: the validators, the shipped admin API spec) and the installed
distributions with their versions (botocore's models, Jinja, pydantic...). Anything else changes the
key, so a stale entry is never found; an entry that does not hold its own key (cut short, edited) is
ignored; a cache dir that cannot be read or written only costs the time. Problems are never cached:
an invalid runbook is validated again every time, and reports its problems afresh.

`HYBRIDOPS_CACHE_DIR` moves the cache; set to `off`, nothing is read or written.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import cache
from pathlib import Path

CACHE_ENV = "HYBRIDOPS_CACHE_DIR"
_VERSION = b"valid-1"


def cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_ENV)
    if configured == "off":
        return None
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybridops", appauthor=False))


@cache
def _fingerprint() -> bytes:
    """What, besides a runbook's own bytes, decides whether it is valid: a stat of each file of this
    package and the names (with versions) of the distributions installed beside it."""
    h = hashlib.sha256(_VERSION)
    h.update(sys.version.encode())
    package = Path(__file__).resolve().parent.parent
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".yaml", ".json")):
                st = os.stat(os.path.join(root, name))
                h.update(f"{os.path.relpath(os.path.join(root, name), package)}:{st.st_size}:{st.st_mtime_ns}\n"
                         .encode())
    for entry in sys.path:
        if not entry.endswith(("site-packages", "dist-packages")):  # the script's dir, the cwd: no installs
            continue
        try:
            names = sorted(n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        h.update(f"{entry}:{','.join(names)}\n".encode())
    return h.digest()


def _key(name: str, sha256: str) -> str:
    return hashlib.sha256(_fingerprint() + name.encode() + b"\0" + sha256.encode()).hexdigest()


def known_valid(name: str, sha256: str) -> bool:
    """Whether the runbook file `name` with content `sha256` was found valid by this very set-up."""
    directory = cache_dir()
    if directory is None:
        return False
    key = _key(name, sha256)
    try:
        return (directory / "valid" / key).read_text(encoding="ascii") == key
    except (OSError, UnicodeDecodeError):
        return False


def remember_valid(name: str, sha256: str) -> None:
    """Note that the runbook was found valid; a cache that cannot be written is left alone."""
    directory = cache_dir()
    if directory is None:
        return
    key = _key(name, sha256)
    target = directory / "valid" / key
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_name(f".{key}.{os.getpid()}")
        partial.write_text(key, encoding="ascii")
        os.replace(partial, target)  # never a half-written entry under the key
    except OSError:
        pass
