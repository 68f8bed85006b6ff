"""``zorgleefplan demo`` on the command line: it prints the logins, and after the demo client
erased her plan it refuses to bring it back under the same ids, with a message, not a trace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from zorgleefplan.cli import main
from zorgleefplan.config import Settings
from zorgleefplan.plan import demo_network as demo
from zorgleefplan.store.sqlite import SqliteStore


async def _erase(settings: Settings) -> int:
    store = await SqliteStore.open(settings.database_path)
    try:
        async with store.transaction() as tx:
            return (await tx.erase_compartment(demo.CLIENT)).total
    finally:
        await store.close()


def test_the_demo_prints_its_logins_and_will_not_resurrect_an_erased_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    assert main(["demo", "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    for login in demo.LOGINS:
        assert f"  {login.username} " in printed and login.fhir_user in printed
    assert demo.PGO_APP in printed and demo.EHR_APP in printed
    assert f"serve --data-dir {data_dir}" in printed

    assert asyncio.run(_erase(Settings(data_dir=data_dir))) > 20
    assert main(["demo", "--data-dir", str(data_dir)]) == 2
    failure = capsys.readouterr()
    assert failure.out == "" and "Traceback" not in failure.err
    assert "erased" in failure.err and "--data-dir" in failure.err
