"""Value normalisation shared by index extraction (write side) and the search-query parser.

Both sides must turn a string, date or number into the same comparable form, so the rules
live here once: strings fold for "starts with, case- and accent-insensitive" matching, dates
become inclusive UTC-microsecond ranges per their precision, numbers become the range their
significant figures imply.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = ["date_range", "normalize_string", "number_range"]

# --------------------------------------------------------------------------- strings

# Letters that NFKD does not decompose into base letter + combining mark.
_FOLD_EXTRA = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "\u0131": "i",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
    }
)


def normalize_string(s: str) -> str:
    """Case-fold, strip diacritics, collapse whitespace: 'Ëlise  van Dijk' -> 'elise van dijk'."""
    if s.isascii():
        return " ".join(s.lower().split())
    folded = unicodedata.normalize("NFKD", s.casefold())
    stripped = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(stripped.translate(_FOLD_EXTRA).split())


# --------------------------------------------------------------------------- dates

_DATE = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]+))?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _day_start(y: int, m: int, d: int) -> int:
    return (date(y, m, d).toordinal() - _EPOCH_ORDINAL) * _US_PER_DAY


def date_range(value: str) -> tuple[int, int]:
    """A FHIR date, dateTime or instant as an inclusive range of UTC microseconds since 1970.

    The range covers the value's precision: '2020' is the whole year, '2020-03-01T10:00' the
    whole minute, '...:05.25' a hundredth of a second. Values without a timezone count as UTC
    (the spec leaves them to the server). Raises ValueError on anything malformed.
    """
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"not a FHIR date/dateTime (expected YYYY[-MM[-DD[Thh:mm[:ss]]]]): {value!r}"
        )
    g = match.groupdict()
    year = int(g["y"])
    month = int(g["m"]) if g["m"] else None
    day = int(g["d"]) if g["d"] else None
    try:
        if month is None:
            low = _day_start(year, 1, 1)
            high = _day_start(year, 12, 31) + _US_PER_DAY
        elif day is None:
            low = _day_start(year, month, 1)
            high = (
                _day_start(year, 12, 31) + _US_PER_DAY
                if month == 12
                else _day_start(year, month + 1, 1)
            )
        elif g["H"] is None:
            low = _day_start(year, month, day)
            high = low + _US_PER_DAY
        else:
            low, high = _time_range(_day_start(year, month, day), g)
    except ValueError as exc:  # date() rejects month 13, 30 February, year 0 ...
        raise ValueError(f"not a valid FHIR date/dateTime ({exc}): {value!r}") from None
    return low, high - 1


def _time_range(day_start: int, g: dict[str, str | None]) -> tuple[int, int]:
    """Half-open [low, high) of a time of day on ``day_start``, shifted to UTC."""
    hour, minute = int(g["H"] or 0), int(g["M"] or 0)
    if hour > 23 or minute > 59:
        raise ValueError("hour or minute out of range")
    low = day_start + (hour * 60 + minute) * 60_000_000
    if g["S"] is None:
        span = 60_000_000
    else:
        second = int(g["S"])
        if second > 60:
            raise ValueError("second out of range")
        second = min(second, 59)  # a leap second counts as the last second of its minute
        low += second * 1_000_000
        fraction = g["f"]
        if fraction is None:
            span = 1_000_000
        else:
            digits = fraction[:6]
            span = 10 ** (6 - len(digits))
            low += int(digits) * span
    tz = g["tz"]
    if tz and tz != "Z":
        tz_hours, tz_minutes = int(tz[1:3]), int(tz[4:6])
        if tz_hours > 14 or tz_minutes > 59:
            raise ValueError("timezone offset out of range")
        offset = (tz_hours * 60 + tz_minutes) * 60_000_000
        low -= offset if tz[0] == "+" else -offset
    return low, low + span


# --------------------------------------------------------------------------- numbers

_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.(?P<frac>[0-9]+))?(?:[eE](?P<exp>[+-]?[0-9]+))?")


def number_range(value: str) -> tuple[float, float, float]:
    """A decimal as (value, low, high): the range its written precision implies.

    Plain notation is precise to its last written digit: '100' -> [99.5, 100.5],
    '100.00' -> [99.995, 100.005]. Exponent notation follows the spec's own example table
    ('1e2' -> [95, 105]): precise to one digit below the mantissa's last digit. (A strict
    significant-figure reading would give [50, 150]; we follow the published examples.)
    """
    match = _NUMBER.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a FHIR decimal number: {value!r}")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"not a FHIR decimal number: {value!r}") from None
    frac_digits = len(match.group("frac") or "")
    exp = match.group("exp")
    half_exponent = -frac_digits - 1 if exp is None else int(exp) - frac_digits - 2
    half = Decimal(5).scaleb(half_exponent)
    return float(number), float(number - half), float(number + half)
