"""Sign-in and who is using the app (``access.Identity``).

Without an ``[auth]`` section in ``.streamlit/secrets.toml`` the app is for the person at this
machine (``make run`` then listens on localhost only): they are the administrator. With it,
``gate`` runs before any page: nothing but the sign-in screen until the user has signed in with
the company's OpenID Connect provider (``st.login``); then the ``[kam.roles]`` table gives the
role, and a signed-in user it does not list sees only a page saying to ask an administrator.
"""
from __future__ import annotations

import logging

import streamlit as st

from kam_analytics.access import AccessConfigError, AccessRules, Identity, local_identity
from kam_analytics.i18n import join_list, t
from ui.markdown import escape_markdown, escaped_params
from ui.session import IDENTITY_KEY as _IDENTITY, get_store, kept, language_switch

log = logging.getLogger("kam_analytics.app")

# the cookie secret of .streamlit/secrets.example.toml: a server configured with it is refused
SAMPLE_COOKIE_SECRET = "replace-me-with-the-output-of-python-c-import-secrets-print-secrets-token-hex-32"
MIN_COOKIE_SECRET = 32  # characters: a random secret of at least 128 bits in hex
REQUIRED_AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
_RECORDED = "_sign_in_recorded"  # session key: this session's sign-in is in the audit trail


def read_secrets() -> tuple[dict, tuple[str, dict] | None]:
    """The secrets files Streamlit reads (its ``secrets.files`` option: the user's and the
    project's ``.streamlit/secrets.toml``, or those given with ``--secrets.files``), merged as
    Streamlit merges them, read afresh on every run so a live edit counts at once; and the
    problem that makes them unusable, or None. A file that exists but cannot be read or parsed
    is a problem, never "no secrets": sign-in must fail closed, not turn itself off. The log
    gets the file and the reader's words (its line and column); the screen gets neither."""
    import tomllib
    from pathlib import Path

    from streamlit import config as st_config

    merged: dict = {}
    for path in st_config.get_option("secrets.files") or []:
        file = Path(path)
        if file.is_dir():  # a folder of secrets (Streamlit's other form): Streamlit reads it
            try:
                return st.secrets.to_dict(), None
            except Exception as error:
                log.error("the secrets folder %s cannot be read: %s", file, error)
                return {}, ("auth_secrets_broken", {})
        if not file.exists():
            continue
        try:
            merged.update(tomllib.loads(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            log.error("the secrets file %s cannot be read: %s", file, error)
            return {}, ("auth_secrets_broken", {})
    return merged, None


def auth_configured() -> bool:
    """Whether sign-in is on: an ``[auth]`` section in the secrets file — or a secrets file that
    cannot be read (then nobody gets in: ``gate`` shows the configuration error)."""
    secrets, problem = read_secrets()
    return problem is not None or "auth" in secrets


def configuration_problem(secrets: dict) -> tuple[str, dict] | None:
    """What makes the sign-in configuration unusable (a catalog key and its parameters), or
    None. Checked before anything is shown: a missing setting, the sample or a short cookie
    secret, or a ``[kam]`` table that does not parse."""
    auth = secrets.get("auth") or {}
    missing = [k for k in REQUIRED_AUTH_KEYS if not str(auth.get(k, "")).strip()]
    if missing:
        return "auth_config_missing", {"keys": ", ".join(missing)}
    secret = str(auth["cookie_secret"])
    if secret == SAMPLE_COOKIE_SECRET or len(secret) < MIN_COOKIE_SECRET:
        return "auth_cookie_secret_weak", {"length": MIN_COOKIE_SECRET}
    try:
        rules = AccessRules.from_config(secrets.get("kam"))
    except AccessConfigError as error:
        return error.key, error.params
    if not rules.configured:
        return "auth_no_roles", {}
    return None


def _screen(render, url_paths) -> None:
    """Show one screen instead of the app: every page's URL (a shared link, ``?ds=``) lands
    here, so none is 'not found' and none runs its page."""
    pages = [st.Page(render, title="KAM Analytics", url_path=path or "home", default=not path)
             for path in ["", *url_paths]]
    st.navigation(pages, position="hidden").run()
    st.stop()


def gate(url_paths=()) -> Identity:
    """The identity of this run, or a screen instead of the app (sign-in, refusal,
    misconfiguration) and a stop. ``url_paths`` are the app's page URLs, which show the same
    screen."""
    secrets, problem = read_secrets()
    if problem is None and "auth" not in secrets:
        identity = local_identity(st.session_state.get(LOCAL_NAME_KEY))
        st.session_state[_IDENTITY] = identity
        return identity
    st.session_state.pop(_IDENTITY, None)  # (a run before the file broke must not lend its identity)
    problem = problem or configuration_problem(secrets)
    if problem is not None:
        key, params = problem
        log.error("sign-in is configured but unusable: %s %s", key, params)

        def misconfigured():
            lang = language_switch()
            st.title("KAM Analytics")
            st.error(t(key, lang, **escaped_params(params)))
        _screen(misconfigured, url_paths)
    if not st.user.is_logged_in:
        def sign_in():
            lang = language_switch()
            st.title("KAM Analytics")
            st.write(t("auth_sign_in_prompt", lang))
            st.button(t("auth_sign_in", lang), type="primary", on_click=st.login, key="_sign_in")
        _screen(sign_in, url_paths)
    rules = AccessRules.from_config(secrets.get("kam"))
    claims = st.user.to_dict()
    identity = rules.identity(str(claims.get("email") or ""), str(claims.get("name") or ""),
                              claims.get("email_verified") if isinstance(claims.get("email_verified"), bool) else None)
    st.session_state[_IDENTITY] = identity
    if not st.session_state.get(_RECORDED):
        from kam_analytics import service

        service.record_sign_in(get_store(), identity, service.sign_in_id(claims))
        st.session_state[_RECORDED] = True
    if identity.role is None:
        def no_role():
            lang = language_switch()
            st.title("KAM Analytics")
            st.warning(t("auth_no_role", lang, user=escape_markdown(identity.user or "—")))
            st.button(t("auth_sign_out", lang), on_click=st.logout, key="_sign_out")
        _screen(no_role, url_paths)
    return identity


def identity() -> Identity:
    """Who is using this session (set by ``gate`` at the start of every run). Should a page
    run without it, it gets the local administrator only where there is no sign-in, else no
    role at all."""
    found = st.session_state.get(_IDENTITY)
    if found is not None:
        return found
    return Identity("", None) if auth_configured() else local_identity(st.session_state.get(LOCAL_NAME_KEY))


LOCAL_NAME_KEY = "local_name"  # without sign-in: the name the person at this machine signs with


def account_box(lang: str) -> None:
    """In the sidebar: without sign-in, the name follow-ups are signed with (the computer's
    user name until one is set); with sign-in, who is signed in, with which role, and sign-out."""
    if not auth_configured():
        kept(st.text_input, t("local_name", lang), LOCAL_NAME_KEY, identity().label, max_chars=80,
             help=t("local_name_help", lang))
        return
    me = identity()
    st.caption(t("auth_signed_in_as", lang, user=escape_markdown(me.user), role=t(f"role_{me.role}", lang)))
    if me.scope is not None:
        st.caption(t("auth_scope", lang, owners=escape_markdown(join_list(list(me.scope), lang))))
    st.button(t("auth_sign_out", lang), on_click=st.logout, key="_sidebar_sign_out")


def check_secrets_file(path: str = ".streamlit/secrets.toml") -> int:
    """``make run``'s check before it starts the server: with sign-in configured but unusable
    (see ``configuration_problem``) it prints why and returns 2, so the server does not start."""
    import sys
    import tomllib
    from pathlib import Path

    from kam_analytics import config

    file = Path(path)
    if not file.exists():
        return 0
    try:
        secrets = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        print(t("auth_secrets_unreadable", "en", path=str(file), error=str(error)), file=sys.stderr)
        return 2
    if "auth" not in secrets:
        return 0
    problem = configuration_problem(secrets)
    if problem is None:
        return 0
    key, params = problem
    print(t(key, config.setting("KAM_LANG") or "en", **params), file=sys.stderr)
    return 2


if __name__ == "__main__":
    import sys

    sys.exit(check_secrets_file(*sys.argv[1:]))
