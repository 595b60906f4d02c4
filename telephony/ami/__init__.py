"""AMI: framing (ours, bytes-safe), the client (the only user of panoramisk's Manager)."""
