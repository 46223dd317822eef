"""Call deadlines come from one sweep per pool; a pool retired by a new table still ends the
calls it has in flight."""

from __future__ import annotations

import asyncio

import pytest

from controller.router.upstream import BackendPool

pytestmark = pytest.mark.unit


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # holds the request until the client gives up
    writer.close()


@pytest.mark.parametrize("retire_pool", [False, True])
def test_a_silent_backend_times_out(retire_pool: bool) -> None:
    async def scenario() -> tuple[str, float]:
        server = await asyncio.start_server(_never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[str] = loop.create_future()
        pool = BackendPool("127.0.0.1", port)
        started = loop.time()
        pool.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", False, 0.3,
                  lambda status, reason, headers, body, error: outcome.set_result(error), 1 << 20)
        if retire_pool:
            pool.close()
        error = await asyncio.wait_for(outcome, timeout=5)
        elapsed = loop.time() - started
        server.close()
        return error, elapsed

    error, elapsed = asyncio.run(scenario())
    assert error == "timeout"
    assert elapsed >= 0.3  # never before its deadline
