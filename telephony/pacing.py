"""Outbound pacing: how many calls to place now (preview, progressive, predictive).

Pure and clock-free, so a whole 8-hour shift can be simulated in a second
(`simulate_shift`, used by `callcenter bench dialer` and the tests).

Predictive pacing dials ahead of free agents using the measured answer rate, and
holds the abandon rate — answered calls that found no free agent within 2 s, as a
share of answered calls, over a rolling window — at or under the cap (3 % by
default) with a feedback controller on the over-dial ratio. With no agent logged in
and free (or about to be), every mode places nothing.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field

from crm_core.domain.models import DialMode

ABANDON_GRACE_SECONDS = 2.0  # an answered call must reach an agent within this
MIN_RING_SECONDS = 15.0  # an unanswered call rings at least this long


@dataclass
class PacingState:
    """What the dialer knows when it decides (one campaign)."""

    free_agents: int
    agents_finishing_soon: int  # talking, expected free within the typical ring time
    calls_ringing: int


@dataclass
class PredictivePacer:
    cap: float = 0.03
    window: int = 200  # answered calls in the rolling abandon-rate window
    answer_rate_prior: float = 0.3
    ratio: float = 1.0
    answered: deque[bool] = field(default_factory=lambda: deque(maxlen=200))
    attempts: deque[bool] = field(default_factory=lambda: deque(maxlen=500))

    def answer_rate(self) -> float:
        if len(self.attempts) < 30:
            return self.answer_rate_prior
        return max(0.05, sum(self.attempts) / len(self.attempts))

    def abandon_rate(self) -> float:
        if not self.answered:
            return 0.0
        return sum(1 for ok in self.answered if not ok) / len(self.answered)

    def record_attempt(self, answered: bool) -> None:
        self.attempts.append(answered)

    def record_answer(self, reached_agent: bool) -> None:
        self.answered.append(reached_agent)
        rate = self.abandon_rate()
        # feedback: an abandon costs more than a reach gains, so back off hard when the
        # rolling rate nears the cap and creep up slowly while it is well under it
        if not reached_agent or rate > self.cap * 0.6:
            self.ratio = max(0.6, self.ratio * (0.8 if rate > self.cap * 0.6 else 0.95))
        elif rate < self.cap * 0.3:
            self.ratio = min(3.0, self.ratio * 1.01)

    def calls_to_place(self, state: PacingState) -> int:
        ready = state.free_agents + state.agents_finishing_soon
        if ready <= 0:
            return 0
        want = ready * self.ratio / self.answer_rate()
        return max(0, int(want) - state.calls_ringing)


def calls_to_place(mode: DialMode, state: PacingState, pacer: PredictivePacer | None) -> int:
    if mode == DialMode.PREDICTIVE and pacer is not None:
        return pacer.calls_to_place(state)
    if state.free_agents <= 0:
        return 0
    # progressive: one call per free agent; preview places the call the agent chose
    return max(0, state.free_agents - state.calls_ringing)


@dataclass
class ShiftResult:
    mode: DialMode
    agents: int
    hours: float
    dialled: int = 0
    answered: int = 0
    reached: int = 0
    abandoned: int = 0
    talk_seconds: float = 0.0

    @property
    def reached_per_agent_hour(self) -> float:
        return self.reached / (self.agents * self.hours)

    @property
    def occupancy(self) -> float:
        return self.talk_seconds / (self.agents * self.hours * 3600)

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


def simulate_shift(
    mode: DialMode,
    *,
    agents: int = 50,
    hours: float = 8.0,
    answer_rate: float = 0.3,
    talk: tuple[float, float] = (120.0, 240.0),
    wrapup: float = 10.0,
    preview_seconds: float = 15.0,
    cap: float = 0.03,
    seed: int = 1,
) -> ShiftResult:
    """Discrete-event simulation of one shift on an endless contact population."""
    rng = random.Random(seed)
    end = hours * 3600
    result = ShiftResult(mode, agents, hours)
    pacer = PredictivePacer(cap=cap) if mode == DialMode.PREDICTIVE else None
    free = agents
    busy_until: list[float] = []  # heap of times agents become free
    ringing = 0
    events: list[tuple[float, int, str]] = []  # (time, seq, kind)
    seq = itertools.count()
    waiting_answered: deque[float] = deque()  # answered, waiting for an agent (time answered)
    now = 0.0

    def start_talk(t: float) -> None:
        nonlocal free
        free -= 1
        duration = rng.uniform(*talk)
        result.reached += 1
        result.talk_seconds += min(duration, max(0.0, end - t))
        heapq.heappush(busy_until, t + duration + wrapup)
        heapq.heappush(events, (t + duration + wrapup, next(seq), "agent_free"))

    def dial(t: float) -> None:
        nonlocal ringing
        ringing += 1
        result.dialled += 1
        if rng.random() < answer_rate:
            heapq.heappush(events, (t + rng.uniform(5, 20), next(seq), "answer"))
        else:
            heapq.heappush(events, (t + rng.uniform(MIN_RING_SECONDS, 30), next(seq), "noanswer"))

    heapq.heappush(events, (0.0, next(seq), "tick"))
    while events:
        now, _, kind = heapq.heappop(events)
        if now > end:
            break
        if kind == "agent_free":
            heapq.heappop(busy_until)
            free += 1
            while waiting_answered and free > 0:
                answered_at = waiting_answered.popleft()
                if now - answered_at <= ABANDON_GRACE_SECONDS:
                    if pacer:
                        pacer.record_answer(True)
                    start_talk(now)
        elif kind == "answer":
            ringing -= 1
            result.answered += 1
            if pacer:
                pacer.record_attempt(True)
            if free > 0:
                if pacer:
                    pacer.record_answer(True)
                start_talk(now)
            else:
                waiting_answered.append(now)
                heapq.heappush(events, (now + ABANDON_GRACE_SECONDS, next(seq), "grace"))
        elif kind == "grace":
            if waiting_answered and now - waiting_answered[0] >= ABANDON_GRACE_SECONDS - 1e-9:
                waiting_answered.popleft()
                result.abandoned += 1  # plays the message; a callback is owed
                if pacer:
                    pacer.record_answer(False)
        elif kind == "noanswer":
            ringing -= 1
            if pacer:
                pacer.record_attempt(False)
        elif kind == "tick":
            soon = sum(1 for t in busy_until if t - now <= 10.0)
            state = PacingState(
                free_agents=free - len(waiting_answered),
                agents_finishing_soon=soon,
                calls_ringing=ringing,
            )
            if mode == DialMode.PREVIEW:
                # each free agent previews the card, then dials one call and waits for it
                n = calls_to_place(mode, state, None)
                for _ in range(n):
                    heapq.heappush(events, (now + preview_seconds, next(seq), "preview_dial"))
                    ringing += 1  # the agent's preview counts as a call in progress
            else:
                for _ in range(calls_to_place(mode, state, pacer)):
                    dial(now)
            heapq.heappush(events, (now + 1.0, next(seq), "tick"))
        elif kind == "preview_dial":
            ringing -= 1
            dial(now)
    return result
