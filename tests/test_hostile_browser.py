"""User text is shown as text, everywhere: a store whose dataset name, customer ids and names,
region values, attribute values and follow-up notes are Markdown and HTML meant to fetch,
link or format. Every page and tab is walked in Chromium (both languages); no request may
leave for another host, and no image, link or formatting made of that text may appear."""
from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from conftest import ROOT, require_chromium, run_cli, settle, start_app
from kam_analytics.i18n import catalog

SHOTS = ROOT / "tests" / "screenshots"
EVIL = "evil.example"
DIRECTIVES = ":material/bolt: :smile: :red[RED]"  # Streamlit's own: an icon, an emoji, a colour
DATASET = f"![d](http://{EVIL}/ds.png) **ds** <b>x</b> :red[RED]"
TOP_NAME = "**bold**"  # the biggest customer: named on the overview, the concentration flags …
NAMES = [TOP_NAME, f"![t](http://{EVIL}/track.png)", "[click](javascript:alert(1))",
         f"<img src=http://{EVIL}/x.png onerror=alert(1)>", f"<b>b</b> _em_ `code` {DIRECTIVES}", f"www.{EVIL} buyer@{EVIL}"]
IDS = ["C1", f"[id](http://{EVIL}/id)", "C3", "C4", "<i>C5</i>", "C6"]
REGION = f"<i>华东</i> ![r](http://{EVIL}/r.png) :material/lock:"
REFLECTED = ":material/lock: :red[SECURITY NOTICE]"  # an account id in a link, shown back in the info box

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_chromium("hostile-text browser tests")
from playwright.sync_api import expect  # noqa: E402


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "kam.db"
    lines = ["customer_id,customer_name,order_date,amount,region,owner"]
    for i, (cid, name) in enumerate(zip(IDS, NAMES)):
        base = 10_000 if name == TOP_NAME else 1_000 * (i + 1)
        for month in range(1, 13 if i % 2 == 0 else 6):  # odd customers stop in May: churn and lapses
            lines.append(",".join([_csv_cell(cid), _csv_cell(name), f"2024-{month:02d}-10", str(base + month),
                                   _csv_cell(REGION if i % 2 else "华南"), _csv_cell(f"**{NAMES[i % 3]}**")]))
    source = folder / "**file** <b>.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli("ingest", source, "--dataset", DATASET, db=db).returncode == 0
    attributes = folder / "attributes.csv"
    attributes.write_text("customer_id,industry,credit_rating\n" + "\n".join(
        f"{_csv_cell(cid)},{_csv_cell(f'![a](http://{EVIL}/a.png)')},{_csv_cell('<b>AAA</b>')}" for cid in IDS) + "\n",
        encoding="utf-8")
    from kam_analytics import service
    from kam_analytics.access import local_identity
    from kam_analytics.store import Store

    with Store.open(db) as store:
        dataset = store.dataset(DATASET)
        service.attach_attributes(store, local_identity(), dataset, attributes)
        for cid in IDS:
            service.add_followup(store, local_identity(), store.dataset(DATASET), cid, "contacted",
                                 note=f"[note](http://{EVIL}/n) <img src=http://{EVIL}/n.png> **n**")
        dataset_id = store.dataset(DATASET).id
    url, process = start_app(db, folder / "app.log", demo=False)
    yield url, dataset_id
    process.terminate()
    process.wait(timeout=20)


# markup that user text could have produced: an image or link to the foreign host, a link to
# javascript:, or formatting of the hostile words (Markdown, HTML, or Plotly's tags in a chart)
MARKUP = """() => {
  const bad = [];
  for (const img of document.querySelectorAll('img')) if ((img.src || '').includes('evil')) bad.push('img ' + img.src);
  for (const a of document.querySelectorAll('a')) {
    const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
    if (href.includes('evil') || href.toLowerCase().startsWith('javascript')) bad.push('link ' + href);
  }
  const words = ['bold', 'b', 'em', 'code', '华东', 'C5', 'ds', 'x', 'AAA', 'n'];
  for (const el of document.querySelectorAll('strong, b, em, i, code')) {
    const text = el.textContent.trim();
    if (words.includes(text)) bad.push(el.tagName + ' ' + text);
  }
  // Streamlit's directives: a material icon, a coloured span, an emoji made of the text
  for (const icon of document.querySelectorAll('[data-testid="stIconMaterial"], span[role="img"]'))
    if (['bolt', 'lock'].includes(icon.textContent.trim())) bad.push('icon ' + icon.textContent);
  for (const el of document.querySelectorAll('body *'))
    if (el.children.length === 0 && ['RED', 'SECURITY NOTICE'].includes(el.textContent.trim())) bad.push('span ' + el.textContent);
  if (document.body.innerText.includes(String.fromCodePoint(0x1F604))) bad.push('emoji');
  for (const t of document.querySelectorAll('svg tspan')) {  // Plotly draws <b>/<i> as styled tspans
    const style = t.getAttribute('style') || '';
    if (/font-weight:\\s*bold|font-style:\\s*italic/.test(style) && words.includes(t.textContent.trim()))
      bad.push('chart ' + t.textContent);
  }
  return bad;
}"""


def _walk(page, url: str, path: str, lang: str, foreign: list, tabs: tuple = ()) -> list[str]:
    page.goto(f"{url}/{path}")
    expect(page.locator("h1").first).to_be_visible(timeout=90_000)
    settle(page)
    page.wait_for_timeout(800)  # charts draw after the run
    assert page.locator('[data-testid="stException"]').count() == 0, path
    found = [f"{path}: {b}" for b in page.evaluate(MARKUP)]
    for tab in tabs:
        page.get_by_role("tab", name=tab).click()
        settle(page)
        page.wait_for_timeout(800)
        found += [f"{path} [{tab}]: {b}" for b in page.evaluate(MARKUP)]
    return found


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hostile_text_fetches_nothing_and_renders_no_markup(hostile_app, browser, lang):
    url, dataset_id = hostile_app
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    foreign: list[str] = []
    page.on("request", lambda request: foreign.append(request.url)
            if urlparse(request.url).scheme in ("http", "https", "ws", "wss")
            and urlparse(request.url).hostname not in ("127.0.0.1", "localhost") else None)
    common = f"lang={lang}&ds={dataset_id}"
    found = []
    found += _walk(page, url, f"?{common}", lang, foreign)
    overview_text = page.inner_text("body")
    page.screenshot(path=str(SHOTS / f"{lang}_hostile_overview.png"), full_page=True)
    found += _walk(page, url, f"concentration?{common}", lang, foreign)
    found += _walk(page, url, f"key_accounts?{common}", lang, foreign)
    found += _walk(page, url, f"segments?{common}", lang, foreign)
    found += _walk(page, url, f"churn?{common}", lang, foreign, tabs=(
        words["churn_tab_card"], words["churn_tab_followup"], words["churn_tab_post_mortem"]))
    for cid in IDS[:2]:
        found += _walk(page, url, f"account?{common}&account={quote(cid)}", lang, foreign)
    account_text = page.inner_text("body")
    found += _walk(page, url, f"account?{common}&account={quote(REFLECTED)}", lang, foreign)
    page.screenshot(path=str(SHOTS / f"{lang}_hostile_account.png"), full_page=True)
    found += _walk(page, url, f"data?{common}", lang, foreign,
                   tabs=(words["data_tab_manage"], words["data_tab_audit"]))
    page.close()
    assert foreign == []
    assert found == []
    # and the text is there, as typed
    assert TOP_NAME in overview_text
    assert f"![a](http://{EVIL}/a.png)".replace(":", "\u2060:") in account_text  # (the joiner keeps it a non-link)
