"""The `pbx` suite: every telephony behaviour proved on a real Asterisk (ADR 0040).

One Asterisk and one `callcenter serve` per test session (`stack`); each test gets
its own AMI control connection (`ami`) and starts from a quiet PBX: no channels, no
agent signed in, every phone back to its default behaviour.

Without Asterisk on the machine the suite is skipped, naming how to install it; with
`CALLCENTER_TEST_PBX=required` (CI) a missing Asterisk fails instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.pbx.board import assert_board_matches_pbx
from tests.pbx.harness import AGENTS, AmiControl, Api, PbxStack, asterisk_binary, wait_for

REQUIRED = os.environ.get("CALLCENTER_TEST_PBX", "") == "required"
MISSING = (
    "no Asterisk on this machine: `bash ../shared/asterisk/install` installs the real "
    "Asterisk 22 the pbx suite runs against"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.pbx)
            if asterisk_binary() is None and not REQUIRED:
                item.add_marker(pytest.mark.skip(reason=MISSING))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PbxStack]:
    if asterisk_binary() is None:
        raise AssertionError(MISSING + " (CALLCENTER_TEST_PBX=required)")
    pbx = PbxStack(tmp_path_factory.mktemp("pbx"))
    try:
        pbx.start()
        yield pbx
    finally:
        pbx.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def ami(stack: PbxStack, http: aiohttp.ClientSession) -> AsyncIterator[AmiControl]:
    """The test's AMI connection, after the PBX and the service are back to quiet.

    Every scenario ends with the board equal to the PBX (tests/pbx/board.py)."""
    control = AmiControl(stack.ami_port)
    await control.start()
    try:
        await quiet(stack, control, http)
        yield control
        await assert_board_matches_pbx(control, await Api(stack, http, "manager1").login())
    finally:
        await control.hangup_all()
        await control.stop()


async def quiet(stack: PbxStack, control: AmiControl, http: aiohttp.ClientSession) -> None:
    await control.hangup_all()
    for _, (ext, _member) in AGENTS.items():
        await control.phone(ext, answer_after=2, talk=0)
    for username in AGENTS:
        api = await Api(stack, http, username).login()
        await api.request("POST", "/api/agent/state", {"action": "sign_out"})

    left: list[str] = []

    async def no_members() -> bool:
        # what the service could not undo (its AMI link still coming back after a
        # restart, say) the test's own connection does: the PBX is the truth
        status = await control.queue_status()
        members = [m for m in status if m.get("Event") == "QueueMember"]
        entries = [m for m in status if m.get("Event") == "QueueEntry"]
        channels = await control.action("CoreShowChannels")
        live = [m for m in channels if m.get("Event") == "CoreShowChannel"]
        for member in members:
            await control.action("QueueRemove", Queue=member["Queue"], Interface=member["Location"])
        for channel in live:
            await control.action("Hangup", Channel=channel["Channel"])
        left[:] = [m["Name"] for m in members] + [c["Channel"] for c in live]
        return not members and not entries and not live

    await wait_for(no_members, timeout=30, what=f"a quiet PBX before the test (left: {left})")


@pytest.fixture
async def agent1(stack: PbxStack, http: aiohttp.ClientSession) -> Api:
    return await Api(stack, http, "agent1").login()


@pytest.fixture
async def manager(stack: PbxStack, http: aiohttp.ClientSession) -> Api:
    return await Api(stack, http, "manager1").login()


@pytest.fixture
async def agent2(stack: PbxStack, http: aiohttp.ClientSession) -> Api:
    return await Api(stack, http, "agent2").login()
