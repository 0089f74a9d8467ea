"""`hybridops render`: a runbook as the Markdown page operators know, with commands to paste by hand.

The format (stable: `hybridops import` reads it back, `render --check` compares it line by line):

    <!-- hybridops render: ID -->                     first line: the runbook the page was rendered from
    # TITLE                                           h1: the incident
    **Severity**: P0                                  metadata, one `**Key**: value` line each (two
    **Response Time**: immediate                      trailing spaces: Markdown line breaks), in this order:
    **Impact**: ...                                   Severity, Response Time, Impact, Owner, Version
    ## Symptoms                                       h2, a `- ` bullet per symptom (when there are any)
    ## Setup                                          h2: one ```bash block: `set -a`, ADMIN_URL and
                                                      ADMIN_TOKEN from the environment (never a literal),
                                                      then `NAME=default` per variable (`NAME` is the
                                                      variable upper-cased; a secret or required one is
                                                      `${NAME:?...}`: taken from the environment)
    ## PHASE TITLE                                    h2 per phase, `<a id="phase-ID"></a>` before it
    1. <a id="STEP-ID"></a>**STEP TITLE** (2 minutes)  a numbered item per step (numbering restarts per
                                                      phase); the budget in words; ` — **mutating**` when
                                                      the step changes the system
       text lines (4-space indent), in this order:
         the description; `Only when: `COND``;
         kind lines:
           aws/http:  a ```bash block: the `aws` or `curl` command (a single capture assigned:
                      `NAME=$(aws ... --query 'Q' --output text)`, `NAME=$(curl ... | jq -r '.p')`);
                      `Captures: `name` = `query`` lines for what the block does not assign;
                      `Status code captured as `NAME`` (an http call's capture_status)
           poll:      `Repeat every 15 seconds until `COND` (at most 4 minutes):` (or `while`), then a
                      ```bash block: `watch -n 15 '...'`
           manual:    the instructions, then `- [ ] ITEM` per checklist item
           confirm:   `- [ ] Confirm: QUESTION (default: yes)`, then `If yes, go to [T](#T).` /
                      `If no, ...`
           choice:    `Choose: QUESTION`, then `- `VALUE`: LABEL: go to [T](#T) (default)` per option
           check:     `Check: `COND`: MESSAGE`, then `If true, go to [T](#T).` / `If false, ...`
                      confirm, choice and check: `Captures: `NAME`` when the answer is kept
           wait:      `Wait 10 minutes: REASON`
           notify:    `Notify Slack #channel: TEXT` / `Notify PagerDuty (trigger, critical): TEXT`
           log_errors / log_json: `Errors by type in GROUP ...` and a ```bash block:
                      `aws logs filter-log-events ... | jq ... | sort | uniq -c | sort -rn`
         `Undo:` then a ```bash block with the undo's command;
         `Retries: N, backoff 1s`; `On failure: continue` / `On failure: go to [T](#T)`;
         `Then: go to [T](#T)` (`end` is `the end of the runbook`);
         `**Outcome**: unresolved (reaching this step means the incident is not resolved)`

A go-to is always a link `[TARGET-ID](#TARGET-ID)` to the step's anchor. Rendering is deterministic
(the YAML's order, no timestamps), so `render --check` compares pages exactly.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from hybridops.markdown.commands import (
    Command,
    Untranslatable,
    aws_command,
    curl_command,
    log_command,
    shell_name,
    template_names,
    watch_command,
)
from hybridops.runbook.model import (
    END,
    AnyStep,
    AwsCall,
    CheckStep,
    ChoiceStep,
    ConfirmStep,
    GoTo,
    HttpCall,
    LogErrorsStep,
    LogJsonStep,
    ManualStep,
    NotifyStep,
    PollStep,
    Runbook,
    WaitStep,
)

MARKER = re.compile(r"^<!-- hybridops render: ([a-z0-9][a-z0-9-]*) -->$")
STEP_INDENT = "    "  # four spaces: the content of items 1. to 99. alike


def marker(runbook_id: str) -> str:
    return f"<!-- hybridops render: {runbook_id} -->"


def runbook_id_of(text: str) -> str | None:
    """The runbook a rendered page names in its first line, if it does."""
    first = text.split("\n", 1)[0].strip()
    m = MARKER.match(first)
    return m.group(1) if m else None


def long_duration(seconds: float) -> str:
    """A budget as the source runbook writes it: `2 minutes`, `1 hour 30 minutes`, `45 seconds`."""
    if seconds < 1:
        return f"{round(seconds * 1000)} milliseconds"
    total = round(seconds)
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if total >= size:
            n, total = divmod(total, size)
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
    return " ".join(parts)


def _link(target: str) -> str:
    return "the end of the runbook" if target == END else f"[{target}](#{target})"


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@dataclass
class _Page:
    runbook: Runbook
    needed: set[str] = field(default_factory=set)  # names later command lines use
    lines: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def text(self, text: str, indent: str = STEP_INDENT) -> None:
        for line in text.strip().splitlines():
            self.add((indent + line.rstrip()) if line.strip() else "")

    def para(self, text: str) -> None:
        self.add("")
        self.text(text)

    def block(self, lines: list[str]) -> None:
        self.add("", STEP_INDENT + "```bash", *(STEP_INDENT + line for line in lines), STEP_INDENT + "```")


def render_markdown(runbook: Runbook) -> str:
    """The whole page, ending in one newline."""
    page = _Page(runbook)
    for _, step in runbook.steps():
        for _, call in step.calls():
            page.needed |= template_names(call.model_dump(by_alias=True))
    rb = runbook
    page.add(marker(rb.id), "", f"# {rb.title}", "")
    meta = [("Severity", rb.severity), ("Response Time", rb.response_time), ("Impact", rb.impact),
            ("Owner", rb.owner), ("Version", rb.version)]
    page.add(*(f"**{k}**: {v}" + ("  " if i < len(meta) - 1 else "") for i, (k, v) in enumerate(meta)))
    if rb.symptoms:
        page.add("", "## Symptoms", "", *(f"- {s}" for s in rb.symptoms))
    page.add("", "## Setup", "", "Paste this first: every command below uses these variables.", "")
    page.add("```bash", *_setup(rb), "```")
    for phase in rb.phases:
        page.add("", f'<a id="phase-{phase.id}"></a>', "", f"## {phase.title}", "")
        for n, step in enumerate(phase.steps, 1):
            if n > 1:
                page.add("")
            _step(page, n, step)
    return "\n".join(page.lines) + "\n"


def _setup(rb: Runbook) -> list[str]:
    lines = ["set -a  # export every variable, the captured ones too (watch runs its command in a new shell)",
             'ADMIN_URL="${ADMIN_URL:-${HYBRIDOPS_ADMIN_URL:?set ADMIN_URL to the routing admin API URL}}"',
             'ADMIN_TOKEN="${ADMIN_TOKEN:-${HYBRIDOPS_ADMIN_TOKEN:?set ADMIN_TOKEN to the admin API token}}"']
    for var in rb.variables:
        name = shell_name(var.name)
        about = f"  # {var.description}" if var.description else ""
        about = about.replace("\n", " ")
        if var.secret or var.default is None:
            why = "secret" if var.secret else "required"
            lines.append(f'{name}="${{{name}:?set {name} ({why})}}"{about}')
        else:
            value = var.default
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            lines.append(f"{name}={shlex.quote(text)}{about}")
    return lines


def _command(page: _Page, call: AwsCall | HttpCall, step: AnyStep, *, capture: bool = True) -> Command:
    if isinstance(call, AwsCall):
        return aws_command(call, incident=page.runbook.id, step_id=step.id, capture=capture, needed=page.needed)
    return curl_command(call, incident=page.runbook.id, capture=capture)


def _call_block(page: _Page, call: AwsCall | HttpCall, step: AnyStep, *, capture: bool = True,
                every: float | None = None) -> None:
    from hybridops.kinds.calls import call_summary

    try:
        cmd = _command(page, call, step, capture=capture and every is None)
    except Untranslatable as exc:
        page.para(f"By hand ({exc}): {_code(call_summary(call))}")
        return
    page.block(watch_command(cmd, every) if every is not None else cmd.lines)
    captures = dict(call.capture) if capture else {}
    shown = [f"{_code(n)} = {_code(q)}" for n, q in captures.items() if n not in cmd.assigns]
    if every is None and shown:
        page.para("Captures: " + ", ".join(shown))
    if capture and isinstance(call, HttpCall) and call.capture_status:
        page.para(f"Status code captured as {_code(call.capture_status)}")


def _step(page: _Page, n: int, step: AnyStep) -> None:
    flag = " — **mutating**" if step.is_mutating else ""
    page.add(f'{n}. <a id="{step.id}"></a>**{step.title}** ({long_duration(step.budget)}){flag}')
    if step.description:
        page.para(step.description)
    if step.when:
        page.para(f"Only when: {_code(step.when)}")
    _kind(page, step)
    if step.undo:
        page.para("Undo:")
        _call_block(page, step.undo.call, step, capture=False)
    tail = []
    if step.retries:
        from hybridops.kinds.base import short_duration

        tail.append(f"Retries: {step.retries.attempts}, backoff {short_duration(step.retries.backoff)}")
    if isinstance(step.on_failure, GoTo):
        tail.append(f"On failure: go to {_link(step.on_failure.goto)}")
    elif step.on_failure == "continue":
        tail.append("On failure: continue")
    if step.next:
        tail.append(f"Then: go to {_link(step.next)}")
    if step.outcome:
        tail.append("**Outcome**: unresolved (reaching this step means the incident is not resolved)")
    if tail:
        page.add("")
        page.add(*(STEP_INDENT + t + ("  " if i < len(tail) - 1 else "") for i, t in enumerate(tail)))


def _kind(page: _Page, step: AnyStep) -> None:
    if isinstance(step, PollStep):
        poll = step.poll
        cond = f"until {_code(poll.until)}" if poll.until else f"while {_code(poll.while_ or '')}"
        page.para(f"Repeat every {long_duration(poll.every)} {cond} (at most {long_duration(poll.timeout)}):")
        _call_block(page, poll.call, step, every=poll.every)
        captures = [f"{_code(k)} = {_code(v)}" for k, v in poll.call.capture.items()]
        if captures:
            page.para("Captures: " + ", ".join(captures))
    elif step.call is not None:
        _call_block(page, step.call, step)
    elif isinstance(step, ManualStep):
        if step.manual.instructions:
            page.para(step.manual.instructions)
        if step.manual.checklist:
            page.add("")
            page.add(*(f"{STEP_INDENT}- [ ] {item}" for item in step.manual.checklist))
    elif isinstance(step, ConfirmStep):
        c = step.confirm
        default = "" if c.default is None else f" (default: {'yes' if c.default else 'no'})"
        page.add("", f"{STEP_INDENT}- [ ] Confirm: {c.question.strip()}{default}")
        _branches(page, [("If yes", c.if_yes), ("If no", c.if_no)])
        _answer_capture(page, c.capture)
    elif isinstance(step, ChoiceStep):
        ch = step.choice
        page.para(f"Choose: {ch.question}")
        page.add("")
        for o in ch.options:
            label = f": {o.label}" if o.label else ""
            goto = f": go to {_link(o.goto)}" if o.goto else ""
            page.add(f"{STEP_INDENT}- {_code(o.value)}{label}{goto}{' (default)' if o.value == ch.default else ''}")
        _answer_capture(page, ch.capture)
    elif isinstance(step, CheckStep):
        k = step.check
        page.para(f"Check: {_code(k.condition)}" + (f": {k.message}" if k.message else ""))
        _branches(page, [("If true", k.if_true), ("If false", k.if_false)])
        _answer_capture(page, k.capture)
    elif isinstance(step, WaitStep):
        page.para(f"Wait {long_duration(step.wait.duration)}" + (f": {step.wait.reason}" if step.wait.reason else ""))
    elif isinstance(step, NotifyStep):
        nt = step.notify
        if nt.via == "slack":
            head = "Notify Slack" + (f" {nt.channel}" if nt.channel else "")
        else:
            head = f"Notify PagerDuty ({nt.action}, {nt.severity})"
        page.para(f"{head}: {' '.join(nt.text.split())}")
    elif isinstance(step, LogErrorsStep | LogJsonStep):
        from hybridops.kinds import kind

        what = kind(step.kind).describe(step)[0]  # the kind's own words, as `hybridops show` prints them
        page.para(what[0].upper() + what[1:])
        try:
            page.block(log_command(step.body, incident=page.runbook.id))
        except Untranslatable as exc:
            page.para(f"By hand: {exc}")
        page.para(f"Captures: {_code(step.body.capture)}")


def _answer_capture(page: _Page, name: str | None) -> None:
    """The name later steps read a decision by: without it, an imported copy could not know it."""
    if name:
        page.para(f"Captures: {_code(name)}")


def _branches(page: _Page, branches: list[tuple[str, str | None]]) -> None:
    shown = [f"{word}, go to {_link(target)}." for word, target in branches if target]
    if shown:
        page.add("")
        page.add(*(STEP_INDENT + s + ("  " if i < len(shown) - 1 else "") for i, s in enumerate(shown)))


def first_difference(expected: str, actual: str) -> int | None:
    """The 1-based number of the first line where `actual` differs from `expected`; None if equal."""
    if expected == actual:
        return None
    want, got = expected.split("\n"), actual.split("\n")
    for i, (a, b) in enumerate(zip(want, got, strict=False), 1):
        if a != b:
            return i
    return min(len(want), len(got)) + 1
