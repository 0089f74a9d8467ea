"""An incident's lock across machines: one item per incident and account in a DynamoDB table.

The item (partition key `lock_id` = `incident#<account>#<incident>`) names the holder (its STS
ARN, host, pid, run id, since when), a `lease_token` new at every acquisition (`token` is one of
DynamoDB's reserved words), and `lease_expires`, the
end of the lease the running process renews. Every write is conditional, so two operators racing
for an incident cannot both win:

- take: no item, or its lease expired (a killed holder stops renewing), or it is this same run (a
  resume re-takes its own run's lock); a take-over replaces exactly the holder it was shown
  (`lease_token = :seen`);
- renew: the item still carries this lease's token; otherwise the lock was lost (taken over, or
  released with `hybridops lock release`) and the run stops before its next change;
- release: deletes the item only while it carries this lease's token.

Leases are measured on the lock's clock: the wall clock, or the sandbox's simulated clock when a
run is on one (where a lease ends as soon as that clock is moved past it). The table is reached
through the run's AWS runner (`call(service, operation, params)` raising CallFailure), so its
credentials, endpoint and error messages are the run's; nothing here imports boto3.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hybridops.engine.lock import (
    DEFAULT_LEASE_S,
    RENEWALS_PER_LEASE,
    Holder,
    Lease,
    LockHeld,
    Lost,
    taken_by,
)
from hybridops.engine.retry import CallFailure
from hybridops.scrub import format_ts

KEY = "lock_id"
CONDITION_FAILED = "ConditionalCheckFailedException"
CALL_TIMEOUT_S = 10.0  # a lock call that hangs must not hold a renewal (or the run's start) for long
TTL_AFTER_S = 7 * 86400  # `expires_at`: DynamoDB's TTL (when enabled on the table) removes old items
ATTEMPTS = 3  # conditional writes lost to another writer before giving up with who holds it now


def lock_key(account: str, incident: str) -> str:
    return f"incident#{account}#{incident}"


def _ts(seconds: float) -> str:
    return format_ts(datetime.fromtimestamp(seconds, UTC))


@dataclass(frozen=True)
class LockItem:
    """One lock as stored: who holds it and until when (for `hybridops lock status`)."""

    key: str
    account: str
    holder: Holder
    lease_expires: float
    token: str

    def left(self, now: float) -> float:
        return self.lease_expires - now


def _s(item: dict[str, Any], name: str, default: str = "") -> str:
    value = item.get(name)
    return str(value.get("S", default)) if isinstance(value, dict) else default


def _n(item: dict[str, Any], name: str, default: float = 0.0) -> float:
    value = item.get(name)
    try:
        return float(value["N"]) if isinstance(value, dict) else default
    except (KeyError, TypeError, ValueError):
        return default


def parse_item(item: dict[str, Any] | None) -> LockItem | None:
    if not item or KEY not in item:
        return None
    holder = Holder(incident=_s(item, "incident"), run_id=_s(item, "run_id", "(unknown)"),
                    operator=_s(item, "operator", "(unknown)"), pid=int(_n(item, "pid")), host=_s(item, "host"),
                    since=_s(item, "since"), took_over_from=_s(item, "took_over_from") or None)
    return LockItem(key=_s(item, KEY), account=_s(item, "account"), holder=holder,
                    lease_expires=_n(item, "lease_expires"), token=_s(item, "lease_token"))


class DynamoLock:
    """`incident`'s lock for `account` in `table`, through `aws` (an AwsRunner, or anything with its
    `call`). `lease_s`: how long a lease lasts unless renewed; `clock`: the lock's time (epoch s)."""

    def __init__(self, aws: Any, table: str, incident: str, account: str, *, region: str | None = None,
                 lease_s: float = DEFAULT_LEASE_S, clock: Callable[[], float] = time.time) -> None:
        self.aws = aws
        self.table = table
        self.incident = incident
        self.account = account
        self.region = region
        self.lease_s = lease_s
        self.clock = clock
        self.key = lock_key(account, incident)

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.aws.call("dynamodb", operation, {"TableName": self.table, **params},
                                               region=self.region, timeout=CALL_TIMEOUT_S)
        return result

    def _item(self, holder: Holder, token: str, now: float) -> dict[str, Any]:
        item: dict[str, Any] = {
            KEY: {"S": self.key}, "incident": {"S": self.incident}, "account": {"S": self.account},
            "run_id": {"S": holder.run_id}, "operator": {"S": holder.operator}, "pid": {"N": str(holder.pid)},
            "host": {"S": holder.host}, "since": {"S": holder.since}, "lease_token": {"S": token},
            "lease_expires": {"N": f"{now + self.lease_s:.3f}"}, "lease_s": {"N": f"{self.lease_s:g}"},
            "renewed": {"S": _ts(now)}, "expires_at": {"N": str(int(now + self.lease_s + TTL_AFTER_S))},
        }
        if holder.took_over_from:
            item["took_over_from"] = {"S": holder.took_over_from}
        return item

    def stored(self) -> LockItem | None:
        """The lock's item as the table has it now (a strongly consistent read)."""
        return parse_item(self._call("GetItem", {"Key": {KEY: {"S": self.key}}, "ConsistentRead": True}).get("Item"))

    def holder(self) -> Holder | None:
        found = self.stored()
        return found.holder if found else None

    def acquire(self, holder: Holder, *, take_over: bool = False) -> Lease:
        """Hold the incident for `holder` (its `since` is set on the lock's clock); LockHeld, naming the
        holder and its lease, when a live run of another holds it (unless `take_over`)."""
        current: LockItem | None = None
        for _ in range(ATTEMPTS):
            now = self.clock()
            mine = Holder(**{**holder.as_dict(), "since": _ts(now)})
            token = uuid.uuid4().hex
            try:
                old = self._call("PutItem", {
                    "Item": self._item(mine, token, now),
                    "ConditionExpression": f"attribute_not_exists({KEY}) OR lease_expires < :now OR run_id = :run",
                    "ExpressionAttributeValues": {":now": {"N": f"{now:.3f}"}, ":run": {"S": mine.run_id}},
                    "ReturnValues": "ALL_OLD",
                }).get("Attributes")
            except CallFailure as exc:
                if exc.status != CONDITION_FAILED:
                    raise
            else:
                stale = parse_item(old)
                note = ""
                if stale is not None:
                    note = (f"its lease expired at {_ts(stale.lease_expires)} (its process stopped renewing it)"
                            if stale.lease_expires < now else "its own run, taken again")
                return self._lease(mine, token, now, stale=stale.holder if stale else None, note=note)
            current = self.stored()
            if current is None:
                continue  # released in between: try again
            if not take_over:
                raise LockHeld(self.incident, current.holder, _ts(current.lease_expires))
            taker = Holder(**{**mine.as_dict(), "took_over_from": current.holder.run_id})
            try:
                self._call("PutItem", {"Item": self._item(taker, token, now),
                                       "ConditionExpression": "lease_token = :seen",
                                       "ExpressionAttributeValues": {":seen": {"S": current.token}}})
            except CallFailure as exc:
                if exc.status != CONDITION_FAILED:
                    raise
                continue  # someone else wrote it first: look again
            return self._lease(taker, token, now, taken_over=current.holder)
        raise LockHeld(self.incident, current.holder if current else None,
                       _ts(current.lease_expires) if current else None)

    def _lease(self, holder: Holder, token: str, now: float, *, stale: Holder | None = None,
               taken_over: Holder | None = None, note: str = "") -> Lease:
        return Lease(self, holder, None, taken_over=taken_over, stale=stale, token=token,
                     period=self.lease_s / RENEWALS_PER_LEASE, stale_note=note, expires=now + self.lease_s)

    def renew(self, lease: Lease) -> Lost | None:
        """Extend the lease while the item still carries its token; how it was lost otherwise. A table
        that cannot be reached costs nothing until the lease has run out: then the lock counts as lost."""
        now = self.clock()
        try:
            self._call("UpdateItem", {
                "Key": {KEY: {"S": self.key}},
                "UpdateExpression": "SET lease_expires = :exp, renewed = :now, expires_at = :ttl",
                "ConditionExpression": "lease_token = :token",
                "ExpressionAttributeValues": {":exp": {"N": f"{now + self.lease_s:.3f}"}, ":now": {"S": _ts(now)},
                                              ":ttl": {"N": str(int(now + self.lease_s + TTL_AFTER_S))},
                                              ":token": {"S": str(lease.token)}},
            })
        except CallFailure as exc:
            if exc.status == CONDITION_FAILED:
                try:
                    current = self.stored()
                except CallFailure:
                    current = None
                return taken_by(self.incident, current.holder if current else None,
                                gone=f"its lock was released from table {self.table} (hybridops lock release)")
            if lease.expires is not None and now > lease.expires:
                return taken_by(self.incident, None, gone=f"its lease could not be renewed since it ended at "
                                                         f"{_ts(lease.expires)} ({exc})")
            return None
        lease.expires = now + self.lease_s
        return None

    def release(self, lease: Lease) -> None:
        """Delete the item while it still carries this lease's token (a taken-over lock stays the
        taker's); a table that cannot be reached lets the lease expire instead."""
        with contextlib.suppress(CallFailure):
            self._call("DeleteItem", {"Key": {KEY: {"S": self.key}}, "ConditionExpression": "lease_token = :token",
                                      "ExpressionAttributeValues": {":token": {"S": str(lease.token)}}})


def list_locks(aws: Any, table: str, *, region: str | None = None) -> list[LockItem]:
    """Every lock in `table`, oldest first."""
    found: list[LockItem] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = aws.call("dynamodb", "Scan", params, region=region, timeout=CALL_TIMEOUT_S)
        found += [i for i in (parse_item(raw) for raw in page.get("Items", [])) if i is not None]
        if not page.get("LastEvaluatedKey"):
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(found, key=lambda i: (i.holder.since, i.key))


def delete_lock(aws: Any, table: str, item: LockItem, *, region: str | None = None) -> bool:
    """Delete `item` if it is still what was shown (its token); False when it changed in between."""
    try:
        aws.call("dynamodb", "DeleteItem", {"TableName": table, "Key": {KEY: {"S": item.key}},
                                            "ConditionExpression": "lease_token = :token",
                                            "ExpressionAttributeValues": {":token": {"S": item.token}}},
                 region=region, timeout=CALL_TIMEOUT_S)
    except CallFailure as exc:
        if exc.status == CONDITION_FAILED:
            return False
        raise
    return True


def table_definition(table: str) -> dict[str, Any]:
    """CreateTable's parameters for a lock table (on demand; `expires_at` may be made its TTL)."""
    return {"TableName": table, "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}
