"""Shared use seen from the browser: sessions keep rendering while a CLI load replaces their
dataset, an upload while a CLI load runs, and follow-ups saved from two sessions and the CLI
at once. Real Chromium (Debian's), the app under `streamlit run`, the CLI as subprocesses."""
from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from conftest import big_orders_csv, require_chromium, run_cli, settle, start_app, start_cli
from kam_analytics.i18n import catalog
from kam_analytics.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_chromium("browser tests")
from playwright.sync_api import expect  # noqa: E402


@pytest.fixture
def served(tmp_path):
    """The demo plus dataset 'big' (1,000,000 lines, every amount 1.5: revenue 1.5M), served."""
    db = tmp_path / "kam.db"
    assert run_cli("datasets", db=db, env={"KAM_NO_DEMO": ""}).returncode == 0
    assert run_cli("ingest", big_orders_csv(tmp_path / "v1.csv", 1_000_000, amount="1"), "--dataset", "big",
                   db=db).returncode == 0
    url, process = start_app(db, tmp_path / "app.log")
    yield db, url
    process.terminate()
    process.wait(timeout=20)


def _settled(page) -> None:
    settle(page, timeout=120_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def _revenue_metric(page):
    label = catalog("en")["kpi_revenue"]
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)).locator('[data-testid="stMetricValue"]')


def _revenue(page) -> str:
    metric = _revenue_metric(page)
    expect(metric).to_have_count(1, timeout=120_000)
    return metric.inner_text(timeout=120_000)


def test_eight_sessions_keep_rendering_while_their_dataset_is_replaced(served, browser, tmp_path):
    db, url = served
    with Store.open(db) as store:
        big = store.dataset("big").id
    words = catalog("en")
    pages = [browser.new_page(viewport={"width": 1200, "height": 900}) for _ in range(8)]
    for page in pages:
        page.goto(f"{url}/?lang=en&ds={big}")
    for page in pages:
        _settled(page)
        assert _revenue(page) == "1.5M"
    v2 = big_orders_csv(tmp_path / "v2.csv", 1_000_000, amount="2")  # revenue 2.5M
    loading = start_cli("ingest", v2, "--dataset", "big", "--replace", db=db)
    during = []
    while loading.poll() is None:  # reruns while the load runs: the old data, whole, no error
        for page in pages[:4]:
            page.reload()
            _settled(page)
            during.append(_revenue(page))
            if loading.poll() is not None:
                break
    assert loading.returncode == 0, loading.stderr.read()
    assert during and set(during) <= {"1.5M", "2.5M"}  # never a half-loaded figure
    assert during[0] == "1.5M"
    # a session left alone is told, within the check interval, that its data changed …
    quiet = pages[7]
    expect(quiet.get_by_text(words["data_updated_show"])).to_be_visible(timeout=40_000)
    assert _revenue(quiet) == "1.5M"
    quiet.screenshot(path=str(Path(__file__).parent / "screenshots" / "shared_update_notice.png"))
    quiet.get_by_role("button", name=words["data_updated_show"]).click()
    _settled(quiet)
    expect(_revenue_metric(quiet)).to_have_text("2.5M", timeout=120_000)
    # … and every session shows the new data after a rerun
    for page in pages[:7]:
        page.reload()
        _settled(page)
        assert _revenue(page) == "2.5M"
        page.close()
    quiet.close()


def test_an_upload_while_a_cli_load_runs(served, browser, tmp_path):
    db, url = served
    zh = catalog("zh")
    small = tmp_path / "华南订单.csv"
    small.write_text("客户编号,订单日期,金额\nK1,2025-01-03,100\nK2,2025-01-04,50\n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    page.goto(f"{url}/data?lang=zh")
    _settled(page)
    loading = start_cli("ingest", big_orders_csv(tmp_path / "other.csv", 3_000_000), "--dataset", "other", db=db)
    page.locator('input[type="file"]').first.set_input_files(str(small))
    expect(page.get_by_text(small.name).first).to_be_visible(timeout=60_000)  # the uploader holds it
    expect(page.get_by_role("button", name=zh["upload_load"], exact=True)).to_be_visible(timeout=60_000)
    page.get_by_role("button", name=zh["upload_load"], exact=True).click()
    expect(page.get_by_text("已导入“华南订单”").first).to_be_visible(timeout=120_000)
    assert loading.wait(timeout=300) == 0, loading.stderr.read()
    with Store.open(db) as store:
        rows = {d.name: d.rows for d in store.datasets()}
    assert rows["华南订单"] == 2 and rows["other"] == 3_000_000 and rows["big"] == 1_000_000
    page.close()


def test_follow_ups_from_two_sessions_and_the_cli_at_once(served, browser):
    db, url = served
    en = catalog("en")
    pages = []
    for who in ("王芳", "李娜"):
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        page.goto(f"{url}/churn?lang=en&ds=1")
        _settled(page)
        page.get_by_role("tab", name=en["churn_tab_followup"]).click()
        _settled(page)
        page.get_by_label(en["churn_note"]).fill(f"called by {who}")  # (the author is the identity)
        pages.append(page)
    account = pages[0].get_by_role("combobox", name=en["churn_account"]).input_value().split(" · ")[0]
    cli = start_cli("followup", "--dataset", "演示数据 Demo", "--customer", account, "--status", "contacted",
                    "--note", "called by the nightly job", db=db)
    for page in pages:
        page.get_by_role("button", name=en["churn_save_followup"]).click()
    assert cli.wait(timeout=60) == 0, cli.stderr.read()
    for page in pages:
        expect(page.get_by_text(en["churn_followup_saved"].split("{")[0].strip()).first).to_be_visible(timeout=60_000)
    with Store.open(db) as store:
        saved = store.followups(store.dataset("演示数据 Demo"))
    assert sorted(saved["note"]) == sorted(["called by 王芳", "called by 李娜", "called by the nightly job"]), saved
    assert set(saved["customer_id"]) == {account}
    me = getpass.getuser()  # no sign-in: the app and the CLI act as the local user, signed by its name
    assert sorted(saved["owner"]) == [me, me, me]
    for page in pages:
        page.close()
