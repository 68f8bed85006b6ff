"""The Dutch narratives of the who-is-who and the checklist, as FHIR narrative XHTML.

FHIR narrative is a restricted XHTML (R4 narrative.html): one ``div`` in the XHTML namespace,
no scripts, no event attributes, no forms. Everything from the data is escaped here, so a name or
a note can never become markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape

from zorgleefplan.plan import codes
from zorgleefplan.plan.checklist import Judgement
from zorgleefplan.plan.labels import ITEM_KINDS, ROLES, VERDICTS, date, status
from zorgleefplan.plan.people import Party
from zorgleefplan.plan.summary import ItemView, RoleEntry, Summary
from zorgleefplan.plan.values import Json, string, walk

XHTML = "http://www.w3.org/1999/xhtml"
_CONTACT_KINDS = {"phone": "tel.", "email": "e-mail", "sms": "sms", "url": "web"}


def div(*blocks: str) -> str:
    return f'<div xmlns="{XHTML}">' + "".join(blocks) + "</div>"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _heading(text: str) -> str:
    return f"<h3>{_e(text)}</h3>"


def _paragraph(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _list(entries: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(e)}</li>" for e in entries) + "</ul>"


def contact(telecom: Sequence[Json]) -> str:
    return ", ".join(
        f"{_CONTACT_KINDS.get(string(c, 'system') or '', string(c, 'system') or 'contact')} "
        f"{string(c, 'value')}"
        for c in telecom
    )


def address(addresses: Sequence[Json]) -> str:
    for a in addresses:
        lines = [line for line in walk(a, ("line",)) if isinstance(line, str)]
        place = " ".join(p for p in (string(a, "postalCode"), string(a, "city")) if p)
        shown = ", ".join([*lines, place] if place else lines) or string(a, "text")
        if shown:
            return shown
    return ""


def _who(party: Party | None) -> str:
    if party is None:
        return "niet vastgelegd"
    return party.label


def _period(period: object) -> str:
    if not isinstance(period, Mapping):
        return ""
    start, end = string(period, "start"), string(period, "end")
    if start and end:
        return f"van {date(start)} tot en met {date(end)}"
    if start:
        return f"vanaf {date(start)}"
    return f"tot en met {date(end)}" if end else ""


# --------------------------------------------------------------------------- the who-is-who


def summary_narrative(summary: Summary) -> str:
    client = summary.client.label if summary.client else None
    intro = [
        f"Wie is wie in het zorgleefplan{f' van {client}' if client else ''}"
        + (f" ({summary.title})" if summary.title else "")
        + "."
    ]
    if summary.domains:
        intro.append("Het plan beslaat: " + ", ".join(summary.domains) + ".")
    blocks = [f"<h2>{_e(' '.join(intro))}</h2>", _network(summary.roles)]
    blocks += _complaints(summary.role(codes.REGIEBEHANDELAAR))
    blocks += _volmacht(summary)
    if summary.representatives:
        blocks += [
            _heading("Vertegenwoordigers"),
            _list(
                f"{r.party.label}: {', '.join(r.roles)}"
                + (f" ({contact(r.party.telecom)})" if r.party.telecom else "")
                for r in summary.representatives
            ),
        ]
    blocks += [_heading("Doelen")]
    blocks += [
        _list(
            f"{g.description or g.reference} — {status(g.status)}"
            + (f", streefdatum {date(g.due)}" if g.due else "")
            + (f" ({g.achievement})" if g.achievement else "")
            for g in summary.goals
        )
        if summary.goals
        else _paragraph("Geen doelen vastgelegd.")
    ]
    blocks += _items("Afspraken", summary.of_kind(codes.AFSPRAAK))
    blocks += [_heading("Volgende evaluatiemomenten")]
    blocks += [
        _list(
            f"{date(v.item.when_text)}: {v.item.description or ITEM_KINDS[v.item.kind]}"
            f" — verantwoordelijk: {_who(v.responsible)}"
            + (" (datum verstreken)" if v.overdue else "")
            for v in summary.next_evaluations
        )
        if summary.next_evaluations
        else _paragraph("Geen evaluatiemoment gepland.")
    ]
    blocks += _items("Crisisafspraken", summary.of_kind(codes.CRISISAFSPRAAK))
    blocks += _items("Waarneming bij afwezigheid", summary.of_kind(codes.WAARNEMING))
    blocks += _items("Taken van mantelzorgers en naasten", summary.of_kind(codes.MANTELZORGTAAK))
    return div(*blocks)


def _network(roles: Sequence[RoleEntry]) -> str:
    if not roles:
        return _heading("Zorgnetwerk") + _paragraph("Geen zorgnetwerk vastgelegd.")
    rows = [
        (
            ROLES.get(r.role, "") or ", ".join(r.other_roles) or "betrokkene",
            r.party.label + (f" ({r.party.qualification})" if r.party.qualification else ""),
            r.party.organization_name or "",
            contact(r.party.telecom),
            _period(r.period),
        )
        for r in roles
    ]
    notes = [f"{ROLES[r.role]}: {r.note}" for r in roles if r.note]
    return (
        _heading("Zorgnetwerk")
        + _table(("Rol", "Wie", "Organisatie", "Contact", "Periode"), rows)
        + "".join(_paragraph(n) for n in notes)
    )


def _complaints(regie: Sequence[RoleEntry]) -> list[str]:
    if not regie:
        return []
    lines = [
        f"{r.party.label}"
        + (f", {contact(r.party.telecom)}" if r.party.telecom else "")
        + (f", {address(r.party.address)}" if address(r.party.address) else "")
        for r in regie
    ]
    return [
        _heading("Klachten"),
        _paragraph(
            "Met een klacht kunt u terecht bij uw regiebehandelaar, die de klacht naar het juiste "
            "adres doorgeleidt en bewaakt dat zij goed wordt afgehandeld: " + "; ".join(lines) + "."
        ),
    ]


def _volmacht(summary: Summary) -> list[str]:
    view = summary.volmacht
    stated = {
        True: "Het plan vermeldt dat de cliënt een volmacht heeft gegeven.",
        False: "Het plan vermeldt dat de cliënt geen volmacht heeft gegeven.",
        None: "Het plan vermeldt niet of de cliënt een volmacht heeft gegeven.",
    }[view.stated]
    holders = [
        f"{h.label}" + (f" ({contact(h.telecom)})" if h.telecom else "") + f" {_period(e.period)}"
        for e in view.entries
        for h in e.holders
    ]
    blocks = [_heading("Volmacht"), _paragraph(stated)]
    if holders:
        blocks.append(_paragraph("Gevolmachtigde: " + "; ".join(h.strip() for h in holders) + "."))
    return blocks


def _items(title: str, views: Sequence[ItemView]) -> list[str]:
    if not views:
        return [_heading(title), _paragraph("Geen vastgelegd.")]
    rows = [
        (
            v.item.description or ITEM_KINDS[v.item.kind],
            _who(v.responsible),
            ", ".join(p.label for p in v.performers) or "niet vastgelegd",
            status(v.item.status),
            v.item.notes[-1].text if v.item.notes else "",
        )
        for v in views
    ]
    return [
        _heading(title),
        _table(("Wat", "Verantwoordelijke", "Uitvoerder", "Status", "Voortgang"), rows),
    ]


# --------------------------------------------------------------------------- the checklist


def checklist_narrative(judgements: Sequence[Judgement]) -> str:
    counts = {v: sum(1 for j in judgements if j.finding.verdict == v) for v in VERDICTS}
    blocks = [
        "<h2>Toets van het zorgleefplan aan de checklists van de bronnen</h2>",
        _paragraph(", ".join(f"{n} {VERDICTS[v]}" for v, n in counts.items()) + "."),
    ]
    documents = dict.fromkeys(j.item.document for j in judgements)
    for document in documents:
        rows = [
            (
                j.item.topic,
                j.item.quote,
                VERDICTS[j.finding.verdict],
                j.finding.reason,
            )
            for j in judgements
            if j.item.document == document
        ]
        blocks += [_heading(document), _table(("Onderwerp", "Vraag", "Uitkomst", "Reden"), rows)]
    return div(*blocks)
