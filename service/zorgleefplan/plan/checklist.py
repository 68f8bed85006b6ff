"""The plan judged against the checklists of the source documents: seed 001 chapter 5 (V&VN,
checklist samenwerkingsafspraken) and seed 003 §2.2.2 a-f (what a zorgplan contains).

The items are data — ``checklist.json``, generated from the seeds by scripts/gen_checklist.py,
each with its seed, section and the quoted Dutch sentence — and each is judged by the function
registered for its id in plan/judges.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from zorgleefplan.plan.findings import Finding
from zorgleefplan.plan.judges import JUDGES, PlanView
from zorgleefplan.plan.network import PlanNetwork


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    seed: str  # the source document's number in seeds/
    document: str
    section: str
    topic: str
    quote: str  # the sentence as the source words it


@dataclass(frozen=True)
class Judgement:
    item: ChecklistItem
    finding: Finding


def _load() -> tuple[ChecklistItem, ...]:
    raw = resources.files(__package__).joinpath("checklist.json").read_bytes()
    return tuple(ChecklistItem(**entry) for entry in json.loads(raw)["items"])


ITEMS: tuple[ChecklistItem, ...] = _load()
BY_ID = {item.id: item for item in ITEMS}


def judge_plan(network: PlanNetwork, ids: Sequence[str] = ()) -> list[Judgement]:
    """The judgement of each item (of those in ``ids``, when given), in checklist order."""
    wanted = set(ids)
    ctx = PlanView(network)
    return [
        Judgement(item, JUDGES[item.id](ctx)) for item in ITEMS if not wanted or item.id in wanted
    ]
