"""The tests' own AMI connections on the wire (`AmiControl` of the PBX harness, the
cluster's `AmiTap`): an action's frame, the messages a read brings, and a stop that
cannot hang."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping

STOP_DEADLINE = 10.0


def action_frame(name: str, action_id: str, headers: Mapping[str, str]) -> bytes:
    """`Action`, `ActionID`, the headers and the blank line that ends an action. A
    `Variable` of "a=1|b=2" is one `Variable:` line each, as Originate takes them."""
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    for key, value in headers.items():
        if key == "Variable":
            lines += [f"Variable: {v}" for v in value.split("|") if v]
        else:
            lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def messages(reader: asyncio.StreamReader) -> AsyncIterator[list[dict[str, str]]]:
    """The whole messages each read completes, until the PBX closes the connection; a
    header given twice keeps its first value."""
    buf = b""
    while data := await reader.read(65536):
        buf += data
        *frames, buf = buf.split(b"\r\n\r\n")
        batch: list[dict[str, str]] = []
        for frame in frames:
            msg: dict[str, str] = {}
            for line in frame.decode("utf-8", "replace").split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep:
                    msg.setdefault(key, value)
            batch.append(msg)
        yield batch


async def cancel_until_done(tasks: Iterable[asyncio.Task[None]], what: str) -> list[BaseException]:
    """Cancel the tasks and wait until each has ended; the errors they ended with.

    Python 3.11's `wait_for` swallows a cancel that arrives as its inner wait completes,
    so a task may outlive one cancel(): cancel again until each is done, never wait
    without a deadline, and fail naming `what` after `STOP_DEADLINE` seconds."""
    pending = set(tasks)
    loop = asyncio.get_running_loop()
    end = loop.time() + STOP_DEADLINE
    errors: list[BaseException] = []
    while pending:
        assert loop.time() < end, f"{what} that would not stop: {pending}"
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=0.2)
        errors += [e for t in done if not t.cancelled() and (e := t.exception()) is not None]
    return errors


async def hang_up(
    writer: asyncio.StreamWriter | None, reader: asyncio.Task[None] | None, what: str
) -> None:
    """Close the connection and stop its reader; a reader that failed other than by the
    connection going away fails the test."""
    if writer is not None:
        writer.close()
    if reader is not None:
        for error in await cancel_until_done([reader], what):
            if not isinstance(error, ConnectionError):
                raise error
