"""What judging a checklist item yields: a verdict, a Dutch reason, and what was looked at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["pass", "fail", "cannot-tell"]
PASS: Verdict = "pass"
FAIL: Verdict = "fail"
CANNOT_TELL: Verdict = "cannot-tell"


@dataclass(frozen=True)
class Evidence:
    reference: str | None  # the resource looked at; None: a kind of resource found nowhere
    path: str  # the element (path) looked at


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    reason: str
    evidence: tuple[Evidence, ...] = ()
