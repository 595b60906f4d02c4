"""The composition root (docs/adr/0073): `Runtime` builds every part once from
Settings, starts them in order and stops them in reverse. One module per part it
builds: `storage` (database, bus), `telephony` (simulator, AMI readers, dialer,
leases, health), `rules` (call log, rules, callbacks, deadlines, effects, FastAGI),
`console` (the HTTP console, its shared state, demo traffic); `runtime` holds the
start order and owns what was started (`owner.Owner`)."""

from callcenter.wiring.owner import Part
from callcenter.wiring.runtime import Components, DemoOptions, Runtime

__all__ = ["Components", "DemoOptions", "Part", "Runtime"]
