"""IVR flows against a scripted channel: inputs, timeouts, invalid input, hang-up at every step."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_core.clock import FakeClock
from crm_core.domain.models import (
    Callback,
    CallbackReason,
    CallbackStatus,
    Case,
    CaseKind,
    CaseStatus,
    Customer,
    SurveyAnswer,
)
from crm_core.ports.agi import AgiHangup
from ivr_scripts import flows, prompts
from ivr_scripts.context import BusinessHours, IvrContext

OPEN_TIME = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # 11:00 Shanghai, Monday
CLOSED_TIME = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 23:00 Shanghai


class ScriptedChannel:
    """Answers GET DATA from a script (None = timeout); hangs up at command number `hangup_at`."""

    def __init__(
        self,
        inputs: list[str | None],
        *,
        hangup_at: int | None = None,
        extension: str = "4008001234",
    ) -> None:
        self.inputs = list(inputs)
        self.hangup_at = hangup_at
        self.commands = 0
        # the AGI channel is the call's second one (e.g. after a transfer): its uniqueid
        # is not the call id, the linkedid is
        self.variables: dict[str, str] = {"CHANNEL(linkedid)": "1795394377.16"}
        self.steps: list[str] = []
        self.env = {"uniqueid": "1795394377.20", "extension": extension, "dnid": "unknown"}
        # (prompt, the channel's language when played): every prompt must be a shipped one
        self.played: list[tuple[str, str]] = []
        self.said: list[str] = []

    @property
    def caller_number(self) -> str:
        return "13800138000"

    @property
    def caller_name(self) -> str:
        return "张三"

    @property
    def uniqueid(self) -> str:
        return "1795394377.20"

    def _command(self) -> None:
        if self.hangup_at is not None and self.commands >= self.hangup_at:
            raise AgiHangup("caller hung up")
        self.commands += 1

    async def answer(self) -> None:
        self._command()

    async def hangup(self) -> None:
        self._command()

    async def verbose(self, message: str, level: int = 1) -> None:
        self._command()

    async def get_variable(self, name: str) -> str | None:
        self._command()
        return self.variables.get(name)

    async def set_variable(self, name: str, value: str) -> None:
        self._command()
        self.variables[name] = value
        if name == "CC_IVR_STEP":
            self.steps.append(value)

    def _play(self, prompt: str) -> None:
        assert prompt in prompts.PROMPTS, f"{prompt} is not in ivr_scripts.prompts"
        self.played.append((prompt, self.variables.get("CHANNEL(language)", "")))

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self._command()
        self._play(prompt)
        return None

    async def get_data(
        self, prompt: str, timeout_ms: int = 5000, max_digits: int = 1
    ) -> str | None:
        self._command()
        self._play(prompt)
        return self.inputs.pop(0) if self.inputs else None

    async def say_digits(self, digits: str) -> None:
        self._command()
        self.said.append(f"digits:{digits}")

    async def say_number(self, number: int) -> None:
        self._command()
        self.said.append(f"number:{number}")

    async def say_datetime(self, epoch_seconds: int, format: str = "", timezone: str = "") -> None:
        self._command()
        self.said.append(f"datetime:{epoch_seconds}:{format}:{timezone}")


class Customers:
    def __init__(self, customer: Customer | None) -> None:
        self.customer = customer

    async def find_by_phone(self, phone: str) -> Customer | None:
        await asyncio.sleep(0.01)  # a database round trip: flows may overlap it with AGI work
        return self.customer


class Cases:
    def __init__(self, cases: list[Case]) -> None:
        self.cases = cases

    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> list[Case]:
        return self.cases[:limit]


class Surveys:
    def __init__(self) -> None:
        self.answers: list[SurveyAnswer] = []

    async def add(self, answer: SurveyAnswer) -> SurveyAnswer:
        self.answers.append(answer)
        return answer


class Callbacks:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.requests: list[dict[str, Any]] = []

    async def request(self, **kwargs: Any) -> Callback:
        self.requests.append(kwargs)
        now = self.clock.now()
        return Callback(
            id=len(self.requests),
            phone_e164="+86" + str(kwargs["phone"]),
            reason=kwargs["reason"],
            status=CallbackStatus.OPEN,
            created_at=now,
            due_at=now + timedelta(minutes=30),
        )


def make_ctx(
    *, at: datetime = OPEN_TIME, customer: Customer | None = None, cases: list[Case] | None = None
) -> tuple[IvrContext, Callbacks, Surveys]:
    clock = FakeClock(at)
    callbacks, surveys = Callbacks(clock), Surveys()
    ctx = IvrContext(
        customers=Customers(customer),
        cases=Cases(cases or []),
        surveys=surveys,
        request_callback=callbacks.request,
        clock=clock,
        hours=BusinessHours(holidays=frozenset({OPEN_TIME.date() + timedelta(days=1)})),
    )
    return ctx, callbacks, surveys


VIP = Customer(id=7, name="张三", vip_level=2, language="zh")
CASE = Case(
    id=42,
    kind=CaseKind.INQUIRY,
    status=CaseStatus.OPEN,
    subject="delivery",
    created_at=OPEN_TIME - timedelta(days=1),
    promised_reply_at=OPEN_TIME + timedelta(hours=2),
)


async def test_welcome_vip_goes_to_priority_queue() -> None:
    ctx, _, _ = make_ctx(customer=VIP)
    ch = ScriptedChannel([])
    await flows.welcome(ch, ctx)
    assert ch.variables["CC_CUSTOMER_ID"] == "7"
    assert ch.variables["CC_QUEUE"] == "vip"
    assert ch.variables["CC_LANGUAGE"] == "zh"
    assert ch.variables["CC_ROUTE"] == "menu"
    assert ch.steps == ["welcome:start", "welcome:identified:7"]


async def test_welcome_unknown_caller_closed_hours_asks_callback() -> None:
    ctx, _, _ = make_ctx(at=CLOSED_TIME)
    ch = ScriptedChannel(["1"])
    await flows.welcome(ch, ctx)
    assert "CC_CUSTOMER_ID" not in ch.variables
    assert ch.variables["CC_QUEUE"] == "support"
    assert ch.variables["CC_ROUTE"] == "callback"
    assert ch.steps[-1] == "welcome:closed_callback:1"


async def test_welcome_on_a_holiday_is_closed() -> None:
    ctx, _, _ = make_ctx(at=OPEN_TIME + timedelta(days=1))
    ch = ScriptedChannel([None])
    await flows.welcome(ch, ctx)
    assert ch.variables["CC_ROUTE"] == "hangup"
    assert "welcome:closed" in ch.steps


@pytest.mark.parametrize(
    ("inputs", "route", "queue"),
    [
        (["2"], "queue", "sales"),
        ([None, "7", "1"], "queue", "support"),
        (["0"], "queue", None),
        (["3"], "selfservice", None),
        (["9"], "callback", None),
        ([None, None, None], "queue", None),
        (["8", "8", "8"], "queue", None),
    ],
)
async def test_menu_choices_retries_and_person(
    inputs: list[str | None], route: str, queue: str | None
) -> None:
    ctx, _, _ = make_ctx()
    ch = ScriptedChannel(inputs)
    await flows.menu(ch, ctx)
    assert ch.variables["CC_ROUTE"] == route
    assert ch.variables.get("CC_QUEUE") == queue
    assert len(ch.steps) >= 1


async def test_menu_keeps_vip_queue() -> None:
    ctx, _, _ = make_ctx()
    ch = ScriptedChannel(["2"])
    ch.variables["CC_QUEUE"] = "vip"
    await flows.menu(ch, ctx)
    assert ch.variables["CC_QUEUE"] == "vip"


async def test_selfservice_reads_latest_case() -> None:
    ctx, _, _ = make_ctx(customer=VIP, cases=[CASE])
    ch = ScriptedChannel(["0"])
    await flows.selfservice(ch, ctx)
    assert ch.steps[-1] == "selfservice:read_case:42"
    assert ch.variables["CC_ROUTE"] == "queue"


async def test_selfservice_without_case() -> None:
    ctx, _, _ = make_ctx()
    ch = ScriptedChannel([None])
    await flows.selfservice(ch, ctx)
    assert "selfservice:no_case" in ch.steps
    assert ch.variables["CC_ROUTE"] == "hangup"


async def test_callback_confirmed_number() -> None:
    ctx, callbacks, _ = make_ctx()
    ch = ScriptedChannel(["1"])
    await flows.callback(ch, ctx)
    assert callbacks.requests[0]["phone"] == "13800138000"
    assert callbacks.requests[0]["reason"] == CallbackReason.IVR_REQUEST
    assert callbacks.requests[0]["call_id"] == "1795394377.16"
    assert ch.steps[-1] == "callback:created:1"


async def test_callback_other_number_after_an_invalid_one() -> None:
    ctx, callbacks, _ = make_ctx()
    ch = ScriptedChannel(["2", "12", "13900139000"])
    await flows.callback(ch, ctx)
    assert callbacks.requests[0]["phone"] == "13900139000"


@pytest.mark.parametrize(("score", "stored"), [("5", 1), ("1", 1), ("7", 0), (None, 0)])
async def test_survey_stores_valid_scores(score: str | None, stored: int) -> None:
    ctx, _, surveys = make_ctx()
    ch = ScriptedChannel([score, score])
    await flows.survey(ch, ctx)
    assert len(surveys.answers) == stored
    if stored:
        assert surveys.answers[0].call_id == "1795394377.16"
        assert int(surveys.answers[0].score) == int(score or 0)


Flow = Callable[[ScriptedChannel, IvrContext], Awaitable[None]]
FLOW_RUNS: list[tuple[str, Flow, list[str | None], datetime]] = [
    ("welcome_open", flows.welcome, [], OPEN_TIME),
    ("welcome_closed", flows.welcome, ["1"], CLOSED_TIME),
    ("menu", flows.menu, [None, "8", "2"], OPEN_TIME),
    ("selfservice", flows.selfservice, ["0"], OPEN_TIME),
    ("callback", flows.callback, ["2", "13900139000"], OPEN_TIME),
    ("survey", flows.survey, ["4"], OPEN_TIME),
]


@pytest.mark.parametrize(("name", "flow", "inputs", "at"), FLOW_RUNS, ids=[r[0] for r in FLOW_RUNS])
async def test_hangup_at_every_step_ends_the_flow(
    name: str, flow: Flow, inputs: list[str | None], at: datetime
) -> None:
    ctx, _, _ = make_ctx(at=at, customer=VIP, cases=[CASE])
    full = ScriptedChannel(inputs)
    await flow(full, ctx)
    assert full.commands > 0
    for k in range(full.commands):
        ctx, callbacks, surveys = make_ctx(at=at, customer=VIP, cases=[CASE])
        ch = ScriptedChannel(inputs, hangup_at=k)
        tasks_before = asyncio.all_tasks()
        with pytest.raises(AgiHangup):
            await flow(ch, ctx)
        assert ch.commands == k
        assert asyncio.all_tasks() <= tasks_before, "the flow left a task behind"
        assert len(callbacks.requests) <= 1
        assert len(surveys.answers) <= 1


EN_CUSTOMER = Customer(id=8, name="Ann Lee", vip_level=0, language="en")


@pytest.mark.parametrize(
    ("customer", "extension", "expected"),
    [
        (None, "4008001234", "zh"),  # the IVR default
        (None, "4008005678", "en"),  # the DID's language
        (EN_CUSTOMER, "4008001234", "en"),  # the known customer's own language wins
        (VIP, "4008005678", "zh"),  # "zh" -> zh, whatever the DID
        (Customer(id=9, name="x", language=""), "4008005678", "en"),  # none known: the DID's
    ],
)
async def test_welcome_sets_the_call_language(
    customer: Customer | None, extension: str, expected: str
) -> None:
    ctx, _, _ = make_ctx(customer=customer)
    ctx.did_languages = {"4008005678": "en"}
    ch = ScriptedChannel([], extension=extension)
    await flows.welcome(ch, ctx)
    assert ch.variables["CHANNEL(language)"] == expected
    assert ch.variables["CC_LANGUAGE"] == expected
    # every prompt of the call is played in that language
    assert ch.played == [(prompts.WELCOME, expected)]


def test_dialed_number_falls_back_to_the_dnid() -> None:
    ch = ScriptedChannel([], extension="s")
    ch.env["dnid"] = "4008005678"
    assert flows.dialed_number(ch) == "4008005678"


async def test_menu_8_switches_the_language_and_replays_the_menu() -> None:
    ctx, _, _ = make_ctx()
    ch = ScriptedChannel(["8", "8", "2"])
    ch.variables["CHANNEL(language)"] = "zh"
    await flows.menu(ch, ctx)
    assert ch.played == [
        (prompts.MAIN_MENU, "zh"),
        (prompts.MAIN_MENU, "en"),
        (prompts.MAIN_MENU, "zh"),
    ]
    assert ch.variables["CC_LANGUAGE"] == "zh"
    assert ch.variables["CC_QUEUE"] == "sales"  # switching used up no try
    assert ch.steps[:2] == ["menu:language:en", "menu:language:zh"]


async def test_selfservice_says_the_date_in_the_call_language_and_business_zone() -> None:
    ctx, _, _ = make_ctx(customer=VIP, cases=[CASE])
    ch = ScriptedChannel(["0"])
    ch.variables["CHANNEL(language)"] = "en"
    await flows.selfservice(ch, ctx)
    when = int(CASE.promised_reply_at.timestamp()) if CASE.promised_reply_at else 0
    fmt = prompts.DATETIME_FORMATS["en"]
    assert ch.said == ["digits:42", f"datetime:{when}:{fmt}:Asia/Shanghai"]
    assert [p for p, _ in ch.played][:3] == [
        prompts.YOUR_CASE_NUMBER,
        prompts.case_status(CaseStatus.OPEN),
        prompts.EXPECTED_ON,
    ]
