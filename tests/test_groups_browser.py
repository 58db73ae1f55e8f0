"""Customer groups in a real Chromium: six branches of one group at 4% each and a 9% customer.
By customer the 9% tops the list and nothing names the group; the manager switches the sidebar
to 集团 / Groups and sees the group at 24%, flagged with its members, scored as one key account,
its branches on its account page — in both languages, and in the link (?by=group)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import require_chromium, run_cli, settle, start_app
from kam_analytics.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "screenshots"

pytestmark = pytest.mark.browser

require_chromium("group browser tests")
from playwright.sync_api import expect  # noqa: E402

CITIES = ["上海", "北京", "广州", "深圳", "杭州", "南京"]


def six_branches(path: Path) -> Path:
    """Revenue 10,000: six branches of 华润集团 at 10 × 40 = 400 each (4%), 上海东方贸易 12 × 75 =
    900 (9%), 67 other customers at 4 × 25 = 100 each (1%). The group column is 所属集团."""
    lines = ["客户编号,客户名称,所属集团,订单日期,金额"]
    for i, city in enumerate(CITIES):
        lines += [f"B{i + 1},华润集团{city}分公司,华润集团,2025-{m:02d}-0{i + 1},40" for m in range(3, 13)]
    lines += [f"S1,上海东方贸易有限公司,,2025-{m:02d}-10,75" for m in range(1, 13)]
    for j in range(67):
        lines += [f"C{j:02d},客户{j:02d}号商行,,2025-{m:02d}-{j % 28 + 1:02d},25" for m in (1, 4, 7, 10)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("groups")
    store = folder / "kam.db"
    loaded = run_cli("ingest", six_branches(folder / "六个分公司.csv"), "--dataset", "集团样本", db=store)
    assert loaded.returncode == 0, loaded.stderr
    url, process = start_app(store, folder / "app.log", demo=False)
    yield url
    process.terminate()
    process.wait(timeout=20)


def _open(page, url: str, title: str) -> None:
    page.goto(url)
    expect(page.locator("h1").first).to_have_text(title, timeout=90_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {url}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_manager_switches_to_groups(server, browser, lang):
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    main = page.locator('[data-testid="stMain"]')
    sidebar = page.locator('[data-testid="stSidebar"]')
    _open(page, f"{server}/concentration?lang={lang}", words["concentration_title"])
    cr1 = main.locator('[data-testid="stMetric"]').filter(has=page.get_by_text("CR1", exact=True)).locator(
        '[data-testid="stMetricValue"]')
    expect(cr1).to_have_text("9.0%")  # by customer: 上海东方贸易's 900 of 10,000
    assert main.get_by_text("华润集团").count() == 0
    sidebar.get_by_text(words["by_group"], exact=True).click()
    expect(cr1).to_have_text("24.0%", timeout=60_000)  # the group: 6 × 400 of 10,000
    settle(page)
    assert "by=group" in page.url
    accounts = main.locator('[data-testid="stMetric"]').filter(has_text=words["conc_groups"])
    expect(accounts.locator('[data-testid="stMetricValue"]')).to_have_text("69")  # 74 customers − 6 + 1 group
    flag = main.locator('[data-testid="stAlertContentWarning"]').filter(has_text="华润集团").first
    expect(flag).to_contain_text("24.0%")
    members = words["list_separator"].join(f"B{i + 1} · 华润集团{c}分公司" for i, c in enumerate(CITIES))
    expect(flag).to_contain_text(words["flag_group_members"].format(group="华润集团", count=6, members=members))
    page.screenshot(path=str(SHOTS / f"{lang}_groups_concentration.png"), full_page=True)
    if lang == "zh":  # the README's picture of groups, retaken on every run
        page.screenshot(path=str(ROOT / "docs" / "img" / "groups_zh.png"))
    # the group's account page, from the link: one key account, its six branches
    _open(page, f"{server}/account?lang={lang}&by=group&account=华润集团", words["account_title"])
    expect(main.get_by_text(words["account_members"].format(count=6))).to_be_visible(timeout=60_000)
    expect(main.get_by_text(words["account_is_key"]).first).to_be_visible()
    page.screenshot(path=str(SHOTS / f"{lang}_groups_account.png"), full_page=True)
    # the key-account list downloaded by group starts with the group's id, name and members
    _open(page, f"{server}/key_accounts?lang={lang}&by=group", words["key_accounts_title"])
    with page.expect_download(timeout=60_000) as download:
        main.get_by_role("button", name=words["ka_download_csv"]).click()
    rows = pd.read_csv(download.value.path(), encoding="utf-8-sig", dtype=str)
    assert list(rows.columns[:4]) == [words["col_group_id"], words["col_group_name"], words["col_members"],
                                      words["col_customer_id"]]
    group = rows[rows[words["col_group_id"]] == "华润集团"]
    assert group[[words["col_group_name"], words["col_members"]]].values.tolist() == [["华润集团", "6"]]
    # a branch's page (by customer) links to its group
    _open(page, f"{server}/account?lang={lang}&account=B3", words["account_title"])
    main.get_by_role("button", name=words["account_open_group"]).click()
    expect(main.get_by_text(words["account_members"].format(count=6))).to_be_visible(timeout=60_000)
    settle(page)
    assert "by=group" in page.url
    page.close()
