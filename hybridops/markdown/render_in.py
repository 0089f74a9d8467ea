"""render's own step items read back (the lines `render.py`'s docstring lists), for `import(render(x))`:
the step's id from its anchor, its kind from its lines, its go-tos from the `[T](#T)` links.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridops.markdown.importer import _Block, _Builder

_LINK = r"(?:\[([a-z0-9][a-z0-9-]*)\]\(#[a-z0-9-]*\)|(the end of the runbook))"
_CODE = r"``? ?(.+?) ?``?"


def _target(m: re.Match[str], group: int) -> str:
    return m.group(group) or "end"


def _duration(words: str) -> str:
    from hybridops.markdown.importer import budget_of

    return budget_of(f"({words})") or words


def rendered_step(b: _Builder, phase: dict[str, Any], item: _Block, sid: str, title: str, budget: str) -> None:
    step: dict[str, Any] = {"id": sid, "title": title, "budget": budget}
    kind: dict[str, Any] = {}
    plain: list[str] = []
    checklist: list[str] = []
    captures: dict[str, str] = {}
    pending_undo = False
    poll: dict[str, Any] | None = None
    log_capture: str | None = None
    status_capture: str | None = None
    for child in item.children:
        if child.kind == "fence":
            from hybridops.markdown.commands import Untranslatable
            from hybridops.markdown.importer import logical_lines
            from hybridops.markdown.shell_in import translate

            lines = [c for _, _, c in logical_lines(child.text, child.line) if c]
            try:
                # render's extra lines (a read sent again per value) repeat the call: the first is the step's
                out = translate(lines[0], base=b.base)
            except (Untranslatable, IndexError) as exc:
                b.untranslatable(phase, title, budget, child.line + 1, "\n".join(lines), str(exc), sid)
                return
            for name, default in out.variables.items():
                b.variables.setdefault(name, default)
            if pending_undo:
                step["undo"] = {out.kind: _no_capture(out.body)}
                pending_undo = False
            elif poll is not None and out.kind == "poll":
                inner_kind = "aws" if "aws" in out.body else "http"
                poll[inner_kind] = _no_capture(out.body[inner_kind])
                poll["every"] = out.body["every"]
                kind = {"poll": poll}
            else:
                kind = {out.kind: out.body}
                if out.kind == "aws":
                    _streamed_captures(out.body, lines[1:])
            continue
        if child.kind == "bullets":
            for _, text in child.items:
                text = text.strip()
                m = re.match(r"^\[ \] Confirm: (.*?)(?: \(default: (yes|no)\))?$", text, re.S)
                if m:
                    kind = {"confirm": {"question": m.group(1)}}
                    if m.group(2):
                        kind["confirm"]["default"] = m.group(2) == "yes"
                    continue
                m = re.match(r"^`+ ?(.+?) ?`+(?:: (?!go to )(.*?))?(?:: go to " + _LINK + r")?( \(default\))?$",
                             text, re.S)
                if m and "choice" in kind:
                    opt: dict[str, Any] = {"value": m.group(1)}
                    if m.group(2):
                        opt["label"] = m.group(2)
                    if m.group(3) or m.group(4):
                        opt["goto"] = _target(m, 3)
                    kind["choice"]["options"].append(opt)
                    if m.group(5):
                        kind["choice"]["default"] = m.group(1)
                    continue
                checklist.append(re.sub(r"^\[ \] ", "", text))
            continue
        if child.kind != "para":
            continue
        for line in child.text.splitlines():
            line = line.strip()
            if _meta_line(step, kind, line, captures):
                if line.startswith("Repeat every"):
                    poll = _poll_head(line)
                continue
            if line == "Undo:":
                pending_undo = True
                continue
            m = re.match(r"^Captures: `([A-Za-z_][A-Za-z0-9_]*)`$", line)
            if m and not captures:
                log_capture = m.group(1)
                continue
            m = re.match(r"^Status code captured as `([A-Za-z_][A-Za-z0-9_]*)`$", line)
            if m:
                status_capture = m.group(1)
                continue
            if re.match(r"^(Errors by type|JSON events)\b", line):
                continue  # render's description of a log step: the block below is the step
            m = re.match(r"^By hand(?: \((.*)\))?: (.*)$", line)
            if m:
                b.untranslatable(phase, title, budget, child.line, m.group(2), m.group(1) or "no shell form", sid)
                return
            plain.append(line)
    if not kind:
        manual: dict[str, Any] = {}
        if plain:
            if len(plain) > 1:
                step["description"] = plain[0]
            manual["instructions"] = plain[-1]
        if checklist:
            manual["checklist"] = checklist
        kind = {"manual": manual}
    elif plain:
        step["description"] = plain[0]
    name = next(iter(kind))
    body = kind[name]
    if name in ("log_errors", "log_json", "check", "confirm", "choice") and log_capture:
        body["capture"] = log_capture
    call = body if name in ("aws", "http") else body.get("aws") or body.get("http") if name == "poll" else None
    if captures and call is not None:
        call.setdefault("capture", {}).update(captures)
    if status_capture and call is not None:
        call["capture_status"] = status_capture
    if name == "poll" and poll is not None:
        poll.setdefault("timeout", budget)
    step.update(kind)
    _mutating(step, name, "— **mutating**" in item.text.splitlines()[0])
    _order(step)
    b.ids.add(sid)
    phase["steps"].append(step)


def _mutating(step: dict[str, Any], kind: str, shown: bool) -> None:
    """`mutating:` where the page's flag differs from what the call implies (a probe such as a test POST)."""
    from pydantic import ValidationError

    from hybridops.runbook.model import AwsCall, HttpCall

    body = step[kind]
    call = body if kind in ("aws", "http") else body.get("aws") or body.get("http") if kind == "poll" else None
    implied = False
    if isinstance(call, dict):
        try:
            implied = (AwsCall if "service" in call else HttpCall).model_validate(call).mutating
        except ValidationError:
            return  # the validator names what is wrong with the call
    if implied != shown:
        step["mutating"] = shown


_STREAMED_READ = re.compile(r"^([A-Z_][A-Z0-9_]*)=\$\((jq -r .+)\)$")


def _streamed_captures(call: dict[str, Any], lines: list[str]) -> None:
    """render's `NAME=$(jq -r PATH STEP.out)` lines after a call whose body streams to a file (InvokeModel):
    each is the capture `name: body.PATH` (a jq path of fields and indexes reads as the same JMESPath)."""
    import shlex

    for line in lines:
        m = _STREAMED_READ.match(line)
        if m is None:
            continue
        words = shlex.split(m.group(2))  # jq -r PATH FILE
        if len(words) == 4 and words[2].startswith("."):
            call.setdefault("capture", {})[m.group(1).lower()] = "body" + words[2]


def _no_capture(call: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in call.items() if k != "capture"}


def _poll_head(line: str) -> dict[str, Any]:
    m = re.match(r"^Repeat every (.+?) (until|while) " + _CODE + r" \(at most (.+?)\):$", line)
    if not m:
        return {}
    return {m.group(2): m.group(3), "timeout": _duration(m.group(4))}


def _meta_line(step: dict[str, Any], kind: dict[str, Any], line: str, captures: dict[str, str]) -> bool:
    """One of render's keyword lines, applied to the step; False when the line is prose."""
    m = re.match(r"^Only when: " + _CODE + "$", line)
    if m:
        step["when"] = m.group(1)
        return True
    m = re.match(r"^Check: " + _CODE + r"(?:: (.*))?$", line)
    if m:
        kind["check"] = {"condition": m.group(1)} | ({"message": m.group(2)} if m.group(2) else {})
        return True
    m = re.match(r"^If (yes|no|true|false), go to " + _LINK + r"\.$", line)
    if m:
        key = {"yes": "if_yes", "no": "if_no", "true": "if_true", "false": "if_false"}[m.group(1)]
        body = kind.get("confirm") or kind.get("check")
        if body is not None:
            body[key] = _target(m, 2)
        return True
    m = re.match(r"^Choose: (.*)$", line)
    if m:
        kind["choice"] = {"question": m.group(1), "options": []}
        return True
    m = re.match(r"^Wait (\d[^:]*?)(?:: (.*))?$", line)
    if m and re.match(r"^\d+ (second|minute|hour|day|millisecond)", m.group(1)):
        kind["wait"] = {"duration": _duration(m.group(1))} | ({"reason": m.group(2)} if m.group(2) else {})
        return True
    m = re.match(r"^Notify Slack(?: (\S+))?: (.*)$", line)
    if m:
        kind["notify"] = {"via": "slack", "text": m.group(2)} | ({"channel": m.group(1)} if m.group(1) else {})
        return True
    m = re.match(r"^Notify PagerDuty \((\w+), (\w+)\): (.*)$", line)
    if m:
        kind["notify"] = {"via": "pagerduty", "action": m.group(1), "severity": m.group(2), "text": m.group(3)}
        return True
    if line.startswith("Repeat every"):
        return True
    m = re.match(r"^Retries: (\d+), backoff (\S+)$", line)
    if m:
        step["retries"] = {"attempts": int(m.group(1)), "backoff": m.group(2)}
        return True
    if line == "On failure: continue":
        step["on_failure"] = "continue"
        return True
    m = re.match(r"^On failure: go to " + _LINK + "$", line)
    if m:
        step["on_failure"] = {"goto": _target(m, 1)}
        return True
    m = re.match(r"^Then: go to " + _LINK + "$", line)
    if m:
        step["next"] = _target(m, 1)
        return True
    if line.startswith("**Outcome**: unresolved"):
        step["outcome"] = "unresolved"
        return True
    if line.startswith("Captures: `") and " = " in line:
        for name, query in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)` = " + r"(``? ?.+? ?``?)(?:, |$)", line):
            captures[name] = query.strip("`").strip()
        return True
    return False


_KEYS = ("id", "title", "budget", "description", "when", "on_failure", "retries", "mutating", "undo", "next",
         "outcome")


def _order(step: dict[str, Any]) -> None:
    """The common keys first, as the shipped runbooks write them."""
    items = sorted(step.items(), key=lambda kv: _KEYS.index(kv[0]) if kv[0] in _KEYS else len(_KEYS))
    step.clear()
    step.update(items)
