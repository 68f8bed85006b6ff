"""What the MongoDB adapter decides without a server: which deployments it refuses, and that
an unreachable server is a clear error within the configured time, not a hang. (Its reads and
writes are the contract suite's, run against a real MongoDB when ZLP_TEST_MONGODB_URL is set.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from zorgleefplan.config import Settings
from zorgleefplan.store.mongo_connection import deployment_problem

REPLICA_SET = {"setName": "rs0", "isWritablePrimary": True, "maxWireVersion": 21}


def test_a_replica_set_or_a_mongos_can_hold_the_store() -> None:
    assert deployment_problem(REPLICA_SET) is None
    assert deployment_problem({"msg": "isdbgrid", "maxWireVersion": 25}) is None


def test_a_standalone_server_is_refused_with_what_to_do() -> None:
    problem = deployment_problem({"isWritablePrimary": True, "maxWireVersion": 21})
    assert problem is not None
    assert "standalone" in problem and "--replSet" in problem and "rs.initiate()" in problem


def test_an_uninitiated_replica_set_member_is_told_to_initiate() -> None:
    problem = deployment_problem({"isreplicaset": True, "maxWireVersion": 21})
    assert problem is not None and "not initiated" in problem and "rs.initiate()" in problem


def test_a_server_before_5_0_is_refused() -> None:
    problem = deployment_problem({**REPLICA_SET, "maxWireVersion": 9})  # 4.4
    assert problem is not None and "5.0" in problem


def test_an_unreachable_server_fails_fast_and_says_so() -> None:
    # In a child process: PyMongo leaves the socket of a connect its monitor was cancelled in
    # to the garbage collector, which this suite's warnings-as-errors would blame on a later
    # test. Port 1 (tcpmux) is privileged and served nowhere this runs.
    child = (
        "import asyncio, time\n"
        "from zorgleefplan.errors import StoreUnavailable\n"
        "from zorgleefplan.store.mongo import MongoStore\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    asyncio.run(MongoStore.open('mongodb://127.0.0.1:1/zlp', timeout=0.5))\n"
        "except StoreUnavailable as exc:\n"
        "    print(round(time.monotonic() - started, 3), exc.diagnostics)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    elapsed, _, message = done.stdout.strip().partition(" ")
    assert float(elapsed) < 5
    assert "127.0.0.1:1" in message and "did not answer within 0.5 s" in message


def test_settings_choose_the_store_by_url() -> None:
    assert Settings().mongodb_url is None
    url = "mongodb://user:s3cr3t-pw@db1,db2/zlp?replicaSet=rs0"
    settings = Settings(store=url)
    assert settings.mongodb_url == url
    assert "s3cr3t-pw" not in repr(settings)
    assert Settings(store="mongodb+srv://cluster.example/zlp").mongodb_url is not None
    with pytest.raises(ValueError, match="mongodb://"):
        Settings(store="postgres://x")
