"""The production phones and carrier trunk (`pbx-config --phones pjsip`): pjsip.conf, rtp.conf.

Each agent's and lead's phone is a PJSIP endpoint named by its extension; its password is
derived from the service's secret key and the extension (HMAC), so rendering twice gives
the same passwords and no password is stored anywhere but in the render and the phones.
`pbx-config` writes them to `DIR/phone-secrets.txt` (mode 0600) for provisioning.
The carrier is one endpoint `carrier`: calls from its address land in `[inbound]`, calls
to it go out as `PJSIP/<number>@carrier`, registering when a username is set.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

_EXTENSION = re.compile(r"^(?:PJSIP|Local)/(\d{2,8})(?:@[\w-]+)?(?:/n)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SipPlan:
    extensions: tuple[str, ...] = ()
    secret_key: str = ""
    carrier_host: str = ""  # host[:port]; empty: no trunk rendered
    carrier_username: str = ""
    carrier_password: str = ""
    external_address: str = ""  # the PBX's public address behind NAT
    rtp_start: int = 10000
    rtp_end: int = 10099


def extensions_of(interfaces: Iterable[str | None]) -> tuple[str, ...]:
    """Phone extensions from users' interfaces (`PJSIP/1001`, `Local/1001@agents/n`)."""
    found = set()
    for interface in interfaces:
        match = _EXTENSION.match(interface or "")
        if match:
            found.add(match.group(1))
    return tuple(sorted(found))


def phone_secret(secret_key: str, extension: str) -> str:
    digest = hmac.new(secret_key.encode(), f"phone:{extension}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def pjsip_conf(plan: SipPlan) -> str:
    nat = ""
    if plan.external_address:
        nat = (
            f"external_media_address = {plan.external_address}\n"
            f"external_signaling_address = {plan.external_address}\n"
        )
    out = [
        f"""; rendered by `callcenter pbx-config --phones pjsip`
[transport-udp]
type = transport
protocol = udp
bind = 0.0.0.0:5060
{nat}"""
    ]
    for ext in plan.extensions:
        out.append(
            f"""[{ext}]
type = endpoint
context = from-phone
disallow = all
allow = g722,alaw,ulaw
auth = {ext}
aors = {ext}
callerid = <{ext}>
direct_media = no
rtp_symmetric = yes
rewrite_contact = yes
force_rport = yes

[{ext}]
type = auth
auth_type = userpass
username = {ext}
password = {phone_secret(plan.secret_key, ext)}

[{ext}]
type = aor
max_contacts = 1
remove_existing = yes
qualify_frequency = 30
"""
        )
    if plan.carrier_host:
        out.append(_carrier(plan))
    return "\n".join(out)


def _carrier(plan: SipPlan) -> str:
    host = plan.carrier_host
    address = host.split(":")[0]
    text = f"""[carrier]
type = endpoint
context = inbound
disallow = all
allow = alaw,ulaw
aors = carrier
from_domain = {address}
direct_media = no
rtp_symmetric = yes
"""
    if plan.carrier_username:
        text += f"""outbound_auth = carrier-auth

[carrier-auth]
type = auth
auth_type = userpass
username = {plan.carrier_username}
password = {plan.carrier_password}

[carrier-registration]
type = registration
outbound_auth = carrier-auth
server_uri = sip:{host}
client_uri = sip:{plan.carrier_username}@{host}
retry_interval = 30
"""
    text += f"""
[carrier]
type = aor
contact = sip:{host}

[carrier-identify]
type = identify
endpoint = carrier
match = {address}
"""
    return text


def rtp_conf(plan: SipPlan) -> str:
    return f"[general]\nrtpstart = {plan.rtp_start}\nrtpend = {plan.rtp_end}\n"


def phone_secrets_txt(plan: SipPlan) -> str:
    lines = ["# extension  password  (provision each phone with its own; keep this file private)"]
    lines += [f"{ext}  {phone_secret(plan.secret_key, ext)}" for ext in plan.extensions]
    return "\n".join(lines) + "\n"
