"""The cron parser: fields, lists, ranges, steps, names, the two day fields, bad expressions, the loop."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hone.errors import ConfigError
from hone.maintain.schedule import next_time, parse_cron, run_on_schedule

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 3 * * *", "2024-05-01 02:59", "2024-05-01 03:00"),
        ("0 3 * * *", "2024-05-01 03:00", "2024-05-02 03:00"),  # strictly after
        ("0 3 * * *", "2024-12-31 03:30", "2025-01-01 03:00"),  # over the year's end
        ("*/15 * * * *", "2024-05-01 10:07:59", "2024-05-01 10:15"),
        ("*/15 * * * *", "2024-05-01 10:45", "2024-05-01 11:00"),
        ("5/20 * * * *", "2024-05-01 10:46", "2024-05-01 11:05"),  # a/n: from a to the end
        ("0 9-17/4 * * *", "2024-05-01 13:01", "2024-05-01 17:00"),  # 9, 13, 17
        ("30 8 * * 1-5", "2024-05-03 09:00", "2024-05-06 08:30"),  # Friday after 8:30 -> Monday
        ("0 0 * * 0", "2024-05-01 00:00", "2024-05-05 00:00"),  # Sunday as 0 ...
        ("0 0 * * 7", "2024-05-01 00:00", "2024-05-05 00:00"),  # ... and as 7
        ("0 0 * * sat,sun", "2024-05-01 00:00", "2024-05-04 00:00"),
        ("0 12 1,15 * *", "2024-05-02 00:00", "2024-05-15 12:00"),
        ("0 0 1 jan-mar *", "2024-05-01 00:00", "2025-01-01 00:00"),
        ("0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00"),  # the next leap day
        # Both day fields restricted: either one matches (the 13th, or any Friday).
        ("0 0 13 * 5", "2024-05-01 00:00", "2024-05-03 00:00"),
        ("0 0 13 * 5", "2024-05-10 00:00", "2024-05-13 00:00"),
        # A day field starting with * leaves the decision to the other one.
        ("0 0 */2 * 5", "2024-05-01 00:00", "2024-05-03 00:00"),
        ("@daily", "2024-05-01 10:00", "2024-05-02 00:00"),
        ("@hourly", "2024-05-01 10:00", "2024-05-01 11:00"),
        ("  0   3 * *   *  ", "2024-05-01 02:00", "2024-05-01 03:00"),
    ],
)
def test_next_time(expression: str, after: str, expected: str):
    assert next_time(expression, at(after)) == at(expected)


def test_naive_and_other_zones_are_read_as_the_same_instant_and_answered_in_utc():
    naive = next_time("0 3 * * *", datetime(2024, 5, 1, 2, 0))
    assert naive == at("2024-05-01 03:00") and naive.tzinfo == UTC
    paris = timezone(timedelta(hours=2))
    # 04:30 in UTC+2 is 02:30 UTC: the next 03:00 UTC is the same day.
    assert next_time("0 3 * * *", datetime(2024, 5, 1, 4, 30, tzinfo=paris)) == at("2024-05-01 03:00")


def test_parsed_fields():
    cron = parse_cron("1,2,10-12 */6 * * mon-wed")
    assert cron.minutes == {1, 2, 10, 11, 12}
    assert cron.hours == {0, 6, 12, 18}
    assert cron.weekdays == {1, 2, 3} and cron.any_day and not cron.any_weekday
    assert cron.matches(at("2024-05-01 12:11"))  # a Wednesday
    assert not cron.matches(at("2024-05-02 12:11"))  # a Thursday


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 3 * *", "has 4 field(s); expected 5: minute hour day-of-month month day-of-week"),
        ("", "has 0 field(s)"),
        ("61 * * * *", "minute field '61': 61 is out of range 0-59"),
        ("0 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field '0': 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field '13': 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field '8': 8 is out of range 0-7"),
        ("0 0 * * 5-1", "day-of-week field '5-1': the range runs backwards (5 > 1)"),
        ("*/0 * * * *", "minute field '*/0': the step after '/' must be a whole number >= 1"),
        ("*/x * * * *", "minute field '*/x'"),
        ("0 0 * foo *", "month field 'foo': 'foo' is not a number or a name like jan, feb, mar"),
        ("0 0 1,,2 * *", "day-of-month field ''"),
        ("0 0 30 2 *", "never matches"),
    ],
)
def test_bad_expressions_are_one_line_config_errors_naming_the_field(expression: str, message: str):
    with pytest.raises(ConfigError) as raised:
        next_time(expression, at("2024-05-01 00:00"))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_errors_say_where_the_expression_came_from():
    with pytest.raises(ConfigError) as raised:
        parse_cron("0 25 * * *", where="hone.yaml:30:3 (retrain.schedule)")
    assert str(raised.value).startswith("hone.yaml:30:3 (retrain.schedule): cron '0 25 * * *': hour field")


class Clock:
    """A clock that only moves when slept on: the loop's waits become exact and instant."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.naps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_the_loop_sleeps_until_each_cron_time_then_runs_the_job():
    clock = Clock(at("2024-05-01 02:58:30"))
    ran: list[tuple[datetime, datetime]] = []
    waited: list[datetime] = []
    count = run_on_schedule(
        parse_cron("0 3 * * *"),
        lambda due: ran.append((due, clock.now)),
        on_wait=waited.append,
        clock=clock,
        sleep=clock.sleep,
        runs=3,
    )
    expected = [at("2024-05-01 03:00"), at("2024-05-02 03:00"), at("2024-05-03 03:00")]
    assert count == 3 and waited == expected
    assert [due for due, _ in ran] == expected
    assert all(now >= due for due, now in ran)  # never early
    assert max(clock.naps) <= 60  # short naps: a changed clock is noticed within a minute


def test_a_slow_job_does_not_run_twice_for_the_same_time():
    clock = Clock(at("2024-05-01 02:59"))

    def slow(due: datetime) -> None:
        clock.now += timedelta(minutes=90)  # the job outlasts the next hourly slot

    run_on_schedule(parse_cron("0 * * * *"), slow, clock=clock, sleep=clock.sleep, runs=2)
    # 03:00 ran until 04:30; the next run is 05:00, not a catch-up of 04:00.
    assert clock.now == at("2024-05-01 06:30")
