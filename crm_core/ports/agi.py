"""The AGI channel port: what an IVR flow may do with a call (telephony.fastagi implements it).

It lives in crm_core so that ivr_scripts and telephony both depend on it without
depending on each other.
"""

from __future__ import annotations

from typing import Protocol


class AgiHangup(Exception):
    """The caller hung up (or the AGI connection was lost): the flow ends here."""


class AgiChannel(Protocol):
    @property
    def env(self) -> dict[str, str]:
        """The `agi_*` headers Asterisk sent (without the `agi_` prefix)."""
        ...

    @property
    def caller_number(self) -> str: ...

    @property
    def caller_name(self) -> str: ...

    @property
    def uniqueid(self) -> str: ...

    async def answer(self) -> None: ...

    async def hangup(self) -> None: ...

    async def verbose(self, message: str, level: int = 1) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        """Play a prompt; returns the digit that interrupted it, if any."""
        ...

    async def get_data(
        self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1
    ) -> str | None:
        """Play a prompt and collect digits; None on timeout with no input."""
        ...

    async def say_digits(self, digits: str) -> None: ...

    async def say_number(self, number: int) -> None: ...

    async def say_datetime(self, epoch_seconds: int, format: str = "", timezone: str = "") -> None:
        """Asterisk's SAY DATETIME; `format` in say.c letters, `timezone` an IANA name."""
        ...
