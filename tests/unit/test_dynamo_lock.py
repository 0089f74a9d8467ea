"""The conditional writes of the incident lock in a DynamoDB table (hybridops.engine.dynamolock), against
moto in-process, on an injected clock: a lease ends when the test moves the clock, never after a sleep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from hybridops.engine.dynamolock import DynamoLock, delete_lock, list_locks, table_definition
from hybridops.engine.lock import IncidentTakenOver, LockHeld, Lost, new_holder


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "eu-central-1"
                        }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from moto import mock_aws

    from hybridops.engine.steps.aws import AwsRunner

    with mock_aws():
        runner = AwsRunner(profile=None, region="eu-central-1")
        runner.call("dynamodb", "CreateTable", table_definition("locks"))
        yield runner


def lock(aws: Any, clock: Clock, incident: str = "outage", account: str = "111122223333") -> DynamoLock:
    return DynamoLock(aws, "locks", incident, account, lease_s=60, clock=clock)


def test_a_live_lease_refuses_another_run_naming_it_and_an_expired_one_is_taken(aws: Any) -> None:
    clock = Clock()
    first = lock(aws, clock).acquire(new_holder("outage", "run-A", "arn:aws:iam::1:user/alice"))
    assert (first.stale, first.taken_over) == (None, None)
    clock.now += 59
    with pytest.raises(LockHeld) as held:
        lock(aws, clock).acquire(new_holder("outage", "run-B", "arn:aws:iam::1:user/bob"))
    assert held.value.holder is not None and held.value.holder.run_id == "run-A"
    assert "arn:aws:iam::1:user/alice" in str(held.value) and "its lease runs to 2027-" in str(held.value)
    # another incident, and the same incident in another account, are other locks
    lock(aws, clock, incident="high-error-rate").acquire(new_holder("high-error-rate", "run-C", "c")).release()
    lock(aws, clock, account="444455556666").acquire(new_holder("outage", "run-D", "d")).release()

    clock.now += 2  # 61 s without a renewal
    second = lock(aws, clock).acquire(new_holder("outage", "run-B", "arn:aws:iam::1:user/bob"))
    assert second.stale is not None and second.stale.run_id == "run-A" and "lease expired" in second.stale_note
    assert first.renew() is not None and first.renew() == first.lost  # the first one, late, has lost it
    assert first.lost is not None and first.lost.by is not None and first.lost.by.run_id == "run-B"


def test_renewals_keep_a_lease_alive(aws: Any) -> None:
    clock = Clock()
    lease = lock(aws, clock).acquire(new_holder("outage", "run-A", "a"))
    for _ in range(5):
        clock.now += 45
        assert lease.renew() is None
    with pytest.raises(LockHeld):
        lock(aws, clock).acquire(new_holder("outage", "run-B", "b"))


def test_the_same_run_re_takes_its_lock_and_its_old_process_loses_it(aws: Any) -> None:
    clock = Clock()
    old = lock(aws, clock).acquire(new_holder("outage", "run-A", "a"))
    again = lock(aws, clock).acquire(new_holder("outage", "run-A", "a"))  # a resume, the lease still live
    assert again.stale is not None and again.stale.run_id == "run-A" and again.token != old.token
    assert old.renew() is not None  # the old process (if alive at all) stops before its next change


def test_a_take_over_is_noticed_once_recorded_and_stops_the_first_run(aws: Any) -> None:
    clock = Clock()
    first = lock(aws, clock).acquire(new_holder("outage", "run-A", "alice"))
    heard: list[Lost] = []
    first.on_lost(heard.append)
    taker = lock(aws, clock).acquire(new_holder("outage", "run-B", "bob"), take_over=True)
    assert taker.taken_over is not None and taker.taken_over.run_id == "run-A"
    assert taker.holder.took_over_from == "run-A"
    first.check(fresh=False)  # nothing renewed since: nothing known yet
    with pytest.raises(IncidentTakenOver) as stopped:
        first.check()
    assert "taken over by bob" in str(stopped.value) and "stopped before its next change" in str(stopped.value)
    with pytest.raises(IncidentTakenOver):
        first.check(fresh=False)
    assert len(heard) == 1 and heard[0].by is not None and heard[0].by.run_id == "run-B"
    first.release()  # the loser's release leaves the taker's lock alone
    assert lock(aws, clock).holder() is not None
    taker.release()
    assert lock(aws, clock).holder() is None


def test_the_background_renewal_notices_a_release(aws: Any) -> None:
    clock = Clock()
    first = DynamoLock(aws, "locks", "outage", "1", lease_s=0.2, clock=clock).acquire(new_holder("outage", "A", "a"))
    noticed = threading.Event()
    first.on_lost(lambda lost: noticed.set())
    first.start()
    [item] = list_locks(aws, "locks")
    assert item.holder.run_id == "A" and item.left(clock()) == pytest.approx(0.2)
    assert delete_lock(aws, "locks", item)
    assert noticed.wait(30)  # an event: the renewal thread found the item gone
    assert first.lost is not None and "released" in first.lost.reason
    assert not delete_lock(aws, "locks", item)  # gone already: nothing deleted
    first.release()


def test_the_lease_setting_is_bounded_and_named_in_its_error(tmp_path: Any) -> None:
    from hybridops.cli.holding import lease_seconds
    from hybridops.config import resolve_settings
    from hybridops.errors import ConfigError

    config = tmp_path / "config.toml"
    config.write_text('[profiles.p.lock]\ntable = "locks"\nlease = "90s"\n', encoding="utf-8")
    settings = resolve_settings(config_path=config, profile="p", env={})
    assert settings.lock_table.value == "locks" and lease_seconds(settings) == 90.0
    assert lease_seconds(resolve_settings(env={})) == 60.0
    for bad, why in [("1s", "too short"), ("2h", "too long"), ("soon", "not a duration")]:
        with pytest.raises(ConfigError) as error:
            lease_seconds(resolve_settings(config_path=config, profile="p", env={"HYBRIDOPS_LOCK_LEASE": bad}))
        assert str(error.value).startswith("lock lease from env HYBRIDOPS_LOCK_LEASE: ") and why in str(error.value)
