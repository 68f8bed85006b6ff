"""Connecting to MongoDB: the client, the deployment check, the concerns, the error seam.

Shared by the store (``mongo.py``) and the authorization registry (``auth/mongo_registry.py``),
which live in the same database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pymongo import AsyncMongoClient, ReadPreference, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern

from zorgleefplan.errors import StoreUnavailable

log = logging.getLogger(__name__)

Document = dict[str, Any]

DEFAULT_DATABASE = "zorgleefplan"  # when the URL names none
WRITES = WriteConcern(w="majority", j=True)  # acknowledged once journaled on a majority
READS = ReadConcern("majority")
TRANSACTION_READS = ReadConcern("snapshot")
MIN_WIRE_VERSION = 13  # MongoDB 5.0: snapshot reads outside transactions


def deployment_problem(hello: Mapping[str, Any]) -> str | None:
    """Why the server that gave this ``hello`` reply cannot hold the store (None: it can)."""
    if hello.get("maxWireVersion", 0) < MIN_WIRE_VERSION:
        return "the store needs MongoDB 5.0 or newer (snapshot reads); this server is older"
    if hello.get("msg") == "isdbgrid" or hello.get("setName"):
        return None
    if hello.get("isreplicaset"):
        return (
            "MongoDB is started as a replica set member but the set is not initiated: "
            "run rs.initiate() once (see README.md, MongoDB)"
        )
    return (
        "MongoDB is a standalone server, but the store needs multi-document transactions, "
        "which need a replica set: start mongod with --replSet NAME and run rs.initiate() "
        "once, or point ZLP_STORE at a replica set or a mongos (see README.md, MongoDB)"
    )


def unavailable(exc: PyMongoError) -> StoreUnavailable:
    """The store error for a driver error; the details go to the log, not to the client."""
    log.warning("MongoDB request failed: %s", exc)
    return StoreUnavailable(
        f"the store could not complete the request (MongoDB: {type(exc).__name__})"
    )


@contextmanager
def translated() -> Iterator[None]:
    """The seam where driver errors become store errors."""
    try:
        yield
    except PyMongoError as exc:
        raise unavailable(exc) from exc


async def connect(url: str, timeout: float) -> AsyncMongoClient[Document]:
    """A client of a deployment that can hold the store: a replica set or a sharded cluster of
    MongoDB 5.0+. StoreUnavailable, saying why, for anything else or for silence past
    ``timeout`` seconds (never a hang)."""
    millis = int(timeout * 1000)
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=millis, connectTimeoutMS=millis, appname="zorgleefplan"
    )
    try:
        try:
            hello = await client.admin.command("hello")
        except ServerSelectionTimeoutError as exc:
            log.warning("MongoDB server selection failed: %s", exc)
            servers = client.topology_description.server_descriptions().values()
            states = "; ".join(
                str(d.error) if d.error else f"{d.address[0]}:{d.address[1]}" for d in servers
            )
            raise StoreUnavailable(
                f"MongoDB did not answer within {timeout:g} s ({states}); is it running, "
                "and is its replica set initiated?"
            ) from exc
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        problem = deployment_problem(hello)
        if problem is not None:
            raise StoreUnavailable(problem)
    except BaseException:
        await client.close()
        raise
    return client


def open_database(client: AsyncMongoClient[Document], name: str | None) -> AsyncDatabase[Document]:
    """``name``, else the database the URL names, else "zorgleefplan": majority writes
    (journaled) and reads, on the primary."""
    options: dict[str, Any] = {
        "write_concern": WRITES,
        "read_concern": READS,
        "read_preference": ReadPreference.PRIMARY,
    }
    if name is not None:
        return client.get_database(name, **options)
    return client.get_default_database(DEFAULT_DATABASE, **options)
