"""Alerts out: the log, a webhook (JSON POST) or email (SMTP), with a cool-down per alert key.

A channel that fails (a receiver down, a refused login) is recorded on the alert as not delivered, with
why; it never stops the monitor run. Every alert is stored, also those the cool-down suppresses.
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx

from hone.config.schema import AlertChannel, AlertSettings
from hone.monitor.history import Alert, in_cooldown, save_alert
from hone.store.db import Store
from hone.store.jsonable import finite_or_none

logger = logging.getLogger("hone.monitor.alerts")

WEBHOOK_TIMEOUT_SECONDS = 5.0
SMTP_TIMEOUT_SECONDS = 10.0


def raise_alert(store: Store, settings: AlertSettings, alert: Alert, *, cooldown: bool = True) -> Alert:
    """Deliver ``alert`` through every channel unless its key is in its cool-down; store it either way.

    ``cooldown=False`` delivers regardless (an action taken, such as a roll-back, is always reported).
    The cool-down clock is ``alert.at``, so tests move time instead of sleeping.
    """
    if cooldown and in_cooldown(store, alert.model, alert.key, alert.at, settings.cooldown):
        return save_alert(store, replace(alert, suppressed=True, delivered=[], errors=[]))
    delivered, errors = deliver(alert, settings.channels)
    return save_alert(store, replace(alert, suppressed=False, delivered=delivered, errors=errors))


def deliver(alert: Alert, channels: Sequence[AlertChannel]) -> tuple[list[str], list[str]]:
    """Send through each channel; (labels of the channels that took it, "label: why" of those that failed)."""
    delivered: list[str] = []
    errors: list[str] = []
    for channel in channels:
        label = channel_label(channel)
        try:
            _SENDERS[channel.kind](alert, channel)
        except Exception as error:  # any failure of a receiver is recorded, never raised into the run
            errors.append(f"{label}: {_reason(error)}")
        else:
            delivered.append(label)
    return delivered, errors


def channel_label(channel: AlertChannel) -> str:
    """A short name for a channel; a webhook shows only its host (its path is often a secret token)."""
    if channel.kind == "webhook":
        parts = urlsplit(channel.url or "")
        host = parts.hostname or "?"
        return f"webhook:{host}:{parts.port}" if parts.port else f"webhook:{host}"
    if channel.kind == "email":
        return f"email:{','.join(channel.to)}"
    return channel.kind


def payload(alert: Alert) -> dict[str, Any]:
    """The alert as the JSON document a webhook receives (NaN and infinities as null)."""
    return {
        "model": alert.model,
        "version": alert.version,
        "key": alert.key,
        "kind": alert.kind,
        "check": alert.check,
        "feature": alert.feature,
        "value": finite_or_none(alert.value),
        "threshold": finite_or_none(alert.threshold),
        "message": alert.message,
        "window": {"start": alert.window_start.isoformat(), "end": alert.window_end.isoformat()},
        "at": alert.at.isoformat(),
    }


def subject(alert: Alert) -> str:
    return f"[hone] {alert.model}: {alert.message}"


def plain_text(alert: Alert) -> str:
    """The email body: the same facts as the webhook's JSON, for people."""
    version = f" v{alert.version}" if alert.version is not None else ""
    lines = [
        f"hone alert for model {alert.model}{version}",
        "",
        alert.message,
        "",
        f"key:       {alert.key}",
        f"kind:      {alert.kind}",
        f"check:     {alert.check or '-'}",
        f"feature:   {alert.feature or '-'}",
        f"value:     {_shown(alert.value)}",
        f"threshold: {_shown(alert.threshold)}",
        f"window:    {_time(alert.window_start)} to {_time(alert.window_end)}",
        f"raised at: {_time(alert.at)}",
    ]
    return "\n".join(lines) + "\n"


# -- channels --------------------------------------------------------------------------------------------


def _to_log(alert: Alert, channel: AlertChannel) -> None:
    version = f" v{alert.version}" if alert.version is not None else ""
    logger.warning("hone alert %s%s [%s]: %s", alert.model, version, alert.key, alert.message)


def _to_webhook(alert: Alert, channel: AlertChannel) -> None:
    response = httpx.post(str(channel.url), json=payload(alert), timeout=WEBHOOK_TIMEOUT_SECONDS)
    if not response.is_success:
        raise RuntimeError(f"HTTP {response.status_code} {response.reason_phrase}".strip())


def _to_email(alert: Alert, channel: AlertChannel) -> None:
    message = EmailMessage()
    message["Subject"] = subject(alert)
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(plain_text(alert))
    credentials = _credentials(channel)
    with smtplib.SMTP(str(channel.host), channel.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if channel.starttls:
            smtp.starttls()
        if credentials is not None:
            smtp.login(*credentials)
        smtp.send_message(message)


def _credentials(channel: AlertChannel) -> tuple[str, str] | None:
    if channel.username_env is None and channel.password_env is None:
        return None
    values = []
    for name in (channel.username_env, channel.password_env):
        if name is None or name not in os.environ:
            raise RuntimeError(
                f"environment variable {name or '(password_env)'} with the SMTP login is not set"
            )
        values.append(os.environ[name])
    return values[0], values[1]


_SENDERS = {"log": _to_log, "webhook": _to_webhook, "email": _to_email}


# -- formatting ------------------------------------------------------------------------------------------


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__



def _shown(value: float | None) -> str:
    number = finite_or_none(value)
    return "-" if number is None else f"{number:.6g}"


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
