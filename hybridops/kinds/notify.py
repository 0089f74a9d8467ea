"""`notify` steps: a Slack incoming-webhook message or a PagerDuty Events API v2 event.

A notification that cannot be sent is reported and the run goes on: it is never a reason to stop
handling the incident."""

from __future__ import annotations

from hybridops.engine.retry import CallFailure
from hybridops.engine.steps import notify as notifier
from hybridops.events import Call, Notified, Request, StepStatus, WouldSend
from hybridops.kinds.base import Kind, Outcome, StepRun
from hybridops.runbook.model import NotifyStep

TIMEOUT_S = 10.0


class NotifyKind(Kind):
    name = "notify"
    stops_the_run = False  # whatever its on_failure says

    def execute(self, run: StepRun, step: NotifyStep) -> Outcome:
        spec, opt = step.notify, run.opt
        if opt.no_notify:
            return Outcome(StepStatus.SKIPPED, reason="--no-notify: notification not sent")
        text = run.render(spec.text)
        try:
            url, body, shown = notifier.build(spec.via, text=text, action=spec.action, severity=spec.severity,
                                              channel=spec.channel, dedup_key=run.ctx.run_id,
                                              source=f"hybridops {run.incident}", targets=run.ctx.notify_targets)
        except CallFailure as exc:
            if opt.dry_run:
                run.emit(Request(step_id=step.id, call=Call(target=spec.via, body={"text": text}, note=str(exc)),
                                 dry_run=True))
                return Outcome(StepStatus.DRY_RUN, reason=str(exc))
            return Outcome(StepStatus.FAILED, error=str(exc), reason="notification not sent")
        if spec.via == "slack":  # a webhook URL is its own credential
            run.ctx.emit.add_secret(url)
        call = Call(target=spec.via, url=shown["url"], body=shown["body"])
        if opt.dry_run:
            run.emit(Request(step_id=step.id, call=call, dry_run=True))
            return Outcome(StepStatus.DRY_RUN, reason="dry run: nothing sent")
        if opt.read_only:
            # A read-only run changes nothing and tells no one: its messages would describe actions
            # that were skipped.
            return Outcome(StepStatus.SKIPPED, reason="--read-only: notification not sent",
                           result=WouldSend(request=call))
        try:
            status, _ = run.send(step, call, lambda: notifier.send(run.ctx.http, spec.via, url, body, TIMEOUT_S))
        except CallFailure as exc:
            return Outcome(StepStatus.FAILED, error=str(exc), reason="notification not sent")
        return Outcome(StepStatus.OK, result=Notified(status=status))

    def describe(self, step: NotifyStep) -> list[str]:
        notify = step.notify
        where = f" {notify.channel}" if notify.channel else ""
        extra = f" {notify.action} {notify.severity}" if notify.via == "pagerduty" else ""
        return [f"notify {notify.via}{where}{extra}: {notify.text}"]


KINDS = (NotifyKind(),)
