"""The demo's callers: no customer on two lines at once."""

from __future__ import annotations

from crm_core.clock import FakeClock
from telephony.sim import demo_simulator
from telephony.sim.traffic import CALLERS, DemoTraffic


async def test_a_caller_already_on_the_line_is_not_placed_again() -> None:
    sim = demo_simulator(ami_secret="x", clock=FakeClock())
    await sim.start("127.0.0.1", 0)
    try:
        traffic = DemoTraffic(sim, seed=7)
        for _ in range(len(CALLERS) + 5):
            traffic.place_one()
        numbers = [call.caller_number for call in sim.calls.values()]
    finally:
        await sim.stop()
    assert len(numbers) == len(set(numbers)) == len(CALLERS) + 5
    known = {number for number, _name in CALLERS}
    assert known <= set(numbers)  # every known caller first, then unknown numbers
    assert all(n.startswith("1") and len(n) == 11 for n in set(numbers) - known)
