"""Undoing a run: its completed mutating steps that declare an `undo`, newest first.

The undo is a run of its own (audited in a log linked to the original by `run_started.undo_of`, each
step saying which step it reverses), made of one step per undo call, rendered with the original run's
variables and captures. Every one is a mutation: shown and confirmed, or `--yes`; `--dry-run` shows
the plan and sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridops.errors import ResumeRefused
from hybridops.events import StepFinished, StepStatus, read_records
from hybridops.runbook.load import LoadedRunbook
from hybridops.runbook.model import AnyStep, AwsStep, HttpStep, Phase, Runbook


@dataclass(frozen=True)
class UndoPlan:
    """What undoing a run would do."""

    run_id: str
    steps: tuple[AnyStep, ...]  # the undo steps, newest change first
    reverses: dict[str, str]  # undo step id -> the step of the original run it reverses
    cannot: tuple[str, ...]  # completed mutating steps without an undo: for the operator, by hand
    captures: dict[str, Any]  # what the original run captured (an undo's templates may use it)


class NothingToUndo(ResumeRefused):
    """The run changed nothing that can be undone."""


def plan_undo(run_id: str, records: Sequence[Mapping[str, Any]], runbook: Runbook) -> UndoPlan:
    """The undo of the run logged in `records`, from the runbook it ran."""
    steps = {s.id: s for _, s in runbook.steps()}
    captures: dict[str, Any] = {}
    done: list[str] = []  # completed mutating steps, in the order they ran (a step may run twice)
    for r in read_records(records):
        if isinstance(r.event, StepFinished):
            captures.update(r.event.captures)
            if r.event.status == StepStatus.OK and r.event.mutating:
                done.append(r.event.step_id)
    undo_steps: list[AnyStep] = []
    reverses: dict[str, str] = {}
    cannot: list[str] = []
    for n, sid in enumerate(reversed(done), start=1):
        step = steps.get(sid)
        if step is None or step.undo is None:
            if sid not in cannot:
                cannot.append(sid)
            continue
        undo_id = f"undo-{n}-{sid}"
        common = {"id": undo_id, "title": f"Undo {step.title} (reverses step {sid})", "budget": step.budget,
                  "mutating": True, "mitigation": False, "timeout": step.timeout}
        undo_step: AnyStep = (AwsStep(**common, aws=step.undo.aws) if step.undo.aws is not None
                              else HttpStep(**common, http=step.undo.http))
        undo_steps.append(undo_step)
        reverses[undo_id] = sid
    if not undo_steps:
        why = f"; by hand: {', '.join(cannot)}" if cannot else ""
        raise NothingToUndo(f"run {run_id} has no completed change that declares an undo{why}")
    return UndoPlan(run_id, tuple(undo_steps), reverses, tuple(cannot), captures)


def undo_runbook(plan: UndoPlan, loaded: LoadedRunbook) -> LoadedRunbook:
    """The undo as a runbook of its own (the original's metadata and variables, one phase of undos)."""
    rb = loaded.runbook
    undo = rb.model_copy(update={
        "title": f"Undo of run {plan.run_id} ({rb.title})",
        "phases": [Phase(id="undo", title=f"Undo run {plan.run_id}", steps=list(plan.steps))],
    })
    return LoadedRunbook(runbook=undo, path=loaded.path, sha256=loaded.sha256, source=loaded.source)
