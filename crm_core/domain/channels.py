"""Asterisk channel and interface names, parsed in one place (docs/adr/0071).

Pure string functions shared by the telephony adapter (the tracker, the commands) and
the console, which must not import `telephony` but matches channels to seats and
colleagues to extensions:

- a *channel* is one leg of a call: 'Local/1001@agents-00000003;1', 'PJSIP/1001-0000002a';
- an *interface* is what a queue rings: 'Local/1001@agents/n', 'PJSIP/1001';
- a *device* is the prefix both share: 'Local/1001@agents', 'PJSIP/1001'.
"""

from __future__ import annotations


def channel_device(channel: str) -> str:
    """'Local/1001@agents-00000003;1' → 'Local/1001@agents'; 'PJSIP/1-0000002a' → 'PJSIP/1'."""
    name = channel.split(";", 1)[0]
    base, sep, _ = name.rpartition("-")
    return base if sep else name


def interface_device(interface: str) -> str:
    """'Local/1001@agents/n' → 'Local/1001@agents' (the channel-name prefix)."""
    return interface[:-2] if interface.endswith("/n") else interface


def device_of(name: str) -> str:
    """The device of a channel or an interface, whichever `name` is."""
    head = name.split(";", 1)[0]
    if head.endswith("/n"):
        return head[:-2]
    return channel_device(head)


def channel_interface(channel: str) -> str:
    """The queue interface of an agent's channel: 'Local/1001@agents-0000a;1' →
    'Local/1001@agents/n' (Local members ring with /n); 'PJSIP/1001-0000a' → 'PJSIP/1001'."""
    base = channel_device(channel)
    return base + "/n" if base.startswith("Local/") else base


def extension_of(name: str) -> str:
    """The extension a channel or interface dials: 'Local/1001@agents/n' → '1001',
    'PJSIP/1001' → '1001'."""
    resource = device_of(name).split("/", 1)[-1]
    return resource.split("@", 1)[0]


def number_of(channel: str) -> str | None:
    """The digits of a channel's resource, if they are all digits:
    'Local/15557770012@customer-sim-00000012;1' → '15557770012'."""
    resource = channel.split("/", 1)[-1]
    number = resource.split("@", 1)[0].split("-", 1)[0]
    return number if number.isascii() and number.isdigit() else None
