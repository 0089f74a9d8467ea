"""Step kinds: what each one does when run, how `hybridops show` describes it, how its result shows.

Each module here holds one kind (or a family, such as the two call kinds) and lists them in `KINDS`;
the registry below finds every module of this package, so adding a kind is its model class in
`runbook/model.py` and one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from hybridops.kinds.base import Kind


@cache
def registry() -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        for kind in importlib.import_module(f"{__name__}.{module.name}").KINDS:
            found[kind.name] = kind
    return found


def kind(name: str) -> Kind:
    """The kind called `name` (KeyError for a kind no module implements)."""
    return registry()[name]
