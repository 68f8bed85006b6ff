"""Time spans as the access engine reads them, and the exact instants the server writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zorgleefplan.access.facts import ALWAYS, Period, parse_instant_range
from zorgleefplan.errors import InvalidResource
from zorgleefplan.plan.periods import (
    as_period,
    contains,
    end_before,
    instant,
    overlap,
    period_at,
    shown,
)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_date_lasts_its_whole_day() -> None:
    period = period_at({"start": "2025-03-01", "end": "2025-03-31"}, "X.period")
    assert period == Period(at(2025, 3, 1), at(2025, 4, 1))
    assert period_at(None, "X.period") == ALWAYS


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"start": "2025-04-01", "end": "2025-03-01"}, "X.period.end"),
        ({"start": "morgen"}, "X.period"),
        ("2025", "X.period"),
    ],
)
def test_unreadable_or_backwards_periods_name_their_path(value: object, path: str) -> None:
    with pytest.raises(InvalidResource) as caught:
        period_at(value, "X.period")
    assert caught.value.expression == [path]


def test_overlap_and_containment() -> None:
    march = Period(at(2025, 3, 1), at(2025, 4, 1))
    april = Period(at(2025, 4, 1), at(2025, 5, 1))
    assert overlap(march, april) is None  # end is exclusive: they touch, not overlap
    assert overlap(march, ALWAYS) == march
    assert overlap(Period(at(2025, 3, 15), None), march) == Period(at(2025, 3, 15), at(2025, 4, 1))
    assert contains(ALWAYS, march) and not contains(march, ALWAYS)
    assert contains(Period(at(2025, 1, 1), None), Period(at(2025, 3, 1), None))
    assert not contains(Period(None, at(2025, 4, 1)), Period(at(2025, 3, 1), None))


def test_the_server_writes_ends_that_meet_the_next_start_exactly() -> None:
    moment = at(2025, 7, 1, 9, 30, 0) + timedelta(microseconds=250)
    written = end_before(moment)
    assert written == "2025-07-01T09:30:00.000249Z"
    assert parse_instant_range(written)[1] == moment
    assert parse_instant_range(instant(moment))[0] == moment
    assert instant(at(2025, 7, 1)) == "2025-07-01T00:00:00Z"
    period = as_period(at(2025, 7, 1), at(2025, 7, 15))
    assert period_at(period, "p") == Period(at(2025, 7, 1), at(2025, 7, 15))
    assert as_period(None, None) == {}


def test_moments_shown_to_the_client() -> None:
    assert shown(at(2025, 7, 15)) == "15-07-2025"
    assert shown(at(2025, 7, 15, 8, 5)) == "15-07-2025 08:05 UTC"
