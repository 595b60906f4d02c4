"""Pacing against a simulated population (virtual time)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.domain.models import DialMode
from telephony.pacing import PacingState, PredictivePacer, calls_to_place, simulate_shift


@given(
    mode=st.sampled_from(list(DialMode)),
    ringing=st.integers(0, 50),
    soon=st.integers(0, 5),
)
@settings(max_examples=200, deadline=None)
def test_no_agent_ready_means_no_call(mode: DialMode, ringing: int, soon: int) -> None:
    pacer = PredictivePacer()
    state = PacingState(free_agents=0, agents_finishing_soon=0, calls_ringing=ringing)
    assert calls_to_place(mode, state, pacer) == 0  # never dial into an empty room


def test_progressive_places_one_call_per_free_agent() -> None:
    state = PacingState(free_agents=5, agents_finishing_soon=3, calls_ringing=2)
    assert calls_to_place(DialMode.PROGRESSIVE, state, None) == 3


def test_predictive_backs_off_when_abandons_reach_the_cap() -> None:
    pacer = PredictivePacer(cap=0.03)
    pacer.ratio = 2.0
    for _ in range(10):
        pacer.record_answer(False)
    assert pacer.ratio < 1.0


def test_shift_predictive_beats_progressive_within_the_abandon_cap() -> None:
    prog = simulate_shift(DialMode.PROGRESSIVE, agents=20, hours=2, seed=3)
    pred = simulate_shift(DialMode.PREDICTIVE, agents=20, hours=2, seed=3)
    prev = simulate_shift(DialMode.PREVIEW, agents=20, hours=2, seed=3)
    assert prog.abandoned == 0
    assert prev.abandoned == 0
    assert pred.abandon_rate <= 0.03
    assert pred.reached_per_agent_hour > 1.1 * prog.reached_per_agent_hour
    assert prog.reached_per_agent_hour > prev.reached_per_agent_hour
    assert 0 < pred.occupancy <= 1
