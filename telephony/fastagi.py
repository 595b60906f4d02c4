"""A FastAGI server of our own (docs/adr/0011-own-fastagi.md).

panoramisk 1.4's FastAGI wraps non-async handlers with the removed
`asyncio.coroutine` and can spin forever on a half-sent header block, so the
framing here is ours: headers are read with a size bound and a timeout (a silent
client or one that disconnects mid-headers is dropped without stalling anyone),
every command has a hard timeout, `HANGUP` / `200 result=-1` / a lost connection
raise `AgiHangup` in the flow, and every session task is owned and awaited on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Mapping

from crm_core.ports.agi import AgiChannel, AgiHangup

log = logging.getLogger(__name__)

Flow = Callable[[AgiChannel], Awaitable[None]]
_RESULT = re.compile(r"^200 result=(-?\d*)(?:\s+\((.*)\))?")
# commands that play a file: (words of the command, index of the file name)
_PLAYING = (("STREAM FILE ", 2), ("GET DATA ", 2), ("GET OPTION ", 2), ("CONTROL STREAM FILE ", 3))
MAX_HEADER_BYTES = 16 * 1024
_DEFAULT_DATETIME_FORMAT = "ABdY 'digits/at' IMp"  # res_agi's own default


class AgiProtocolError(Exception):
    pass


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


class FastAgiChannel:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: dict[str, str],
        command_timeout: float,
        on_missing_prompt: Callable[[str], None] | None = None,
        play_timeout: float = 120.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._env = env
        self.command_timeout = command_timeout
        # a command that plays a prompt (and waits for keys) answers when the prompt and
        # the wait are over: a main menu of 8 s + 5 s must not count as a silent PBX
        self.play_timeout = max(play_timeout, command_timeout)
        self.hung_up = False
        self.commands: list[str] = []
        self.missing_prompts: list[str] = []
        self._on_missing_prompt = on_missing_prompt

    @property
    def env(self) -> dict[str, str]:
        return self._env

    @property
    def caller_number(self) -> str:
        value = self._env.get("callerid", "")
        return "" if value in ("unknown", "<unknown>") else value

    @property
    def caller_name(self) -> str:
        value = self._env.get("calleridname", "")
        return "" if value in ("unknown", "<unknown>") else value

    @property
    def uniqueid(self) -> str:
        return self._env.get("uniqueid", "")

    async def command(self, line: str) -> tuple[str, str]:
        """Send one AGI command; returns (`result=` text, the parenthesised data)."""
        if self.hung_up:
            raise AgiHangup("channel already hung up")
        self.commands.append(line)
        try:
            self._writer.write((line + "\n").encode("utf-8"))
            await self._writer.drain()
            limit = self.play_timeout if _prompt_of(line) else self.command_timeout
            while True:
                # asyncio.timeout, not wait_for: no extra task per command (3.11's wait_for
                # wraps the read in one), which showed in the p99 with 200 sessions open
                async with asyncio.timeout(limit):
                    raw = await self._reader.readline()
                if not raw:
                    raise AgiHangup("AGI connection closed")
                text = raw.decode("utf-8", "replace").strip()
                if text == "HANGUP":
                    self.hung_up = True  # Asterisk tells us, then keeps answering commands
                    continue
                break
        except TimeoutError as exc:
            raise AgiHangup(
                f"no answer to {' '.join(line.split()[:2])} within {limit:g} s"
            ) from exc
        except (ConnectionError, OSError) as exc:
            raise AgiHangup(f"AGI connection lost: {exc}") from exc
        if text.startswith("511"):
            raise AgiHangup("command on a dead channel")
        match = _RESULT.match(text)
        if match is None:
            raise AgiProtocolError(f"unexpected AGI reply {text!r} to {line!r}")
        result = match.group(1)
        if result == "-1" and not line.startswith("HANGUP"):
            prompt = _prompt_of(line)
            if prompt and not self.hung_up and await self._still_up():
                # Asterisk answers -1 for a prompt file it does not have, and the
                # channel stays up: the flow goes on as if it played with no key pressed
                self.missing_prompt(prompt)
                return "", ""
            self.hung_up = True
            raise AgiHangup("caller hung up")
        return result, match.group(2) or ""

    async def _still_up(self) -> bool:
        """After a -1: is the caller still there? (`CHANNEL STATUS` 0-7; a hung-up caller
        gets -1, 511 on a dead channel, or a HANGUP line first.)"""
        try:
            result, _ = await self.command("CHANNEL STATUS")
        except AgiHangup:
            return False
        return not self.hung_up and result.isdigit()

    def missing_prompt(self, prompt: str) -> None:
        self.missing_prompts.append(prompt)
        if self._on_missing_prompt is not None:
            self._on_missing_prompt(prompt)

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        with contextlib.suppress(AgiHangup):
            await self.command("HANGUP")

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {_quote(message)} {level}")

    async def get_variable(self, name: str) -> str | None:
        result, data = await self.command(f"GET VARIABLE {name}")
        return data if result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {_quote(value)}")

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        result, _ = await self.command(f'STREAM FILE {prompt} "{escape_digits}"')
        code = int(result or 0)
        return chr(code) if code > 0 else None

    async def get_data(
        self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1
    ) -> str | None:
        digits, _ = await self.command(f"GET DATA {prompt} {timeout_ms} {max_digits}")
        return digits or None  # "" is a timeout without input

    async def say_digits(self, digits: str) -> None:
        await self.command(f'SAY DIGITS {digits} ""')

    async def say_number(self, number: int) -> None:
        await self.command(f'SAY NUMBER {number} ""')

    async def say_datetime(self, epoch_seconds: int, format: str = "", timezone: str = "") -> None:
        line = f'SAY DATETIME {epoch_seconds} ""'
        if format or timezone:  # the time zone is the 4th argument: it needs a format before it
            line += f" {_quote(format or _DEFAULT_DATETIME_FORMAT)}"
        if timezone:
            line += f" {timezone}"
        await self.command(line)


class FastAgiServer:
    def __init__(
        self,
        routes: Mapping[str, Flow],
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
        play_timeout: float = 120.0,
        allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128"),
        secret: str = "",
    ) -> None:
        self.routes = dict(routes)
        # who may connect: the PBX's addresses (a fake AGI session could otherwise learn
        # who is a customer, create callbacks or score agents), and, when set, the shared
        # secret the dialplan passes as the AGI's first argument
        self.allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        self.secret = secret
        self.rejected = 0
        self._rejected_logged: set[str] = set()
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.play_timeout = play_timeout
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.port = 0
        self.completed = 0
        self.refused = 0
        self.dropped = 0
        self.missing_prompts: dict[str, int] = {}  # prompt -> times a caller missed it

    async def start(self, host: str = "127.0.0.1", port: int = 4573) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info(
            "FastAGI listening on %s:%d (routes: %s)",
            host,
            self.port,
            ", ".join(sorted(self.routes)),
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def _prompt_missing(self, prompt: str) -> None:
        seen = self.missing_prompts.get(prompt, 0)
        self.missing_prompts[prompt] = seen + 1
        # once per prompt: every caller meets the same missing file
        if not seen:
            what = f"a sound {prompt} plays is" if prompt.startswith("SAY ") else f"prompt {prompt}"
            log.warning(
                "FastAGI: %s missing on the PBX (Asterisk answered -1, the caller is still "
                "there; its log names the file): install the prompts with `callcenter pbx-config`",
                what,
            )

    @property
    def active(self) -> int:
        return len(self._sessions)

    def _peer_allowed(self, writer: asyncio.StreamWriter) -> tuple[bool, str]:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False, host or "unknown"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self.allowed), host

    def _reject(self, host: str, why: str) -> None:
        self.rejected += 1
        if host not in self._rejected_logged and len(self._rejected_logged) < 1000:
            self._rejected_logged.add(host)
            log.warning("FastAGI: refused a connection from %s (%s)", host, why)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        allowed, host = self._peer_allowed(writer)
        if not allowed:
            self._reject(host, "not a PBX address: settings agi_allowed_networks")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._session(reader, writer, host)
        finally:
            self._sessions.discard(task)
            writer.close()

    async def _headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        env: dict[str, str] = {}
        size = 0
        while True:
            raw = await reader.readline()
            if not raw:
                raise AgiProtocolError("connection closed in the middle of the AGI headers")
            size += len(raw)
            if size > MAX_HEADER_BYTES:
                raise AgiProtocolError("AGI header block too large")
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                return env
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"malformed AGI header {line[:60]!r}")
            env[key[4:]] = value.strip()

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str = ""
    ) -> None:
        try:
            async with asyncio.timeout(self.header_timeout):
                env = await self._headers(reader)
        except (TimeoutError, AgiProtocolError, ConnectionError) as exc:
            self.dropped += 1
            log.warning(
                "FastAGI: dropped a client before its call started: %s", exc or "headers timed out"
            )
            return
        if self.secret and not hmac.compare_digest(
            env.get("arg_1", "").encode(), self.secret.encode()
        ):
            self._reject(host, "wrong or missing AGI secret: settings agi_secret")
            return
        channel = FastAgiChannel(
            reader,
            writer,
            env,
            self.command_timeout,
            on_missing_prompt=self._prompt_missing,
            play_timeout=self.play_timeout,
        )
        route = _route_of(env.get("network_script") or env.get("request", ""))
        flow = self.routes.get(route)
        if flow is None:
            self.refused += 1
            log.warning("FastAGI: unknown route %r from %s; refused", route, channel.uniqueid)
            with contextlib.suppress(AgiHangup, AgiProtocolError):
                await channel.verbose(
                    f"callcenter: unknown IVR route '{route}' (known: "
                    f"{', '.join(sorted(self.routes))})",
                    1,
                )
                await channel.hangup()
            return
        try:
            await flow(channel)
            self.completed += 1
        except AgiHangup as exc:
            log.info("FastAGI %s: %s", route, exc)
        except AgiProtocolError as exc:
            log.error("FastAGI %s: protocol error: %s", route, exc)
        except Exception:
            log.exception("FastAGI %s: flow failed for %s", route, channel.uniqueid)


def _prompt_of(line: str) -> str | None:
    """The file a playing command names ('STREAM FILE cc/welcome ""' → 'cc/welcome');
    for SAY commands, which build the file names themselves, the command."""
    for prefix, index in _PLAYING:
        if line.startswith(prefix):
            words = line.split()
            return words[index] if len(words) > index else None
    if line.startswith("SAY "):
        words = line.split()
        return " ".join(words[:2]) if len(words) > 1 else None
    return None


def _route_of(request: str) -> str:
    """'agi://127.0.0.1:4573/welcome?x=1' or 'welcome' → 'welcome'."""
    path = request.split("://", 1)[-1]
    if "/" in path:
        path = path.split("/", 1)[1]
    return path.split("?", 1)[0].strip("/")
