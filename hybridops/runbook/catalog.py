"""Where runbooks are found: `--runbooks DIR`, then HYBRIDOPS_RUNBOOKS, then ./runbooks, then the
copies shipped inside the package (so an installed tool works from any directory)."""

from __future__ import annotations

import os
from pathlib import Path

from hybridops.errors import RunbookNotFound

PACKAGED = Path(__file__).resolve().parent.parent / "runbooks"


def runbooks_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("HYBRIDOPS_RUNBOOKS")
    if env:
        return Path(env)
    local = Path("runbooks")
    if local.is_dir():
        return local
    return PACKAGED


def runbook_files(directory: Path) -> list[Path]:
    """The runbook files of a directory, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def find_runbook(ref: str, directory: Path | None = None) -> Path:
    """A runbook by id (`bedrock-failure`) or by path (`./my.yaml`)."""
    as_path = Path(ref)
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        if as_path.is_file():
            return as_path
        raise RunbookNotFound(f"no runbook file {ref}")
    base = runbooks_dir(directory)
    for suffix in (".yaml", ".yml"):
        candidate = base / f"{ref}{suffix}"
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in runbook_files(base)) if base.is_dir() else "none"
    raise RunbookNotFound(f"no runbook {ref!r} in {base} (known: {known})")
