"""Delivering a digest: e-mail over SMTP (plain text and HTML), the DingTalk, WeCom and Feishu
robots (Markdown, each with its signature where it has one) and a generic webhook (JSON).

Each delivery is tried up to ``TRIES`` times, waiting ``BACKOFF_S`` between tries, when the
receiver does not answer in time or answers with a server error (5xx) or a rate limit; a refusal
(4xx, a robot's non-zero error code) is not retried. ``Failed`` carries a few plain words for the
log — never the address of a robot, its token or a password.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from kam_analytics.notify import messages

TRIES = 3
BACKOFF_S = (1.0, 3.0)  # waits before the second and third tries
TIMEOUT_S = 15.0
WECOM_PER_MINUTE = 20   # a WeCom robot takes at most 20 messages a minute


class Failed(Exception):
    """A delivery that did not go; ``str`` is safe to log (no secret in it)."""


class _Retry(Failed):
    """A failure worth another try (a timeout, a 5xx, a rate limit)."""


def with_retries(send, sleep=time.sleep) -> int:
    """Call ``send`` until it succeeds, at most ``TRIES`` times (``_Retry`` only); returns the
    tries it took. Raises ``Failed`` with the last reason."""
    for attempt in range(1, TRIES + 1):
        try:
            send()
            return attempt
        except _Retry as error:
            if attempt == TRIES:
                raise Failed(f"{error} (after {TRIES} tries)") from None
            sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
    raise Failed("not sent")  # pragma: no cover


# -- e-mail -----------------------------------------------------------------------------------
def send_email(smtp, to: str, digest) -> None:
    """One e-mail with the digest as plain text and HTML."""
    import smtplib
    import socket
    from email.message import EmailMessage
    from email.utils import make_msgid

    message = EmailMessage()
    message["Subject"] = messages.title(digest)
    message["From"] = smtp.sender
    message["To"] = to
    message["Message-ID"] = make_msgid(domain="kam-analytics")
    message.set_content(messages.plain_text(digest))
    message.add_alternative(messages.html(digest), subtype="html")

    def send():
        try:
            client = (smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP)(smtp.host, smtp.port, timeout=smtp.timeout_s)
            with client:
                if smtp.starttls:
                    client.starttls()
                if smtp.username:
                    client.login(smtp.username, smtp.password)
                client.send_message(message)
        except (socket.timeout, TimeoutError, ConnectionError, smtplib.SMTPServerDisconnected) as error:
            raise _Retry(f"mail server {smtp.host}:{smtp.port} did not answer ({type(error).__name__})") from None
        except smtplib.SMTPResponseException as error:
            if 400 <= error.smtp_code < 500:  # a temporary refusal
                raise _Retry(f"mail server answered {error.smtp_code}") from None
            raise Failed(f"mail server refused: {error.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise Failed(f"mail not sent ({type(error).__name__})") from None

    with_retries(send)


# -- robots and webhooks ----------------------------------------------------------------------
def _post(url: str, body: dict, what: str) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            raise _Retry(f"{what} answered HTTP {error.code}") from None
        raise Failed(f"{what} refused: HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        raise _Retry(f"{what} did not answer ({type(getattr(error, 'reason', error)).__name__})") from None
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {}


def dingtalk_url(url: str, secret: str, now_ms: int | None = None) -> str:
    """DingTalk's signed address: ``timestamp`` (ms) and ``sign`` = URL-encoded base64 of
    HMAC-SHA256 over "{timestamp}\\n{secret}" keyed with the secret."""
    if not secret:
        return url
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"


def feishu_sign(secret: str, timestamp: int) -> str:
    """Feishu's signature: base64 of HMAC-SHA256 keyed with "{timestamp}\\n{secret}" over nothing."""
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _robot_answer(answer: dict, what: str) -> None:
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code in (0, None):
        return
    if code in (130101, 45009, 9499):  # sent too often (DingTalk, WeCom, Feishu): wait and retry
        raise _Retry(f"{what} asks to slow down (code {code})")
    raise Failed(f"{what} refused the message (code {code})")


def send_channel(channel, digest, sleep=time.sleep) -> int:
    """The digest through ``channel`` (``config.Channel``); returns the messages sent."""
    what = f"channel {channel.name} ({channel.kind})"
    if channel.kind == "webhook":
        with_retries(lambda: _post(channel.url, messages.webhook_document(digest), what), sleep)
        return 1
    limit = messages.WECOM_LIMIT if channel.kind == "wecom" else 18_000
    parts = messages.markdown_parts(digest, limit)
    for i, text in enumerate(parts):
        if channel.kind == "wecom" and i and i % WECOM_PER_MINUTE == 0:
            sleep(60)
        title = messages.title(digest)

        def send(text=text):
            if channel.kind == "dingtalk":
                body = {"msgtype": "markdown", "markdown": {"title": messages.robot_text(title), "text": text}}
                _robot_answer(_post(dingtalk_url(channel.url, channel.secret), body, what), what)
            elif channel.kind == "wecom":
                _robot_answer(_post(channel.url, {"msgtype": "markdown", "markdown": {"content": text}}, what), what)
            else:
                stamp = int(time.time())
                body = {"msg_type": "interactive", "card": {"elements": [{"tag": "markdown", "content": text}]}}
                if channel.secret:
                    body.update(timestamp=str(stamp), sign=feishu_sign(channel.secret, stamp))
                _robot_answer(_post(channel.url, body, what), what)
        with_retries(send, sleep)
    return len(parts)
