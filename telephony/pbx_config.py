"""The Asterisk configuration the service expects, rendered from its settings and the CRM.

`callcenter pbx-config --out DIR` writes what `render()` returns (CONTRACTS.md): a
directory a real Asterisk runs from as is. Production (`phones="pjsip"`) and the test
suite (`phones="local"`) share every context but three: where an agent's phone, a lead's
phone and the carrier are. So what the tests prove on a real Asterisk is the dialplan
production runs (ADR 0040 explains the shape).

The dialplan's contract with the service:

- `[inbound]` — carrier calls land here; FastAGI `welcome` → `menu` → the queue, with
  branches to `selfservice` and `callback`. The queue runs with option `c`, so when the
  agent hangs up the caller's channel goes on in the dialplan, alive, to the `survey`.
- `[agents]` — queue members are `Local/<ext>@agents/n`; the exten rings the phone.
- `[transfer]` — blind-transfer targets: a queue name or an agent's extension.
- `[outbound]` — click-to-dial and the dialer's customer leg; the exten is the number in
  the carrier's form (the service formats it, `crm_core.phones.carrier_digits`).
- `[campaign-dial]` — an answered campaign call; the exten is the campaign's queue.
- `[hold]` — a customer parked on music on hold by the console's hold button.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from telephony.pbx_pjsip import SipPlan, phone_secrets_txt, pjsip_conf, rtp_conf

PHONES = ("pjsip", "local")
SOUNDS_DIR = Path(__file__).resolve().parent / "sounds"
ASTERISK_MODULES = "/usr/lib/asterisk/modules"
ASTERISK_DOCUMENTATION = "/var/lib/asterisk/documentation"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePlan:
    name: str
    strategy: str = "rrmemory"
    weight: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxPlan:
    """Everything the render needs; built from Settings and the CRM by the command."""

    phones: str = "pjsip"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "callcenter"
    ami_secret: str = ""
    ami_permit: tuple[str, ...] = ("127.0.0.1/32",)
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    pbx_name: str = "default"
    did: str = "4008001234"
    queues: tuple[QueuePlan, ...] = ()
    ring_limit_seconds: float = 15.0
    queue_wait_seconds: int = 300
    campaign_queue_timeout_seconds: int = 2
    # how long `[outbound]` rings a customer before "no answer" (settings dialer_ring_seconds)
    outbound_ring_seconds: int = 30
    language: str = "zh"
    # passed as every AGI's first argument; the FastAGI server refuses sessions without it
    agi_secret: str = ""
    # CDR into the CRM's PostgreSQL (ADR 0030); empty on SQLite
    cdr_database_url: str = ""
    extra_globals: dict[str, str] = field(default_factory=dict)
    # production phones and carrier (--phones pjsip)
    sip: SipPlan = field(default_factory=SipPlan)

    def __post_init__(self) -> None:
        if self.phones not in PHONES:
            raise ValueError(f"phones: expected one of {', '.join(PHONES)}, got {self.phones!r}")


def queue_plans(names: Iterable[str], *, vip_queue: str = "vip") -> tuple[QueuePlan, ...]:
    """Queues in a stable order; the VIP queue rings every free agent at once."""
    plans = []
    for name in sorted({n for n in names if n}):
        if name == vip_queue:
            plans.append(QueuePlan(name=name, strategy="ringall", weight=10))
        else:
            plans.append(QueuePlan(name=name))
    return tuple(plans)


def render(plan: PbxPlan, root: Path) -> dict[str, str]:
    """File name (relative to the directory) → text; `root` is where the directory lives
    on the PBX's host (asterisk.conf names its directories by it)."""
    files = {
        "etc/asterisk.conf": _asterisk_conf(root),
        "etc/modules.conf": _modules_conf(plan),
        "etc/logger.conf": _LOGGER,
        "etc/manager.conf": _manager_conf(plan),
        "etc/queues.conf": _queues_conf(plan),
        "etc/extensions.conf": _extensions_conf(plan),
        "etc/musiconhold.conf": _MUSICONHOLD,
        "etc/cdr.conf": _CDR,
        "etc/indications.conf": _INDICATIONS,
        "etc/features.conf": "[general]\n",
        "etc/ccss.conf": "[general]\n",
        "etc/asterisk.adsi": "",
        "etc/cel.conf": "[general]\nenable = no\n",
        "etc/acl.conf": "",
        "etc/udptl.conf": "[general]\n",
        "etc/res_parking.conf": _PARKING,
        "etc/amd.conf": _AMD,
    }
    pg = _pg_parts(plan.cdr_database_url)
    if pg is not None:
        files["etc/cdr_pgsql.conf"] = _pgsql_conf("global", pg, table="cdr")
    if plan.phones == "pjsip":
        files["etc/pjsip.conf"] = pjsip_conf(plan.sip)
        files["etc/rtp.conf"] = rtp_conf(plan.sip)
        files["phone-secrets.txt"] = phone_secrets_txt(plan.sip)
    return files


# files that hold secrets: readable by their owner only
_PRIVATE = {"etc/manager.conf", "etc/cdr_pgsql.conf", "etc/pjsip.conf", "phone-secrets.txt"}


def write(plan: PbxPlan, out: Path, *, root: Path | None = None) -> list[Path]:
    """Render into `out`: configs, the prompts under `sounds/`, and the data directory
    (`data/` with Asterisk's documentation linked in, which Asterisk 22 needs to start).
    `root`: where `out` will be mounted on the PBX's host (a container), if elsewhere."""
    out = out.resolve()
    root = root or out
    written: list[Path] = []
    for rel, text in render(plan, root).items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if rel in _PRIVATE:
            path.chmod(0o600)
        written.append(path)
    for sub in ("run", "log", "spool", "lib", "data"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _copy_sounds(out / "sounds")
    # relative links, so the directory works wherever it is mounted
    _link(out / "data/documentation", Path(ASTERISK_DOCUMENTATION))
    _link(out / "data/sounds", Path("../sounds"))
    _link(out / "data/moh", Path("../sounds/moh"))
    return written


def _copy_sounds(target: Path) -> None:
    """The prompts and the music on hold (`telephony/sounds`, tools/make_prompts.py).
    Asterisk's MusicOnHold fails with an empty class and hangs a held customer up: the
    shipped `moh/default.gsm` is always there (tests/unit/test_ivr_prompts.py)."""
    (target / "moh").mkdir(parents=True, exist_ok=True)
    for src in sorted(SOUNDS_DIR.rglob("*")):
        if src.is_dir() or src.suffix not in {".gsm", ".wav", ".ulaw", ".sln"}:
            continue
        dst = target / src.relative_to(SOUNDS_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        if not dst.exists() or dst.read_bytes() != data:
            dst.write_bytes(data)


def _link(link: Path, to: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(link.readlink()) == to:
            return
        if link.is_symlink() or link.is_file():
            link.unlink()
        else:
            return  # a real directory someone put there: leave it
    link.symlink_to(to)


# --- files --------------------------------------------------------------------------------


def _asterisk_conf(root: Path) -> str:
    return f"""; rendered by `callcenter pbx-config`: every directory inside {root}
[directories]
astetcdir => {root}/etc
astmoddir => {ASTERISK_MODULES}
astvarlibdir => {root}/lib
astdbdir => {root}/lib
astkeydir => {root}/lib
astdatadir => {root}/data
astagidir => {root}/lib/agi-bin
astspooldir => {root}/spool
astrundir => {root}/run
astlogdir => {root}/log

[options]
; the service's own clock decides every rule; Asterisk only reports
transmit_silence = yes
"""


# Only what the dialplan uses: a PBX that loads fewer modules starts in about a second
# and has less to go wrong (chan_pjsip and res_pjsip* only in production).
_MODULES_COMMON = (
    "pbx_config",
    "res_speech",
    "res_agi",
    "res_musiconhold",
    "res_timing_timerfd",
    "res_stasis",
    "res_parking",
    "app_queue",
    "app_dial",
    "app_playback",
    "app_playtones",
    "app_senddtmf",
    "app_chanspy",
    "app_mixmonitor",
    "app_amd",
    "app_stack",
    "app_exec",
    "app_verbose",
    "app_originate",
    "app_read",
    "bridge_simple",
    "bridge_softmix",
    "bridge_holding",
    "bridge_builtin_features",
    "chan_bridge_media",
    "codec_gsm",
    "codec_ulaw",
    "codec_alaw",
    "codec_resample",
    "format_gsm",
    "format_wav",
    "format_pcm",
    "format_sln",
    "func_callerid",
    "func_channel",
    "func_logic",
    "func_strings",
    "func_global",
    "func_cdr",
    "func_math",
)
_MODULES_PJSIP = (
    "res_pjproject",
    "res_pjsip",
    "res_pjsip_session",
    "res_pjsip_authenticator_digest",
    "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_endpoint_identifier_user",
    "res_pjsip_registrar",
    "res_pjsip_outbound_registration",
    "res_pjsip_sdp_rtp",
    "res_pjsip_caller_id",
    "res_pjsip_dtmf_info",
    "res_rtp_asterisk",
    "chan_pjsip",
)


def _modules_conf(plan: PbxPlan) -> str:
    mods = list(_MODULES_COMMON)
    if plan.phones == "pjsip":
        mods += _MODULES_PJSIP
    if plan.cdr_database_url:
        mods += ["cdr_pgsql"]
    lines = ["[modules]", "autoload = no"]
    lines += [f"load = {m}.so" for m in mods]
    return "\n".join(lines) + "\n"


_LOGGER = """[general]
dateformat = %F %T.%3q

[logfiles]
messages.log => notice,warning,error,verbose(3)
"""


def _cidr_to_acl(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    return f"{net.network_address}/{net.netmask}"


def _manager_conf(plan: PbxPlan) -> str:
    permits = "\n".join(f"permit = {_cidr_to_acl(c)}" for c in plan.ami_permit)
    return f"""; the service's AMI user (settings ami_username / ami_secret)
[general]
enabled = yes
port = {plan.ami_port}
bindaddr = {plan.ami_host}
displayconnects = no
; no Timestamp header: the service stamps events itself
timestampevents = no

[{plan.ami_username}]
secret = {plan.ami_secret}
; only the service's hosts (settings ami_permit)
deny = 0.0.0.0/0.0.0.0
{permits}
; call: channel events; agent: queue member events; dialplan: VarSet of the IVR's CC_*
read = system,call,agent,user,dialplan,originate,reporting,cdr{_test_read(plan)}
write = system,call,agent,user,originate,command,reporting
writetimeout = 500
"""


def _test_read(plan: PbxPlan) -> str:
    # A simulated caller (--phones local) presses keys when the IVR waits for them: the
    # tests see each AGI command start (AGIExecStart). Production has no use for them.
    return ",agi" if plan.phones == "local" else ""


def _queues_conf(plan: PbxPlan) -> str:
    # The member ring timeout IS the three-ring rule (rings x ring cycle); Asterisk takes
    # whole seconds, so round up: ringing stops at the limit, never before it.
    timeout = max(1, math.ceil(plan.ring_limit_seconds))
    out = [
        f"""; rendered by `callcenter pbx-config`. The member ring timeout is the ring rule:
; {plan.ring_limit_seconds:g} s = settings ring_count x ring_cycle_seconds.
[general]
persistentmembers = yes
autofill = yes
shared_lastcall = yes
"""
    ]
    for q in plan.queues:
        out.append(
            f"""[{q.name}]
strategy = {q.strategy}
timeout = {timeout}
retry = 2
weight = {q.weight}
wrapuptime = 0
ringinuse = no
; a member rings for the ring limit above even when the caller's Queue() timeout is
; shorter (the campaign's 2 s grace bounds the wait for a free agent, not the ringing)
timeoutpriority = conf
; callers wait even while every agent is paused, and are called back if they give up
joinempty = yes
leavewhenempty = no
announce-frequency = 0
; the caller's channel learns who answered (MEMBERNAME: the survey's agent)
setinterfacevar = yes
setqueueentryvar = yes
setqueuevar = yes
; members are added at run time by the console ("sign in" = QueueAdd)
"""
        )
    return "\n".join(out)


_MUSICONHOLD = """[general]

[default]
mode = files
directory = moh
sort = alpha
"""

_PARKING = """[general]

[default]
parkext = 700
parkpos = 701-720
context = parkedcalls
"""

_AMD = """[general]
initial_silence = 2500
greeting = 1500
after_greeting_silence = 800
total_analysis_time = 5000
min_word_length = 100
between_words_silence = 50
maximum_number_of_words = 3
silence_threshold = 256
maximum_word_length = 5000
"""

_CDR = """[general]
enable = yes
unanswered = yes
congestion = yes
"""

_INDICATIONS = """[general]
country = cn

[cn]
description = China
ringcadence = 1000,4000
dial = 450
busy = 450/350,0/350
ring = 450/1000,0/4000
congestion = 450/700,0/800
callwaiting = 450/400,0/4000
dialrecall = 450
record = 950/400,0/10000
info = 450/100,0/100,450/100,0/100,450/100,0/100,450/400,0/400

[us]
description = United States / North America
ringcadence = 2000,4000
dial = 350+440
busy = 480+620/500,0/500
ring = 440+480/2000,0/4000
congestion = 480+620/250,0/250
callwaiting = 440/300,0/10000
dialrecall = !350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440
record = 1400/500,0/15000
info = !950/330,!1400/330,!1800/330,0
"""


def _phone(plan: PbxPlan, exten: str) -> str:
    """The dial string of the phone on extension `exten` (a dialplan expression)."""
    return f"PJSIP/{exten}" if plan.phones == "pjsip" else f"Local/{exten}@phone-sim/n"


def _carrier(plan: PbxPlan, number: str) -> str:
    return f"PJSIP/{number}@carrier" if plan.phones == "pjsip" else f"Local/{number}@customer-sim/n"


# a simulated phone answers after 2 s and stays until the other side hangs up
_PHONE_DEFAULTS = {"AGENT_DEFAULT_DELAY": "2", "AGENT_DEFAULT_TALK": "0"}


def _extensions_conf(plan: PbxPlan) -> str:
    agi = "agi://${AGI_HOST}"
    default_queue = plan.queues[0].name if plan.queues else "support"
    if any(q.name == "support" for q in plan.queues):
        default_queue = "support"
    globals_ = {
        "AGI_HOST": f"{plan.agi_host}:{plan.agi_port}",
        # this PBX's name in CALLCENTER_AMI_ENDPOINTS: call ids of the IVR's callbacks
        # and surveys carry it (ADR 0038)
        "CC_PBX": plan.pbx_name,
        "DID": plan.did,
        "CC_DEFAULT_QUEUE": default_queue,
        "CC_LANGUAGE_DEFAULT": plan.language,
        "CC_AGI_SECRET": plan.agi_secret,
        "OUTBOUND_RING_SECONDS": str(plan.outbound_ring_seconds),
        **(_PHONE_DEFAULTS if plan.phones == "local" else {}),
        **plan.extra_globals,
    }
    g = "\n".join(f"{k}={v}" for k, v in globals_.items())
    wait = plan.campaign_queue_timeout_seconds
    transfer_queues = "\n".join(
        f"exten => {q.name},1,Goto(queue-call,{q.name},1)" for q in plan.queues
    )
    text = f"""; rendered by `callcenter pbx-config` ({plan.phones} phones); do not edit by hand:
; change the settings or the CRM and render again.

[globals]
{g}

[inbound]
; calls from the carrier land here: IVR over FastAGI, then the queue it chose
exten => _[+0-9].,1,NoOp(inbound ${{CALLERID(num)}} to ${{EXTEN}})
 same => n,Set(CHANNEL(language)=${{CC_LANGUAGE_DEFAULT}})
 same => n,Answer()
 same => n,AGI({agi}/welcome,${{CC_AGI_SECRET}})
 same => n,GotoIf($["${{CC_ROUTE}}" = "hangup"]?bye)
 same => n,GotoIf($["${{CC_ROUTE}}" = "callback"]?cb)
 same => n(menu),AGI({agi}/menu,${{CC_AGI_SECRET}})
 same => n,GotoIf($["${{CC_ROUTE}}" = "selfservice"]?self)
 same => n,GotoIf($["${{CC_ROUTE}}" = "callback"]?cb)
 same => n,GotoIf($["${{CC_ROUTE}}" = "hangup"]?bye)
 same => n(queue),Set(CC_QUEUE=${{IF($["${{CC_QUEUE}}" = ""]?${{CC_DEFAULT_QUEUE}}:${{CC_QUEUE}})}})
 same => n,Goto(queue-call,${{CC_QUEUE}},1)
 same => n(cb),AGI({agi}/callback,${{CC_AGI_SECRET}})
 same => n(bye),Hangup()
 same => n(self),AGI({agi}/selfservice,${{CC_AGI_SECRET}})
 same => n,GotoIf($["${{CC_ROUTE}}" = "queue"]?queue:bye)

[queue-call]
; Queue option c: when the agent hangs up, the caller goes on here, alive, to the
; survey (a hangup handler would run on a dead channel: AGI answers 511 there).
; CDR(cc_queued): when the caller entered the queue, exact, for calls the service did
; not see (an AMI gap, a failover: docs/adr/0058)
exten => _[a-z].,1,Set(CDR(cc_queued)=${{STRFTIME(,,%s.%6q)}})
 same => n,Queue(${{EXTEN}},tc,,,{plan.queue_wait_seconds})
 same => n,GotoIf($["${{QUEUESTATUS}}" = "TIMEOUT"]?timeout)
 same => n,GotoIf($["${{MEMBERNAME}}" = ""]?bye)
 same => n,AGI({agi}/survey,${{CC_AGI_SECRET}})
 same => n(bye),Hangup()
 ; waited {plan.queue_wait_seconds} s: offer a callback rather than drop the caller
 same => n(timeout),AGI({agi}/callback,${{CC_AGI_SECRET}})
 same => n,Hangup()

[agents]
; queue members are Local/<ext>@agents/n; the exten rings the agent's own phone
exten => _X.,1,Dial({_phone(plan, "${EXTEN}")},,t)
 same => n,Hangup()

[from-phone]
; calls an agent or lead dials on the desk phone: a colleague's extension, else a customer
exten => _XXXX,1,Dial(Local/${{EXTEN}}@agents/n,,t)
 same => n,Hangup()
exten => _X.,1,Goto(outbound,${{EXTEN}},1)
exten => _+X.,1,Goto(outbound,${{EXTEN}},1)

[transfer]
; blind transfer targets (BlindTransfer Channel = the agent's leg, the transferer):
; a queue by name, or a colleague's extension, rung for the ring limit
{transfer_queues}
exten => _X.,1,Dial(Local/${{EXTEN}}@agents/n,{max(1, math.ceil(plan.ring_limit_seconds))},t)
 same => n,Hangup()

[outbound]
; a call to a customer: click-to-dial's second leg (after the agent's phone answered)
; and the dialer's customer leg. The exten is the number as the carrier expects it;
; the caller id is the service's DID unless the call sets CC_CALLER_ID. The customer
; rings OUTBOUND_RING_SECONDS (the dialer's calls: CC_RING_SECONDS, past its Originate
; timeout), then the Dial ends NOANSWER (the record's no_answer).
; A busy or congested carrier is passed on as the matching indication: the dialer's
; Originate of Local/<number>@outbound only learns "busy" (reason 5) or "congestion"
; (8) from it; a plain hang-up after Dial() answers reason 0 (failed) whatever the cause.
exten => _[+0-9].,1,Set(CC_SHOWN=${{IF($["${{CC_CALLER_ID}}" = ""]?${{DID}}:${{CC_CALLER_ID}})}})
 same => n,Set(CALLERID(all)=${{CC_SHOWN}})
 same => n,Set(RING=${{CC_RING_SECONDS}})
 same => n,Set(RING=${{IF($["${{RING}}" = ""]?${{GLOBAL(OUTBOUND_RING_SECONDS)}}:${{RING}})}})
 same => n,Dial({_carrier(plan, "${EXTEN}")},${{RING}},g)
 same => n,GotoIf($["${{DIALSTATUS}}" = "BUSY"]?busy)
 same => n,GotoIf($["${{DIALSTATUS}}" = "CONGESTION"]?congestion)
 same => n,GotoIf($["${{DIALSTATUS}}" = "CHANUNAVAIL"]?congestion)
 same => n,Hangup()
 same => n(busy),Busy(5)
 same => n,Hangup(17)
 same => n(congestion),Congestion(5)
 same => n,Hangup(34)

[campaign-dial]
; an answered campaign call; exten = the campaign's queue. CC_QUEUE_TIMEOUT (seconds) to
; reach a free agent, else it counts as a dialer abandon: marked for the tracker,
; apology, hang up.
exten => _[a-z].,1,NoOp(campaign ${{CC_CAMPAIGN_ID}} contact ${{CC_CONTACT_ID}})
 same => n,Set(L=${{IF($["${{CC_LANGUAGE}}" = ""]?${{CC_LANGUAGE_DEFAULT}}:${{CC_LANGUAGE}})}})
 same => n,Set(CHANNEL(language)=${{L}})
 same => n,GotoIf($["${{CC_AMD}}" != "1"]?queue)
 same => n,AMD()
 same => n,GotoIf($["${{AMDSTATUS}}" = "MACHINE"]?machine)
 same => n(queue),Set(W=${{IF($["${{CC_QUEUE_TIMEOUT}}" = ""]?{wait}:${{CC_QUEUE_TIMEOUT}})}})
 same => n,Set(CDR(cc_queued)=${{STRFTIME(,,%s.%6q)}})
 same => n,Queue(${{EXTEN}},t,,,${{W}})
 same => n,GotoIf($["${{QUEUESTATUS}}" = "TIMEOUT"]?sorry)
 same => n,GotoIf($["${{QUEUESTATUS}}" = "JOINEMPTY"]?sorry)
 same => n,GotoIf($["${{QUEUESTATUS}}" = "LEAVEEMPTY"]?sorry)
 same => n,Hangup()
 same => n(sorry),Set(CC_DIALER_ABANDON=1)
 same => n,Playback(cc/dialer-sorry)
 same => n,Hangup()
 same => n(machine),Set(CC_AMD_RESULT=machine)
 same => n,Hangup()

[hold]
; the console's hold button: AMI Redirect sends the customer to `moh` (music on hold)
; and, as ExtraChannel, the agent's leg to `wait` (silence, still up); unhold is AMI
; Bridge of the two. The queue call ends only at the final hang-up.
exten => moh,1,Answer()
 same => n,MusicOnHold(default)
 same => n,Hangup()
exten => wait,1,Answer()
 same => n,Wait(7200)
 same => n,Hangup()
"""
    if plan.phones == "local":
        text += PEOPLE_SIM
    return text


# Simulated people for a PBX without SIP (tests): callers, phones and customers behave as
# channel and global variables say (the variables of ../shared/asterisk/examples).
PEOPLE_SIM = """
; ---- simulated people (--phones local) ----------------------------------------------
; A caller: Originate Channel=Local/<number>@caller-sim/n Context=inbound Exten=<DID>;
; CALLER_HOLD = seconds before hanging up (0 or empty: stays), CALLER_DTMF = digits sent
; one by one, CALLER_DTMF_GAP seconds apart, after CALLER_DTMF_WAIT seconds.
[caller-sim]
exten => _[+0-9a-zA-Z].,1,NoOp(caller ${CALLERID(all)} hold=${CALLER_HOLD} dtmf=${CALLER_DTMF})
 same => n,Answer()
 same => n,GotoIf($["${CALLER_DTMF}" = ""]?tones)
 same => n,Wait(${IF($["${CALLER_DTMF_WAIT}" = ""]?2:${CALLER_DTMF_WAIT})})
 same => n,Set(I=0)
 same => n(next),SendDTMF(${CALLER_DTMF:${I}:1},250)
 same => n,Set(I=$[${I} + 1])
 same => n,GotoIf($[${I} >= ${LEN(${CALLER_DTMF})}]?tones)
 same => n,Wait(${IF($["${CALLER_DTMF_GAP}" = ""]?1:${CALLER_DTMF_GAP})})
 same => n,Goto(next)
 same => n(tones),GotoIf($["${CALLER_HOLD}" = "" | "${CALLER_HOLD}" = "0"]?forever)
 same => n,Wait(${CALLER_HOLD})
 same => n,Hangup(16)
 same => n(forever),Wait(3600)
 same => n,Hangup(16)

; A phone (agent or lead): globals AGENT_<ext>_DELAY (seconds or "never") and
; AGENT_<ext>_TALK (seconds, 0 = until the other side hangs up).
[phone-sim]
exten => _X.,1,NoOp(phone ${EXTEN} rings)
 same => n,Set(ADELAY=${GLOBAL(AGENT_${EXTEN}_DELAY)})
 same => n,Set(ADELAY=${IF($["${ADELAY}" = ""]?${AGENT_DEFAULT_DELAY}:${ADELAY})})
 same => n,Set(ATALK=${GLOBAL(AGENT_${EXTEN}_TALK)})
 same => n,Set(ATALK=${IF($["${ATALK}" = ""]?${AGENT_DEFAULT_TALK}:${ATALK})})
 same => n,Ringing()
 same => n,GotoIf($["${ADELAY}" = "never"]?noanswer)
 same => n,Wait(${ADELAY})
 same => n,Answer()
 same => n,GotoIf($["${ATALK}" = "0"]?forever)
 same => n,Wait(${ATALK})
 same => n,Hangup(16)
 same => n(forever),Wait(3600)
 same => n,Hangup(16)
 same => n(noanswer),Wait(3600)
 same => n,Hangup(19)

; A customer called by the service: CUST_MODE answer|busy|congestion|noanswer,
; CUST_DELAY seconds to answer, CUST_TALK seconds before hanging up (0: stays).
; Per number: globals CUST_<number>_MODE / _DELAY / _TALK win over the channel's.
[customer-sim]
exten => _[+0-9].,1,NoOp(customer ${EXTEN})
 same => n,Set(M=${GLOBAL(CUST_${FILTER(0-9,${EXTEN})}_MODE)})
 same => n,Set(M=${IF($["${M}" = ""]?${CUST_MODE}:${M})})
 same => n,Set(D=${GLOBAL(CUST_${FILTER(0-9,${EXTEN})}_DELAY)})
 same => n,Set(D=${IF($["${D}" = ""]?${IF($["${CUST_DELAY}" = ""]?2:${CUST_DELAY})}:${D})})
 same => n,Set(T=${GLOBAL(CUST_${FILTER(0-9,${EXTEN})}_TALK)})
 same => n,Set(T=${IF($["${T}" = ""]?${IF($["${CUST_TALK}" = ""]?20:${CUST_TALK})}:${T})})
 same => n,GotoIf($["${M}" = "busy"]?busy)
 same => n,GotoIf($["${M}" = "congestion"]?cong)
 same => n,Ringing()
 same => n,GotoIf($["${M}" = "noanswer"]?noans)
 same => n,Wait(${D})
 same => n,Answer()
 same => n,GotoIf($["${T}" = "0"]?forever)
 same => n,Wait(${T})
 same => n,Hangup(16)
 same => n(forever),Wait(3600)
 same => n,Hangup(16)
 same => n(busy),Busy(30)
 same => n,Hangup(17)
 same => n(cong),Congestion(30)
 same => n,Hangup(34)
 same => n(noans),Wait(3600)
 same => n,Hangup(19)
"""


# --- CDR into PostgreSQL ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pg:
    host: str
    port: int
    dbname: str
    user: str
    password: str
    schema: str


def _pg_parts(url: str) -> _Pg | None:
    if not url.startswith("postgresql"):
        return None
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = (query.get("search_path") or ["public"])[0].split(",")[0].strip() or "public"
    return _Pg(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        dbname=(parts.path or "/").lstrip("/") or "postgres",
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        schema=schema,
    )


def _pgsql_conf(section: str, pg: _Pg, *, table: str) -> str:
    # cdr_pgsql has no schema option: it looks the table up as "schema.table"
    # (a failed column lookup at load crashes Asterisk 22, so the name must be right)
    qualified = table if pg.schema == "public" else f"{pg.schema}.{table}"
    return f"""[{section}]
hostname = {pg.host}
port = {pg.port}
dbname = {pg.dbname}
user = {pg.user}
password = {pg.password}
table = {qualified}
encoding = UTF8
appname = asterisk
timezone = UTC
"""
