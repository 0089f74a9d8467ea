"""`hybridops import`: a Markdown runbook page as runbook YAML, one per incident.

The page is read with markdown-it-py (the parser rich already brings). An incident is a heading whose
section has a `**Severity**:` line; its sub-headings are `Symptoms` (bullets), `Setup` (render's
`NAME=value` block: the variables' defaults) and phases (any other heading). In a phase, each numbered
item is an action: `**Title** (2 minutes)` (or `(ongoing)`), its fenced shell blocks (one step per
command; a `# comment` line before a command titles it) and its bullets (a manual checklist). A table
whose rows hold commands is a phase of actions too; a fenced block outside any item is one action.
render's own page (`render.py`'s format) reads back the same way, with its ids, kinds and branches.

Every part that does not translate becomes a manual step quoting it, and an `Issue` with its line in
the page: nothing is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridops.markdown.commands import Untranslatable

DEFAULT_BUDGET = "5m"  # an action the page gives no time
ONGOING_BUDGET = "30m"  # "(ongoing)": watching until someone stops it
_ANCHOR = re.compile(r'<a id="([a-z0-9][a-z0-9-]*)"></a>')
_META = re.compile(r"^(?:[-*]\s+)?(?:\*\*([A-Za-z ]+?):?\*\*:?|([A-Za-z ]+?):)\s*(.*?)\s*$")
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_DUR = re.compile(r"(\d+)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b", re.I)
_PHASE_ANCHOR = re.compile(r'<a id="phase-[a-z0-9-]*"></a>')
_COMMAND = re.compile(r"^\s*(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\$\()?(aws|curl|watch)\b")


@dataclass(frozen=True)
class Issue:
    """Something of the page that no step kind expresses; kept as a manual step that quotes it."""

    line: int
    col: int
    message: str
    original: str


@dataclass
class Imported:
    runbooks: list[dict[str, Any]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def seconds_to_duration(total: int) -> str:
    """Whole seconds as a runbook budget (`1h30m`); at least `1s`, the shortest budget a page can mean."""
    from hybridops.kinds.base import short_duration

    return short_duration(max(total, 1))


def budget_of(text: str) -> str | None:
    """`(2 minutes)`, `(1 hour 30 minutes)`, `(5m)` -> a duration; `(ongoing)` -> the ongoing budget."""
    for paren in re.findall(r"\(([^()]*)\)", text):
        if re.search(r"\bongoing\b", paren, re.I):
            return ONGOING_BUDGET
        paren = re.sub(r"(?i)^\s*(~|about|approx\.?|approximately|up to|at most|max\.?|<)\s*", "", paren)
        paren = re.sub(r"(\d+)\s*(?:-|–|to)\s*(\d+)", r"\2", paren)  # a range: its upper end
        found = _DUR.findall(paren)
        if found and _DUR.sub("", paren).strip(" ,and") == "":
            total = sum(int(n) * _UNITS[_unit(u)] for n, u in found)
            return seconds_to_duration(total)
    return None


def _unit(u: str) -> str:
    u = u.lower().rstrip("s") or "s"
    return u if u in _UNITS else u[0]


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:60].strip("-") or "step"


def _plain(inline: str) -> str:
    """Inline Markdown as text: no anchors, emphasis or code marks."""
    text = _ANCHOR.sub("", inline)
    text = re.sub(r"\*\*(.*?)\*\*", r"\1", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    return text.strip()


# --- the page as sections -------------------------------------------------------------------------


@dataclass
class _Block:
    kind: str  # item, bullets, fence, para, table
    line: int  # 1-based
    text: str = ""  # paragraph or item head text
    info: str = ""  # fence language
    children: list[_Block] = field(default_factory=list)
    items: list[tuple[int, str]] = field(default_factory=list)  # bullets: (line, text)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # table rows


@dataclass
class _Section:
    level: int
    title: str
    line: int
    blocks: list[_Block] = field(default_factory=list)
    anchor: str = ""  # render's `<a id="phase-ID"></a>` before the heading


def _sections(text: str) -> list[_Section]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections = [_Section(0, "", 1)]
    anchor = ""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type == "heading_open":
            sections.append(_Section(int(t.tag[1]), tokens[i + 1].content, (t.map or [0])[0] + 1, anchor=anchor))
            anchor = ""
            i += 3
            continue
        text = tokens[i + 1].content if t.type == "paragraph_open" else t.content
        m = re.fullmatch(r'<a id="phase-([a-z0-9][a-z0-9-]*)"></a>', text.strip())
        if m:
            anchor = m.group(1)
        block, i = _block(tokens, i)
        if block is not None:
            sections[-1].blocks.append(block)
    return sections


def _close(tokens: list[Any], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _block(tokens: list[Any], i: int) -> tuple[_Block | None, int]:
    t = tokens[i]
    line = (t.map or [0])[0] + 1
    if t.type == "fence" or t.type == "code_block":
        return _Block("fence", line, t.content, t.info.strip()), i + 1
    if t.type == "paragraph_open":
        return _Block("para", line, tokens[i + 1].content), i + 3
    if t.type == "html_block":
        return None, i + 1
    if t.type in ("bullet_list_open", "ordered_list_open"):
        end = _close(tokens, i)
        ordered = t.type == "ordered_list_open"
        out = _Block("items" if ordered else "bullets", line)
        j = i + 1
        while j < end:
            if tokens[j].type == "list_item_open":
                item_end = _close(tokens, j)
                item = _Block("item", (tokens[j].map or [0])[0] + 1)
                k = j + 1
                first = True
                while k < item_end:
                    child, k = _block(tokens, k)
                    if child is None:
                        continue
                    if first and child.kind == "para":
                        item.text, first = child.text, False
                    else:
                        item.children.append(child)
                        first = False
                if ordered:
                    out.children.append(item)
                else:
                    out.items.append((item.line, item.text))
                    out.children.extend(item.children)
                j = item_end + 1
            else:
                j += 1
        return out, end + 1
    if t.type == "table_open":
        end = _close(tokens, i)
        out = _Block("table", line)
        for j in range(i, end):
            if tokens[j].type == "tr_open":
                cells = []
                k = j + 1
                while tokens[k].type != "tr_close":
                    if tokens[k].type == "inline":
                        cells.append(tokens[k].content)
                    k += 1
                out.rows.append(((tokens[j].map or [line - 1])[0] + 1, cells))
        return out, end + 1
    if t.nesting == 1:
        return None, _close(tokens, i) + 1
    return None, i + 1


# --- sections as runbooks -------------------------------------------------------------------------


def _metadata(blocks: list[_Block]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for b in blocks:
        lines = b.text.splitlines() if b.kind == "para" else [t for _, t in b.items] if b.kind == "bullets" else []
        for line in lines:
            pair = _meta_pair(line)
            if pair:
                meta[pair[0]] = pair[1]
    return meta


_META_KEYS = ("severity", "priority", "response time", "impact", "owner", "version", "last updated")


def _meta_pair(line: str) -> tuple[str, str] | None:
    """`**Severity**: P0`, `**Severity:** P0`, `- Severity: P0` -> ("severity", "P0"); None for other lines."""
    m = _META.match(line.strip())
    if not m:
        return None
    key = (m.group(1) or m.group(2)).strip().lower()
    return (key, m.group(3).strip()) if key in _META_KEYS else None


def _severity(text: str) -> str:
    m = re.search(r"\bP([0-3])\b", text, re.I)
    if m:
        return f"P{m.group(1)}"
    words = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}
    for w, p in words.items():
        if w in text.lower():
            return p
    return "P2"


def _response_time(text: str) -> str:
    if not text or "immediate" in text.lower():
        return "immediate"
    found = _DUR.findall(text)
    if not found:
        return "immediate"
    return seconds_to_duration(sum(int(n) * _UNITS[_unit(u)] for n, u in found))


class _Builder:
    """One incident's runbook as it is read."""

    def __init__(self, path: str, base: Path | None, title: str, meta: dict[str, str], doc_meta: dict[str, str],
                 issues: list[Issue]) -> None:
        self.path, self.base, self.issues = path, base, issues
        self.ids: set[str] = set()
        self.variables: dict[str, Any] = {}
        self.described: dict[str, str] = {}
        self.declared: set[str] = set()
        self.secrets: set[str] = set()
        self.page = ""
        all_meta = {**doc_meta, **meta}
        rid = meta.get("_id") or slug(re.sub(r"^\d+\.\s*", "", title))
        self.doc: dict[str, Any] = {
            "id": rid, "title": re.sub(r"^\d+\.\s*", "", _plain(title)),
            "severity": _severity(all_meta.get("severity") or all_meta.get("priority", "")),
            "response_time": _response_time(all_meta.get("response time", "")),
            "impact": all_meta.get("impact", ""), "symptoms": [],
            "owner": all_meta.get("owner", "unknown"), "version": all_meta.get("version", "1.0.0"),
        }
        self.phases: list[dict[str, Any]] = []
        self.budget = DEFAULT_BUDGET  # the current phase's: an action without a time of its own takes it

    def step_id(self, wanted: str) -> str:
        base = wanted or "step"
        sid, n = base, 2
        while sid in self.ids:
            sid, n = f"{base}-{n}", n + 1
        self.ids.add(sid)
        return sid

    def report(self, line: int, message: str, original: str) -> None:
        self.issues.append(Issue(line, 1, message, original))

    def phase(self, title: str, anchor: str = "") -> dict[str, Any]:
        # a heading may be one action: `### Verify the outage (2 minutes)` times what is under it
        self.budget = budget_of(title) or DEFAULT_BUDGET
        title = re.sub(r"\s*\([^()]*\)\s*$", "", title) if budget_of(title) else title
        phase = {"id": self.step_id(anchor or slug(title)), "title": _plain(title), "steps": []}
        self.phases.append(phase)
        return phase

    def manual(self, phase: dict[str, Any], title: str, budget: str, *, checklist: list[str] | None = None,
               instructions: str = "", wanted_id: str = "") -> dict[str, Any]:
        step: dict[str, Any] = {"id": self.step_id(wanted_id or slug(title)), "title": title, "budget": budget}
        body: dict[str, Any] = {}
        if instructions:
            body["instructions"] = instructions
        if checklist:
            body["checklist"] = checklist
        step["manual"] = body
        phase["steps"].append(step)
        return step

    def untranslatable(self, phase: dict[str, Any], title: str, budget: str, line: int, original: str,
                       why: str, wanted_id: str = "") -> None:
        original = _masked(original)
        self.report(line, f"kept as a manual step: {why}", original)
        self.manual(phase, title, budget, instructions=f"By hand (hybridops import could not translate it: {why}):"
                    f"\n{original}", wanted_id=wanted_id or slug(title))

    def command(self, phase: dict[str, Any], title: str, budget: str, line: int, text: str,
                wanted_id: str = "") -> dict[str, Any] | None:
        from hybridops.markdown.shell_in import translate

        try:
            out = translate(text, base=self.base)
        except Untranslatable as exc:
            self.untranslatable(phase, title, budget, line, text, str(exc), wanted_id)
            return None
        refused = call_problems(out.kind, out.body) + (call_problems(*out.first) if out.first else [])
        if refused:  # the validator's own checks: a call it would refuse is kept for the operator
            self.untranslatable(phase, title, budget, line, text, refused[0], wanted_id)
            return None
        for name, default in out.variables.items():
            self.variables.setdefault(name, default)
        self.secrets |= out.secrets
        if out.first is not None:  # `logs tail --follow`: the look-back, then the poll
            kind, body = out.first
            phase["steps"].append({"id": self.step_id(slug(title)), "title": title, "budget": budget, kind: body})
            title = f"{title} (follow)"
            wanted_id = ""
        step: dict[str, Any] = {"id": self.step_id(wanted_id or slug(title)), "title": title, "budget": budget}
        if out.notes:
            # the notes, never the line: it may hold a token
            step["description"] = "Imported with changes: " + "; ".join(out.notes)
            for note in out.notes:
                self.report(line, f"{note}", text)
        if out.kind == "poll":
            out.body["timeout"] = budget
        step[out.kind] = out.body
        phase["steps"].append(step)
        return step

    def finish(self) -> dict[str, Any]:
        doc = dict(self.doc)
        if not doc["symptoms"]:
            del doc["symptoms"]
        _infer_decision_captures(self.phases, self.page)
        captured = {name for p in self.phases for s in p["steps"] for name in _captured(s)}
        # a name the page's setup declares stays a variable even when a step captures it (a lookup
        # that fills in a variable left empty)
        variables = {n: d for n, d in self.variables.items() if n not in captured or n in self.described
                     or n in self.declared}
        if variables:
            doc["variables"] = [_variable(n, d, self.described.get(n)) | ({"secret": True} if n in self.secrets else {})
                                for n, d in variables.items()]
        doc["phases"] = _numbers([p for p in self.phases if p["steps"]], self.variables)
        return doc


def call_problems(kind: str, body: dict[str, Any]) -> list[str]:
    """What `hybridops validate` would say of the call itself (botocore's model of the operation, the
    admin API's OpenAPI spec): a page's `curl` to another host's API is no admin request."""
    from hybridops.runbook import botocore_check, openapi_check

    problems: list[str] = []

    def report(loc: tuple[str | int, ...], message: str, key: bool) -> None:
        del loc, key
        problems.append(message)

    call = body.get("aws") or body.get("http") if kind == "poll" else body
    inner = ("aws" if "aws" in body else "http") if kind == "poll" else kind
    if inner == "aws" and isinstance(call, dict):
        botocore_check.check_call(call["service"], call["operation"], call.get("params", {}), (), report)
    elif inner == "http" and isinstance(call, dict):
        openapi_check.check_request(call["method"], call["path"], call.get("body"), (), report)
    return problems


def _numbers(value: Any, defaults: dict[str, Any]) -> Any:
    """`{{ x | number }}` (a bare expansion in a JSON body) as `| float` when x's default has a decimal
    point, else `| int`."""
    if isinstance(value, str) and " | number }}" in value:
        def typed(m: re.Match[str]) -> str:
            default = str(defaults.get(m.group(1).split("|")[0].strip()) or "")
            return "{{ " + m.group(1) + (" | float" if "." in default else " | int") + " }}"
        return re.sub(r"\{\{ (.*?) \| number \}\}", typed, value)
    if isinstance(value, dict):
        return {k: _numbers(v, defaults) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v, defaults) for v in value]
    return value


def _infer_decision_captures(phases: list[dict[str, Any]], page: str) -> None:
    """A check, confirm or choice whose answer later lines read by the step's name (`outage-confirmed`
    -> `outage_confirmed`, the shipped runbooks' convention): render's page does not show the capture."""
    for phase in phases:
        for step in phase["steps"]:
            for key in ("check", "confirm", "choice"):
                body = step.get(key)
                name = step["id"].replace("-", "_")
                if isinstance(body, dict) and "capture" not in body and re.search(rf"\b{name}\b", page):
                    body["capture"] = name


_CREDENTIAL = re.compile(r"(?i)(authorization:\s*(?:bearer\s+|basic\s+)?|x-api-key:\s*|(?<!\S)(?:-u|--user)\s+"
                         r"|[?&](?:token|access_token|api_key|apikey|key|password|secret)="
                         r"|(?<!\S)--(?:secret-string|password|secret-binary|master-user-password)[ =])"
                         r"(?!\$|bearer\b|basic\b)[^\s\"'&]+")


def _masked(text: str) -> str:
    """A quoted command without its credentials: the YAML and the report never hold a token."""
    return _CREDENTIAL.sub(lambda m: m.group(1) + "***", text)


def _captured(step: dict[str, Any]) -> set[str]:
    """The names a step document captures (those are no variables)."""
    names: set[str] = set()
    for key in ("aws", "http", "poll", "log_errors", "log_json", "check", "confirm", "choice"):
        body = step.get(key)
        if not isinstance(body, dict):
            continue
        for call in (body, body.get("aws"), body.get("http")):
            if isinstance(call, dict):
                cap = call.get("capture")
                names |= set(cap) if isinstance(cap, dict) else {cap} if isinstance(cap, str) else set()
                if call.get("capture_status"):
                    names.add(call["capture_status"])
    return names


def _variable(name: str, default: Any, description: str | None = None) -> dict[str, Any]:
    var: dict[str, Any] = {"name": name, "description": description or f"imported: {name}"}
    if default is not None:
        var["default"] = default
    return var


def import_markdown(text: str, path: str = "<page>", base: Path | None = None) -> Imported:
    """Every incident of the page as a runbook document (a dict ready for YAML), and what was kept by hand."""
    sections = _sections(text)
    result = Imported()
    marker = re.match(r"^<!-- hybridops render: ([a-z0-9][a-z0-9-]*) -->", text)
    heads = [i for i, s in enumerate(sections) if {"severity", "priority"} & set(_metadata(s.blocks))]
    if not heads:  # a page without metadata: its first heading is the incident
        heads = [next((i for i, s in enumerate(sections) if s.level), 0)]
    doc_meta: dict[str, str] = {}
    for sec in sections[:heads[0]]:  # the page's own lines (owner, version) hold for every incident
        doc_meta.update(_metadata(sec.blocks))
    for n, start in enumerate(heads):
        head = sections[start]
        stop = heads[n + 1] if n + 1 < len(heads) else len(sections)
        end = next((j for j in range(start + 1, stop) if sections[j].level and sections[j].level <= head.level), stop)
        meta = _metadata(head.blocks)
        if marker and len(heads) == 1:
            meta["_id"] = marker.group(1)
        b = _Builder(path, base, head.title or "Imported runbook", meta, doc_meta, result.issues)
        b.page = text
        if not {"severity", "priority"} & set(meta):
            b.report(head.line, f"no **Severity** line: {b.doc['severity']} assumed", "")
        if head.blocks and any(x.kind in ("items", "fence", "table") for x in head.blocks):
            _phase(b, b.phase("Actions"), head.blocks)
        for sec in sections[start + 1:end]:
            name = _plain(sec.title).lower()
            if name == "symptoms":
                b.doc["symptoms"] += [_plain(t) for blk in sec.blocks if blk.kind == "bullets" for _, t in blk.items]
            elif name == "setup":
                _setup(b, sec.blocks)
            else:
                _phase(b, b.phase(sec.title, sec.anchor), sec.blocks)
        doc = b.finish()
        taken = {rb["id"] for rb in result.runbooks}
        base_id, k = doc["id"], 2
        while doc["id"] in taken:  # two incidents of one title: two files, never one overwriting the other
            doc["id"], k = f"{base_id}-{k}", k + 1
        result.runbooks.append(doc)
    return result


def _setup(b: _Builder, blocks: list[_Block]) -> None:
    """render's setup block: `NAME=value  # description` lines give the variables' defaults."""
    import shlex

    from hybridops.markdown.shell_in import variable_name

    for blk in blocks:
        if blk.kind != "fence":
            continue
        for raw in blk.text.splitlines():
            m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*?)(?:\s+#\s*(.*))?$", raw.strip())
            if not m or m.group(1) in ("ADMIN_URL", "ADMIN_TOKEN"):
                continue
            name, value = variable_name(m.group(1)), m.group(2)
            default: Any = None if value.startswith('"${') else " ".join(shlex.split(value)) if value else ""
            b.variables[name] = default
            b.declared.add(name)
            if m.group(3):
                b.described[name] = m.group(3)


_BOLD_TITLE = re.compile(r"^\*\*([^*]+?):?\*\*:?$")


def _phase(b: _Builder, phase: dict[str, Any], blocks: list[_Block]) -> None:
    for blk in blocks:
        bold = _BOLD_TITLE.match(blk.text.strip()) if blk.kind == "para" else None
        if bold and bold.group(1).strip().lower() not in _META_KEYS:
            # `**Immediate Actions**` on a line of its own: a phase, as a heading would be
            phase = b.phase(bold.group(1)) if phase["steps"] else _retitle(b, phase, bold.group(1))
            continue
        if blk.kind == "items":
            for item in blk.children:
                _action(b, phase, item)
        elif blk.kind == "bullets":
            title = phase["title"]
            b.manual(phase, f"{title} checklist", b.budget, checklist=[_plain(t) for _, t in blk.items])
            for child in blk.children:
                _action_content(b, phase, child, title, b.budget, "")
        elif blk.kind == "fence":
            _fence(b, phase, blk, phase["title"], b.budget)
        elif blk.kind == "table":
            _table(b, phase, blk)
        elif blk.kind == "para" and not _PHASE_ANCHOR.fullmatch(blk.text.strip()):
            _prose(b, phase, blk)


def _retitle(b: _Builder, phase: dict[str, Any], title: str) -> dict[str, Any]:
    """An empty phase takes the title of the bold line that opens it."""
    b.ids.discard(phase["id"])
    phase.update(id=b.step_id(slug(title)), title=_plain(title))
    return phase


def _prose(b: _Builder, phase: dict[str, Any], blk: _Block, *, in_action: bool = False) -> str:
    """A paragraph: its `$ command` lines are commands; the rest is returned (in an action, the steps'
    description) or, between actions, kept as a manual step (an instruction is never dropped)."""
    lines = blk.text.splitlines()
    rest: list[str] = []
    for i, ln in enumerate(lines):
        text = _plain(ln)
        if _COMMAND.match(text):
            cmd = text.lstrip("$ ").strip()
            b.command(phase, cmd.split(" --")[0][:60], b.budget, blk.line + i, cmd)
        elif text and not _meta_pair(ln):
            rest.append(text)
    prose = " ".join(rest)
    if prose and not in_action:
        title = re.split(r"(?<=[.:!?])\s", prose, maxsplit=1)[0][:70].rstrip(".:")
        b.manual(phase, title, b.budget, instructions=prose)
    return prose


def _table(b: _Builder, phase: dict[str, Any], blk: _Block) -> None:
    """A table of steps: the header names its columns (step/action/title, command, time/budget)."""
    if not blk.rows:
        return
    header = [h.strip().lower() for h in blk.rows[0][1]]

    def col(*names: str) -> int | None:
        return next((i for i, h in enumerate(header) if any(n in h for n in names)), None)

    c_cmd, c_time = col("command", "cmd", "how", "run"), col("time", "budget", "duration")
    c_title = col("step", "action", "task", "what", "description", "name", "check")
    if c_title in (c_cmd, c_time) or c_title is None:
        c_title = next((i for i in range(len(header)) if i not in (c_cmd, c_time)), None)
    for line, cells in blk.rows[1:]:
        def cell(c: int | None, cells: list[str] = cells) -> str:
            return cells[c].strip() if c is not None and c < len(cells) else ""
        title = _plain(cell(c_title)) or f"Row {line}"
        budget = budget_of(f"({cell(c_time)})") if cell(c_time) else None
        budget = budget or b.budget
        codes = re.findall(r"`([^`]+)`", cell(c_cmd))
        if not codes and _COMMAND.match(_plain(cell(c_cmd))):  # a command written without backticks
            codes = [_plain(cell(c_cmd)).replace("\\|", "|")]
        if not codes:
            b.manual(phase, title, budget, checklist=[_plain(cell(c_cmd))] if cell(c_cmd) else [title])
        for code in codes:
            code = code.lstrip("$ ").strip()
            if _COMMAND.match(code):
                b.command(phase, title, budget, line, code)
            else:
                b.untranslatable(phase, title, budget, line, code, "not an aws, curl or watch command")


_RENDER_LINE = re.compile(r"^(Check|Choose|Wait|Notify|Only when|Repeat every|Undo|Retries|On failure|Then|If "
                          r"yes|If no|If true|If false|Captures|\*\*Outcome\*\*|By hand)\b")


def _action(b: _Builder, phase: dict[str, Any], item: _Block) -> None:
    head = item.text.splitlines()[0] if item.text else ""
    anchor = _ANCHOR.search(head)
    m = re.search(r"\*\*(.+?)\*\*", head)
    # render's head is `**TITLE** (budget) — **mutating**`; a page's may be `**A** or **B**` (both are the title)
    title = (_plain(m.group(1)) if anchor and m else _plain(re.sub(r"\([^()]*\)", "", head))) or "Action"
    budget = budget_of(head) or b.budget
    wanted = anchor.group(1) if anchor else ""
    if anchor:
        from hybridops.markdown.render_in import rendered_step

        rendered_step(b, phase, item, wanted, title, budget)
        return
    before = len(phase["steps"])
    prose = [text for child in item.children if (text := _action_content(b, phase, child, title, budget, wanted))]
    if len(phase["steps"]) > before and prose:  # the action's explanation, on its first step
        phase["steps"][before].setdefault("description", " ".join(prose))
    if len(phase["steps"]) == before:  # an action with no command: the operator does it
        rest = "\n".join([*item.text.splitlines()[1:], *prose]).strip()
        b.manual(phase, title, budget, checklist=[title], instructions=_plain(rest))


def _action_content(b: _Builder, phase: dict[str, Any], child: _Block, title: str, budget: str,
                    wanted: str) -> str:
    """The steps of one part of an action; returns its prose (for the steps' description)."""
    if child.kind == "fence":
        _fence(b, phase, child, title, budget, wanted)
    elif child.kind == "bullets":
        b.manual(phase, title, budget, checklist=[_plain(t) for _, t in child.items], wanted_id=wanted)
        for sub in child.children:
            _action_content(b, phase, sub, title, budget, wanted)
    elif child.kind == "items":
        for item in child.children:
            _action(b, phase, item)
    elif child.kind == "para":
        return _prose(b, phase, child, in_action=True)
    elif child.kind == "table":
        _table(b, phase, child)
    return ""


def logical_lines(text: str, first_line: int) -> list[tuple[int, str, str]]:
    """A shell block's commands with `\\` continuations joined: (line, comment before it, command).
    A `$ ` prompt marks commands; in a block that uses prompts, the other lines are output."""
    raw = text.splitlines()
    prompts = any(r.lstrip().startswith("$ ") for r in raw)
    out: list[tuple[int, str, str]] = []
    comment, comment_line = "", first_line
    i = 0
    while i < len(raw):
        line = raw[i]
        start = i
        stripped = line.strip()
        i += 1
        if not stripped:
            continue
        if stripped.startswith("#"):
            if comment:
                out.append((comment_line, comment, ""))  # a comment no command followed
            comment, comment_line = stripped.lstrip("#").strip(), first_line + start + 1
            continue
        if prompts:
            if not stripped.startswith("$ "):
                continue  # the command's output, shown on the page
            stripped = stripped[2:].strip()
        while stripped.endswith("\\") and i < len(raw):
            stripped = stripped[:-1].rstrip() + " " + raw[i].strip().removeprefix("$ ")
            i += 1
        # `aws ... \` then `| jq ...` on the next line is one pipeline
        while i < len(raw) and raw[i].strip().startswith("|"):
            stripped += " " + raw[i].strip()
            i += 1
        while i < len(raw) and _open_quote(stripped):  # a quoted JSON body over several lines
            stripped += "\n" + raw[i]
            i += 1
        out.append((first_line + start + 1, comment, stripped))
        comment = ""
    if comment:
        out.append((comment_line, comment, ""))
    return out


_ASSIGN = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(?!\$\()(\S*)$")


def _assignment(b: _Builder, cmd: str) -> bool:
    """`export CLUSTER=prod` / `CLUSTER=prod` sets a variable's default (later lines read `$CLUSTER`)."""
    import shlex

    from hybridops.markdown.shell_in import variable_name

    m = _ASSIGN.match(cmd.strip())
    if not m or "$" in m.group(2) or m.group(1) in ("ADMIN_URL", "ADMIN_TOKEN"):
        return False
    try:
        value = " ".join(shlex.split(m.group(2)))
    except ValueError:
        return False
    name = variable_name(m.group(1))
    b.variables[name] = value
    b.declared.add(name)
    return True


def _open_quote(text: str) -> bool:
    import shlex

    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def _fence(b: _Builder, phase: dict[str, Any], blk: _Block, title: str, budget: str, wanted: str = "") -> None:
    if blk.info and blk.info.split()[0] not in ("bash", "sh", "shell", "console", "zsh", "shell-session"):
        return  # a block of JSON or YAML shown as an example: not something to run
    lines = [x for x in logical_lines(blk.text, blk.line) if not _assignment(b, x[2])]
    commands = [x for x in lines if x[2]]
    for line, comment, cmd in lines:
        if not cmd:
            b.untranslatable(phase, comment or title, budget, line, f"# {comment}",
                             "a comment that no command follows (an instruction for the operator)")
            continue
        step_title = comment or (title if len(commands) == 1 else f"{title}: {cmd.split(' --')[0][:50]}")
        b.command(phase, step_title, budget, line, cmd, wanted if len(commands) == 1 else "")
