"""Dutch identifiers: which values a BSN, AGB, URA, UZI or BIG number may have.

Checked on every write, whatever profile a resource claims (``fhir/conformance.py`` finds the
identifiers). The systems are the NamingSystems nl-core uses (DOMAIN.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"  # burgerservicenummer: the client
AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"  # Vektis AGB code: professional or organisation
URA = "http://fhir.nl/fhir/NamingSystem/ura"  # UZI-register abonneenummer: care organisation
UZI = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"  # UZI number of a person
BIG = "http://fhir.nl/fhir/NamingSystem/big"  # BIG-register number of a professional

_DIGITS = {n: re.compile(rf"[0-9]{{{n}}}") for n in (8, 9, 11)}


def _digits(count: int, what: str) -> Callable[[str], str | None]:
    pattern = _DIGITS[count]

    def check(value: str) -> str | None:
        if pattern.fullmatch(value):
            return None
        return f"{what} has {count} digits, not {value!r}"

    return check


def passes_elfproef(bsn: str) -> bool:
    """9·d1 + 8·d2 + … + 2·d8 - 1·d9 is a multiple of 11 (and not all zeros)."""
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = sum(w * int(d) for w, d in zip(weights, bsn, strict=True))
    return total % 11 == 0 and total != 0


def _bsn(value: str) -> str | None:
    if not _DIGITS[9].fullmatch(value):
        return f"a BSN has 9 digits, not {value!r}"
    if not passes_elfproef(value):
        return (
            f"BSN {value} fails the elfproef (9·d1 + 8·d2 + … + 2·d8 - d9 must be a "
            "multiple of 11): a typing error?"
        )
    return None


_RULES: dict[str, Callable[[str], str | None]] = {
    BSN: _bsn,
    AGB: _digits(8, "an AGB code"),
    URA: _digits(8, "a URA number"),
    UZI: _digits(9, "a UZI number"),
    BIG: _digits(11, "a BIG number"),
}

SYSTEMS = frozenset(_RULES)


def identifier_problem(system: str, value: str) -> str | None:
    """What is wrong with ``value`` as an identifier of ``system``; None when it is fine or
    the system is not one of the Dutch identifiers checked here."""
    rule = _RULES.get(system)
    return rule(value) if rule is not None else None
