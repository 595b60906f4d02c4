"""An AGI client that behaves like Asterisk: the simulator's (and tests') side of FastAGI.

It sends the `agi_*` headers of a real session (see the recorded transcript
`inbound_with_ivr_agi.fastagi.jsonl`), answers each command with `200 result=...`,
and plays the caller's keypad input from a script: `dtmf` is a comma-separated list,
one entry per GET DATA / keypress prompt ("" = the caller says nothing).

What Asterisk 22.10.1 does and this client copies (ADR 0009, "Learned from Asterisk"):

- `STREAM FILE` / `GET DATA` of a prompt that is not installed answers `200 result=-1`
  while the channel stays up and the session goes on (`CHANNEL STATUS` answers 6): our
  FastAGI tells the two apart that way (ADR 0049).
- Every `SET VARIABLE` is a `VarSet` event at once, in order, repeats included.
- When the caller hangs up mid-session Asterisk writes `HANGUP` once; from then on the
  channel is dead: every command but the dead-safe ones (`GET`/`SET VARIABLE`,
  `VERBOSE`, `EXEC`, `NOOP`, `DATABASE ...`, `GOSUB`) answers
  `511 Command Not Permitted on a dead channel or intercept routine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec

SOUNDS = Path(__file__).resolve().parents[1] / "sounds"  # telephony/sounds
P = ParamSpec("P")
_SET = re.compile(r'^SET VARIABLE (\S+) "?(.*?)"?$')
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
# commands res_agi runs on a hung-up channel (its `dead` flag)
_DEAD_SAFE = (
    "GET VARIABLE",
    "GET FULL VARIABLE",
    "SET VARIABLE",
    "VERBOSE",
    "EXEC",
    "NOOP",
    "DATABASE",
    "GOSUB",
    "ASYNCAGI BREAK",
)
_MEDIA = ("STREAM FILE", "CONTROL STREAM FILE", "GET DATA", "GET OPTION", "WAIT FOR DIGIT", "SAY ")


@dataclass
class AgiResult:
    """How a session ended: the variables it set and the dialplan's AGISTATUS."""

    variables: dict[str, str] = field(default_factory=dict)
    sets: list[tuple[str, str]] = field(default_factory=list)  # every SET VARIABLE, in order
    status: str = "SUCCESS"  # SUCCESS | FAILURE (Asterisk ended it) | HANGUP
    missing_prompts: list[str] = field(default_factory=list)


async def run_agi(
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
    prompts: Collection[str] | None = None,
    dead: bool = False,
    context: str = "inbound",
    extension: str = "4008001234",
    missing: frozenset[str] = frozenset(),
    args: tuple[str, ...] = (),
) -> AgiResult:
    """One AGI session as Asterisk runs it.

    `prompts`: the prompt files installed (None: every one); `dead`: the session runs on
    a channel that has already hung up (a hangup handler); `hangup_after=N`: the caller
    hangs up during the N+1th command.
    """
    inputs = dtmf.split(",") if dtmf else []
    known = dict(variables or {})
    known["CHANNEL(linkedid)"] = linkedid or uniqueid  # as Asterisk's CHANNEL() function
    outcome = AgiResult(status="HANGUP" if dead else "SUCCESS")
    set_vars = outcome.variables
    hung_up = dead
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
            "agi_context": context,
            "agi_extension": extension,
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
            upper = line.upper()
            count += 1
            if not hung_up and hangup_after is not None and count > hangup_after:
                # the caller hangs up during this command: Asterisk says so once
                hung_up = True
                outcome.status = "HANGUP"
                writer.write(b"HANGUP\n")
                if upper.startswith(_MEDIA):
                    writer.write(b"200 result=-1\n")  # the interrupted command
                    await writer.drain()
                    continue
            if hung_up and not upper.startswith(_DEAD_SAFE):
                writer.write(DEAD.encode() + b"\n")
                await writer.drain()
                continue
            missing_prompt = _missing_prompt(line, prompts, missing)
            if missing_prompt is not None:
                # Asterisk: "File ... does not exist", result -1, the channel stays up
                outcome.missing_prompts.append(missing_prompt)
                writer.write(b"200 result=-1\n")
                await writer.drain()
                continue
            reply, stop = _answer(line, known, set_vars, inputs)
            if upper.startswith("SET VARIABLE") and (match := _SET.match(line)):
                outcome.sets.append((match.group(1), match.group(2)))
            writer.write(reply.encode() + b"\n")
            await writer.drain()
            if stop:
                break
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return outcome


def _variables_only(
    session: Callable[P, Awaitable[AgiResult]],
) -> Callable[P, Awaitable[dict[str, str]]]:
    async def variables(*args: P.args, **kwargs: P.kwargs) -> dict[str, str]:
        return (await session(*args, **kwargs)).variables

    variables.__doc__ = "`run_agi`, returning only the channel variables the server set."
    return variables


run_agi_session = _variables_only(run_agi)


def _missing_prompt(
    line: str, prompts: Collection[str] | None, missing: Collection[str] = ()
) -> str | None:
    """The prompt a `STREAM FILE` / `GET DATA` asks for when it is not installed."""
    if not line.upper().startswith(("STREAM FILE", "CONTROL STREAM FILE", "GET DATA")):
        return None
    words = line.split()
    name = words[3 if words[0].upper() == "CONTROL" else 2].strip('"')
    if name in missing or (prompts is not None and name not in prompts):
        return name
    return None


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
    if line.upper().startswith("CHANNEL STATUS"):
        return "200 result=6", False  # Up
    return "510 Invalid or unknown command", False


_AUDIO = {".gsm", ".wav", ".ulaw", ".alaw", ".sln", ".sln16", ".g722", ".mp3"}


def installed_prompts(sounds: Path) -> frozenset[str]:
    """The prompt names a `STREAM FILE` finds under an Asterisk sounds directory.

    `sounds/cc/welcome.gsm` is `cc/welcome`; a language directory in front
    (`sounds/zh/cc/welcome.gsm`) counts too, as Asterisk looks there first.
    """
    names: set[str] = set()
    if not sounds.is_dir():
        return frozenset()
    for path in sounds.rglob("*"):
        if path.suffix not in _AUDIO or not path.is_file():
            continue
        parts = path.relative_to(sounds).with_suffix("").parts
        names.add("/".join(parts))
        if len(parts) > 1:
            names.add("/".join(parts[1:]))
    return frozenset(names)
