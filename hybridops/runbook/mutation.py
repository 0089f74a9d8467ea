"""Which calls change state by the API's own definition, whatever a runbook declares.

A runbook may say `mutating: false` to have a call that looks like a change treated as a read (a
probe such as Bedrock's InvokeModel, or the admin API's `/admin/bedrock/test`). It may not say so of
a call that plainly changes state: `--read-only` and `--dry-run` would then send it. So:

- an AWS operation whose verb changes state (Delete, Update, Stop, ...) is mutating, full stop,
  unless it is in PROBE_OPERATIONS below;
- an admin API request other than GET is mutating unless the shipped spec marks its operation as a
  probe (`x-hybridops-probe: true`).

Pure string logic and the spec file: no botocore, so `show` and the engine's gate stay cheap.
"""

from __future__ import annotations

import re

# Verbs (an operation's first word, case ignored) that plainly change state. `Batch` is looked
# through: BatchDeleteItem is a Delete.
_VERBS = """
    Abort Accept Activate Add Allocate Apply Archive Assign Associate Attach Authorize Cancel Change Claim
    Clear Close Complete Confirm Continue Copy Create Deactivate Decline Decrease Delete Deliver Deploy
    Deprovision Deregister Detach Disable Disassociate Discard Disconnect Enable Enter Execute Exit Export
    Failover Flush Grant Import Increase Invite Invoke Join Leave Link Lock Merge Modify Move Notify Pause
    Promote Provision Publish Purchase Purge Put Reboot Rebuild Record Recover Redeploy Redrive Refund
    Register Reject Release Reload Remove Rename Renew Repair Replace Replicate Request Reserve Reset Resize
    Respond Restart Restore Resume Retire Retry Revert Revoke Rollback Rotate Run Schedule Send Set Share
    Signal Split Start Stop Submit Subscribe Suspend Swap Tag Terminate Transfer Unarchive Unassign
    Undeploy Unlink Unlock Unpause Unshare Unsubscribe Untag Update Upgrade Upload Write
"""
STATE_CHANGING_VERBS = frozenset(_VERBS.lower().split())

# AWS operations that may be declared `mutating: false` although their verb says otherwise: each
# sends a request that changes nothing the incident is about (a model answering a test prompt). Keep
# this list short and say why: whatever is here can be sent by --read-only.
PROBE_OPERATIONS = frozenset({
    ("bedrock-runtime", "InvokeModel"),  # a test prompt: the source runbook's Bedrock health check
    ("bedrock-runtime", "InvokeModelWithResponseStream"),  # the same, streamed
    ("bedrock-runtime", "Converse"),  # the same test prompt through the Converse API
    ("bedrock-runtime", "ConverseStream"),
    ("bedrock-runtime", "CountTokens"),  # counts, stores nothing
    ("sagemaker-runtime", "InvokeEndpoint"),  # a test inference against a model endpoint
    ("logs", "StartQuery"),  # a Logs Insights query over the incident's logs (read with GetQueryResults)
})

# The probe marker of an admin API operation in the OpenAPI spec.
PROBE_EXTENSION = "x-hybridops-probe"

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def operation_verb(operation: str) -> str:
    """The verb of an operation name, lower case: `DeleteService`, `delete_service` and
    `BatchDeleteItem` all give `delete`."""
    words = [w.lower() for w in _WORDS.findall(operation.replace("_", " ").replace("-", " "))]
    if len(words) > 1 and words[0] == "batch":
        return words[1]
    return words[0] if words else ""


def aws_changes_state(service: str, operation: str) -> bool:
    """True when the operation changes state by its name and is no listed probe: no declaration can
    make it a read."""
    if (service, operation) in PROBE_OPERATIONS:
        return False
    return operation_verb(operation) in STATE_CHANGING_VERBS


def http_changes_state(method: str, path: str, *, rendered: bool = False) -> bool:
    """True for any method but GET, unless the spec marks the operation at `path` as a probe.
    `rendered`: `path` is what will be sent (matched strictly, no template stands for a segment)."""
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return False
    from hybridops.runbook.openapi_check import is_probe

    return not is_probe(method, path, rendered=rendered)
