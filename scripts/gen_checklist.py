"""Generate the plan checklist items from the source documents, each with its quoted sentence.

Reads seed 001 (V&VN handreiking, hoofdstuk 5 "Checklist samenwerkingsafspraken") and seed 003
(GGZ generieke module, §2.2.2, what a zorgplan contains: a-f) from ../shared/seeds (or
$SEEDS_DIR) and writes ``service/zorgleefplan/plan/checklist.json``: one item per question or
sub-item, with the seed, the section, the topic and the sentence as the source words it. The
judging of each item lives in ``zorgleefplan/plan/checklist.py``, keyed by the ids given here.
Run from the repository root:

    python scripts/gen_checklist.py

Text clean-up: lines are joined; a word broken over a line with a hyphen is rejoined without the
hyphen unless the hyphenated form occurs elsewhere in the same document ("vinger-aan-de-pols"
keeps its hyphens, "te-rugkoppeling" becomes "terugkoppeling"); whitespace is collapsed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(os.environ.get("SEEDS_DIR", ROOT.parent / "shared" / "seeds"))
OUTPUT = ROOT / "service" / "zorgleefplan" / "plan" / "checklist.json"

SEED_001 = "001"
SEED_003 = "003"
DOCUMENTS = {
    SEED_001: "V&VN, handreiking samenwerkingsafspraken voor wijkverpleegkundigen rond zorgmijding",
    SEED_003: "Generieke module 'Indiceren en coördineren van zorg in de GGZ'",
}
BULLET = "\uf06f"  # the checkbox glyph that opens every question of the 001 checklist

# Item ids per topic of the 001 checklist, in the order of its questions.
TOPICS_001 = {
    "Informatie-uitwisseling": "informatie",
    "Rolverdeling": "rolverdeling",
    "Mandaat": "mandaat",
    "Regie": "regie",
    "Overdracht en doorverwijzing": "overdracht",
    "Monitoring en nazorg": "monitoring",
}
EXPECTED_001 = {
    "informatie": 7,
    "rolverdeling": 3,
    "mandaat": 3,
    "regie": 5,
    "overdracht": 6,
    "monitoring": 4,
}

_BROKEN_WORD = re.compile(r"(\w+)-[ \t]*\n\s*(\w+)")


def seed_text(number: str) -> str:
    (path,) = SEEDS.glob(f"{number}_*.txt")
    return path.read_text(encoding="utf-8")


def clean(passage: str, document: str) -> str:
    """``passage`` as one line of running text (see the module docstring)."""
    flat = " ".join(document.split())

    def rejoin(match: re.Match[str]) -> str:
        hyphenated = f"{match[1]}-{match[2]}"
        return hyphenated if hyphenated in flat else match[1] + match[2]

    return " ".join(_BROKEN_WORD.sub(rejoin, passage).split())


def checklist_001() -> list[dict[str, Any]]:
    document = seed_text(SEED_001)
    start = document.index("De checklist is te beschouwen")
    end = document.index("Bronnen", start)
    chunks = [clean(chunk, document) for chunk in document[start:end].split(BULLET)]
    topic = _heading(chunks[0])[1]
    items: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    for chunk in chunks[1:]:
        question, heading = _heading(chunk)
        key = TOPICS_001[topic.split(":", 1)[0]]
        counters[key] = counters.get(key, 0) + 1
        items.append(
            {
                "id": f"001-{key}-{counters[key]}",
                "seed": SEED_001,
                "document": DOCUMENTS[SEED_001],
                "section": "Hoofdstuk 5, Checklist samenwerkingsafspraken",
                "topic": topic,
                "quote": question,
            }
        )
        topic = heading or topic
    if counters != EXPECTED_001:
        raise SystemExit(f"seed 001 checklist changed shape: {counters}")
    return items


def _heading(text: str) -> tuple[str, str | None]:
    """A chunk split into its question and the topic heading that follows it, if any (the
    last chunk ends with a page number instead)."""
    for topic in TOPICS_001:
        at = text.find(f" {topic}:")
        if at >= 0:
            return text[:at].strip(), text[at:].strip()
    return re.sub(r"\s+\d+$", "", text).strip(), None


def zorgplan_003() -> list[dict[str, Any]]:
    document = seed_text(SEED_003)
    start = document.index("2.2.2 Indicatiestelling")
    end = document.index("2.2.3 Reflectie", start)
    section = clean(document[start:end], document)
    lead = "Het zorgplan bevat in ieder geval:"
    body = section[section.index(lead) + len(lead) : section.index("Het zorgplan blijft")]
    parts = re.findall(r"(?:^|\s)([a-f])\.\s+(.+?)(?=\s+[a-f]\.\s+[A-Z]|$)", body.strip())
    if [letter for letter, _ in parts] != list("abcdef"):
        raise SystemExit(f"seed 003 §2.2.2 changed shape: {[p[0] for p in parts]}")
    return [
        {
            "id": f"003-zorgplan-{letter}",
            "seed": SEED_003,
            "document": DOCUMENTS[SEED_003],
            "section": f"§2.2.2 Indicatiestelling, onderdeel {letter}",
            "topic": lead,
            "quote": quote.strip(),
        }
        for letter, quote in parts
    ]


def build() -> dict[str, Any]:
    return {"items": checklist_001() + zorgplan_003()}


def main() -> None:
    built = build()
    OUTPUT.write_bytes(orjson.dumps(built, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {len(built['items'])} items to {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
