"""The revocation feed: revocations by another process reach this one's list; expired
registry rows are purged now and then."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from zorgleefplan.auth.registry import RevocationBatch, RevokedToken
from zorgleefplan.auth.services import RevocationFeed
from zorgleefplan.auth.tokens import MemoryRevokedTokens


class FakeRegistry:
    def __init__(self) -> None:
        self.pending: list[RevokedToken] = []
        self.purges = 0
        self.polls = 0

    async def revoked_access_tokens(self, cursor: str | None = None) -> RevocationBatch:
        self.polls += 1
        tokens, self.pending = tuple(self.pending), []
        return RevocationBatch(tokens, str(self.polls))

    async def purge_expired(self) -> int:
        self.purges += 1
        return 0


async def test_the_feed_carries_revocations_and_purges_every_n_polls() -> None:
    registry = FakeRegistry()
    revoked = MemoryRevokedTokens()
    feed = RevocationFeed(registry, revoked, interval=0.01, purge_every=3)  # type: ignore[arg-type]
    registry.pending.append(RevokedToken("jti-1", datetime.now(UTC) + timedelta(minutes=5)))
    feed.start()
    try:
        for _ in range(200):
            if revoked.is_revoked("jti-1") and registry.purges >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await feed.stop()
    assert revoked.is_revoked("jti-1")
    assert registry.purges >= 2
    assert registry.polls >= 3 * registry.purges
