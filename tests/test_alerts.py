"""Alerts against real receivers the tests start: an SMTP server (aiosmtpd) and a local HTTP
server that checks DingTalk's signature, holds WeCom to its size limit and fails twice before
answering. Alerts worked out by hand; once per condition across runs; user text stays text."""
from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import threading
import urllib.parse
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kam_analytics import alerts, service
from kam_analytics.access import AccessDenied, Identity
from kam_analytics.errors import KamError
from kam_analytics.ingest import ingest_file
from kam_analytics.notify import channels, config, messages, rules

ADMIN = Identity("admin@example.com", "admin")
VIEWER = Identity("viewer@example.com", "viewer")
EVIL = "[点我](http://evil.example/x)"
SECRET = "SEC-do-not-print-1234"
TOKEN = "token-do-not-print-5678"

# Twelve months to 2024-12-31, by customer: A 500 · B 300 · C 100 · D 50 · E 50 = 1,000, so the
# shares are 50%, 30%, 10%, 5%, 5%: at the 10% line A, B and C (10% is "at or above").
LINES = ["客户编号,客户名称,订单日期,金额,负责人",
         "A,甲公司,2024-03-01,500,王芳", "B,乙公司,2024-04-01,300,李雷", f"C,{EVIL},2024-05-01,100,王芳",
         "D,丁公司,2024-06-01,50,李雷", "E,戊公司,2024-07-01,50,李雷"]


@pytest.fixture
def shares(store, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset="s")
    owners = tmp_path / "owners.csv"  # A's own address wins over the configured one for 王芳
    owners.write_text("customer_id,owner_email\nA,wang.fang@example.com\n", encoding="utf-8")
    service.attach_attributes(store, ADMIN, store.dataset("s"), owners)
    return store, store.dataset("s")


class Mailbox:
    """An SMTP server on 127.0.0.1 keeping every message it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []

        class Handler:
            async def handle_DATA(inner, server, session, envelope):  # noqa: N805
                self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
                return "250 OK"

        from conftest import free_port

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.controller.stop()


class Robot:
    """A local HTTP server standing in for DingTalk, WeCom and a webhook: it checks DingTalk's
    signature, refuses WeCom content over 4,096 bytes (WeCom's code 45002), and answers the
    first ``fail_first`` requests with HTTP 500."""

    def __init__(self, fail_first: int = 0):
        self.requests, self.accepted, self.fail_first = [], [], fail_first
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
                robot.requests.append((self.path, body))
                if len(robot.requests) <= robot.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = {"errcode": 0}
                url = urllib.parse.urlparse(self.path)
                accepted = lambda: answer.get("errcode", answer.get("code")) == 0  # noqa: E731
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/dingtalk":
                    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{query.get('timestamp')}\n{SECRET}".encode(),
                                                         hashlib.sha256).digest()).decode()
                    if query.get("sign") != expected:
                        answer = {"errcode": 310000, "errmsg": "sign not match"}
                if url.path == "/feishu":
                    key = f"{body.get('timestamp')}\n{SECRET}".encode()
                    if body.get("sign") != base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode():
                        answer = {"code": 19021, "msg": "sign match fail"}
                    else:
                        answer = {"code": 0}
                if url.path == "/wecom" and len(body["markdown"]["content"].encode("utf-8")) > 4096:
                    answer = {"errcode": 45002, "errmsg": "content size exceed limit"}
                if accepted():
                    robot.accepted.append((url.path, body))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def robot():
    made = []

    def start(fail_first: int = 0) -> Robot:
        made.append(Robot(fail_first))
        return made[-1]
    yield start
    for r in made:
        r.server.shutdown()


def _settings(mailbox=None, robot=None) -> config.NotifyConfig:
    notify = {"base_url": "https://kam.example.com", "owners": {"王芳": "wang.config@example.com", "李雷": "li.lei@example.com"}}
    if mailbox is not None:
        notify["smtp"] = {"host": "127.0.0.1", "port": mailbox.port, "from": "kam@example.com", "password": SECRET}
    if robot is not None:
        notify["channels"] = {
            "team": {"kind": "dingtalk", "url": f"{robot.url}/dingtalk?access_token={TOKEN}", "secret": SECRET},
            "wecom": {"kind": "wecom", "url": f"{robot.url}/wecom?key={TOKEN}"},
            "hook": {"kind": "webhook", "url": f"{robot.url}/hook?token={TOKEN}"},
            "feishu": {"kind": "feishu", "url": f"{robot.url}/feishu?hook={TOKEN}", "secret": SECRET}}
    return config.parse(notify)


def test_the_concentration_rule_by_hand(shares):
    store, dataset = shares
    sub = alerts.subscribe(store, ADMIN, dataset, "concentration", "owners", scope="all")
    found = rules.evaluate(store, dataset, sub, "2024-12-31")
    assert [(a.account, round(a.figures["share"], 6), a.owner) for a in found if a.account != rules.TOP5] == [
        ("A", 0.5, "王芳"), ("B", 0.3, "李雷"), ("C", 0.1, "王芳")]
    top5 = [a for a in found if a.account == rules.TOP5]
    assert top5 and top5[0].figures["top5_share"] == 1.0  # five accounts: all of it


def test_each_owner_gets_one_email_of_their_own_accounts_once(shares, mailbox):
    store, dataset = shares
    alerts.subscribe(store, ADMIN, dataset, "concentration", "owners", lang="zh")
    settings = _settings(mailbox)
    first = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=settings)
    assert (first.alerts, first.messages, first.failed, first.suppressed) == (3, 3, 0, 0)
    # A's owner_email attribute wins over [kam.notify.owners]; C goes to 王芳's configured address
    (a,) = mailbox.to("wang.fang@example.com")
    (b,) = mailbox.to("li.lei@example.com")
    (c,) = mailbox.to("wang.config@example.com")
    text = b.get_body(("plain",)).get_content()
    assert "B · 乙公司" in text and "30.0%" in text and "甲公司" not in text
    html = c.get_body(("html",)).get_content()
    assert "[点我](http://evil.example/x)" in c.get_body(("plain",)).get_content()
    assert 'href="http://evil' not in html and "&lt;" not in EVIL  # the name is text, the only link ours
    assert 'href="https://kam.example.com/account?lang=zh&amp;ds=' in html
    assert SECRET not in str(a) + str(b) + str(c)
    second = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=settings)
    assert (second.alerts, second.messages, second.suppressed) == (0, 0, 3)
    assert len(mailbox.messages) == 3


def test_an_alert_comes_back_only_after_its_condition_cleared(shares, mailbox, tmp_path):
    store, dataset = shares
    alerts.subscribe(store, ADMIN, dataset, "concentration", "email:boss@example.com", threshold=0.4)
    settings = _settings(mailbox)
    assert alerts.run(store, ADMIN, dataset, "2024-12-31", settings=settings).alerts == 1  # A at 50%
    # a year on, A's lines are out of the twelve months: the condition clears …
    cleared = alerts.run(store, ADMIN, dataset, "2025-08-31", settings=settings)
    assert (cleared.alerts, cleared.cleared) == (0, 1)
    # … and on the first date again it holds again: sent again, once
    again = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=settings)
    assert (again.alerts, again.messages) == (1, 1)
    assert len(mailbox.to("boss@example.com")) == 2


def test_dingtalk_signed_digest_in_chinese_after_two_failures(shares, robot, monkeypatch):
    store, dataset = shares
    receiver = robot(fail_first=2)
    alerts.subscribe(store, ADMIN, dataset, "concentration", "channel:team", lang="zh")
    waits = []
    result = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=_settings(robot=receiver), sleep=waits.append)
    assert (result.messages, result.failed) == (1, 0) and waits == list(channels.BACKOFF_S)
    assert len(receiver.requests) == 3 and len(receiver.accepted) == 1
    text = receiver.accepted[0][1]["markdown"]["text"]
    assert "销售额集中度" in text and "50.0%" in text
    assert "［点我］（http:／／evil.example/x）" in text and "](http://evil" not in text
    # a second run: nothing new
    assert alerts.run(store, ADMIN, dataset, "2024-12-31", settings=_settings(robot=receiver)).messages == 0
    assert len(receiver.accepted) == 1


def test_wecom_digests_are_split_at_its_size_limit(store, tmp_path, robot):
    lines = ["客户编号,客户名称,订单日期,金额"] + [f"K{i:03d},某某省某某市某某科技发展集团有限公司第{i}分公司,2024-06-01,{100 + i}"
                                              for i in range(150)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset="m")
    dataset = store.dataset("m")
    receiver = robot()
    alerts.subscribe(store, ADMIN, dataset, "concentration", "channel:wecom", threshold=0.0, lang="zh")
    result = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=_settings(robot=receiver), sleep=lambda s: None)
    contents = [body["markdown"]["content"] for path, body in receiver.accepted]
    assert result.failed == 0 and result.messages == len(contents) > 1
    assert all(len(c.encode("utf-8")) <= 4096 for c in contents)
    assert sum(c.count("\n- ") for c in contents) == 150  # every alert, once


def test_a_webhook_gets_the_alerts_as_data_and_a_channel_down_blocks_nobody(shares, robot, mailbox):
    store, dataset = shares
    receiver = robot()
    alerts.subscribe(store, ADMIN, dataset, "concentration", "channel:hook")
    alerts.subscribe(store, ADMIN, dataset, "concentration", "channel:down")
    alerts.subscribe(store, ADMIN, dataset, "concentration", "email:boss@example.com")
    settings = _settings(mailbox, receiver)
    settings.channels["down"] = config.Channel("down", "webhook", f"http://127.0.0.1:9/x?token={TOKEN}")
    first = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=settings, sleep=lambda s: None)
    assert (first.messages, first.failed) == (2, 1)
    document = receiver.accepted[0][1]
    assert [(a["account_id"], round(a["share"], 6)) for a in document["alerts"]] == [("A", 0.5), ("B", 0.3), ("C", 0.1)]
    assert document["alerts"][2]["name"] == EVIL
    assert len(mailbox.to("boss@example.com")) == 1
    # the failed digest is tried again on the next run; the delivered ones are not sent twice
    second = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=settings, sleep=lambda s: None)
    assert (second.failed, second.messages, second.suppressed) == (1, 0, 6)
    log = alerts.alert_log(store, ADMIN, dataset)
    assert [e["status"] for e in log].count("failed") == 2
    everything = json.dumps(log, ensure_ascii=False) + store.audit_trail().to_json(force_ascii=False)
    assert TOKEN not in everything and SECRET not in everything and "127.0.0.1:9" not in everything


def test_a_bad_configuration_names_the_setting_not_the_secret():
    with pytest.raises(KamError) as refused:
        config.parse({"smtp": {"host": "mail", "from": "nobody", "password": SECRET}})
    assert "kam.notify.smtp.from" in refused.value.message("en") and SECRET not in refused.value.message("en")
    with pytest.raises(KamError) as refused:
        config.parse({"channels": {"team": {"kind": "slack", "url": f"https://x/{TOKEN}"}}})
    assert "kam.notify.channels.team.kind" in refused.value.message("zh") and TOKEN not in refused.value.message("zh")


def test_dingtalk_signature_by_the_documented_formula():
    url = channels.dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "SECxyz", now_ms=1700000000000)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
    expected = base64.b64encode(hmac.new(b"SECxyz", b"1700000000000\nSECxyz", hashlib.sha256).digest()).decode()
    assert query["timestamp"] == "1700000000000" and query["sign"] == expected


def test_robot_text_cannot_become_markup():
    assert messages.robot_text(EVIL) == "［点我］（http:／／evil.example/x）"
    assert messages.robot_text("**粗体** `code` # 标题\n> 引用") == "＊＊粗体＊＊ ｀code｀ ＃ 标题 ＞ 引用"


def test_who_may_subscribe_and_run(shares):
    store, dataset = shares
    with pytest.raises(AccessDenied):
        alerts.subscribe(store, VIEWER, dataset, "lapsed", "owners")
    with pytest.raises(AccessDenied):
        alerts.run(store, VIEWER, dataset, settings=config.NotifyConfig())
    sub = alerts.subscribe(store, ADMIN, dataset, "lapsed", "email:viewer@example.com")
    assert [s.subscription_id for s in alerts.subscriptions(store, VIEWER, dataset)] == [sub.subscription_id]
    alerts.unsubscribe(store, ADMIN, dataset, sub.subscription_id)
    assert alerts.subscriptions(store, ADMIN, dataset) == []
    assert store.audit_trail()["action"].tolist()[:2] == ["alerts_unsubscribe", "alerts_subscribe"]


def test_alerts_on_the_command_line(cli, tmp_path, mailbox):
    path = tmp_path / "lines.csv"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert cli("ingest", path, "--dataset", "s").returncode == 0
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[kam.notify.smtp]\nhost = "127.0.0.1"\nport = {mailbox.port}\nfrom = "kam@example.com"\n'
                       f'password = "{SECRET}"\n', encoding="utf-8")
    env = {"KAM_SECRETS": str(secrets)}
    made = cli("alerts", "subscribe", "--dataset", "s", "--rule", "concentration", "--to", "email:boss@example.com",
               "--threshold", "0.25", "--lang", "en", "--json", env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout.splitlines()[-1])["rule"] == "concentration"
    dry = cli("alerts", "run", "--dataset", "s", "--as-of", "2024-12-31", "--dry-run", env=env)
    assert "A · 甲公司" in dry.stdout and "B · 乙公司" in dry.stdout and mailbox.messages == []
    run = cli("alerts", "run", "--dataset", "s", "--as-of", "2024-12-31", "--json", env=env)
    result = json.loads(run.stdout.splitlines()[-1])
    assert (result["alerts"], result["messages"], result["failed"], result["suppressed"]) == (2, 1, 0, 0)
    again = json.loads(cli("alerts", "run", "--dataset", "s", "--as-of", "2024-12-31", "--json", env=env).stdout.splitlines()[-1])
    assert (again["messages"], again["suppressed"]) == (0, 2)
    log = json.loads(cli("alerts", "log", "--dataset", "s", "--json", env=env).stdout.splitlines()[-1])["log"]
    assert [(e["recipient"], e["status"], e["alerts"]) for e in log] == [("email:boss@example.com", "sent", 2)]
    assert SECRET not in made.stdout + dry.stdout + run.stdout + run.stderr
    bad = cli("alerts", "subscribe", "--dataset", "s", "--rule", "concentration", "--to", "channel:nowhere", env=env)
    assert bad.returncode == 2 and "no channel 'nowhere'" in bad.stderr
    sid = json.loads(made.stdout.splitlines()[-1])["subscription_id"]
    assert cli("alerts", "unsubscribe", sid, env=env).returncode == 0
    listed = json.loads(cli("alerts", "subscriptions", "--dataset", "s", "--json", env=env).stdout.splitlines()[-1])
    assert listed == {"subscriptions": []}


# -- the other rules, by hand -------------------------------------------------------------------
def test_overdue_lapsed_and_tier_drop_by_hand(store, tmp_path):
    """As of 2024-06-30. Overdue: A's invoice of 2024-01-10 due 2024-01-31 is unpaid (151 days
    late: 1,000 more than 90 days overdue); B's due 2024-06-01 is 29 days late (not 90+).
    Lapsed: L ordered on the 15th of every month of 2023, then nothing — silent 198 days, more
    than 3 × its 30-day rhythm and more than 60 days; A's single order is 172 days old, more than
    60 days and the 90-day horizon; R goes on monthly to 2024-06-15."""
    rows = ["客户编号,客户名称,订单日期,金额,到期日,回款日期",
            "A,甲公司,2024-01-10,1000,2024-01-31,", "B,乙公司,2024-05-02,800,2024-06-01,"]
    for month in range(1, 13):
        rows.append(f"L,老客户,2023-{month:02d}-15,100,2023-{month:02d}-28,2023-{month:02d}-20")
    for month in range(1, 19):
        year, m = 2023 + (month - 1) // 12, (month - 1) % 12 + 1
        rows.append(f"R,常客,{year}-{m:02d}-15,100,{year}-{m:02d}-28,{year}-{m:02d}-20")
    path = tmp_path / "owed.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset="o")
    dataset = store.dataset("o")
    overdue = alerts.subscribe(store, ADMIN, dataset, "overdue", "email:x@example.com", threshold=500, scope="all")
    found = rules.evaluate(store, dataset, overdue, "2024-06-30")
    assert [(a.account, a.figures["overdue_90_plus"]) for a in found] == [("A", 1000.0)]
    none = alerts.subscribe(store, ADMIN, dataset, "overdue", "email:x@example.com", threshold=1000, scope="all")
    assert rules.evaluate(store, dataset, none, "2024-06-30") == []  # "above" the amount
    lapsed = alerts.subscribe(store, ADMIN, dataset, "lapsed", "email:x@example.com", scope="all")
    found = rules.evaluate(store, dataset, lapsed, "2024-06-30")
    # (A too: one order, silent 172 days — longer than 60 days and the 90-day horizon; B's 59 are not)
    assert [(a.account, a.figures["last_order"], a.figures["days_silent"]) for a in found] == [
        ("A", "2024-01-10", 172), ("L", "2023-12-15", 198)]
    # tier_drop from two reviews on file, their rows written by hand
    import pandas as pd

    for day, tiers in (("2024-03-31", ["platinum", "gold", "iron"]), ("2024-06-30", ["gold", "gold", "lead"])):
        store.reviews.create(dataset, day, "customer", "", {"criteria": []}, {}, pd.DataFrame({
            "customer_id": ["A", "B", "L"], "name": ["甲公司", "乙公司", "老客户"], "tier": tiers,
            "key_account": [True, True, False], "owner": ["王芳", "", ""]}), None)
    drop = alerts.subscribe(store, ADMIN, dataset, "tier_drop", "email:x@example.com", scope="all")
    found = rules.evaluate(store, dataset, drop, "2024-06-30")
    assert [(a.account, a.figures["tier_before"], a.figures["tier_after"], a.owner) for a in found] == [
        ("A", "platinum", "gold", "王芳"), ("L", "iron", "lead", "")]
    key_only = alerts.subscribe(store, ADMIN, dataset, "tier_drop", "email:x@example.com", scope="key")
    assert [a.account for a in rules.evaluate(store, dataset, key_only, "2024-06-30")] == ["A"]
    # before the second review, only one review is on file: nothing to compare
    assert rules.evaluate(store, dataset, drop, "2024-05-31") == []


def test_feishu_signed_card_in_english(shares, robot):
    store, dataset = shares
    receiver = robot()
    alerts.subscribe(store, ADMIN, dataset, "concentration", "channel:feishu", threshold=0.3, lang="en")
    result = alerts.run(store, ADMIN, dataset, "2024-12-31", settings=_settings(robot=receiver), sleep=lambda s: None)
    assert (result.messages, result.failed) == (1, 0) and len(receiver.accepted) == 1
    text = receiver.accepted[0][1]["card"]["elements"][0]["content"]
    assert "Revenue concentration" in text and "A · 甲公司" in text and "B · 乙公司" in text and "C · " not in text


def test_the_at_risk_rule_is_the_churn_lists_at_or_above_the_threshold(store, tmp_path):
    """On the review tests' lines (six regular accounts, 2023-07 to 2025-06): at threshold 0
    every key account the churn page lists as at risk, with the list's risk; above 1 none."""
    from tests.test_reviews import _lines

    path = tmp_path / "regular.csv"
    path.write_text(_lines(), encoding="utf-8")
    ingest_file(store, path, dataset="r")
    dataset = store.dataset("r")
    listed = service.churn_list(store, service.Slice.of(dataset), "2025-06-30", 90, "key", listing="at_risk").table
    assert len(listed) >= 3
    everyone = alerts.subscribe(store, ADMIN, dataset, "at_risk", "email:x@example.com", threshold=0.0)
    found = rules.evaluate(store, dataset, everyone, "2025-06-30")
    assert {a.account: a.figures["risk"] for a in found} == dict(zip(listed["customer_id"], listed["risk"]))
    nobody = alerts.subscribe(store, ADMIN, dataset, "at_risk", "email:x@example.com", threshold=1.01)
    assert rules.evaluate(store, dataset, nobody, "2025-06-30") == []


def test_concentration_by_group_counts_the_group_that_buys(store, tmp_path):
    """The lines of tests/test_groups.py (2024): by group 甲集团 580, C 400, 乙集团 150, 丙集团 100,
    戊集团 20 of 1,250 — at the 10% line 甲集团 46.4%, C 32.0%, 乙集团 12.0%."""
    from tests.test_groups import LINES as GROUP_LINES

    path = tmp_path / "groups.csv"
    path.write_text(GROUP_LINES, encoding="gb18030")
    ingest_file(store, path, dataset="g")
    dataset = store.dataset("g")
    sub = alerts.subscribe(store, ADMIN, dataset, "concentration", "email:x@example.com", by="group")
    found = rules.evaluate(store, dataset, sub, "2024-12-31")
    assert sorted((a.name, round(a.figures["share"], 4)) for a in found) == [
        ("丙丁商行", 0.32), ("乙集团", 0.12), ("甲集团", 0.464)]
