from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zorgleefplan.fhir.search.normalize import date_range, normalize_string, number_range


def _us(text: str) -> int:
    """Microseconds since the epoch of an ISO instant, computed independently of date_range."""
    moment = datetime.fromisoformat(text)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# --------------------------------------------------------------------------- normalize_string


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Chalmers", "chalmers"),
        ("  Peter \t James\n", "peter james"),
        ("Ëlise van Dijk", "elise van dijk"),
        ("Straße", "strasse"),
        ("Ærø Østergård", "aero ostergard"),
        ("ﬁle", "file"),  # NFKD compatibility ligature
        ("Çelik-Öztürk", "celik-ozturk"),
        ("", ""),
    ],
)
def test_normalize_string_folds_case_accents_and_whitespace(raw: str, expected: str) -> None:
    assert normalize_string(raw) == expected


def test_ascii_fast_path_agrees_with_unicode_path() -> None:
    # The same text with one non-ASCII character appended goes through the slow path.
    for text in ["Van Der Berg", "  O'Brien  Jr. ", "ABC\tdef"]:
        assert normalize_string(text + "é")[:-1].rstrip() == normalize_string(text)


# --------------------------------------------------------------------------- date_range


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("2020", "2020-01-01T00:00:00+00:00", "2020-12-31T23:59:59.999999+00:00"),
        ("2020-02", "2020-02-01T00:00:00+00:00", "2020-02-29T23:59:59.999999+00:00"),
        ("2021-02", "2021-02-01T00:00:00+00:00", "2021-02-28T23:59:59.999999+00:00"),
        ("2020-12", "2020-12-01T00:00:00+00:00", "2020-12-31T23:59:59.999999+00:00"),
        ("2020-03-15", "2020-03-15T00:00:00+00:00", "2020-03-15T23:59:59.999999+00:00"),
        ("2020-03-15T10:20", "2020-03-15T10:20:00+00:00", "2020-03-15T10:20:59.999999+00:00"),
        ("2020-03-15T10:20:30Z", "2020-03-15T10:20:30+00:00", "2020-03-15T10:20:30.999999+00:00"),
        (
            "2020-03-15T10:20:30.25+01:00",
            "2020-03-15T09:20:30.250000+00:00",
            "2020-03-15T09:20:30.259999+00:00",
        ),
        (
            "2020-03-15T10:20:30.123456789-05:30",
            "2020-03-15T15:50:30.123456+00:00",
            "2020-03-15T15:50:30.123456+00:00",
        ),
        ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59+00:00", "1969-12-31T23:59:59.999999+00:00"),
    ],
)
def test_date_range_covers_the_precision(value: str, low: str, high: str) -> None:
    assert date_range(value) == (_us(low), _us(high))


def test_date_without_timezone_is_utc() -> None:
    assert date_range("2020-03-15T10:20:30") == date_range("2020-03-15T10:20:30Z")
    assert date_range("2020-03-15T10:20:30+00:00") == date_range("2020-03-15T10:20:30Z")


def test_epoch_is_zero() -> None:
    assert date_range("1970-01-01T00:00:00Z") == (0, 999_999)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "20",
        "2020-1",
        "2020-13",
        "2021-02-29",
        "2020-00-10",
        "0000",
        "2020-01-01T10",
        "2020-01-01T24:00:00Z",
        "2020-01-01T10:60:00Z",
        "2020-01-01T10:00:00+15:00",
        "2020-01-01 10:00:00",
        "2020-01-01T10:00:00z",
        "٢٠٢٠",  # non-ASCII digits
        "next tuesday",
    ],
)
def test_malformed_dates_raise_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="date"):
        date_range(value)


# --------------------------------------------------------------------------- number_range


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", (100.0, 99.5, 100.5)),
        ("100.00", (100.0, 99.995, 100.005)),
        ("1e2", (100.0, 95.0, 105.0)),
        ("1.1e2", (110.0, 109.5, 110.5)),
        ("-1e2", (-100.0, -105.0, -95.0)),
        ("0.5", (0.5, 0.45, 0.55)),
        ("-3", (-3.0, -3.5, -2.5)),
        ("+7", (7.0, 6.5, 7.5)),
        ("2.5E-1", (0.25, 0.2495, 0.2505)),
    ],
)
def test_number_range_follows_significant_figures(
    value: str, expected: tuple[float, float, float]
) -> None:
    assert number_range(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["", "abc", "1_000", "NaN", "Infinity", "1e", ".5.", "1,5"])
def test_malformed_numbers_raise_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="number"):
        number_range(value)
