"""Stand-ins for a Slack incoming webhook and PagerDuty's Events API v2, strict as the real services.

A drill sends its notifications for real, so a runbook whose message Slack or PagerDuty would refuse
fails its notify step in the drill too, with the answer the real service gives:

- Slack (https://api.slack.com/messaging/webhooks, "Handling errors"): 200 and the plain text `ok`;
  400 `invalid_payload` for a body that is not a JSON object (as JSON, or form-encoded `payload=`),
  400 `no_text` for a message with neither `text` nor `blocks` nor `attachments`, 404 `no_service`
  for a webhook URL that does not exist. Errors are plain text too, never JSON. Slack labels these
  bodies text/html; the stand-in says text/plain, which is what they are. An app's incoming webhook
  posts to the channel chosen when it was installed: `channel` (like `username` and `icon_*`) is
  accepted and ignored, as only legacy custom-integration webhooks honoured it.
- PagerDuty (https://developer.pagerduty.com/api-reference/, "Send an event to PagerDuty"): 202
  `{"status": "success", "message": "Event processed", "dedup_key": ...}`; 400 `{"status": "invalid
  event", "message": "Event object is invalid", "errors": [...]}` listing every problem: a
  routing_key missing or not 32 characters, event_action not trigger|acknowledge|resolve, a trigger
  without payload.summary, payload.source or a payload.severity of critical|error|warning|info, an
  acknowledge or resolve without dedup_key, a dedup_key over 255 characters. A well-formed routing
  key is accepted whatever it is: the real service does not say whether an integration exists.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from hybridops.sandbox.strictjson import strict_json

PD_INVALID = {"status": "invalid event", "message": "Event object is invalid"}
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ROUTING_KEY_LENGTH = 32
PD_DEDUP_KEY_MAX = 255


def slack(raw: bytes, content_type: str, known: bool) -> tuple[int, str, Any]:
    """(status, plain-text answer, the message as parsed or None) for one POST to a webhook URL;
    `known`: the URL is a webhook this sandbox serves."""
    if not known:
        return 404, "no_service", None
    try:
        if content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(raw.decode("utf-8"), strict_parsing=False)
            message = strict_json(fields["payload"][0].encode())
        else:
            message = strict_json(raw)
    except (ValueError, KeyError, IndexError):
        return 400, "invalid_payload", None
    if not isinstance(message, dict):
        return 400, "invalid_payload", message
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        return 400, "invalid_payload", message
    for key in ("blocks", "attachments"):
        if key in message and not isinstance(message[key], list):
            return 400, f"invalid_{key}", message
    if not text and not message.get("blocks") and not message.get("attachments"):
        return 400, "no_text", message
    return 200, "ok", message


def pagerduty(raw: bytes) -> tuple[int, dict[str, Any], Any]:
    """(status, JSON answer, the event as parsed or None) for one POST to /v2/enqueue."""
    try:
        event = strict_json(raw)
    except ValueError:
        return 400, {**PD_INVALID, "errors": ["Event object is not valid JSON"]}, None
    if not isinstance(event, dict):
        return 400, {**PD_INVALID, "errors": ["Event object must be a JSON object"]}, event
    errors = _event_errors(event)
    if errors:
        return 400, {**PD_INVALID, "errors": errors}, event
    # PagerDuty makes up a key for a trigger without one and answers with it
    dedup_key = event.get("dedup_key") or secrets.token_hex(16)
    return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, event


def _event_errors(event: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    key = event.get("routing_key")
    if _blank(key):
        errors.append("'routing_key' is missing or blank")
    elif not isinstance(key, str) or len(key) != PD_ROUTING_KEY_LENGTH:
        errors.append(f"Length of 'routing_key' is incorrect (should be {PD_ROUTING_KEY_LENGTH} characters)")
    action = event.get("event_action")
    if _blank(action):
        errors.append("'event_action' is missing or blank")
    elif action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' "
                      "or 'resolve')")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and not isinstance(dedup_key, str):
        errors.append("'dedup_key' must be a string")
    elif isinstance(dedup_key, str) and len(dedup_key) > PD_DEDUP_KEY_MAX:
        errors.append(f"'dedup_key' is too long (maximum is {PD_DEDUP_KEY_MAX} characters)")
    if action in ("acknowledge", "resolve") and _blank(dedup_key):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors += _payload_errors(event.get("payload"))
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if _blank(payload):
        return ["'payload' is missing or blank"]
    if not isinstance(payload, dict):
        return ["'payload' must be a JSON object"]
    errors = [f"'payload.{field}' is missing or blank" for field in ("summary", "source", "severity")
              if _blank(payload.get(field))]
    for field in ("summary", "source"):
        if not _blank(payload.get(field)) and not isinstance(payload[field], str):
            errors.append(f"'payload.{field}' must be a string")
    severity = payload.get("severity")
    if not _blank(severity) and severity not in PD_SEVERITIES:
        errors.append("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', "
                      "'error' or 'info')")
    stamp = payload.get("timestamp")
    if stamp is not None and not _iso8601(stamp):
        errors.append("'payload.timestamp' is invalid (must be an ISO 8601 timestamp)")
    return errors


def _blank(value: Any) -> bool:
    """Missing, or an empty (or all-blank) string, object or list: what PagerDuty calls "blank"."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, dict | list) and not value)


def _iso8601(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
