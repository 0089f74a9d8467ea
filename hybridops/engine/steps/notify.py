"""Notifications: a Slack incoming webhook, or a PagerDuty Events API v2 event (one dedup key per run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridops.engine.retry import CallFailure
from hybridops.engine.steps.http import HttpAnswer, HttpRunner, redact_url


@dataclass(frozen=True)
class NotifyTargets:
    slack_webhook_url: str | None
    pagerduty_routing_key: str | None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"


def build(via: str, *, text: str, action: str, severity: str, channel: str | None, dedup_key: str,
          source: str, targets: NotifyTargets) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(url, body, what to show/audit). The URL and routing key are secrets: the shown form hides them."""
    if via == "slack":
        if not targets.slack_webhook_url:
            raise CallFailure("Slack is not configured (set HYBRIDOPS_SLACK_WEBHOOK_URL or a profile's "
                              "notify.slack_webhook_url)")
        body: dict[str, Any] = {"text": text}
        if channel:
            body["channel"] = channel
        return targets.slack_webhook_url, body, {"url": redact_url(targets.slack_webhook_url), "body": body}
    if not targets.pagerduty_routing_key:
        raise CallFailure("PagerDuty is not configured (set HYBRIDOPS_PAGERDUTY_ROUTING_KEY or a profile's "
                          "notify.pagerduty_routing_key)")
    body = {"routing_key": targets.pagerduty_routing_key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        body["payload"] = {"summary": text[:1024], "source": source, "severity": severity}
    shown = {k: v for k, v in body.items() if k != "routing_key"} | {"routing_key": "***"}
    return targets.pagerduty_url, body, {"url": targets.pagerduty_url, "body": shown}


def send(http: HttpRunner, via: str, url: str, body: dict[str, Any], timeout: float,
         now: float | None = None) -> tuple[int, Any]:
    """POST the notification (its answer read up to the runner's size cap); `now`: the run's clock,
    for a Retry-After given as a date."""
    import time

    from hybridops.engine.retry import parse_retry_after

    answer = http.send("POST", url, body, timeout=timeout, what=f"notify {via}")
    status, payload = answer
    if not 200 <= status < 300:
        raw = answer.retry_after if isinstance(answer, HttpAnswer) else None
        raise CallFailure(f"notify {via}: HTTP {status}", retryable=status >= 500 or status == 429, status=status,
                          unknown_outcome=status >= 500 and status != 503, refused=status in (429, 503),
                          retry_after=parse_retry_after(raw, time.time() if now is None else now))
    return status, payload
