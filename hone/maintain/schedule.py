"""Cron expressions (``"0 3 * * *"``) for `hone retrain --schedule`: parsing, the next time, a run loop.

Five fields, UTC: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec), day of week
(0-7, 0 and 7 are Sunday, or sun-sat). Each field is ``*``, a value, a range ``a-b``, a step ``*/n``,
``a-b/n`` or ``a/n`` (from a to the end), or a comma-separated list of those. As in the classic cron,
when both day fields are restricted a day matching either one matches; when one of them starts with
``*``, the other decides. ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly`` are
accepted too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hone.errors import ConfigError

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# An expression that matches no time in this many years (February 30th) never will.
_HORIZON_YEARS = 10
# Sleep at most this long at a time, so a changed clock (or a suspended laptop) is noticed.
_MAX_NAP_SECONDS = 60.0


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the values each field allows."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    any_day: bool  # the day-of-month field starts with "*"
    any_weekday: bool  # the day-of-week field starts with "*"

    def day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def matches(self, moment: datetime) -> bool:
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self.day_matches(moment)
        )

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after ``after`` (naive times are taken as UTC), in UTC."""
        moment = _utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        horizon = moment.replace(year=moment.year + _HORIZON_YEARS, day=1)
        while moment < horizon:
            if moment.month not in self.months:
                moment = _first_of_next_month(moment)
            elif not self.day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
            elif moment.hour not in self.hours:
                moment = moment.replace(minute=0) + timedelta(hours=1)
            elif moment.minute not in self.minutes:
                moment += timedelta(minutes=1)
            else:
                return moment
        raise ConfigError(f"cron {self.expression!r} never matches a date (in {_HORIZON_YEARS} years)")


def parse_cron(expression: str, *, where: str | None = None) -> Cron:
    """A cron expression parsed and checked; a ConfigError names the bad field otherwise."""
    text = " ".join(str(expression).split())
    fields = _MACROS.get(text.lower(), text).split(" ") if text else []
    if len(fields) != len(_FIELDS):
        names = " ".join(name for name, _, _ in _FIELDS)
        raise ConfigError(
            f"cron {expression!r} has {len(fields)} field(s); expected 5: {names} (e.g. '0 3 * * *')",
            where=where,
        )
    values = [
        _parse_field(expression, field, name, low, high, where)
        for field, (name, low, high) in zip(fields, _FIELDS, strict=True)
    ]
    minutes, hours, days, months, weekdays = values
    return Cron(
        expression=text,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(day % 7 for day in weekdays),
        any_day=fields[2].startswith("*"),
        any_weekday=fields[4].startswith("*"),
    )


def next_time(expression: str | Cron, after: datetime) -> datetime:
    """The first time ``expression`` matches strictly after ``after``, in UTC."""
    cron = expression if isinstance(expression, Cron) else parse_cron(expression)
    return cron.next_after(after)


def run_on_schedule(
    cron: Cron,
    job: Callable[[datetime], object],
    *,
    on_wait: Callable[[datetime], object] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    sleep: Callable[[float], object] = time.sleep,
    runs: int | None = None,
) -> int:
    """Sleep until each next cron time, then run ``job(that time)``; forever, or ``runs`` times.

    Ctrl-C (KeyboardInterrupt) propagates from the sleep: the caller decides how to say goodbye. Returns
    the number of runs made.
    """
    done = 0
    while runs is None or done < runs:
        due = cron.next_after(clock())
        if on_wait is not None:
            on_wait(due)
        while (remaining := (due - clock()).total_seconds()) > 0:
            sleep(min(remaining, _MAX_NAP_SECONDS))
        job(due)
        done += 1
    return done


def _parse_field(
    expression: str, field: str, name: str, low: int, high: int, where: str | None
) -> frozenset[int]:
    def problem(part: str, message: str) -> ConfigError:
        return ConfigError(f"cron {expression!r}: {name} field {part!r}: {message}", where=where)

    names = _MONTHS if name == "month" else _WEEKDAYS if name == "day-of-week" else {}
    allowed: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise problem(part, f"the step after '/' must be a whole number >= 1, got {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, names, part, problem), _value(last, names, part, problem)
            if start > end:
                raise problem(part, f"the range runs backwards ({start} > {end})")
        else:
            start = _value(base, names, part, problem)
            end = high if slash else start  # "5/15": from 5 to the end in steps of 15
        for value in (start, end):
            if not low <= value <= high:
                raise problem(part, f"{value} is out of range {low}-{high}")
        allowed.update(range(start, end + 1, step))
    return frozenset(allowed)


def _value(text: str, names: dict[str, int], part: str, problem: Callable[[str, str], ConfigError]) -> int:
    if text.isdigit():
        return int(text)
    if text.lower() in names:
        return names[text.lower()]
    kind = "a number or a name like " + ", ".join(list(names)[:3]) if names else "a number"
    raise problem(part, f"{text!r} is not {kind}")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)
