"""Alert delivery to a real local HTTP receiver and a real local SMTP server; cool-down; storage."""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from hone.config.schema import AlertChannel, AlertSettings
from hone.monitor.alerts import channel_label, raise_alert
from hone.monitor.history import Alert, stored_alerts
from hone.store.db import Store

AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


# -- real receivers ----------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST body and answers with ``status``."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    status: int = 204


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    record = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers["Content-Length"])
            assert self.headers["Content-Type"] == "application/json"
            record.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(record.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        box.logins.append((data.login.decode(), data.password.decode()))
        # handled=False: the server answers 535 itself when the password is wrong.
        return AuthResult(success=data.password == b"s3cret", handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=authenticate,
        auth_require_tls=False,  # a local test server without a certificate
    )
    controller.start()
    yield box
    controller.stop()


@pytest.fixture()
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)  # a SQLite file and a PostgreSQL database
    yield opened
    opened.close()


def make_alert(at: datetime = AT, key: str = "drift:psi:median_income", **changes: Any) -> Alert:
    kind, check, feature = key.split(":")
    fields: dict[str, Any] = {
        "id": None,
        "model": "housing",
        "key": key,
        "kind": kind,
        "message": "median_income PSI 0.81 against the reference profile (threshold 0.25)",
        "value": 0.8123,
        "threshold": 0.25,
        "window_start": at - timedelta(hours=1),
        "window_end": at - timedelta(seconds=1),
        "at": at,
        "delivered": [],
        "suppressed": False,
        "version": 3,
        "check": check,
        "feature": None if feature == "*" else feature,
    }
    fields.update(changes)
    return Alert(**fields)


def settings(*channels: AlertChannel, cooldown: float = 3600) -> AlertSettings:
    return AlertSettings(cooldown=cooldown, channels=list(channels))


# -- delivery ----------------------------------------------------------------------------------------------


def test_webhook_gets_the_json_document_and_email_the_same_facts(store, receiver, mailbox):
    channels = settings(
        AlertChannel(kind="webhook", url=receiver.url),
        AlertChannel(kind="email", host="127.0.0.1", port=mailbox.port, sender="hone@ci", to=["ops@ci"]),
    )
    raised = raise_alert(store, channels, make_alert())

    assert receiver.bodies == [
        {
            "model": "housing",
            "version": 3,
            "key": "drift:psi:median_income",
            "kind": "drift",
            "check": "psi",
            "feature": "median_income",
            "value": 0.8123,
            "threshold": 0.25,
            "message": "median_income PSI 0.81 against the reference profile (threshold 0.25)",
            "window": {"start": "2024-05-01T11:00:00+00:00", "end": "2024-05-01T11:59:59+00:00"},
            "at": "2024-05-01T12:00:00+00:00",
        }
    ]
    [(sender, recipients, content)] = mailbox.messages
    email = message_from_bytes(content, policy=policy.default)
    assert (sender, recipients) == ("hone@ci", ["ops@ci"])
    assert email["Subject"] == (
        "[hone] housing: median_income PSI 0.81 against the reference profile (threshold 0.25)"
    )
    body = email.get_content()
    assert "hone alert for model housing v3" in body
    assert "feature:   median_income" in body and "value:     0.8123" in body
    assert "window:    2024-05-01T11:00:00+00:00 to 2024-05-01T11:59:59+00:00" in body
    # The webhook's secret path is never shown or stored: only its host and port.
    port = receiver.url.split(":")[2].split("/")[0]
    assert raised.delivered == [f"webhook:127.0.0.1:{port}", "email:ops@ci"]
    assert raised.errors == [] and not raised.suppressed
    assert stored_alerts(store) == [raised] and raised.id is not None


def test_email_logs_in_with_credentials_from_the_named_environment_variables(store, mailbox, monkeypatch):
    monkeypatch.setenv("HONE_SMTP_USER", "alerts")
    monkeypatch.setenv("HONE_SMTP_PASSWORD", "s3cret")
    channel = AlertChannel(
        kind="email",
        host="127.0.0.1",
        port=mailbox.port,
        to=["ops@ci", "oncall@ci"],
        username_env="HONE_SMTP_USER",
        password_env="HONE_SMTP_PASSWORD",
    )
    raised = raise_alert(store, settings(channel), make_alert())
    assert mailbox.logins == [("alerts", "s3cret")]
    assert mailbox.messages[0][1] == ["ops@ci", "oncall@ci"]
    assert raised.delivered == ["email:ops@ci,oncall@ci"]

    monkeypatch.setenv("HONE_SMTP_PASSWORD", "wrong")
    refused = raise_alert(store, settings(channel), make_alert(key="quality:stuck:households"))
    assert refused.delivered == [] and "SMTPAuthenticationError" in refused.errors[0]
    assert len(mailbox.messages) == 1

    monkeypatch.delenv("HONE_SMTP_PASSWORD")
    unset = raise_alert(store, settings(channel), make_alert(key="quality:noise:population"))
    assert unset.errors == [
        "email:ops@ci,oncall@ci: RuntimeError: environment variable HONE_SMTP_PASSWORD "
        "with the SMTP login is not set"
    ]


def test_a_failing_receiver_is_recorded_as_not_delivered_and_the_others_still_get_it(store, receiver, caplog):
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    channels = settings(
        AlertChannel(kind="webhook", url=closed),
        AlertChannel(kind="log"),
        AlertChannel(kind="webhook", url=receiver.url),
    )
    with caplog.at_level(logging.WARNING, logger="hone.monitor.alerts"):
        raised = raise_alert(store, channels, make_alert())
    assert raised.delivered == ["log", channel_label(channels.channels[2])]
    assert len(raised.errors) == 1 and raised.errors[0].startswith(f"{channel_label(channels.channels[0])}: ")
    assert "ConnectError" in raised.errors[0]
    assert len(receiver.bodies) == 1
    [record] = [r for r in caplog.records if r.name == "hone.monitor.alerts"]
    assert record.getMessage() == (
        "hone alert housing v3 [drift:psi:median_income]: "
        "median_income PSI 0.81 against the reference profile (threshold 0.25)"
    )
    assert stored_alerts(store)[0].errors == raised.errors

    receiver.status = 500
    failed = raise_alert(
        store, settings(AlertChannel(kind="webhook", url=receiver.url)), make_alert(key="a:b:c")
    )
    assert failed.delivered == [] and failed.errors[0].endswith(
        "RuntimeError: HTTP 500 Internal Server Error"
    )


# -- cool-down ---------------------------------------------------------------------------------------------


def test_cool_down_suppresses_the_same_key_but_stores_it(store, receiver):
    channels = settings(AlertChannel(kind="webhook", url=receiver.url), cooldown=3600)
    first = raise_alert(store, channels, make_alert(AT))
    again = raise_alert(store, channels, make_alert(AT + timedelta(minutes=59)))
    other_key = raise_alert(
        store, channels, make_alert(AT + timedelta(minutes=59), key="quality:stuck:households")
    )
    after = raise_alert(store, channels, make_alert(AT + timedelta(minutes=61)))
    other_model = raise_alert(store, channels, make_alert(AT + timedelta(minutes=62), model="prices"))

    # `after` is sent: the suppressed alert at 59 minutes did not extend the cool-down.
    assert [first.suppressed, again.suppressed, other_key.suppressed, after.suppressed] == [
        False,
        True,
        False,
        False,
    ]
    assert not other_model.suppressed
    assert again.delivered == [] and again.errors == []
    assert len(receiver.bodies) == 4
    assert [a.suppressed for a in stored_alerts(store, "housing")] == [False, True, False, False]
    # The clock now runs from `after`, the last one sent.
    late = raise_alert(store, channels, make_alert(AT + timedelta(minutes=61 + 59)))
    assert late.suppressed


def test_an_action_is_reported_even_inside_the_cool_down(store, receiver):
    channels = settings(AlertChannel(kind="webhook", url=receiver.url))
    raise_alert(store, channels, make_alert(key="rollback:champion:*"), cooldown=False)
    forced = raise_alert(store, channels, make_alert(key="rollback:champion:*"), cooldown=False)
    assert not forced.suppressed and len(receiver.bodies) == 2


# -- storage -----------------------------------------------------------------------------------------------


def test_stored_alerts_round_trip_latest_first_limited_and_per_model(store):
    quiet = settings()  # no channel at all: stored, delivered nowhere
    for minute in range(5):
        raise_alert(store, quiet, make_alert(AT + timedelta(minutes=minute), key=f"quality:stuck:f{minute}"))
    raise_alert(store, quiet, make_alert(AT, model="prices", value=math.nan, threshold=None))

    latest = stored_alerts(store, "housing", limit=2)
    assert [a.key for a in latest] == ["quality:stuck:f3", "quality:stuck:f4"]
    assert latest[-1].at == AT + timedelta(minutes=4) and latest[-1].at.tzinfo is not None
    assert latest[-1].delivered == [] and latest[-1].feature == "f4" and latest[-1].check == "stuck"
    [prices] = stored_alerts(store, "prices")
    assert math.isnan(prices.value) and prices.threshold is None
    assert len(stored_alerts(store)) == 6
