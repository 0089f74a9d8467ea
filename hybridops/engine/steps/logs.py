"""The log-analysis steps: FilterLogEvents read page by page, then grouped and counted."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from hybridops.runbook.model import LogErrors, LogJson


def filter_params(spec: LogErrors | LogJson, start_ms: int) -> dict[str, Any]:
    params: dict[str, Any] = {"logGroupName": spec.log_group, "startTime": start_ms}
    if spec.filter_pattern:
        params["filterPattern"] = spec.filter_pattern
    return params


def fetch(call: Callable[[dict[str, Any]], dict[str, Any]], params: dict[str, Any], limit: int) -> list[str]:
    """Messages of every page, up to `limit`. `call(params) -> response`."""
    messages: list[str] = []
    token = None
    while len(messages) < limit:
        page = call({**params, **({"nextToken": token} if token else {})})
        messages.extend(str(e.get("message", "")) for e in page.get("events", []))
        token = page.get("nextToken")
        if not token:
            break
    return messages[:limit]


def group_errors(messages: list[str], type_pattern: str) -> dict[str, Any]:
    """`sort | uniq -c | sort -rn` by error type: {total, top, top_share, by_type: [{type, count}]}."""
    rx = re.compile(type_pattern)
    counts: Counter[str] = Counter()
    for m in messages:
        match = rx.search(m)
        if match:
            groups = match.groupdict()
            counts[groups.get("type") or (match.group(1) if rx.groups else match.group(0))] += 1
        else:
            counts["(unclassified)"] += 1
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ranked[0] if ranked else None
    return {"total": total, "top": top[0] if top else None, "top_share": top[1] / total if top else 0.0,
            "by_type": [{"type": t, "count": c} for t, c in ranked]}


def group_json(messages: list[str], fields: list[str], group_by: list[str]) -> dict[str, Any]:
    """JSON messages projected to `fields` and counted by `group_by`: {total, skipped, rows}."""
    keys = group_by or fields
    counts: Counter[tuple] = Counter()
    skipped = 0
    for m in messages:
        try:
            doc = json.loads(m[m.index("{"):]) if "{" in m else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            skipped += 1
            continue
        counts[tuple(str(doc.get(k)) for k in keys)] += 1
    total = sum(counts.values())
    rows = [dict(zip(keys, k, strict=True)) | {"count": c, "share": c / total}
            for k, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"total": total, "skipped": skipped, "rows": rows}
