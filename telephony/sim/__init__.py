"""The PBX simulator: real AMI over TCP, a small call model, a control API."""

from telephony.sim.control import create_control_app
from telephony.sim.pbx import AgentPhone, CustomerPhone, Simulator, demo_simulator
from telephony.sim.traffic import DemoTraffic

__all__ = [
    "AgentPhone",
    "CustomerPhone",
    "DemoTraffic",
    "Simulator",
    "create_control_app",
    "demo_simulator",
]
