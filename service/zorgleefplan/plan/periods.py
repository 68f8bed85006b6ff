"""Time spans of the plan, read the way the access engine reads them (``access/facts.py``): a
FHIR date covers the whole span its precision implies, so ``Period.end`` is the exclusive
instant after it. Periods the server writes itself are exact to the microsecond, so one
designation ends precisely where the next begins (no gap, no overlap)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from zorgleefplan.access.facts import ALWAYS, Period, parse_instant_range
from zorgleefplan.errors import InvalidResource

_TICK = timedelta(microseconds=1)


def period_at(value: object, path: str) -> Period:
    """A FHIR Period (absent: always); InvalidResource naming ``path`` when unreadable or when
    it ends before it starts."""
    if value is None:
        return ALWAYS
    if not isinstance(value, Mapping):
        raise InvalidResource("a period must be an object", expression=[path])
    start = end = None
    try:
        if value.get("start") is not None:
            start = parse_instant_range(value["start"])[0]
        if value.get("end") is not None:
            end = parse_instant_range(value["end"])[1]
    except ValueError:
        raise InvalidResource(
            "the period holds a date that cannot be read", expression=[path]
        ) from None
    if start is not None and end is not None and end <= start:
        raise InvalidResource("the period ends before it starts", expression=[f"{path}.end"])
    return Period(start, end)


def overlap(a: Period, b: Period) -> Period | None:
    """Where two periods meet, or None."""
    start = max((s for s in (a.start, b.start) if s is not None), default=None)
    end = min((e for e in (a.end, b.end) if e is not None), default=None)
    if start is not None and end is not None and end <= start:
        return None
    return Period(start, end)


def contains(outer: Period, inner: Period) -> bool:
    """Whether ``inner`` lies wholly within ``outer``."""
    starts_in = outer.start is None or (inner.start is not None and outer.start <= inner.start)
    ends_in = outer.end is None or (inner.end is not None and inner.end <= outer.end)
    return starts_in and ends_in


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC (microseconds only when there are any)."""
    moment = moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def end_before(moment: datetime) -> str:
    """The period end that lasts up to, not including, ``moment``: its last microsecond."""
    last = (moment - _TICK).astimezone(UTC)
    return last.isoformat(timespec="microseconds").replace("+00:00", "Z")


def as_period(start: datetime | None, end: datetime | None) -> dict[str, str]:
    """A FHIR Period from exact instants (``end`` exclusive)."""
    out: dict[str, str] = {}
    if start is not None:
        out["start"] = instant(start)
    if end is not None:
        out["end"] = end_before(end)
    return out


def shown(moment: datetime) -> str:
    """A moment as a client reads it (Dutch date, time in UTC when it is not midnight)."""
    moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.strftime("%d-%m-%Y")
    return moment.strftime("%d-%m-%Y %H:%M UTC")
