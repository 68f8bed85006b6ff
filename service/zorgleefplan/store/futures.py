"""Waiting for work that must run to completion even when its waiter is cancelled."""

from __future__ import annotations

import asyncio
from typing import Any


async def settle(outcome: asyncio.Future[Any]) -> None:
    """Wait until ``outcome`` is done however the wait is interrupted; its result or error
    stays with it (for the caller to inspect)."""
    while not outcome.done():
        try:
            await asyncio.shield(outcome)
        except asyncio.CancelledError:
            continue
        except BaseException:
            break
