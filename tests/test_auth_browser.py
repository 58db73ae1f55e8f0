"""Sign-in with a real OpenID Connect provider (``oidc-provider-mock``, started here on a local
port) and Chromium: what anonymous visitors, administrators, editors, viewers, a scoped sales
lead and an unlisted user can see and do, and the audit entries their actions leave.

The store holds one dataset of 40 customers: A01–A20 owned by Alice, B01–B20 by Bob (names
'Alpha 01'…, 'Beta 01'…), monthly orders over 2024."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port, require_chromium, run_cli, settle, start_app
from kam_analytics.i18n import catalog

SHOTS = ROOT / "tests" / "screenshots"
URL_PATHS = ["", "concentration", "key_accounts", "segments", "churn", "account", "data"]
ALICE_IDS = {f"A{i:02d}" for i in range(1, 21)}
BOB_IDS = {f"B{i:02d}" for i in range(1, 21)}

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_chromium("sign-in browser tests")
from playwright.sync_api import expect  # noqa: E402


def _orders(path: Path) -> Path:
    lines = ["customer_id,customer_name,order_date,amount,owner"]
    for i in range(1, 21):
        for prefix, name, owner in (("A", "Alpha", "Alice"), ("B", "Beta", "Bob")):
            months = 12 if i % 4 else 7  # every fourth customer stops ordering after July
            for month in range(1, months + 1):
                lines.append(f"{prefix}{i:02d},{name} {i:02d},{dt.date(2024, month, 5)},{100 * i + month}.00,{owner}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def provider():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the OpenID Connect provider did not start")
    yield url
    process.terminate()
    process.wait(timeout=20)


def auth_section(redirect_uri: str, provider: str) -> str:
    """The ``[auth]`` section of a secrets file for the test provider (``{port}`` in the
    redirect is Streamlit's: the server's own port)."""
    return f"""
[auth]
redirect_uri = "{redirect_uri}"
cookie_secret = "3f5e0c1d9a7b6e4f2a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e"
client_id = "kam-analytics"
client_secret = "kam-analytics-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
"""


@pytest.fixture(scope="module")
def team_app(tmp_path_factory, provider):
    """The app with sign-in on (the provider above) and roles; returns (url, store path)."""
    folder = tmp_path_factory.mktemp("team")
    db = folder / "kam.db"
    done = run_cli("ingest", _orders(folder / "orders.csv"), "--dataset", "orders", db=db)
    assert done.returncode == 0, done.stderr
    secrets = folder / "secrets.toml"
    secrets.write_text(auth_section("http://127.0.0.1:{port}/oauth2callback", provider) + """
[kam.roles]
admins = ["ada@example.com"]
editors = ["ed@example.com"]
viewers = ["@example.com"]

[kam.scope]
"lead@example.com" = ["Alice"]
""", encoding="utf-8")
    url, process = start_app(db, folder / "app.log", demo=False, options=("--secrets.files", secrets))
    yield url, db
    process.terminate()
    process.wait(timeout=20)


PHONE = dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)


def _signed_in(browser, url: str, user: str, lang: str = "en", phone: bool = False):
    """A new browser context signed in as ``user`` through the provider's form; returns a page
    on the app's first screen after sign-in. ``phone``: a 390-pixel-wide touch screen, as a
    link in a DingTalk or WeCom message opens in the phone's in-app browser."""
    # (the provider's redirect back lands on a new session: its language is the browser's)
    screen = PHONE if phone else dict(viewport={"width": 1400, "height": 1100})
    context = browser.new_context(**screen, accept_downloads=True, locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    page.goto(f"{url}/?lang={lang}")
    page.get_by_role("button", name=catalog(lang)["auth_sign_in"]).click()
    page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
    page.fill("input[name=sub]", user)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**", timeout=30_000)
    expect(page.locator("h1").first).to_be_visible(timeout=60_000)
    settle(page)
    return page


def _open(page, url: str, path: str, title_key: str, lang: str = "en") -> None:
    page.goto(f"{url}/{path}")
    expect(page.locator("h1").first).to_have_text(catalog(lang)[title_key], timeout=90_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def _text(page) -> str:
    """The page's text as a reader sees it (without the invisible joiners that keep addresses
    in Markdown from becoming links, ``ui.markdown``)."""
    return page.inner_text("body").replace("\u2060", "")


def _joined(text: str) -> str:
    """``text`` as the page holds it: a joiner after each '@' (see ``_text``)."""
    return text.replace("@", "@\u2060")


def _audit(db: Path):
    from kam_analytics.store import Store

    with Store.open(db) as store:
        return store.audit_trail()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_anonymous_visitors_see_only_the_sign_in_screen_on_every_url(team_app, browser, lang):
    url, _ = team_app
    words = catalog(lang)
    page = browser.new_page()
    for path in URL_PATHS:
        for query in ("", f"?lang={lang}&ds=1", f"?lang={lang}&ds=1&account=A01&period=all"):
            page.goto(f"{url}/{path}{query or f'?lang={lang}'}")
            expect(page.get_by_role("button", name=words["auth_sign_in"])).to_be_visible(timeout=60_000)
            settle(page)
            text = page.inner_text("body")
            assert words["auth_sign_in_prompt"] in text
            for secret in ("orders", "Alpha", "Beta", "A01", "Alice", "Bob"):
                assert secret not in text, f"{secret!r} shown to an anonymous visitor on /{path}{query}"
            assert page.locator('[data-testid="stSidebar"]').count() == 0
            assert page.get_by_text("Page not found").count() == 0  # (Streamlit's own dialog)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{lang}_sign_in.png"), full_page=True)
    page.close()


def test_an_unlisted_user_is_asked_to_see_an_administrator(team_app, browser):
    url, db = team_app
    page = _signed_in(browser, url, "stranger@other.org", "zh")
    text = _text(page)
    assert "stranger@other.org" in text and "请联系管理员" in text
    for secret in ("orders", "Alpha", "Beta"):
        assert secret not in text
    page.goto(f"{url}/data?ds=1&lang=zh")
    expect(page.get_by_text(_joined("stranger@other.org")).first).to_be_visible(timeout=60_000)
    assert "orders" not in page.inner_text("body")
    page.screenshot(path=str(SHOTS / "zh_no_role.png"), full_page=True)
    page.context.close()
    entries = _audit(db)
    mine = entries[entries["actor"] == "stranger@other.org"]
    assert mine["action"].tolist() == ["sign_in"] and mine["detail"].iloc[0]["role"] == "none"  # (once, two pages)


def test_an_administrator_deletes_and_reads_the_audit_trail(team_app, browser, tmp_path):
    url, db = team_app
    words = catalog("en")
    extra = tmp_path / "extra.csv"
    extra.write_text("customer_id,order_date,amount\nX1,2024-01-01,10\n", encoding="utf-8")
    assert run_cli("ingest", extra, "--dataset", "extra", db=db).returncode == 0
    page = _signed_in(browser, url, "ada@example.com")
    expect(page.get_by_text(_joined("Signed in as ada@example.com · administrator"))).to_be_visible()
    _open(page, url, "data?lang=en", "data_title")
    page.get_by_role("tab", name=words["data_tab_manage"]).click()
    page.get_by_role("combobox", name=words["manage_choose"]).click()
    page.get_by_role("option", name="extra").click()
    # the rerun has drawn the chosen dataset's controls (a click before that lands on the old ones)
    expect(page.get_by_role("textbox", name=words["manage_new_name"])).to_have_value("extra", timeout=60_000)
    settle(page)
    page.get_by_role("button", name=words["manage_delete"]).click()
    settle(page)
    page.get_by_role("button", name=words["manage_delete_yes"]).click()
    # the run after the delete has drawn the remaining dataset's controls (the download button
    # drawn by a run still going would name a file that run's end withdraws)
    expect(page.get_by_role("textbox", name=words["manage_new_name"])).to_have_value("orders", timeout=60_000)
    settle(page)
    page.get_by_role("tab", name=words["data_tab_audit"]).click()
    expect(page.get_by_role("button", name=words["audit_download"])).to_be_visible(timeout=60_000)
    settle(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=words["audit_download"]).click()
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    page.screenshot(path=str(SHOTS / "en_audit.png"), full_page=True)
    page.context.close()
    import pandas as pd

    exported = pd.read_csv(saved, encoding="utf-8-sig", keep_default_na=False)
    assert ["ada@example.com", "delete", "extra"] in exported[["actor", "action", "dataset"]].values.tolist()
    assert ["ada@example.com", "sign_in", ""] in exported[["actor", "action", "dataset"]].values.tolist()


def test_an_editor_uploads_but_cannot_delete(team_app, browser, tmp_path):
    url, db = team_app
    words = catalog("en")
    page = _signed_in(browser, url, "ed@example.com")
    _open(page, url, "data?lang=en", "data_title")
    upload = tmp_path / "editor_upload.csv"
    upload.write_text("customer_id,order_date,amount\nE1,2024-01-01,10\nE2,2024-01-02,20\n", encoding="utf-8")
    page.locator('input[type="file"]').first.set_input_files(str(upload))
    page.get_by_role("button", name=words["upload_load"], exact=True).click()
    expect(page.get_by_text("Loaded “editor_upload”", exact=False).first).to_be_visible(timeout=90_000)
    settle(page)
    page.get_by_role("tab", name=words["data_tab_manage"]).click()
    settle(page)
    assert page.get_by_role("button", name=words["manage_delete"]).count() == 0
    expect(page.get_by_text("Deleting a dataset is for administrators (your role: editor).")).to_be_visible()
    assert page.get_by_role("tab", name=words["data_tab_audit"]).count() == 0
    page.context.close()
    entries = _audit(db)
    assert ["ed@example.com", "upload", "editor_upload"] in entries[["actor", "action", "dataset"]].values.tolist()


def test_a_viewer_reads_and_records_follow_ups_under_their_own_name(team_app, browser):
    url, db = team_app
    words = catalog("en")
    page = _signed_in(browser, url, "vi@example.com")
    _open(page, url, "data?lang=en", "data_title")
    assert page.locator('input[type="file"]').count() == 0
    expect(page.get_by_text(words["role_cannot_upload"].format(role="viewer")).first).to_be_visible()  # (and on the attach tab)
    _open(page, url, "churn?lang=en&ds=1", "churn_title")
    page.get_by_role("tab", name=words["churn_tab_followup"]).click()
    settle(page)
    assert page.get_by_role("textbox", name=words["churn_owner"]).count() == 0  # no author to type
    expect(page.get_by_text(_joined("Recorded as vi@example.com."))).to_be_visible()
    page.get_by_role("textbox", name=words["churn_note"]).fill("called the buyer")
    page.get_by_role("button", name=words["churn_save_followup"]).click()
    settle(page)
    page.context.close()
    from kam_analytics.store import Store

    with Store.open(db) as store:
        history = store.followups(store.dataset("orders"))
    assert history.iloc[0]["owner"] == "vi@example.com" and history.iloc[0]["note"] == "called the buyer"
    entries = _audit(db)
    assert entries[entries["action"] == "followup"].iloc[0]["actor"] == "vi@example.com"
    # one sign-in, three pages opened (each a session of its own): one entry, not three
    assert len(entries[(entries["action"] == "sign_in") & (entries["actor"] == "vi@example.com")]) == 1


def test_a_scoped_sales_lead_sees_and_exports_only_their_accounts(team_app, browser, tmp_path):
    import pandas as pd

    url, _ = team_app
    words = catalog("en")
    page = _signed_in(browser, url, "lead@example.com")
    expect(page.get_by_text("You see the accounts of: Alice")).to_be_visible()
    _open(page, url, "key_accounts?lang=en&ds=1", "key_accounts_title")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=words["ka_download_csv"]).click()
    scorecard = tmp_path / "scorecard.csv"
    download.value.save_as(scorecard)
    assert set(pd.read_csv(scorecard)[words["col_customer_id"]]) == ALICE_IDS  # every account of Alice's, no other
    _open(page, url, "churn?lang=en&ds=1", "churn_title")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=words["churn_download_csv"]).click()
    churn = tmp_path / "churn.csv"
    download.value.save_as(churn)
    listed = set(pd.read_csv(churn)[words["col_customer_id"]])  # (the list as the page shows it, in its language)
    assert listed and listed <= ALICE_IDS
    _open(page, url, "account?lang=en&ds=1&account=B01", "account_title")  # a link to Bob's account
    expect(page.get_by_text(words["account_no_transactions"].format(customer="B01"))).to_be_visible()
    assert "Beta" not in page.inner_text("body")
    page.screenshot(path=str(SHOTS / "en_scoped_account.png"), full_page=True)
    page.context.close()
    # who exported which list is on file: the two downloads, with their rows
    entries = _audit(team_app[1])
    downloads = entries[entries["action"] == "download"]
    assert downloads["actor"].tolist() == ["lead@example.com"] * 2
    files = [d["file"] for d in downloads["detail"]]
    # the file names say which dataset, list, scope and date
    assert files[0].startswith("orders-churn-at-risk-") and files[0].endswith(".csv") and "-Alice-2024-" in files[0]
    assert files[1].startswith("orders-key-accounts-") and "-Alice-2024-" in files[1]
    assert downloads["detail"].iloc[1]["rows"] == len(ALICE_IDS)


_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _watch_session(page) -> list[str]:
    """The Streamlit session ids the page's WebSocket is told (its first message names it)."""
    seen: list[str] = []

    def frame(payload):
        text = payload if isinstance(payload, str) else payload.decode("latin-1")
        seen.extend(i for i in _SESSION_ID.findall(text) if i not in seen)
    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    return seen


def _put_upload(page, url: str, seen: list[str], size: int):
    """PUT ``size`` bytes to the upload endpoint of the page's session: of the ids its WebSocket
    was told (``seen``; other messages carry ids too), the one Streamlit does not answer
    400 'Invalid session_id'."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
    for session in reversed(seen):
        response = page.request.put(
            f"{url}/_stcore/upload_file/{session}/kam-test-file",
            multipart={"file": {"name": "big.csv", "mimeType": "text/csv", "buffer": b"x" * size}},
            headers={"X-Xsrftoken": xsrf})
        if response.status != 400:
            return response
    raise AssertionError(f"no live session among {seen}")


def test_a_session_that_has_not_signed_in_cannot_make_the_server_hold_uploads(team_app, browser):
    # the attack: from the sign-in screen, PUT bytes to the upload endpoint of one's own session
    url, _ = team_app
    context = browser.new_context()
    page = context.new_page()
    sessions = _watch_session(page)
    page.goto(f"{url}/?lang=en")
    expect(page.get_by_role("button", name=catalog("en")["auth_sign_in"])).to_be_visible(timeout=60_000)
    assert sessions, "the session id was not seen"
    refused = _put_upload(page, url, sessions, 5_000_000)
    assert refused.status == 403, refused.text()
    context.close()
    # the same request from a signed-in editor's session is stored (the endpoint and ids are right)
    editor = _signed_in(browser, url, "ed@example.com")
    sessions = _watch_session(editor)
    editor.reload()
    expect(editor.locator("h1").first).to_be_visible(timeout=60_000)
    assert _put_upload(editor, url, sessions, 1_000).status == 204
    # and a viewer's is refused: a viewer cannot upload
    viewer = _signed_in(browser, url, "vi@example.com")
    sessions = _watch_session(viewer)
    viewer.reload()
    expect(viewer.locator("h1").first).to_be_visible(timeout=60_000)
    assert _put_upload(viewer, url, sessions, 1_000).status == 403
    editor.context.close()
    viewer.context.close()


def test_an_anonymous_browser_learns_no_server_path_python_version_or_metrics(team_app, browser):
    import platform
    import urllib.error

    url, _ = team_app
    try:
        served = urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10).read().decode("utf-8", "replace")
    except urllib.error.HTTPError as missing:
        served = f"HTTP {missing.code}"
    # (an unknown path gets the app's page or a 404, never Streamlit's counters)
    assert "cache_memory_bytes" not in served and "session_state" not in served and "# TYPE" not in served
    context = browser.new_context()
    page = context.new_page()
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload if isinstance(payload, str) else payload.decode("latin-1"))))
    page.goto(f"{url}/?lang=en")
    expect(page.get_by_role("button", name=catalog("en")["auth_sign_in"])).to_be_visible(timeout=60_000)
    told = "".join(frames)
    assert "app.py" in told  # the first message was seen
    assert str(ROOT) not in told and platform.python_version() not in told
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_a_lead_signs_in_and_reads_the_lists_and_an_account(team_app, browser, lang):
    """At 390 pixels wide: sign-in works, the churn lists and the account page (the page an
    alert links to) never scroll sideways, and their first screen shows the account's name,
    risk and reasons."""
    url, _ = team_app
    words = catalog(lang)
    page = _signed_in(browser, url, "lead@example.com", lang, phone=True)

    def first_screen(locator) -> bool:
        box = locator.bounding_box()
        return box is not None and box["y"] + box["height"] <= PHONE["viewport"]["height"]

    for listing in ("at_risk", "lapsed"):
        page.goto(f"{url}/churn?lang={lang}")
        expect(page.locator("h1").first).to_have_text(words["churn_title"], timeout=90_000)
        if listing == "lapsed":  # (every account: the lead's key accounts may all still be ordering)
            settle(page, 180_000)
            page.get_by_text(words["churn_scope_all"], exact=True).first.click()
            settle(page, 180_000)
            page.get_by_text(words["churn_list_lapsed"], exact=True).first.click()
        settle(page, 180_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        phone = page.locator(f'[class*="st-key-phone_only_churn_{listing}"]')
        first = phone.get_by_role("button").first
        expect(first).to_be_visible()
        assert re.match(r"A\d\d · Alpha \d\d", first.inner_text())  # Alice's accounts only
        figure = phone.locator('[data-testid="stCaptionContainer"]').first
        assert first_screen(first) and first_screen(figure), page.screenshot(path=str(SHOTS / f"phone_{lang}_{listing}.png"))
        page.screenshot(path=str(SHOTS / f"phone_{lang}_{listing}.png"))
    # the account page as an alert's link opens it
    page.goto(f"{url}/account?lang={lang}&ds=1&account=A04")
    expect(page.locator("h1").first).to_have_text(words["account_title"], timeout=90_000)
    settle(page, 180_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    name = page.get_by_role("heading", name=re.compile("A04 · Alpha 04"))
    risk = page.get_by_text(words["churn_risk"], exact=True).first
    listed = page.get_by_text(re.compile(re.escape(words["account_risk_list"].split("{")[0].strip()))).first
    assert first_screen(name) and first_screen(risk) and first_screen(listed)
    page.screenshot(path=str(SHOTS / f"phone_{lang}_account.png"))
    page.context.close()
