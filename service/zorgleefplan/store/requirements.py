"""The references a transaction must find when it commits (``Transaction.require``)."""

from __future__ import annotations

from collections.abc import Sequence

from zorgleefplan.store.model import AccessConstraint


class RequiredReferences:
    """Required keys grouped by the access constraint each is checked under, in order, once."""

    def __init__(self) -> None:
        self._keys: dict[AccessConstraint, dict[tuple[str, str], None]] = {}

    def add(self, keys: Sequence[tuple[str, str]], access: AccessConstraint) -> None:
        self._keys.setdefault(access, {}).update(dict.fromkeys(keys))

    def by_access(self) -> list[tuple[AccessConstraint, list[tuple[str, str]]]]:
        return [(access, list(keys)) for access, keys in self._keys.items()]
