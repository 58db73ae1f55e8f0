"""Where alerts go: the ``[kam.notify]`` tables of the secrets file (``KAM_SECRETS``, else the
project's ``.streamlit/secrets.toml``; the app and the command line read the same file). Never
in the catalog, never printed: a configuration is refused with a sentence naming the setting,
not its value::

    [kam.notify]
    base_url = "https://kam.example.com"      # links to the account page (optional)

    [kam.notify.smtp]
    host = "smtp.example.com"
    port = 465
    ssl = true                                # or starttls = true (port 587)
    username = "kam@example.com"
    password = "…"
    from = "KAM Analytics <kam@example.com>"

    [kam.notify.channels.sales-team]
    kind = "dingtalk"                         # dingtalk | wecom | feishu | webhook
    url = "https://oapi.dingtalk.com/robot/send?access_token=…"
    secret = "SEC…"                           # DingTalk's and Feishu's signature (optional)

    [kam.notify.owners]
    "王芳" = "wang.fang@example.com"           # an owner_email attribute wins
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kam_analytics import config
from kam_analytics.errors import KamError

KINDS = ("dingtalk", "wecom", "feishu", "webhook")


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = field(default="", repr=False)
    ssl: bool = False
    starttls: bool = False
    timeout_s: float = 20.0


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str
    url: str = field(repr=False)
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class NotifyConfig:
    smtp: Smtp | None = None
    channels: dict = field(default_factory=dict)
    owners: dict = field(default_factory=dict)
    base_url: str = ""


def secrets_path() -> Path:
    """``KAM_SECRETS``, else the project's ``.streamlit/secrets.toml``."""
    chosen = config.setting("KAM_SECRETS")
    if chosen:
        return Path(chosen)
    return Path(__file__).resolve().parent.parent.parent / ".streamlit" / "secrets.toml"


def _bad(setting: str, problem: str) -> KamError:
    return KamError("notify_config_bad", setting=setting, problem=problem)


def load(path: Path | None = None) -> NotifyConfig:
    """The ``[kam.notify]`` configuration (empty when the file or the table is absent)."""
    import tomllib

    path = path or secrets_path()
    if not path.exists():
        return NotifyConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise KamError("notify_secrets_unreadable", path=str(path), reason=type(error).__name__) from None
    notify = (data.get("kam") or {}).get("notify") or {}
    return parse(notify)


def parse(notify: dict) -> NotifyConfig:
    """A ``[kam.notify]`` table checked: each problem names its setting (never its value)."""
    smtp = None
    if "smtp" in notify:
        raw = notify["smtp"]
        if not isinstance(raw.get("host"), str) or not raw["host"].strip():
            raise _bad("kam.notify.smtp.host", "missing")
        if not isinstance(raw.get("from"), str) or "@" not in raw["from"]:
            raise _bad("kam.notify.smtp.from", "not an e-mail address")
        ssl, starttls = raw.get("ssl", False), raw.get("starttls", False)
        if not isinstance(ssl, bool) or not isinstance(starttls, bool) or (ssl and starttls):
            raise _bad("kam.notify.smtp.ssl", "ssl and starttls are true or false, not both true")
        port = raw.get("port", 465 if ssl else (587 if starttls else 25))
        if not isinstance(port, int) or not 0 < port < 65536:
            raise _bad("kam.notify.smtp.port", "not a port number")
        smtp = Smtp(raw["host"].strip(), port, raw["from"], str(raw.get("username", "")), str(raw.get("password", "")),
                    ssl, starttls)
    channels = {}
    for name, raw in (notify.get("channels") or {}).items():
        if raw.get("kind") not in KINDS:
            raise _bad(f"kam.notify.channels.{name}.kind", "one of " + ", ".join(KINDS))
        url = raw.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _bad(f"kam.notify.channels.{name}.url", "not an http(s) address")
        channels[str(name)] = Channel(str(name), raw["kind"], url, str(raw.get("secret", "")))
    owners = {str(k).strip(): str(v).strip() for k, v in (notify.get("owners") or {}).items()}
    for owner, address in owners.items():
        if "@" not in address:
            raise _bad(f"kam.notify.owners.{owner}", "not an e-mail address")
    return NotifyConfig(smtp, channels, owners, str(notify.get("base_url", "")).rstrip("/"))
