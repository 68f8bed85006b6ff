"""The store the settings ask for: SQLite by default, MongoDB when ``ZLP_STORE`` is its URL."""

from __future__ import annotations

from zorgleefplan.config import Settings
from zorgleefplan.store.port import Store
from zorgleefplan.store.sqlite import SqliteStore


async def open_store(settings: Settings) -> Store:
    """Open the configured store (close it with ``close()``)."""
    url = settings.mongodb_url
    if url is not None:
        from zorgleefplan.store.mongo import MongoStore  # the driver loads only when used

        return await MongoStore.open(url, timeout=settings.store_timeout)
    return await SqliteStore.open(
        settings.database_path,
        readers=settings.sqlite_readers,
        synchronous=settings.sqlite_synchronous,
    )
