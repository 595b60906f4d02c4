"""What Asterisk 22.10.1 showed and the simulator now does the same (ADR 0009).

The AGI side is driven by a scripted FastAGI peer that sends raw commands and keeps
Asterisk's (the simulator's) answers; the AMI side by a raw socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from telephony.sim import Simulator, create_control_app, demo_simulator
from telephony.sim.agi_caller import DEAD, AgiResult, run_agi


async def _script(commands: list[str], **kw: object) -> tuple[AgiResult, list[str]]:
    """Run `commands` as a FastAGI script against the AGI client; its answers, in order."""
    answers: list[str] = []
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass  # the agi_* headers
        for command in commands:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            line = (await reader.readline()).decode().strip()
            if not line:
                break
            if line == "HANGUP":
                answers.append(line)
                line = (await reader.readline()).decode().strip()
            answers.append(line)
        writer.close()
        done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run_agi(
            "127.0.0.1",
            port,
            "welcome",
            channel="PJSIP/trunk-00000001",
            uniqueid="1700000000.1",
            caller_number="13800138000",
            caller_name="张三",
            **kw,  # type: ignore[arg-type]
        )
        await asyncio.wait_for(done.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()
    return result, answers


async def test_stream_file_of_a_missing_prompt_answers_minus_one_and_the_channel_stays_up() -> None:
    """Seen on Asterisk 22.10.1 (ADR 0049): -1, yet the session and the channel go on."""
    result, answers = await _script(
        ['SET VARIABLE CC_IVR_STEP "welcome:start"', 'STREAM FILE cc/welcome ""', "CHANNEL STATUS"],
        prompts={"cc/goodbye"},
    )
    assert answers == ["200 result=1", "200 result=-1", "200 result=6"]
    assert result.status == "SUCCESS"
    assert result.missing_prompts == ["cc/welcome"]
    assert result.sets == [("CC_IVR_STEP", "welcome:start")]


async def test_get_data_of_a_missing_prompt_answers_minus_one_and_goes_on() -> None:
    result, answers = await _script(
        ["GET DATA cc/main-menu 5000 1", 'STREAM FILE cc/goodbye ""'],
        prompts={"cc/goodbye"},
    )
    assert answers == ["200 result=-1", "200 result=0 endpos=8000"]
    assert result.status == "SUCCESS"


async def test_every_set_variable_is_kept_in_order() -> None:
    result, _ = await _script(
        ['SET VARIABLE CC_IVR_STEP "welcome:start"', 'SET VARIABLE CC_IVR_STEP "welcome:done"']
    )
    assert result.sets == [("CC_IVR_STEP", "welcome:start"), ("CC_IVR_STEP", "welcome:done")]
    assert result.variables == {"CC_IVR_STEP": "welcome:done"}


async def test_a_dead_channel_refuses_all_but_the_dead_safe_commands() -> None:
    result, answers = await _script(
        ["ANSWER", "GET VARIABLE MEMBERNAME", 'SET VARIABLE CC_SCORE "5"', "GET DATA x 100 1"],
        dead=True,
        variables={"MEMBERNAME": "Agent 1001"},
    )
    assert answers == [DEAD, "200 result=1 (Agent 1001)", "200 result=1", DEAD]
    assert DEAD == "511 Command Not Permitted on a dead channel or intercept routine"
    assert result.status == "HANGUP"


async def test_a_hangup_mid_session_is_said_once_then_the_channel_is_dead() -> None:
    _, answers = await _script(
        ["ANSWER", 'STREAM FILE cc/welcome ""', "GET DATA cc/main-menu 5000 1", "VERBOSE x 1"],
        hangup_after=1,
    )
    assert answers == ["200 result=0", "HANGUP", "200 result=-1", DEAD, "200 result=1"]


# --- AMI: `manager kick session` -------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = demo_simulator(ami_secret="pw", preload_members=True, answer_after=None)
    await simulator.start()
    yield simulator
    await simulator.stop()


async def _login(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"Action: Login\r\nActionID: l\r\nUsername: callcenter\r\nSecret: pw\r\n\r\n")
    got = b""
    while b"Fully Booted" not in got:
        chunk = await asyncio.wait_for(reader.read(4096), 5)
        assert chunk, got
        got += chunk
    return reader, writer, got


async def test_a_kicked_session_is_closed_silently_and_calls_go_on(sim: Simulator) -> None:
    reader, writer, _ = await _login(sim.port)
    call_id = sim.place_call("13800138000", "张三", "support")
    while b"AgentCalled" not in (await asyncio.wait_for(reader.read(65536), 5)):
        pass
    root = web.Application()
    root.add_subapp("/sim/", create_control_app(sim))
    runner = web.AppRunner(root)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{runner.addresses[0][1]}/sim/ami/kick") as res,
        ):
            assert res.status == 200
            assert await res.json() == {"kicked": 1}
    finally:
        await runner.cleanup()
    rest = b""
    while chunk := await asyncio.wait_for(reader.read(65536), 5):
        rest += chunk
    assert b"Event:" not in rest  # Asterisk says nothing
    assert b"Goodbye" not in rest
    writer.close()
    assert call_id in sim.calls  # the PBX goes on ringing the agent
    # back again: the banner, the login's answer and FullyBooted, nothing of the gap
    _r, again, got = await _login(sim.port)
    assert got.startswith(b"Asterisk Call Manager/")
    assert b"Authentication accepted" in got
    assert b"Event: FullyBooted" in got
    again.close()
