"""A team on one store: ``python -m ui.team`` (what ``make team`` runs) starts two replicas
behind a real HAProxy; a real Chromium goes through the proxy, is kept on one replica by the
cookie, loads a file there, and when that replica is killed its tab reconnects to the other one
and keeps working; the killed replica is started again; SIGTERM leaves no process behind."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, demo_copy, free_port, healthy, require_chromium, run_cli, settle
from kam_analytics.i18n import catalog

SHOTS = ROOT / "tests" / "screenshots"
pytestmark = pytest.mark.browser

require_chromium("team test")
if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
    print("\nteam test skipped: HAProxy is absent (apt-get install haproxy, or make system)")
    pytest.skip("HAProxy is absent (apt-get install haproxy; make system installs it)", allow_module_level=True)
from playwright.sync_api import expect  # noqa: E402
from test_auth_browser import _orders, auth_section, provider  # noqa: E402,F401  (the OpenID Connect provider, started once)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(path: Path, pattern: str, seconds: float = 150) -> re.Match:
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = re.search(pattern, path.read_text(encoding="utf-8") if path.exists() else "")
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not printed within {seconds} s: {path.read_text(encoding='utf-8')}")


def _cr1(db: Path) -> str:
    """CR1 of the demo's dataset by hand in SQL: the largest customer's revenue / all revenue."""
    from kam_analytics.store import Store

    with Store.open(db) as store:
        table = store.datasets()[0].table_name
        top, total = store.cursor().execute(
            f"SELECT max(s), sum(s) FROM (SELECT sum(amount) AS s FROM {table} GROUP BY customer_id)").fetchone()
    return f"{100 * top / total:.1f}%"


def test_two_replicas_behind_haproxy_keep_a_tab_working_when_one_dies(browser, tmp_path):
    db = demo_copy(tmp_path / "kam.db")
    cr1 = _cr1(db)
    port = free_port()
    out = tmp_path / "team.txt"
    env = {**os.environ, "KAM_DB": str(db), "KAM_NO_PREPARE": "1", "KAM_LANG": "en"}
    env.pop("STREAMLIT_SERVER_COOKIE_SECRET", None)
    team = subprocess.Popen([sys.executable, "-m", "ui.team", "--replicas", "2", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        serving = _wait_for(out, r"behind HAProxy at (\S+) \(proxy process (\d+)\)")
        assert serving[1] == f"http://localhost:{port}"
        proxy_pid = int(serving[2])
        replicas = {int(n): (int(pid), int(p)) for n, pid, p in
                    re.findall(r"Replica (\d) is up \(process (\d+), port (\d+)", out.read_text(encoding="utf-8"))}
        assert sorted(replicas) == [1, 2]
        url = f"http://127.0.0.1:{port}"
        # the replicas listen on 127.0.0.1 only, each on its own port; the proxy answers for them
        assert healthy(url) and all(healthy(f"http://127.0.0.1:{p}") for _, p in replicas.values())
        assert "cookie_secret" not in out.read_text(encoding="utf-8").lower()

        zh = catalog("zh")
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{url}/concentration?lang=zh")
        expect(page.locator("h1").first).to_have_text(zh["concentration_title"], timeout=90_000)
        settle(page)
        metric = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text("CR1", exact=True)) \
            .locator('[data-testid="stMetricValue"]')
        expect(metric).to_have_text(cr1)
        cookies = {c["name"]: c["value"] for c in page.context.cookies(url)}
        first = int(cookies["KAM_REPLICA"][1:])
        assert first in replicas
        # a file loaded through the proxy (an upload is a PUT to the replica holding the session)
        csv = tmp_path / "团队上传.csv"
        csv.write_bytes("客户编号,订单日期,金额\r\nT1,2024-01-05,100\r\nT2,2024-02-05,250\r\n".encode("gb18030"))
        page.goto(f"{url}/data?lang=zh")
        expect(page.locator("h1").first).to_have_text(zh["data_title"], timeout=90_000)
        settle(page)
        page.locator('input[type="file"]').first.set_input_files(str(csv))
        expect(page.locator('[data-testid="stTextInput"]').first).to_be_visible(timeout=60_000)
        settle(page)
        box = page.get_by_label(zh["upload_name"]).first
        box.fill("团队样本")
        box.press("Enter")
        settle(page)
        page.get_by_role("button", name=zh["upload_load"], exact=True).click()
        loaded = zh["report_loaded"].format(dataset="团队样本", rows="2", customers="2", revenue="350",
                                            start="2024-01-05", end="2024-02-05")
        expect(page.get_by_text(loaded).first).to_be_visible(timeout=90_000)
        assert {c["name"]: c["value"] for c in page.context.cookies(url)}["KAM_REPLICA"] == f"r{first}"

        # the replica holding this tab dies: the tab reconnects through the proxy to the other
        page.goto(f"{url}/concentration?lang=zh")
        expect(metric).to_have_text(cr1, timeout=90_000)
        settle(page)
        os.kill(replicas[first][0], signal.SIGKILL)
        other = 3 - first
        deadline = time.time() + 90
        while time.time() < deadline:  # the tab's own reconnection; then a click runs the page there
            if {c["name"]: c["value"] for c in page.context.cookies(url)}.get("KAM_REPLICA") == f"r{other}":
                break
            page.wait_for_timeout(500)
        assert {c["name"]: c["value"] for c in page.context.cookies(url)}["KAM_REPLICA"] == f"r{other}"
        settle(page)
        expect(metric).to_have_text(cr1, timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text(zh["error_unexpected"].split("。")[0]).count() == 0
        page.get_by_role("link", name=zh["nav_overview"]).first.click()  # to the overview, on the other replica
        expect(page.locator("h1").first).to_have_text(zh["overview_title"], timeout=90_000)
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(SHOTS / "zh_team_after_failover.png"), full_page=True)
        # the dataset loaded through the dead replica is in the store the other one reads
        page.goto(f"{url}/data?lang=zh")
        expect(page.locator("h1").first).to_have_text(zh["data_title"], timeout=90_000)
        settle(page)
        page.get_by_role("tab", name=zh["data_tab_manage"]).click()
        expect(page.get_by_text("团队样本").first).to_be_attached()  # (a cell of the datasets grid)
        page.close()
        # the supervisor started the killed replica again, on its port
        restarted = _wait_for(out, rf"Replica {first} started again \(process (\d+), port {replicas[first][1]}\)")
        deadline = time.time() + 120
        while not healthy(f"http://127.0.0.1:{replicas[first][1]}") and time.time() < deadline:
            time.sleep(0.5)
        assert healthy(f"http://127.0.0.1:{replicas[first][1]}")

        # SIGTERM (what Ctrl-C or a stopped make sends): the proxy and every replica go
        pids = [proxy_pid, int(restarted[1]), replicas[other][0]]
        team.send_signal(signal.SIGTERM)
        assert team.wait(timeout=40) == 0
        assert [pid for pid in pids if _alive(pid)] == []
        assert "Stopped the proxy and every replica." in out.read_text(encoding="utf-8")
    finally:
        if team.poll() is None:
            team.kill()
            team.wait()


def test_a_killed_supervisor_leaves_no_replica_or_proxy(tmp_path):
    db = demo_copy(tmp_path / "kam.db")
    out = tmp_path / "team.txt"
    env = {**os.environ, "KAM_DB": str(db), "KAM_NO_PREPARE": "1", "KAM_LANG": "zh"}
    team = subprocess.Popen([sys.executable, "-m", "ui.team", "--replicas", "2", "--port", str(free_port())],
                            cwd=ROOT, env=env, stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        serving = _wait_for(out, r"代理进程 (\d+)")
        pids = [int(serving[1])] + [int(p) for p in re.findall(r"进程 (\d+)，127\.0\.0\.1", out.read_text(encoding="utf-8"))]
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        team.kill()  # SIGKILL: no handler runs; the children hear of it from the kernel
        team.wait()
        deadline = time.time() + 30
        while any(_alive(p) for p in pids) and time.time() < deadline:
            time.sleep(0.3)
        assert [p for p in pids if _alive(p)] == []
    finally:
        if team.poll() is None:
            team.kill()


def test_sign_in_through_the_proxy_survives_the_replica(browser, tmp_path, provider):
    """Sign-in on (a real OpenID Connect provider): the redirect to the provider and back goes
    through the proxy, and the signed-in visitor stays signed in when their replica dies (the
    sign-in cookie is signed with the ``[auth]`` secret every replica reads)."""
    db = tmp_path / "kam.db"
    assert run_cli("ingest", _orders(tmp_path / "orders.csv"), "--dataset", "orders", db=db).returncode == 0
    port = free_port()
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(auth_section(f"http://127.0.0.1:{port}/oauth2callback", provider) + """
[kam.roles]
admins = ["ada@example.com"]
""", encoding="utf-8")
    out = tmp_path / "team.txt"
    env = {**os.environ, "KAM_DB": str(db), "KAM_NO_PREPARE": "1", "KAM_LANG": "en", "KAM_NO_DEMO": "1"}
    team = subprocess.Popen([sys.executable, "-m", "ui.team", "--replicas", "2", "--port", str(port), "--",
                             "--secrets.files", str(secrets_file)],
                            cwd=ROOT, env=env, stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        _wait_for(out, r"behind HAProxy at")
        replicas = {int(n): int(pid) for n, pid in
                    re.findall(r"Replica (\d) is up \(process (\d+)", out.read_text(encoding="utf-8"))}
        url = f"http://127.0.0.1:{port}"
        en = catalog("en")
        context = browser.new_context(viewport={"width": 1400, "height": 1100}, locale="en-US")
        page = context.new_page()
        page.goto(f"{url}/?lang=en")
        page.get_by_role("button", name=en["auth_sign_in"]).click()
        page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
        page.fill("input[name=sub]", "ada@example.com")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{url}/**", timeout=30_000)
        expect(page.locator("h1").first).to_have_text(en["overview_title"], timeout=90_000)
        settle(page)
        first = int({c["name"]: c["value"] for c in context.cookies(url)}["KAM_REPLICA"][1:])
        os.kill(replicas[first], signal.SIGKILL)
        page.wait_for_timeout(1000)
        page.goto(f"{url}/concentration?lang=en")  # a new page load, now on the other replica
        expect(page.locator("h1").first).to_have_text(en["concentration_title"], timeout=90_000)
        settle(page)
        assert {c["name"]: c["value"] for c in context.cookies(url)}["KAM_REPLICA"] == f"r{3 - first}"
        assert page.get_by_role("button", name=en["auth_sign_in"]).count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
        context.close()
    finally:
        team.send_signal(signal.SIGTERM)
        try:
            team.wait(timeout=40)
        except subprocess.TimeoutExpired:
            team.kill()
