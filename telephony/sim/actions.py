"""The AMI actions the simulator answers."""

from __future__ import annotations

import re
from typing import Any

from telephony.ami.framing import AmiMessage
from telephony.sim.inbound import InboundCalls
from telephony.sim.model import Client, log


class AmiActions(InboundCalls):
    # --- actions ------------------------------------------------------------------------------
    async def _action(self, client: Client, msg: AmiMessage) -> bool:
        name = msg.get("Action").lower()
        aid = msg.get("ActionID")
        self.actions.append(msg)

        def reply(
            response: str = "Success",
            message: str | None = None,
            extra: list[tuple[str, str]] | None = None,
        ) -> None:
            fields = [("Response", response), ("ActionID", aid)]
            if message is not None:
                fields.append(("Message", message))
            self._write(client, fields + (extra or []))

        if name == "login":
            if msg.get("Username") == self.username and msg.get("Secret") == self.secret:
                client.authed = True
                client.username = msg.get("Username")
                client.events = msg.get("Events", "on").lower() not in ("off", "no")
                reply("Success", "Authentication accepted")
                if client.events:
                    # what Asterisk sends every new session, a kicked one's return too
                    uptime = str(int(self.clock.monotonic() - self._booted))
                    self._write(
                        client,
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", uptime),
                            ("LastReload", uptime),
                            ("Status", "Fully Booted"),
                        ],
                    )
            else:
                reply("Error", "Authentication failed")
            return True
        if name == "logoff":
            reply("Goodbye", "Thanks for all the fish.")
            await client.writer.drain()
            return False
        if not client.authed:
            reply("Error", "Permission denied")
            return True
        handler = getattr(self, f"_act_{name}", None)
        if handler is None:
            reply("Error", "Invalid/unknown command: " + msg.get("Action"))
            return True
        try:
            await handler(client, msg, reply)
        except Exception as exc:  # a simulator bug must not kill the AMI session
            log.exception("simulator action %s failed", name)
            reply("Error", f"simulator error: {exc}")
        return True

    async def _act_ping(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        reply("Success", None, [("Ping", "Pong"), ("Timestamp", f"{self._now_epoch():.6f}")])

    async def _act_events(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        client.events = msg.get("EventMask", "on").lower() not in ("off", "no")
        reply("Success", None, [("Events", "On" if client.events else "Off")])

    async def _act_setvar(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        name, value, target = msg.get("Variable"), msg.get("Value"), msg.get("Channel")
        ch = self.channels.get(target) if target else None
        if target and ch is None:
            reply("Error", "Channel not found")
            return
        self.variables[(target, name)] = value
        reply("Success", "Variable Set")

    async def _act_getvar(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        name, target = msg.get("Variable"), msg.get("Channel")
        if target and target not in self.channels:
            reply("Error", "Channel not found")
            return
        value = self.variables.get((target, name), "")
        reply("Success", None, [("Variable", name), ("Value", value)])

    async def _act_atxfer(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        # Modelled as the consultation being completed at once: the call moves to Exten.
        call = self._call_of_channel(msg.get("Channel"))
        if call is None:
            reply("Error", "No such channel")
            return
        call.redirect = msg.get("Exten")
        call.hangup.set()
        reply("Success", "Atxfer successfully queued")

    async def _act_queueadd(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        queue, interface = msg.get("Queue"), msg.get("Interface")
        q = self.queues.get(queue)
        if q is None:
            reply("Error", "Unable to add interface to queue: No such queue")
            return
        if any(m.interface == interface for m in q.members):
            reply("Error", "Unable to add interface: Already there")
            return
        member = self.add_member(
            queue,
            msg.get("MemberName") or interface,
            interface,
            paused=msg.get("Paused", "false").lower() in ("1", "true", "yes"),
        )
        reply("Success", "Added interface to queue")
        self.emit("QueueMemberAdded", member.fields(), "agent,all")

    async def _act_queueremove(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        q = self.queues.get(msg.get("Queue"))
        member = (
            next((m for m in q.members if m.interface == msg.get("Interface")), None) if q else None
        )
        if q is None or member is None:
            reply("Error", "Unable to remove interface: Not there")
            return
        q.members.remove(member)
        reply("Success", "Removed interface from queue")
        self.emit("QueueMemberRemoved", member.fields(), "agent,all")

    async def _act_queuepause(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        paused = msg.get("Paused", "true").lower() in ("1", "true", "yes")
        queue = msg.get("Queue") or None
        found = [
            m
            for q in self.queues.values()
            if queue in (None, q.name)
            for m in q.members
            if m.interface == msg.get("Interface")
        ]
        if not found:
            reply("Error", "Interface not found")
            return
        for m in found:
            m.paused = paused
            m.reason = msg.get("Reason") if paused else ""
        reply(
            "Success",
            "Interface paused successfully" if paused else "Interface unpaused successfully",
        )
        for m in found:
            self.emit("QueueMemberPause", m.fields(), "agent,all")

    async def _act_queuepenalty(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        for q in self.queues.values():
            for m in q.members:
                if m.interface == msg.get("Interface"):
                    m.penalty = int(msg.get("Penalty", "0") or 0)
        reply("Success", "Interface penalty set successfully")

    async def _act_queuestatus(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        reply("Success", "Queue status will follow", [("EventList", "start")])
        items = 0
        now = self.clock.monotonic()
        for q in self.queues.values():
            if msg.get("Queue") and msg.get("Queue") != q.name:
                continue
            self._write(
                client,
                [
                    ("Event", "QueueParams"),
                    ("Queue", q.name),
                    ("Max", "0"),
                    ("Strategy", q.strategy),
                    ("Calls", str(len(q.waiting))),
                    ("Holdtime", "0"),
                    ("TalkTime", "0"),
                    ("Completed", str(q.completed)),
                    ("Abandoned", str(q.abandoned)),
                    ("ServiceLevel", "0"),
                    ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"),
                    ("Weight", "0"),
                    ("Timeout", str(int(q.member_timeout))),
                    ("ActionID", aid),
                ],
            )
            items += 1
            for m in q.members:
                if msg.get("Member") and msg.get("Member") != m.interface:
                    continue
                f = dict(m.fields())
                self._write(
                    client,
                    [
                        ("Event", "QueueMember"),
                        ("Queue", q.name),
                        ("Name", m.name),
                        ("Location", m.interface),
                        ("StateInterface", m.state_interface),
                        ("Membership", "dynamic"),
                        ("Penalty", f["Penalty"]),
                        ("CallsTaken", f["CallsTaken"]),
                        ("LastCall", f["LastCall"]),
                        ("LastPause", "0"),
                        ("LoginTime", f["LoginTime"]),
                        ("InCall", f["InCall"]),
                        ("Status", f["Status"]),
                        ("Paused", f["Paused"]),
                        ("PausedReason", f["PausedReason"]),
                        ("Wrapuptime", "0"),
                        ("ActionID", aid),
                    ],
                )
                items += 1
            for pos, call in enumerate(q.waiting, 1):
                ch = call.caller
                self._write(
                    client,
                    [
                        ("Event", "QueueEntry"),
                        ("Queue", q.name),
                        ("Position", str(pos)),
                        ("Channel", ch.name),
                        ("Uniqueid", ch.uniqueid),
                        ("CallerIDNum", ch.cid_num),
                        ("CallerIDName", ch.cid_name),
                        ("ConnectedLineNum", "<unknown>"),
                        ("ConnectedLineName", "<unknown>"),
                        ("Wait", str(int(now - call.joined_at))),
                        ("Priority", "0"),
                        ("ActionID", aid),
                    ],
                )
                items += 1
        self._list_complete(client, "QueueStatusComplete", aid, items)

    async def _act_queuesummary(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        reply("Success", "Queue summary will follow", [("EventList", "start")])
        for q in self.queues.values():
            avail = sum(1 for m in q.members if not m.paused and not m.busy)
            self._write(
                client,
                [
                    ("Event", "QueueSummary"),
                    ("Queue", q.name),
                    ("LoggedIn", str(len(q.members))),
                    ("Available", str(avail)),
                    ("Callers", str(len(q.waiting))),
                    ("HoldTime", "0"),
                    ("TalkTime", "0"),
                    ("LongestHoldTime", "0"),
                    ("ActionID", aid),
                ],
            )
        self._list_complete(client, "QueueSummaryComplete", aid, len(self.queues))

    async def _act_coreshowchannels(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        reply("Success", "Channels will follow", [("EventList", "start")])
        now = self.clock.monotonic()
        for ch in self.channels.values():
            secs = int(now - ch.created)
            self._write(
                client,
                [
                    ("Event", "CoreShowChannel"),
                    ("ActionID", aid),
                    *ch.snapshot(),
                    ("Application", ch.application),
                    ("ApplicationData", ch.appdata),
                    ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"),
                    ("BridgeId", ch.bridge),
                ],
            )
        self._list_complete(client, "CoreShowChannelsComplete", aid, len(self.channels))

    async def _act_status(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        aid = msg.get("ActionID")
        wanted = msg.get("Channel")
        chans = [c for c in self.channels.values() if not wanted or c.name == wanted]
        if wanted and not chans:
            reply("Error", "No such channel")
            return
        reply("Success", "Channel status will follow", [("EventList", "start")])
        now = self.clock.monotonic()
        for ch in chans:
            self._write(
                client,
                [
                    ("Event", "Status"),
                    ("Privilege", "Call"),
                    *ch.snapshot(),
                    ("Type", ch.name.split("/")[0]),
                    ("DNID", ""),
                    ("BridgeID", ch.bridge),
                    ("Application", ch.application),
                    ("Data", ch.appdata),
                    ("Seconds", str(int(now - ch.created))),
                    ("ActionID", aid),
                ],
            )
        self._list_complete(client, "StatusComplete", aid, len(chans), ("Items", str(len(chans))))

    async def _act_hangup(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        target = msg.get("Channel")
        if target.startswith("/") and target.endswith("/") and len(target) > 1:
            pattern = re.compile(target[1:-1])
            names = [n for n in self.channels if pattern.search(n)]
        else:
            names = [target] if target in self.channels else []
        if not names:
            reply("Error", "No such channel")
            return
        reply("Success", "Channel Hungup")
        for name in names:
            self._hangup_channel(name)

    async def _act_redirect(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        call = self._call_of_channel(msg.get("Channel"))
        if call is None:
            reply("Error", "Channel specified does not exist")
            return
        if msg.get("Context") == "hold":
            # the console's hold, as Asterisk does it (ADR 0051): the customer leaves the
            # queue's bridge for MusicOnHold, the agent's leg (ExtraChannel) for a wait;
            # both stay up, and the queue call ends only at the final hang-up
            ch = self.channels[msg.get("Channel")]
            self._held.add(ch.name)
            reply(
                "Success",
                "Dual Redirect successful" if msg.get("ExtraChannel") else "Redirect successful",
            )
            self.emit("MusicOnHoldStart", [*ch.snapshot(), ("Class", "default")])
            return
        call.redirect = msg.get("Exten")
        call.hangup.set()  # wake the call's task; it moves to the new target
        reply("Success", "Redirect successful")

    async def _act_bridge(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        """Bridge two channels: our unhold joins a held customer and the agent again."""
        one, two = msg.get("Channel1"), msg.get("Channel2")
        if one not in self.channels or two not in self.channels:
            reply("Error", f"Channel1 does not exist: {one}")
            return
        reply("Success", "Channels have been bridged")
        if one in self._held:
            self._held.discard(one)
            self.emit("MusicOnHoldStop", self.channels[one].snapshot())

    async def _act_blindtransfer(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        """Asterisk's semantics: `Channel` is the *transferer*. It leaves; its bridge peer
        (the transferee) goes on to Context/Exten. Naming the customer's channel thus
        hangs up the customer, as a real Asterisk does (ADR 0009)."""
        name = msg.get("Channel")
        call = self._call_of_channel(name)
        if call is None:
            reply("Error", "No such channel")
            return
        transferer = next(leg for leg in call.legs if leg.name == name)
        talking = call.state == "talking" and len(call.legs) >= 3
        if not talking or not transferer.bridge:
            reply("Error", "Transfer failed")
            return
        peer = call.legs[2] if transferer is call.caller else call.caller
        reply("Success", "Transfer succeeded")
        self.emit(
            "BlindTransfer",
            [
                ("Result", "Success"),
                *transferer.snapshot("Transferer"),
                *peer.snapshot("Transferee"),
                ("BridgeUniqueid", transferer.bridge),
                ("BridgeType", "basic"),
                ("IsExternal", "Yes"),
                ("Context", msg.get("Context")),
                ("Extension", msg.get("Exten")),
            ],
        )
        if transferer is not call.caller:
            call.redirect = msg.get("Exten")
        call.hangup.set()  # the customer as transferer: hung up (their call ends)

    async def _act_mixmonitor(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        ch = self.channels.get(msg.get("Channel"))
        if ch is None:
            reply("Error", "No such channel")
            return
        reply("Success")
        filename = msg.get("File") or f"/var/spool/asterisk/monitor/{ch.uniqueid}.wav"
        self.emit(
            "VarSet",
            [*ch.snapshot(), ("Variable", "MIXMONITOR_FILENAME"), ("Value", filename)],
            "dialplan,all",
        )
        self.emit("MixMonitorStart", ch.snapshot())

    async def _act_stopmixmonitor(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        ch = self.channels.get(msg.get("Channel"))
        if ch is None:
            reply("Error", "No such channel")
            return
        reply("Success")
        self.emit("MixMonitorStop", ch.snapshot())

    async def _act_originate(self, client: Client, msg: AmiMessage, reply: Any) -> None:
        is_async = msg.get("Async", "false").lower() in ("true", "1", "yes")
        request = next(
            (v.split("=", 1)[1] for v in msg.getall("Variable") if v.startswith("CC_REQUEST_ID=")),
            None,
        )
        if request:
            self.originated.add(request)
        if is_async:
            reply("Success", "Originate successfully queued")
        aid = msg.get("ActionID")

        async def run() -> None:
            ok = await self._originate(msg, aid, is_async)
            if not is_async:
                reply(
                    "Success" if ok else "Error",
                    "Originate successfully queued" if ok else "Originate failed",
                )

        self.spawn(run(), f"originate-{aid}")
