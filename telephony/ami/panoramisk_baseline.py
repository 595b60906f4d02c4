"""panoramisk 1.4's own AMI parsing, driven without a socket: the benchmark baseline.

It runs exactly the code panoramisk runs for every TCP read (`AMIProtocol.data_received`:
decode the read, split on blank lines, `Message.from_line`), with message dispatch
replaced by a counter.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from panoramisk.ami_protocol import AMIProtocol


class _Factory:
    save_stream = None


class PanoramiskParser:
    def __init__(self) -> None:
        proto: Any = AMIProtocol.__new__(AMIProtocol)
        proto.version = None
        proto.queue = collections.deque()
        proto.factory = _Factory()
        proto.encoding = "utf-8"
        proto.log = logging.getLogger("panoramisk.baseline")
        proto.log.setLevel(logging.WARNING)
        self.messages = 0

        def count(message: Any) -> None:
            self.messages += 1

        proto.handle_message = count
        self._proto = proto

    def feed(self, data: bytes) -> None:
        self._proto.data_received(data)
