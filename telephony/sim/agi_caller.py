"""An AGI client that behaves like Asterisk: the simulator's (and tests') side of FastAGI.

It sends the `agi_*` headers of a real session (see the recorded transcript
`inbound_with_ivr_agi.fastagi.jsonl`), answers each command with `200 result=...`,
and plays the caller's keypad input from a script: `dtmf` is a comma-separated list,
one entry per GET DATA / keypress prompt ("" = the caller says nothing).

Prompts named in `missing` are not on this "PBX": like a real Asterisk, playing one
answers `200 result=-1` and the channel stays up (`CHANNEL STATUS` answers 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import re

_SET = re.compile(r'^SET VARIABLE (\S+) "?(.*?)"?$')


async def run_agi_session(
    host: str,
    port: int,
    route: str,
    *,
    channel: str,
    uniqueid: str,
    caller_number: str,
    caller_name: str,
    dtmf: str = "",
    timeout: float = 10.0,
    variables: dict[str, str] | None = None,
    hangup_after: int | None = None,
    linkedid: str | None = None,
    missing: frozenset[str] = frozenset(),
    args: tuple[str, ...] = (),
) -> dict[str, str]:
    """Run one AGI session; returns the channel variables the server set.

    `hangup_after=N` makes the caller hang up after N commands (to test every step).
    """
    inputs = dtmf.split(",") if dtmf else []
    known = dict(variables or {})
    known["CHANNEL(linkedid)"] = linkedid or uniqueid  # as Asterisk's CHANNEL() function
    set_vars: dict[str, str] = {}
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        headers = {
            "agi_network": "yes",
            "agi_network_script": route,
            "agi_request": f"agi://{host}:{port}/{route}",
            "agi_channel": channel,
            "agi_language": "en",
            "agi_type": channel.split("/", 1)[0],
            "agi_uniqueid": uniqueid,
            "agi_version": "22.10.1",
            "agi_callerid": caller_number or "unknown",
            "agi_calleridname": caller_name or "unknown",
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": "unknown",
            "agi_rdnis": "unknown",
            "agi_context": "inbound",
            "agi_extension": "4008001234",
            "agi_priority": "3",
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": "140000000000000",
            # AGI(url,arg1,…) as Asterisk sends them: agi_arg_1 …
            **{f"agi_arg_{n}": value for n, value in enumerate(args, start=1)},
        }
        writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
        await writer.drain()
        count = 0
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout)
            if not raw:
                break
            line = raw.decode("utf-8", "replace").strip()
            count += 1
            if hangup_after is not None and count > hangup_after:
                writer.write(b"HANGUP\n200 result=-1\n")
                await writer.drain()
                continue
            reply, stop = _answer(line, known, set_vars, inputs, missing)
            writer.write(reply.encode() + b"\n")
            await writer.drain()
            if stop:
                break
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return set_vars


def _answer(
    line: str,
    known: dict[str, str],
    set_vars: dict[str, str],
    inputs: list[str],
    missing: frozenset[str] = frozenset(),
) -> tuple[str, bool]:
    word = line.split(" ", 1)[0].upper()
    if line.upper().startswith(("STREAM FILE ", "GET DATA ")) and line.split()[2] in missing:
        # a real Asterisk: "File ... does not exist in any format", -1, channel still up
        return ("200 result=-1 endpos=0" if word == "STREAM" else "200 result=-1"), False
    if line.upper().startswith("CHANNEL STATUS"):
        return "200 result=6", False  # AST_STATE_UP
    if line.upper().startswith("SET VARIABLE"):
        match = _SET.match(line)
        if match:
            known[match.group(1)] = set_vars[match.group(1)] = match.group(2)
        return "200 result=1", False
    if line.upper().startswith("GET VARIABLE"):
        name = line.split()[2]
        return (f"200 result=1 ({known[name]})" if name in known else "200 result=0"), False
    if line.upper().startswith("GET DATA"):
        given = inputs.pop(0) if inputs else ""
        return (f"200 result={given}" if given else "200 result= (timeout)"), False
    if line.upper().startswith("STREAM FILE"):
        escape = line.rsplit(" ", 1)[-1].strip('"')
        if inputs and inputs[0] and inputs[0][0] in escape:
            digit = inputs.pop(0)[0]
            return f"200 result={ord(digit)} endpos=8000", False
        return "200 result=0 endpos=8000", False
    if word == "HANGUP":
        return "200 result=1", True
    if word in ("ANSWER", "EXEC") or line.upper().startswith(("SAY ", "WAIT FOR DIGIT")):
        return "200 result=0", False
    if word == "VERBOSE":
        return "200 result=1", False
    return "510 Invalid or unknown command", False
