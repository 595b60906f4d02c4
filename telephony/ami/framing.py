"""AMI framing: a pure, incremental parser over bytes.

Asterisk sends UTF-8 text frames of `Key: Value` lines ended by a blank line.
The transport only forwards bytes here; a frame is decoded once, when it is
complete, so a multi-byte character (a Chinese caller name) split across TCP
reads arrives intact — unlike panoramisk 1.4, which decodes every read on its
own. Both `\\r\\n` and bare `\\n` endings are accepted. A frame that is not AMI
(binary noise, no `Key: Value` line) or grows past `max_frame` bytes is counted,
logged and skipped; the stream goes on with the next frame.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

log = logging.getLogger(__name__)

_BLANK = re.compile(rb"\r?\n\r?\n")
BANNER_PREFIX = b"Asterisk Call Manager"


class AmiMessage:
    """One AMI frame. `headers` keeps the first value of each key; repeated keys
    (`Variable`, `ChanVariable`, ...) are all in `multi`."""

    __slots__ = ("headers", "multi")

    def __init__(self, headers: dict[str, str], multi: dict[str, list[str]] | None = None) -> None:
        self.headers = headers
        self.multi = multi

    @property
    def event(self) -> str | None:
        return self.headers.get("Event")

    @property
    def response(self) -> str | None:
        return self.headers.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.headers.get("ActionID")

    def get(self, key: str, default: str = "") -> str:
        value = self.headers.get(key)
        if value is not None:
            return value
        lowered = key.lower()
        for k, v in self.headers.items():
            if k.lower() == lowered:
                return v
        return default

    def getall(self, key: str) -> list[str]:
        if self.multi and key in self.multi:
            return list(self.multi[key])
        value = self.headers.get(key)
        return [value] if value is not None else []

    def __getitem__(self, key: str) -> str:
        return self.headers[key]

    def __contains__(self, key: object) -> bool:
        return key in self.headers

    def __repr__(self) -> str:
        return f"AmiMessage({self.headers!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AmiMessage)
            and self.headers == other.headers
            and (self.multi or {}) == (other.multi or {})
        )

    __hash__ = None  # type: ignore[assignment]


def parse_frame(text: str) -> AmiMessage | None:
    """Parse one decoded frame; None when it holds no `Key: Value` line at all."""
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            continue  # not a header (garbage inside a frame): skip the line
        if value.startswith(" "):
            value = value[1:]
        if key in headers:
            if multi is None:
                multi = {}
            multi.setdefault(key, [headers[key]]).append(value)
        else:
            headers[key] = value
    if not headers:
        return None
    return AmiMessage(headers, multi)


class AmiFrameParser:
    """Feed bytes, get whole messages. Never raises on bad input."""

    def __init__(self, *, max_frame: int = 1 << 20, expect_banner: bool = True) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._discarding = False
        self._expect_banner = expect_banner
        self.banner: str | None = None
        self.errors = 0
        self.frames = 0

    def feed(self, data: bytes) -> list[AmiMessage]:
        out: list[AmiMessage] = []
        for raw in self.feed_frames(data):
            msg = self.parse(raw)
            if msg is not None:
                out.append(msg)
        return out

    def feed_frames(self, data: bytes) -> list[bytes]:
        """Whole frames as raw bytes (undecoded), for consumers that filter before parsing."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        if self._expect_banner and self.banner is None and not self._take_banner():
            return out
        start = 0
        search = _BLANK.search
        max_frame = self.max_frame
        while True:
            match = search(buf, start)
            if match is None:
                break
            end = match.start()
            if self._discarding:
                self._discarding = False
            elif end - start > max_frame:
                self._overflow(keep=buf)
            elif end > start:
                out.append(bytes(buf[start:end]))
            start = match.end()
        if start:
            del buf[:start]
        if len(buf) > max_frame:
            self._overflow()
        return out

    def _take_banner(self) -> bool:
        buf = self._buf
        if len(buf) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(bytes(buf)):
            return False  # not enough bytes to tell yet
        if not buf.startswith(BANNER_PREFIX):
            self.banner = ""  # no banner (e.g. a test stream): frames only
            return True
        nl = buf.find(b"\n")
        if nl < 0:
            return False
        self.banner = buf[:nl].decode("utf-8", "replace").rstrip("\r")
        del buf[: nl + 1]
        return True

    def parse(self, raw: bytes) -> AmiMessage | None:
        text = raw.decode("utf-8", "replace")
        msg = parse_frame(text)
        if msg is None:
            self.errors += 1
            log.warning("AMI: skipped a frame that is not AMI (%d bytes): %.60r", len(raw), text)
            return None
        self.frames += 1
        return msg

    def _overflow(self, keep: bytearray | None = None) -> None:
        self.errors += 1
        log.error("AMI: a frame larger than %d bytes was discarded; resyncing", self.max_frame)
        if keep is None:  # no end in sight: drop what we have and skip to the next blank line
            self._buf.clear()
            self._discarding = True


def serialize_action(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """An AMI action frame. Values may not contain line breaks (header injection)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = []
    for key, value in items:
        value = str(value)
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise ValueError(f"AMI header {key!r} contains a line break")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
