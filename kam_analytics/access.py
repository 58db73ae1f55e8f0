"""Who may do what: identities, roles, the per-user scope rule, and the one check every action
passes (``require``).

With sign-in configured, the app builds an ``Identity`` from the signed-in e-mail and the
``[kam.roles]`` / ``[kam.scope]`` tables of ``.streamlit/secrets.toml`` (``AccessRules``);
without it, and on the command line, the person at the machine is the administrator
(``local_identity``): they can read and change the store's files anyway.

The service layer calls ``require`` before every action it carries out, so a role is enforced
where the action happens, whatever the page shows or hides.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Mapping

from kam_analytics import config
from kam_analytics.errors import KamError

ROLES = ("viewer", "editor", "admin")  # each role may do everything the roles before it may

# the least role each action needs
ACTIONS: dict[str, str] = {
    "read": "viewer",        # every page, every analysis
    "export": "viewer",      # download lists (scorecard, churn, RFM)
    "followup": "viewer",    # record a follow-up on an account the user can see
    "upload": "editor",      # load a file as a new dataset
    "replace": "editor",     # load a file over an existing dataset
    "rename": "editor",
    "attributes": "editor",  # attach per-customer attributes
    "costs": "editor",       # attach a file of costs to serve
    "rejected_rows": "editor",  # the raw rows an ingest refused (any account's)
    "review": "editor",      # archive a review (定期评判)
    "delete": "admin",
    "review_delete": "admin",  # delete an archived review
    "alerts": "admin",       # manage alert subscriptions, read the alert log
    "alerts_run": "editor",  # evaluate the subscriptions and send the digests
    "settings": "admin",     # saved scorecard weights
    "audit": "admin",        # read and export the audit trail
}


class AccessDenied(KamError):
    """An action the identity's role (or scope) does not allow. Its parameters ``action``,
    ``role`` and ``needed`` are catalog keys, worded in the message's language."""

    def __init__(self, key: str, **params):
        self.key, self.params = key, params
        Exception.__init__(self, self.message("en"))

    def message(self, lang: str) -> str:
        from kam_analytics.i18n import t

        return t(self.key, lang, **{k: t(v, lang) if k in ("action", "role", "needed") else v
                                    for k, v in self.params.items()})


@dataclass(frozen=True)
class Identity:
    """Who is acting.

    ``user``: the signed-in e-mail (lower case), or ``local:<os user>`` without sign-in;
    ``role``: one of ``ROLES``, or None for a signed-in user no rule lists;
    ``scope``: the owner values whose accounts the user sees, or None for every account."""

    user: str
    role: str | None
    scope: tuple[str, ...] | None = None
    name: str = ""

    def can(self, action: str) -> bool:
        if action not in ACTIONS:
            raise KeyError(f"undeclared action {action}")
        return self.role in ROLES and ROLES.index(self.role) >= ROLES.index(ACTIONS[action])

    @property
    def label(self) -> str:
        """How the audit trail and follow-ups name the user: the signed-in e-mail; without
        sign-in the name the person set (``local_identity``), else the computer's user name."""
        if self.user.startswith(LOCAL_PREFIX):
            return self.name or self.user[len(LOCAL_PREFIX):]
        return self.user


LOCAL_PREFIX = "local:"


def local_identity(name: str | None = None) -> Identity:
    """The person at this machine (no sign-in configured, or the command line): administrator,
    every account; named ``name`` (set in the sidebar), else KAM_USER_NAME, else the computer's
    user name (what ``label`` signs with)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. some containers)
        user = "user"
    chosen = " ".join(str(name or config.setting("KAM_USER_NAME") or "").split())[:80]
    return Identity(user=f"{LOCAL_PREFIX}{user}", role="admin", name=chosen)


def require(identity: Identity, action: str) -> None:
    """Raise ``AccessDenied`` unless ``identity`` may do ``action``."""
    if not identity.can(action):
        needed = ACTIONS[action]
        raise AccessDenied("access_denied", action=f"action_{action}", role=f"role_{identity.role or 'none'}",
                           needed=f"role_{needed}")


class AccessConfigError(KamError):
    """The ``[kam]`` tables of the secrets file cannot be used."""


@dataclass(frozen=True)
class AccessRules:
    """Roles and scopes from the ``[kam]`` table of ``.streamlit/secrets.toml``::

        [kam.roles]
        admins = ["ada@example.com"]
        editors = ["@example.com"]          # everyone at example.com
        viewers = ["auditor@partner.org"]

        [kam.scope]                          # optional: these users see only their accounts
        "li.wei@example.com" = ["李伟", "Li Wei"]

    An entry is an e-mail address (matched without regard to case) or ``@domain`` (every
    address at that domain, not its subdomains). A user listed under several roles gets the
    highest. ``scope`` maps an e-mail address or ``@domain`` to the owner values whose accounts
    that user sees; the most specific entry wins (the address over its domain)."""

    admins: tuple[str, ...] = ()
    editors: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, kam: Mapping | None) -> "AccessRules":
        kam = dict(kam or {})
        roles = dict(kam.get("roles") or {})
        unknown = sorted(set(roles) - {"admins", "editors", "viewers"})
        if unknown:
            raise AccessConfigError("access_config_role_key", name=unknown[0])
        lists = {}
        for key in ("admins", "editors", "viewers"):
            entries = roles.get(key, [])
            if isinstance(entries, str):
                entries = [entries]
            lists[key] = tuple(_entry(e, f"kam.roles.{key}") for e in entries)
        scopes = {}
        for who, owners in dict(kam.get("scope") or {}).items():
            if isinstance(owners, str):
                owners = [owners]
            values = tuple(str(o).strip() for o in owners if str(o).strip())
            if not values:
                raise AccessConfigError("access_config_scope_empty", entry=str(who))
            scopes[_entry(who, "kam.scope")] = values
        return cls(lists["admins"], lists["editors"], lists["viewers"], scopes)

    @property
    def configured(self) -> bool:
        return bool(self.admins or self.editors or self.viewers)

    def role_for(self, email: str) -> str | None:
        """The highest role whose list names ``email`` or its domain; None when none does."""
        email = (email or "").strip().lower()
        if "@" not in email:
            return None
        for role, entries in (("admin", self.admins), ("editor", self.editors), ("viewer", self.viewers)):
            if any(_matches(entry, email) for entry in entries):
                return role
        return None

    def scope_for(self, email: str) -> tuple[str, ...] | None:
        email = (email or "").strip().lower()
        if email in self.scopes:
            return self.scopes[email]
        domain = "@" + email.rpartition("@")[2]
        return self.scopes.get(domain)

    def identity(self, email: str, name: str = "", email_verified: bool | None = None) -> Identity:
        """The identity of a signed-in user. An address the provider says is not verified gets
        no role (anyone could claim it)."""
        email = (email or "").strip().lower()
        role = None if email_verified is False else self.role_for(email)
        return Identity(user=email, role=role, scope=self.scope_for(email) if role else None, name=name or "")


def _entry(value, where: str) -> str:
    text = str(value).strip().lower()
    if "@" not in text or text.endswith("@") or " " in text:
        raise AccessConfigError("access_config_entry", entry=str(value), where=where)
    return text


def _matches(entry: str, email: str) -> bool:
    return email.endswith(entry) if entry.startswith("@") else email == entry
