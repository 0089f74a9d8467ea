"""The code an exported document's `aws:executeScript` steps run, on AWS's python3.11 runtime.

Never imported by hybridops itself at run time: `hybridops export ssm` copies the functions a step needs
(their source, `inspect.getsource`) into that step's `Script`, so what runs on AWS is exactly what the
unit tests run here. It may use only the standard library and what that runtime provides (boto3, and
with it botocore and jmespath). Secrets (the admin token, the Slack webhook, the PagerDuty routing key)
are read from SecureString parameters whose names the document's parameters give; none is ever part
of the document, an output or an error message.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from hybridops.engine.steps.logs import fetch, group_errors, group_json

MAX_BODY = 1 << 20  # what a run reads of an answer, as hybridops does


def secret(name: str) -> str:
    import boto3

    return str(boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def typed(value: Any, kind: str) -> Any:
    """A value as the SSM output type it is declared with (SSM refuses a mismatch)."""
    if kind == "Boolean":
        return bool(value)
    if kind == "Integer":
        return int(value) if isinstance(value, int | float | str) and str(value).strip() else 0
    if kind == "StringList":
        return [v if isinstance(v, str) else json.dumps(v, default=str) for v in (value or [])]
    if kind == "MapList":
        return [v for v in (value or []) if isinstance(v, dict)]
    if kind == "StringMap":
        return value if isinstance(value, dict) else {}
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def captured(events: dict[str, Any], doc: Any) -> dict[str, Any]:
    import jmespath  # botocore's own dependency: present wherever boto3 is

    types = events.get("Types", {})
    return {name: typed(jmespath.search(query, doc), types.get(name, "String"))
            for name, query in events.get("Captures", {}).items()}


def post_json(url: str, body: Any, headers: dict[str, str], method: str = "POST",
              timeout: float = 30) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (the document's own URL)
            return answer.status, answer.read(MAX_BODY)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_BODY)


def admin_request(events: dict[str, Any]) -> dict[str, Any]:
    """One admin API request (InputPayload: AdminUrl, TokenParameter, Method, Path, Body, Expect, Timeout,
    and Captures/Types for the captures a JSONPath selector cannot take from the body):
    {status, body, captures}."""
    token = secret(events["TokenParameter"])
    url = events["AdminUrl"].rstrip("/") + events["Path"]
    body = events.get("Body") if events["Method"] != "GET" else None
    status, raw = post_json(url, body, {"Authorization": "Bearer " + token}, events["Method"],
                            float(events.get("Timeout", 30)))
    if status not in [int(s) for s in events.get("Expect", [200])]:
        # the status only: an answer may echo the request, and the request carried the token
        raise RuntimeError(f"{events['Method']} {events['Path']}: HTTP {status}, expected {events.get('Expect')}")
    try:
        doc = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise RuntimeError(f"{events['Method']} {events['Path']}: HTTP {status}, not JSON") from None
    out = {"status": status, "body": doc}
    if events.get("Captures"):
        out["captures"] = captured(events, doc)
    return out


def coerced(events: dict[str, Any]) -> dict[str, Any]:
    """The events with the Body's `Coerce` paths as numbers: a runbook's `{{ x | float }}` of a value SSM
    passes as text (a String parameter), where the API wants the number."""
    for path, kind in events.get("Coerce", {}).items():
        *parents, last = path.split(".")
        holder: Any = events["Body"]
        for key in parents:
            holder = holder[key]
        holder[last] = float(holder[last]) if kind == "float" else int(float(holder[last]))
    return events


def aws_request(events: dict[str, Any]) -> dict[str, Any]:
    """One AWS call (InputPayload: Service, Api, Region, Params, and Captures/Types as for an admin
    request): {body, captures}."""
    import boto3
    from botocore import xform_name

    client = boto3.client(events["Service"], region_name=events.get("Region") or None)
    answer = getattr(client, xform_name(events["Api"]))(**events.get("Params", {}))
    answer.pop("ResponseMetadata", None)
    doc = json.loads(json.dumps(answer, default=str))  # a step's result is JSON: timestamps as text
    out: dict[str, Any] = {"body": doc}
    if events.get("Captures"):
        out["captures"] = captured(events, doc)
    return out


def poll(events: dict[str, Any], call: Callable[[dict[str, Any]], dict[str, Any]],
         condition: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Repeat `call` every `Every` seconds `until` the condition holds, or for as long as it holds
    (`while`), within `Timeout` seconds (InputPayload: Mode, Every, Timeout, Values, Watch, StatusName).
    The condition reads the Values, each Watch query's value in the answer (as JMESPath gives it, as
    hybridops' own condition sees it) and the status under its name."""
    import jmespath

    deadline = time.monotonic() + float(events["Timeout"])
    while True:
        got = call(events)
        seen = {**events.get("Values", {}),
                **{name: jmespath.search(query, got.get("body")) for name, query in events.get("Watch", {}).items()}}
        if events.get("StatusName"):
            seen[events["StatusName"]] = got.get("status")
        held = condition(seen)
        if events["Mode"] == "until" and held:
            return got
        if events["Mode"] == "while" and not held:
            raise RuntimeError("the watched condition stopped holding")
        if time.monotonic() + float(events["Every"]) > deadline:
            if events["Mode"] == "while":
                return got
            raise RuntimeError(f"the condition did not hold within {events['Timeout']} s")
        time.sleep(float(events["Every"]))


def notify(events: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message or a PagerDuty Events API v2 event (InputPayload: Via, Text,
    Channel, Action, Severity, DedupKey, Source, SlackWebhookParameter, PagerDutyKeyParameter,
    PagerDutyUrl)."""
    text = events["Text"]
    if events["Via"] == "slack":
        body: dict[str, Any] = {"text": text}
        if events.get("Channel"):
            body["channel"] = events["Channel"]
        status, _ = post_json(secret(events["SlackWebhookParameter"]), body, {})
    else:
        body = {"routing_key": secret(events["PagerDutyKeyParameter"]), "event_action": events["Action"],
                "dedup_key": events["DedupKey"]}
        if events["Action"] == "trigger":
            body["payload"] = {"summary": text[:1024], "source": events["Source"], "severity": events["Severity"]}
        status, _ = post_json(events["PagerDutyUrl"], body, {})
    if not 200 <= status < 300:
        raise RuntimeError(f"{events['Via']}: HTTP {status}")
    return {"status": status}


def log_messages(events: dict[str, Any]) -> list[str]:
    """FilterLogEvents over the last `Since` seconds, up to `Limit` messages (InputPayload: LogGroup,
    FilterPattern, Since, Region, Limit)."""
    import boto3

    client = boto3.client("logs", region_name=events.get("Region") or None)
    params: dict[str, Any] = {"logGroupName": events["LogGroup"],
                              "startTime": int((time.time() - float(events["Since"])) * 1000)}
    if events.get("FilterPattern"):
        params["filterPattern"] = events["FilterPattern"]
    return fetch(lambda p: client.filter_log_events(**p), params, int(events.get("Limit", 10000)))


def log_errors_step(events: dict[str, Any]) -> dict[str, Any]:
    return {events["Capture"]: group_errors(log_messages(events), events["TypePattern"])}


def log_json_step(events: dict[str, Any]) -> dict[str, Any]:
    return {events["Capture"]: group_json(log_messages(events), events["Fields"],
                                          events.get("GroupBy", []))}
