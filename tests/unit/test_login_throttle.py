"""The login throttle's rules (agent_console/web/throttle.py, ADR 0054): a limit per source
address and one per account, neither of which can be reset through the other, in
bounded memory."""

from __future__ import annotations

from agent_console.web.throttle import LoginThrottle, address_key
from crm_core.clock import FakeClock

WINDOW = 300.0


def throttle(clock: FakeClock, *, max_addresses: int = 50_000) -> LoginThrottle:
    return LoginThrottle(
        clock,
        max_failures=5,
        max_failures_per_address=30,
        window_seconds=WINDOW,
        max_addresses=max_addresses,
    )


async def test_an_account_locks_whatever_addresses_the_guesses_come_from() -> None:
    t = throttle(FakeClock())
    for n in range(5):
        assert await t.retry_after("agent1", f"203.0.113.{n}") == 0
        await t.failed("agent1", f"203.0.113.{n}", account_exists=True)
    assert await t.retry_after("AGENT1", "198.51.100.1") > 0  # any address, any case
    assert await t.retry_after("agent2", "198.51.100.1") == 0  # other accounts are not


async def test_spraying_usernames_from_one_address_locks_the_address() -> None:
    t = throttle(FakeClock())
    for n in range(30):
        await t.failed(f"nobody{n}", "203.0.113.5", account_exists=False)
    assert await t.retry_after("agent1", "203.0.113.5") > 0  # even a real account from there
    assert await t.retry_after("agent1", "203.0.113.6") == 0  # not from elsewhere


async def test_made_up_usernames_never_reach_the_account_table() -> None:
    """100,002 failures for made-up names from 100,002 addresses (the report's attack)
    neither clear a real account's lock nor grow memory without bound."""
    t = throttle(FakeClock(), max_addresses=1000)
    for _ in range(5):
        await t.failed("agent1", "203.0.113.1", account_exists=True)
    for n in range(100_002):
        await t.failed(
            f"ghost{n}", f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", account_exists=False
        )
    assert await t.retry_after("agent1", "198.51.100.1") > 0
    assert len(t._accounts) == 1
    assert len(t._addresses) <= 1000


async def test_a_full_address_table_never_drops_a_locked_address() -> None:
    clock = FakeClock()
    t = throttle(clock, max_addresses=100)
    for _ in range(30):
        await t.failed("ghost", "203.0.113.1", account_exists=False)  # locked, and oldest
    for n in range(5000):  # a flood of new addresses, one failure each
        await t.failed("ghost", f"10.0.{n >> 8}.{n & 255}", account_exists=False)
        await clock.advance(0.01)
    assert await t.retry_after("x", "203.0.113.1") > 0


async def test_when_every_slot_is_locked_new_addresses_go_uncounted_not_the_locks() -> None:
    t = throttle(FakeClock(), max_addresses=10)
    for n in range(10):
        for _ in range(30):
            await t.failed("ghost", f"203.0.113.{n}", account_exists=False)
    await t.failed("ghost", "198.51.100.1", account_exists=False)
    assert t.untracked == 1
    assert all([await t.retry_after("x", f"203.0.113.{n}") > 0 for n in range(10)])


async def test_a_success_clears_its_account_but_never_the_address() -> None:
    t = throttle(FakeClock())
    for n in range(29):
        await t.failed(f"ghost{n}", "203.0.113.9", account_exists=False)
    for _ in range(4):
        await t.failed("agent1", "198.51.100.1", account_exists=True)
    await t.succeeded("agent1", "203.0.113.9")  # the attacker knows one real password
    await t.failed("ghost-last", "203.0.113.9", account_exists=False)
    assert await t.retry_after("anyone", "203.0.113.9") > 0  # the address still locks
    await t.failed("agent1", "198.51.100.1", account_exists=True)
    assert await t.retry_after("agent1", "198.51.100.1") == 0  # 1 of 5 after the success


async def test_a_lock_ends_with_its_window_and_says_how_long() -> None:
    clock = FakeClock()
    t = throttle(clock)
    for _ in range(5):
        await t.failed("agent1", "203.0.113.1", account_exists=True)
    await clock.advance(100)
    wait = await t.retry_after("agent1", "203.0.113.1")
    assert 199 <= wait <= 200
    await clock.advance(200)
    assert await t.retry_after("agent1", "203.0.113.1") == 0
    await t.failed("agent1", "203.0.113.1", account_exists=True)  # a new window: 1 of 5
    assert await t.retry_after("agent1", "203.0.113.1") == 0


def test_ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:203.0.113.4") == "203.0.113.4"
    assert address_key(" 203.0.113.4 ") == "203.0.113.4"
    assert address_key("not an address") == "not an address"
