"""The steps that ask the operator: `manual` checklists, `confirm` yes/no questions, `choice`s."""

from __future__ import annotations

from hybridops.errors import NeedsAnswer
from hybridops.events import Answered, Checklist, StepStatus
from hybridops.kinds.base import Kind, Outcome, StepRun
from hybridops.runbook.model import ChoiceStep, ConfirmStep, ManualStep


class ManualKind(Kind):
    name = "manual"

    def execute(self, run: StepRun, step: ManualStep) -> Outcome:
        spec, opt = step.manual, run.opt
        instructions = run.render(spec.instructions)
        items = [run.render(i) for i in spec.checklist]
        if opt.interactive and not opt.yes and not opt.dry_run:
            ticked = run.ctx.prompter.checklist(instructions, items)
            source = "operator"
        else:
            ticked = dict.fromkeys(items, True)
            source = "dry-run" if opt.dry_run else ("--yes" if opt.yes else "non-interactive")
        for item in items:
            run.prompted(step, item, "done" if ticked.get(item) else "not done", source)
        if not items:
            run.prompted(step, instructions, "acknowledged", source)
        missing = [i for i in items if not ticked.get(i)]
        return Outcome(StepStatus.OK, result=Checklist(done=tuple(i for i in items if ticked.get(i)),
                                                       not_done=tuple(missing)),
                       reason=f"{len(missing)} checklist item(s) not done" if missing else None)

    def describe(self, step: ManualStep) -> list[str]:
        lines = step.manual.instructions.strip().splitlines() if step.manual.instructions else []
        return lines + [f"[ ] {item}" for item in step.manual.checklist]


class ConfirmKind(Kind):
    name = "confirm"

    def execute(self, run: StepRun, step: ConfirmStep) -> Outcome:
        spec, opt = step.confirm, run.opt
        question = run.render(spec.question)
        given = run.answer_for(step)
        if given is not None:
            if given.lower() not in ("yes", "no", "y", "n", "true", "false"):
                raise NeedsAnswer(f"--answer {step.id}={given}: answer yes or no")
            value, source = given.lower() in ("yes", "y", "true"), "--answer"
        elif opt.dry_run or not opt.interactive or opt.yes:
            value = spec.default if spec.default is not None else True
            source = "--yes" if opt.yes else ("default" if spec.default is not None else "non-interactive")
        else:
            value, source = run.ctx.prompter.confirm(question, default=spec.default), "operator"
        answer = "yes" if value else "no"
        run.prompted(step, question, answer, source)
        return Outcome(StepStatus.OK, captures={spec.capture: value} if spec.capture else {},
                       goto=spec.if_yes if value else spec.if_no, result=Answered(answer=answer))

    def describe(self, step: ConfirmStep) -> list[str]:
        confirm = step.confirm
        default = "" if confirm.default is None else f" (default: {'yes' if confirm.default else 'no'})"
        lines = [f"? {confirm.question} [yes/no]{default}"]
        if confirm.if_yes:
            lines.append(f"  yes -> {confirm.if_yes}")
        if confirm.if_no:
            lines.append(f"  no -> {confirm.if_no}")
        return lines


class ChoiceKind(Kind):
    name = "choice"

    def execute(self, run: StepRun, step: ChoiceStep) -> Outcome:
        spec, opt = step.choice, run.opt
        question = run.render(spec.question)
        values = [o.value for o in spec.options]
        given = run.answer_for(step)
        if given is not None:
            if given not in values:
                raise NeedsAnswer(f"--answer {step.id}={given}: choose one of {', '.join(values)}")
            value, source = given, "--answer"
        elif opt.interactive and not opt.yes and not opt.dry_run:
            value, source = run.ctx.prompter.choose(question, [(o.value, o.label or o.value) for o in spec.options],
                                                    default=spec.default), "operator"
        elif spec.default is not None:
            value, source = spec.default, "default"
        elif opt.dry_run:
            value, source = values[0], "default"
        else:
            raise NeedsAnswer(f"step {step.id} asks {question!r} and no terminal can answer: pass "
                              f"--answer {step.id}=<{'|'.join(values)}>")
        run.prompted(step, question, value, source)
        option = next(o for o in spec.options if o.value == value)
        return Outcome(StepStatus.OK, captures={spec.capture: value} if spec.capture else {}, goto=option.goto,
                       result=Answered(answer=value))

    def describe(self, step: ChoiceStep) -> list[str]:
        choice = step.choice
        lines = [f"? {choice.question}"]
        for option in choice.options:
            label = f" {option.label}" if option.label else ""
            target = f" -> {option.goto}" if option.goto else ""
            default = " (default)" if option.value == choice.default else ""
            lines.append(f"  - {option.value}:{label}{target}{default}")
        return lines


KINDS = (ManualKind(), ConfirmKind(), ChoiceKind())
