"""What an alert says, and how each kind of webhook wants it said.

An :class:`Alert` is neutral: a one-line summary, labelled facts for people and a
details mapping for machines. :func:`payload` renders it as a Slack incoming-webhook
message (mrkdwn blocks), a WeCom group-robot markdown message or a generic JSON
document; :func:`answer_problem` reads what the webhook answered, because Slack and
WeCom report some failures inside a 200 response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

AlertKind = Literal["failure-rate", "new-group", "fleet-failure"]
TargetKind = Literal["slack", "wecom", "json"]

_TITLES: Final[Mapping[str, str]] = {
    "failure-rate": "Upstream failure rate above threshold",
    "new-group": "New error group",
    "fleet-failure": "Fleet run failing",
}
# Slack rejects a section text over 3,000 characters; WeCom a content over 4,096 bytes.
_SLACK_SECTION_CHARS: Final = 3000
_WECOM_CONTENT_BYTES: Final = 4096
_BODY_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing worth telling someone.

    ``key`` is what the cool-down is kept under (``failure-rate:<upstream>``,
    ``group:<group id>``, ``fleet:<run id>``); ``facts`` are (label, value) lines for
    people; ``details`` the same data for machines. All texts are already redacted.
    """

    key: str
    kind: AlertKind
    summary: str
    facts: tuple[tuple[str, str], ...]
    details: Mapping[str, Any]

    @property
    def title(self) -> str:
        """A short heading naming the kind of alert."""
        return _TITLES[self.kind]


def iso_time(at: float) -> str:
    """``at`` (seconds since the epoch) as an ISO 8601 UTC time, to the second."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(
    kind: TargetKind, alert: Alert, *, run_id: str, command: str, at: float
) -> dict[str, Any]:
    """The JSON body to POST to a webhook of ``kind`` for ``alert``."""
    if kind == "slack":
        return _slack(alert, run_id=run_id, command=command, at=at)
    if kind == "wecom":
        return _wecom(alert, run_id=run_id, command=command, at=at)
    return {
        "source": "unstall",
        "alert": alert.key,
        "kind": alert.kind,
        "summary": alert.summary,
        "details": dict(alert.details),
        "run_id": run_id,
        "command": command,
        "at": iso_time(at),
    }


def _footer(run_id: str, command: str, at: float) -> str:
    return f"unstall {command} · run {run_id} · {iso_time(at)}"


def _slack_escape(text: str) -> str:
    # The three characters Slack's mrkdwn treats as markup of links and mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack(alert: Alert, *, run_id: str, command: str, at: float) -> dict[str, Any]:
    head = f"*{_slack_escape(alert.title)}*\n{_slack_escape(alert.summary)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(head, _SLACK_SECTION_CHARS)}}
    ]
    if alert.facts:
        lines = "\n".join(
            f"*{_slack_escape(label)}:* {_slack_escape(value)}" for label, value in alert.facts
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(lines, _SLACK_SECTION_CHARS)},
            }
        )
    footer = _slack_escape(_footer(run_id, command, at))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    # "text" is what notifications and clients without block support show.
    return {"text": f"unstall: {alert.summary}", "blocks": blocks}


def _wecom(alert: Alert, *, run_id: str, command: str, at: float) -> dict[str, Any]:
    lines = [f"## unstall: {alert.title}", alert.summary]
    lines += [f"> **{label}:** {value}" for label, value in alert.facts]
    lines.append(f'<font color="comment">{_footer(run_id, command, at)}</font>')
    content = "\n".join(lines)
    encoded = content.encode()
    if len(encoded) > _WECOM_CONTENT_BYTES:
        # Cut on bytes (the robot's limit), never inside a UTF-8 sequence.
        content = encoded[: _WECOM_CONTENT_BYTES - 3].decode(errors="ignore") + "…"
    return {"msgtype": "markdown", "markdown": {"content": content}}


def answer_problem(kind: TargetKind, status: int, body: str) -> str | None:
    """Why the webhook's answer means the alert was not delivered, or None if it was.

    Any non-2xx status fails. Slack's incoming webhooks answer ``ok`` as plain text;
    WeCom answers 200 with ``{"errcode": 0}`` and reports errors with a nonzero errcode.
    """
    text = _clip(" ".join(body.split()), _BODY_CHARS)
    if not 200 <= status < 300:
        return f"the webhook answered HTTP {status}" + (f": {text}" if text else "")
    if kind == "slack" and body.strip() != "ok":
        return f"Slack did not accept the message: {text or 'empty answer'}"
    if kind == "wecom":
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "errcode" not in answer:
            return f"WeCom answered without an errcode: {text or 'empty answer'}"
        if answer["errcode"] != 0:
            message = str(answer.get("errmsg", ""))
            return f"WeCom refused the message: errcode {answer['errcode']} {message}".rstrip()
    return None


__all__ = ["Alert", "AlertKind", "TargetKind", "answer_problem", "iso_time", "payload"]
