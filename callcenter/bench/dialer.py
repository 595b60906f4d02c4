"""`callcenter bench dialer`: 50 agents, a virtual 8-hour shift per mode, same population
(answer rate 30 %, talk 2-4 min): contacts reached per agent-hour, occupancy, abandon rate."""

from __future__ import annotations

import argparse
import json

from callcenter.settings import Settings
from crm_core.domain.models import DialMode
from telephony.pacing import simulate_shift


def run(args: argparse.Namespace, settings: Settings) -> int:
    hours = 1.0 if args.quick else 8.0
    results = {
        mode: simulate_shift(
            mode,
            agents=50,
            hours=hours,
            answer_rate=0.3,
            talk=(120.0, 240.0),
            cap=settings.abandon_rate_cap,
            seed=7,
        )
        for mode in (DialMode.PREVIEW, DialMode.PROGRESSIVE, DialMode.PREDICTIVE)
    }
    for mode, r in results.items():
        print(
            f"{mode.value:12s} dialled {r.dialled:6d}  reached {r.reached:5d}  "
            f"reached/agent-hour {r.reached_per_agent_hour:5.2f}  "
            f"occupancy {r.occupancy:6.1%}  abandon rate {r.abandon_rate:6.2%}"
        )
    pred, prog = results[DialMode.PREDICTIVE], results[DialMode.PROGRESSIVE]
    print(
        json.dumps(
            {
                "bench": "dialer",
                "agents": 50,
                "hours": hours,
                "predictive_vs_progressive": round(
                    pred.reached_per_agent_hour / prog.reached_per_agent_hour, 3
                ),
                "predictive_abandon_rate": round(pred.abandon_rate, 4),
                "preview_reached_per_agent_hour": round(
                    results[DialMode.PREVIEW].reached_per_agent_hour, 2
                ),
                "progressive_reached_per_agent_hour": round(prog.reached_per_agent_hour, 2),
                "predictive_reached_per_agent_hour": round(pred.reached_per_agent_hour, 2),
                "predictive_occupancy": round(pred.occupancy, 3),
            }
        )
    )
    return 0
