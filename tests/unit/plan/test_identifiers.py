"""Dutch identifiers: BSN elfproef, AGB, URA, UZI and BIG numbers."""

from __future__ import annotations

import pytest

from zorgleefplan.plan.identifiers import (
    AGB,
    BIG,
    BSN,
    SYSTEMS,
    URA,
    UZI,
    identifier_problem,
    passes_elfproef,
)

# Test BSNs that pass the elfproef (the 9999xxxxx range is reserved for testing).
VALID_BSNS = ("999911120", "999911132", "999990019", "123456782", "111222333")


@pytest.mark.parametrize("bsn", VALID_BSNS)
def test_valid_bsns_pass(bsn: str) -> None:
    assert passes_elfproef(bsn)
    assert identifier_problem(BSN, bsn) is None


@pytest.mark.parametrize(
    "bsn",
    [
        "999911121",  # last digit off by one
        "999999999",  # 9·44 - 9 = 387, not a multiple of 11
        "123456789",
        "999911210",  # two digits swapped
    ],
)
def test_bsns_failing_the_elfproef_are_refused(bsn: str) -> None:
    assert not passes_elfproef(bsn)
    problem = identifier_problem(BSN, bsn)
    assert problem is not None and "elfproef" in problem and bsn in problem


def test_the_all_zero_bsn_is_refused() -> None:
    """Its weighted sum is 0, a multiple of 11, yet it is no BSN."""
    assert not passes_elfproef("000000000")
    assert identifier_problem(BSN, "000000000") is not None


@pytest.mark.parametrize(
    "bsn", ["99991112", "9999111200", "99991112O", " 999911120", "", "9999-1112"]
)
def test_a_bsn_has_nine_digits(bsn: str) -> None:
    problem = identifier_problem(BSN, bsn)
    assert problem is not None and "9 digits" in problem


@pytest.mark.parametrize(
    ("system", "valid", "invalid", "digits"),
    [
        (AGB, "01234567", ["1234567", "123456789", "0123456a"], 8),
        (URA, "90000123", ["9000012", "900001234", "9000012x"], 8),
        (UZI, "123456789", ["12345678", "1234567890", "12345678x"], 9),
        (BIG, "19012345601", ["1901234560", "190123456011", "1901234560a"], 11),
    ],
)
def test_numbers_of_fixed_length(system: str, valid: str, invalid: list[str], digits: int) -> None:
    assert identifier_problem(system, valid) is None
    for value in invalid:
        problem = identifier_problem(system, value)
        assert problem is not None and f"{digits} digits" in problem and repr(value) in problem


def test_other_systems_are_not_checked() -> None:
    assert identifier_problem("urn:oid:2.16.840.1.113883.2.4.6.3", "anything") is None
    assert identifier_problem("https://example.org/ids", "") is None
    assert {BSN, AGB, URA, UZI, BIG} == SYSTEMS
