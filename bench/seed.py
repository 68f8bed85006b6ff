"""Fill a data dir with N synthetic clients' zorgleefplannen through the service's write path.

Every resource goes through ``Repository.create`` inside a repository transaction, exactly as a
transaction Bundle would: validation, reference checks (deferred to commit), meta stamping,
index extraction and the typed index tables. Ids are client-assigned (deterministic per client
index and ``--seed``) so references are known before the targets are written.

Per client: Patient (BSN), Condition, CareTeam (2-3 participants referring to shared
Practitioners / Organizations), CarePlan (categories, activities, goals, addresses, care team),
2-3 Goals, 2-3 Tasks and a Consent: 10 resources on average. Shared: one Practitioner per 20
clients and one Organization per 200 (at least 20 and 5).

The data dir also gets what the load generator needs: ``clients.tsv`` (one line per client:
patient, care team, care plan, condition, first goal, first practitioner ids),
``practitioners.txt`` and ``manifest.json`` (written last: a dir without it is incomplete).

    python bench/seed.py --clients 1000 --data-dir bench/data/clients-1000
    python bench/seed.py --clients 500 --data-dir /tmp/x --profile /tmp/seed.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.app import open_services as app_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import FhirServices, Repository
from zorgleefplan.store.model import AccessConstraint

Resource = dict[str, Any]

MANIFEST = "manifest.json"
CLIENTS_TSV = "clients.tsv"
PRACTITIONERS_TXT = "practitioners.txt"
SEED_VERSION = 1  # bump when the shapes change, so cached data dirs are rebuilt

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
URA = "http://fhir.nl/fhir/NamingSystem/ura"
SNOMED = "http://snomed.info/sct"
ZLP = "https://zorgleefplan.nl/fhir/CodeSystem"
TODAY = date(2026, 1, 1)

FAMILIES = [
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
]
GIVEN = [
    "Anna",
    "Johannes",
    "Maria",
    "Cornelis",
    "Hendrika",
    "Willem",
    "Geertruida",
    "Pieter",
    "Johanna",
    "Jan",
    "Elisabeth",
    "Gerrit",
    "Wilhelmina",
    "Hendrik",
    "Aaltje",
    "Klaas",
]
CITIES = [
    ("Utrecht", "3511"),
    ("Zwolle", "8011"),
    ("Groningen", "9711"),
    ("Tilburg", "5038"),
    ("Leiden", "2311"),
    ("Arnhem", "6811"),
    ("Deventer", "7411"),
    ("Haarlem", "2011"),
]
STREETS = ["Kerkstraat", "Dorpsstraat", "Molenweg", "Schoolstraat", "Lindelaan", "Stationsweg"]
DOMAINS = [
    ("wlz", "Wet langdurige zorg"),
    ("wmo", "Wet maatschappelijke ondersteuning"),
    ("zvw", "Zorgverzekeringswet"),
    ("jeugdwet", "Jeugdwet"),
]
CONDITIONS = [
    ("52448006", "Dementie"),
    ("73211009", "Diabetes mellitus"),
    ("13645005", "COPD"),
    ("230690007", "Cerebrovasculair accident"),
    ("49049000", "Ziekte van Parkinson"),
    ("84114007", "Hartfalen"),
]
ROLES = [
    ("regiebehandelaar", "Regiebehandelaar"),
    ("wijkverpleegkundige", "Wijkverpleegkundige"),
    ("huisarts", "Huisarts"),
    ("casemanager", "Casemanager dementie"),
    ("zorgaanbieder", "Zorgaanbieder"),
]
GOALS = [
    "Zelfstandig blijven wonen",
    "Dagelijks een half uur bewegen",
    "Medicatie zelf beheren",
    "Sociale contacten onderhouden",
    "Valrisico verminderen",
    "Mantelzorger ontlasten",
    "Gezond gewicht behouden",
]
TASKS = [
    "Hulp bij douchen",
    "Medicatie uitzetten",
    "Maaltijdvoorziening regelen",
    "Huisbezoek wijkverpleging",
    "Evaluatie zorgleefplan",
    "Dagbesteding aanvragen",
]
ACTIVITIES = [
    ("Persoonlijke verzorging", "Task"),
    ("Begeleiding individueel", "Task"),
    ("Huishoudelijke hulp", "Task"),
    ("Fysiotherapie", "ServiceRequest"),
]


# ------------------------------------------------------------------------------------- ids


@dataclass(frozen=True, slots=True)
class SharedIds:
    practitioners: tuple[str, ...]
    organizations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientIds:
    index: int
    patient: str
    condition: str
    careteam: str
    careplan: str
    consent: str
    goals: tuple[str, ...]
    tasks: tuple[str, ...]
    practitioners: tuple[str, ...]  # the care team's practitioners, regiebehandelaar first
    organization: str


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def shared_ids(clients: int, seed: int) -> SharedIds:
    rng = random.Random(f"shared-{seed}")
    practitioners = tuple(_uuid(rng) for _ in range(max(20, clients // 20)))
    organizations = tuple(_uuid(rng) for _ in range(max(5, clients // 200)))
    return SharedIds(practitioners, organizations)


def client_ids(index: int, rng: random.Random, shared: SharedIds) -> ClientIds:
    team = rng.sample(shared.practitioners, rng.randint(2, 3))
    return ClientIds(
        index=index,
        patient=_uuid(rng),
        condition=_uuid(rng),
        careteam=_uuid(rng),
        careplan=_uuid(rng),
        consent=_uuid(rng),
        goals=tuple(_uuid(rng) for _ in range(rng.randint(2, 3))),
        tasks=tuple(_uuid(rng) for _ in range(rng.randint(2, 3))),
        practitioners=tuple(team),
        organization=rng.choice(shared.organizations),
    )


def bsn(index: int) -> str:
    """A unique BSN that passes the elfproef (nine digits, weighted sum divisible by 11)."""
    for k in range(9):
        prefix = f"{10_000_000 + index * 9 + k:08d}"
        total = sum(int(d) * (9 - i) for i, d in enumerate(prefix))
        check = total % 11
        if check < 10:
            return prefix + str(check)
    raise AssertionError("unreachable: one of nine consecutive prefixes has a check digit")


# ------------------------------------------------------------------------------------- shapes


def ref(type_: str, id_: str, display: str | None = None) -> Resource:
    out: Resource = {"reference": f"{type_}/{id_}"}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def narrative(text: str) -> Resource:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}


def day(rng: random.Random, back_days: int, ahead_days: int = 0) -> str:
    return (TODAY + timedelta(days=rng.randint(-back_days, ahead_days))).isoformat()


def moment(rng: random.Random, back_days: int) -> str:
    stamp = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(seconds=rng.randint(0, back_days * 86400))
    return stamp.isoformat().replace("+00:00", "Z")


def practitioner(rng: random.Random, id_: str, n: int) -> Resource:
    family, given = rng.choice(FAMILIES), rng.choice(GIVEN)
    return {
        "resourceType": "Practitioner",
        "id": id_,
        "identifier": [{"system": AGB, "value": f"{1_000_000 + n:08d}"}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [
            {"system": "phone", "value": f"+31 30 {n % 1000:03d} {n % 10000:04d}", "use": "work"}
        ],
    }


def organization(rng: random.Random, id_: str, n: int) -> Resource:
    city, postcode = rng.choice(CITIES)
    return {
        "resourceType": "Organization",
        "id": id_,
        "identifier": [{"system": URA, "value": f"{90_000_000 + n:08d}"}],
        "active": True,
        "type": [
            concept(
                "http://nictiz.nl/fhir/NamingSystem/organization-type",
                "X3",
                "Verpleeg- of verzorgingshuis",
            )
        ],
        "name": f"Zorggroep {city} {n}",
        "address": [
            {
                "use": "work",
                "line": [f"{rng.choice(STREETS)} {n % 200 + 1}"],
                "city": city,
                "postalCode": f"{postcode} AB",
                "country": "NL",
            }
        ],
    }


def patient(rng: random.Random, ids: ClientIds) -> Resource:
    family, given = rng.choice(FAMILIES), rng.choice(GIVEN)
    city, postcode = rng.choice(CITIES)
    return {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": BSN, "value": bsn(ids.index)}],
        "active": True,
        "name": [
            {"use": "official", "family": family, "given": [given], "text": f"{given} {family}"}
        ],
        "telecom": [
            {"system": "phone", "value": f"06 {ids.index % 100_000_000:08d}", "use": "mobile"}
        ],
        "gender": rng.choice(["female", "male"]),
        "birthDate": day(rng, 365 * 95, -365 * 60),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.choice(STREETS)} {rng.randint(1, 250)}"],
                "city": city,
                "postalCode": f"{postcode} {rng.choice(['AB', 'CD', 'EF'])}",
                "country": "NL",
            }
        ],
        "generalPractitioner": [ref("Practitioner", ids.practitioners[-1])],
        "managingOrganization": ref("Organization", ids.organization),
    }


def condition(rng: random.Random, ids: ClientIds) -> Resource:
    code, display = rng.choice(CONDITIONS)
    return {
        "resourceType": "Condition",
        "clinicalStatus": concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
        ),
        "verificationStatus": concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
        ),
        "category": [
            concept(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "problem-list-item",
                "Problem List Item",
            )
        ],
        "code": concept(SNOMED, code, display),
        "subject": ref("Patient", ids.patient),
        "onsetDateTime": day(rng, 3650, -30),
        "recorder": ref("Practitioner", ids.practitioners[0]),
    }


def careteam(rng: random.Random, ids: ClientIds) -> Resource:
    roles = rng.sample(ROLES[1:], len(ids.practitioners) - 1)
    participants = [
        {
            "role": [concept(f"{ZLP}/rol", code, display)],
            "member": ref("Practitioner", prac),
            "onBehalfOf": ref("Organization", ids.organization),
        }
        for (code, display), prac in zip([ROLES[0], *roles], ids.practitioners, strict=True)
    ]
    participants.append(
        {"role": [concept(f"{ZLP}/rol", "client", "Cliënt")], "member": ref("Patient", ids.patient)}
    )
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": "Zorgteam zorgleefplan",
        "subject": ref("Patient", ids.patient),
        "period": {"start": day(rng, 1000)},
        "participant": participants,
        "managingOrganization": [ref("Organization", ids.organization)],
    }


def careplan(rng: random.Random, ids: ClientIds) -> Resource:
    domain, domain_display = rng.choice(DOMAINS)
    activities = [{"reference": ref("Task", task)} for task in ids.tasks] + [
        {
            "detail": {
                "kind": kind,
                "code": concept(f"{ZLP}/activiteit", f"act-{i}", name),
                "status": rng.choice(["scheduled", "in-progress"]),
                "description": f"{name}, {rng.randint(1, 7)}x per week",
                "performer": [ref("Practitioner", rng.choice(ids.practitioners))],
            }
        }
        for i, (name, kind) in enumerate(rng.sample(ACTIVITIES, 2))
    ]
    return {
        "resourceType": "CarePlan",
        "text": narrative("Persoonlijk zorgleefplan"),
        "identifier": [{"system": f"{ZLP}/zorgleefplan-id", "value": f"ZLP-{ids.index:08d}"}],
        "status": "active",
        "intent": "plan",
        "category": [
            concept(SNOMED, "734163000", "Care plan"),
            concept(f"{ZLP}/domein", domain, domain_display),
        ],
        "title": "Zorgleefplan",
        "description": "Afspraken over zorg, ondersteuning en welzijn van de cliënt",
        "subject": ref("Patient", ids.patient),
        "period": {"start": day(rng, 700), "end": day(rng, 0, 365)},
        "created": moment(rng, 700),
        "author": ref("Practitioner", ids.practitioners[0]),
        "contributor": [ref("Patient", ids.patient), ref("Practitioner", ids.practitioners[1])],
        "careTeam": [ref("CareTeam", ids.careteam)],
        "addresses": [ref("Condition", ids.condition)],
        "goal": [ref("Goal", goal) for goal in ids.goals],
        "activity": activities,
        "note": [{"text": "Besproken met cliënt en mantelzorger."}],
    }


def goal(rng: random.Random, ids: ClientIds, title: str) -> Resource:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": rng.choice(["active", "active", "planned", "accepted"]),
        "achievementStatus": concept(
            "http://terminology.hl7.org/CodeSystem/goal-achievement", "in-progress", "In Progress"
        ),
        "category": [concept(f"{ZLP}/levensdomein", "welzijn", "Welzijn")],
        "priority": concept(
            "http://terminology.hl7.org/CodeSystem/goal-priority",
            "medium-priority",
            "Medium Priority",
        ),
        "description": {"text": title},
        "subject": ref("Patient", ids.patient),
        "startDate": day(rng, 600),
        "target": [{"detailString": title, "dueDate": day(rng, 0, 365)}],
        "expressedBy": ref("Patient", ids.patient),
        "addresses": [ref("Condition", ids.condition)],
    }


def task(rng: random.Random, ids: ClientIds, title: str, focus: str) -> Resource:
    return {
        "resourceType": "Task",
        "status": rng.choice(["requested", "accepted", "in-progress", "completed"]),
        "intent": "plan",
        "priority": "routine",
        "code": concept(f"{ZLP}/taak", "afspraak", "Afspraak"),
        "description": title,
        "basedOn": [ref("CarePlan", ids.careplan)],
        "focus": ref("Goal", focus),
        "for": ref("Patient", ids.patient),
        "authoredOn": moment(rng, 600),
        "executionPeriod": {"start": day(rng, 300), "end": day(rng, 0, 200)},
        "requester": ref("Practitioner", ids.practitioners[0]),
        "owner": ref("Practitioner", rng.choice(ids.practitioners)),
    }


def consent(rng: random.Random, ids: ClientIds) -> Resource:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": concept(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            "Privacy Consent",
        ),
        "category": [concept("http://loinc.org", "59284-0", "Patient Consent")],
        "patient": ref("Patient", ids.patient),
        "dateTime": moment(rng, 700),
        "performer": [ref("Patient", ids.patient)],
        "organization": [ref("Organization", ids.organization)],
        "policyRule": concept(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in"
        ),
        "provision": {
            "type": "permit",
            "period": {"start": day(rng, 700)},
            "actor": [
                {
                    "role": concept(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        "information recipient",
                    ),
                    "reference": ref("Practitioner", prac),
                }
                for prac in ids.practitioners
            ],
            "action": [
                concept("http://terminology.hl7.org/CodeSystem/consentaction", "access", "Access")
            ],
        },
    }


def client_resources(ids: ClientIds, rng: random.Random) -> list[tuple[Resource, str]]:
    """One client's plan, as (resource, id) pairs."""
    goal_titles = rng.sample(GOALS, len(ids.goals))
    task_titles = rng.sample(TASKS, len(ids.tasks))
    return [
        (patient(rng, ids), ids.patient),
        (condition(rng, ids), ids.condition),
        (careteam(rng, ids), ids.careteam),
        (careplan(rng, ids), ids.careplan),
        *[(goal(rng, ids, t), g) for t, g in zip(goal_titles, ids.goals, strict=True)],
        *[
            (task(rng, ids, t, rng.choice(ids.goals)), k)
            for t, k in zip(task_titles, ids.tasks, strict=True)
        ],
        (consent(rng, ids), ids.consent),
    ]


def shared_resources(shared: SharedIds, seed: int) -> list[tuple[Resource, str]]:
    rng = random.Random(f"shared-resources-{seed}")
    orgs = [(organization(rng, id_, n), id_) for n, id_ in enumerate(shared.organizations)]
    pracs = [(practitioner(rng, id_, n), id_) for n, id_ in enumerate(shared.practitioners)]
    return orgs + pracs


# ------------------------------------------------------------------------------------- writing


async def open_services(data_dir: Path) -> FhirServices:
    """The services exactly as ``zorgleefplan.app.create_app`` builds them."""
    return await app_services(Settings(data_dir=data_dir))


def batches(
    clients: int, seed: int, shared: SharedIds, batch_size: int, tsv: Any
) -> Iterator[list[tuple[Resource, str]]]:
    """Whole clients per batch (about ``batch_size`` resources); writes clients.tsv lines."""
    batch: list[tuple[Resource, str]] = []
    for index in range(clients):
        rng = random.Random(f"client-{seed}-{index}")
        ids = client_ids(index, rng, shared)
        tsv.write(
            f"{ids.patient}\t{ids.careteam}\t{ids.careplan}\t{ids.condition}\t{ids.goals[0]}\t"
            f"{ids.practitioners[0]}\n"
        )
        batch.extend(client_resources(ids, rng))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


async def write_batch(repo: Repository, batch: list[tuple[Resource, str]]) -> None:
    async with repo.transaction() as tx:
        for resource, id_ in batch:
            await tx.create(resource, id_)


@dataclass
class SeedReport:
    version: int
    clients: int
    seed: int
    resources: int
    practitioners: int
    organizations: int
    seconds: float
    resources_per_second: float
    database_bytes: int


@dataclass
class Progress:
    """Prints the cumulative and the recent seeding rate (the rate falls as the store grows)."""

    total_estimate: int
    started: float
    last_time: float = 0.0
    last_written: int = 0

    def report(self, written: int) -> None:
        now = time.perf_counter()
        overall = written / (now - self.started)
        recent = (written - self.last_written) / (now - (self.last_time or self.started))
        left = (self.total_estimate - written) / recent if recent else 0.0
        self.last_time, self.last_written = now, written
        print(
            f"  seeded {written:>9,} resources  {overall:>7,.0f}/s overall  {recent:>7,.0f}/s "
            f"recently  ~{left / 60:.1f} min left at the recent rate",
            file=sys.stderr,
            flush=True,
        )


async def seed(
    data_dir: Path, clients: int, *, seed_value: int = 1, batch_size: int = 1000
) -> SeedReport:
    """Seed an empty data dir; returns the report also written as manifest.json."""
    data_dir.mkdir(parents=True, exist_ok=True)
    services = await open_services(data_dir)
    repo = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())
    shared = shared_ids(clients, seed_value)
    started = time.perf_counter()
    progress = Progress(clients * 10, started)
    written = 0
    try:
        await write_batch(repo, shared_resources(shared, seed_value))
        written += len(shared.practitioners) + len(shared.organizations)
        with (data_dir / CLIENTS_TSV).open("w") as tsv:
            for n, batch in enumerate(batches(clients, seed_value, shared, batch_size, tsv)):
                await write_batch(repo, batch)
                written += len(batch)
                if n % 50 == 49:
                    progress.report(written)
    finally:
        await services.store.close()
    seconds = time.perf_counter() - started
    checkpoint(services.settings.database_path)
    (data_dir / PRACTITIONERS_TXT).write_text("".join(f"{p}\n" for p in shared.practitioners))
    report = SeedReport(
        version=SEED_VERSION,
        clients=clients,
        seed=seed_value,
        resources=written,
        practitioners=len(shared.practitioners),
        organizations=len(shared.organizations),
        seconds=round(seconds, 2),
        resources_per_second=round(written / seconds, 1),
        database_bytes=services.settings.database_path.stat().st_size,
    )
    (data_dir / MANIFEST).write_bytes(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2))
    return report


def checkpoint(database: Path) -> None:
    """Fold the WAL into the database file so the data dir is one file to copy.

    No ANALYZE: the service never runs it, and statistics change SQLite's query plans (for
    better and for worse), so a benchmark store must not have them."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def read_manifest(data_dir: Path) -> SeedReport | None:
    path = data_dir / MANIFEST
    if not path.exists():
        return None
    report = SeedReport(**orjson.loads(path.read_bytes()))
    return report if report.version == SEED_VERSION else None


def ensure_seeded(data_dir: Path, clients: int, seed_value: int = 1) -> tuple[SeedReport, bool]:
    """Reuse a complete seeded dir for these parameters, else (re)build it.

    Returns the report and whether it was seeded now."""
    report = read_manifest(data_dir)
    if report is not None and report.clients == clients and report.seed == seed_value:
        return report, False
    if data_dir.exists():
        shutil.rmtree(data_dir)
    return asyncio.run(seed(data_dir, clients, seed_value=seed_value)), True


# ------------------------------------------------------------------------------------- CLI


def _profiled(data_dir: Path, clients: int, seed_value: int, output: Path) -> SeedReport:
    profiler = cProfile.Profile()
    report = profiler.runcall(asyncio.run, seed(data_dir, clients, seed_value=seed_value))
    profiler.dump_stats(output)
    stats = pstats.Stats(str(output))
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, required=True, help="number of synthetic clients")
    parser.add_argument("--data-dir", type=Path, required=True, help="must be empty or absent")
    parser.add_argument("--seed", type=int, default=1, help="random seed (ids and contents)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats here and print them")
    args = parser.parse_args(argv)
    if args.data_dir.exists() and any(args.data_dir.iterdir()):
        parser.error(f"{args.data_dir} is not empty")
    if args.profile:
        report = _profiled(args.data_dir, args.clients, args.seed, args.profile)
    else:
        report = asyncio.run(seed(args.data_dir, args.clients, seed_value=args.seed))
    print(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
