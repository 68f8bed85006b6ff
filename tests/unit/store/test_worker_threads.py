"""WorkerThreads: results and errors reach the awaiting coroutine; a cancelled wait drops the
result without stopping the job; shutdown finishes what was queued."""

from __future__ import annotations

import asyncio
import threading

import pytest

from zorgleefplan.store.worker_threads import WorkerThreads


async def test_results_and_errors_come_back_from_another_thread() -> None:
    threads = WorkerThreads(2, "t")
    try:
        main = threading.get_ident()
        assert await threads.run(threading.get_ident) != main
        assert await asyncio.gather(*(threads.run(lambda i=i: i * i) for i in range(50))) == [
            i * i for i in range(50)
        ]

        def boom() -> None:
            raise ValueError("kapot")

        with pytest.raises(ValueError, match="kapot"):
            await threads.run(boom)
    finally:
        threads.shutdown()


async def test_a_cancelled_wait_does_not_stop_the_job_and_shutdown_drains() -> None:
    threads = WorkerThreads(1, "t")
    release = threading.Event()
    done: list[str] = []

    def slow() -> str:
        release.wait(5)
        done.append("slow")
        return "slow"

    waiting = asyncio.ensure_future(threads.run(slow))
    queued = threads.run(lambda: done.append("queued"))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await queued
    threads.shutdown()
    assert done == ["slow", "queued"]
    assert waiting.cancelled()
