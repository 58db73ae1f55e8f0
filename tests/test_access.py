"""Roles, scope and the audit trail, checked where they are enforced: the service calls the
pages and the command line make. Expected values are worked out by hand from the small file
below (owners: Alice has A1 and A2, Bob has B1 and B2, C1 has none)."""
from __future__ import annotations

import getpass
import json

import pytest

from kam_analytics import service
from kam_analytics.access import AccessConfigError, AccessDenied, AccessRules, Identity, local_identity

LINES = """customer_id,customer_name,order_date,amount,owner
A1,Alpha,2024-01-05,100,Alice
A1,Alpha,2024-02-05,50,Alice
A2,Apex,2024-01-10,200,Alice
B1,Beta,2024-01-07,300,Bob
B2,Bravo,2024-03-01,400,Bob
C1,Gamma,2024-02-02,500,
"""
ADMIN = Identity("ada@example.com", "admin")
EDITOR = Identity("ed@example.com", "editor")
VIEWER = Identity("vi@example.com", "viewer")
ALICE = Identity("alice@example.com", "viewer", scope=("Alice",))
NOBODY = Identity("stranger@other.org", None)


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(LINES, encoding="utf-8")
    return path


@pytest.fixture
def loaded(store, orders):
    service.load_file(store, EDITOR, orders, dataset="orders")
    return store.dataset("orders")


def _ids(frame) -> set[str]:
    return set(frame["customer_id"].astype(str))


# -- the rules of the secrets file ------------------------------------------------------------
def test_roles_by_address_and_domain_highest_wins():
    rules = AccessRules.from_config({"roles": {"admins": ["Ada@Example.com"], "editors": ["ed@example.com", "ada@example.com"],
                                               "viewers": ["@example.com"]}})
    assert rules.role_for("ada@example.com") == "admin"        # listed twice: the higher role
    assert rules.role_for("ADA@example.COM") == "admin"        # addresses ignore case
    assert rules.role_for("ed@example.com") == "editor"
    assert rules.role_for("someone@example.com") == "viewer"   # by domain
    assert rules.role_for("someone@sub.example.com") is None   # a subdomain is another domain
    assert rules.role_for("someone@example.com.evil.org") is None
    assert rules.role_for("") is None and rules.role_for("no-address") is None
    # an address the provider says is not verified gets no role: anyone could claim it
    assert rules.identity("ada@example.com", email_verified=False).role is None
    assert rules.identity("ada@example.com", email_verified=True).role == "admin"


def test_scope_is_the_most_specific_entry():
    rules = AccessRules.from_config({"roles": {"viewers": ["@example.com"]},
                                     "scope": {"li@example.com": ["李伟", "Li Wei"], "@example.com": "Sales"}})
    assert rules.identity("li@example.com").scope == ("李伟", "Li Wei")
    assert rules.identity("other@example.com").scope == ("Sales",)
    assert rules.identity("x@other.org").scope is None  # (and no role)


@pytest.mark.parametrize("kam, key", [
    ({"roles": {"admin": ["a@b.c"]}}, "access_config_role_key"),            # 'admin' for 'admins'
    ({"roles": {"admins": ["not an address"]}}, "access_config_entry"),
    ({"roles": {"admins": ["example.com"]}}, "access_config_entry"),       # a domain needs its @
    ({"roles": {"admins": ["a@b.c"]}, "scope": {"a@b.c": []}}, "access_config_scope_empty"),
])
def test_unusable_rules_are_refused_with_a_sentence(kam, key):
    with pytest.raises(AccessConfigError) as refused:
        AccessRules.from_config(kam)
    assert refused.value.key == key
    assert "{" not in refused.value.message("en") and "{" not in refused.value.message("zh")


def test_the_local_user_is_the_administrator():
    me = local_identity()
    assert me.user == f"local:{getpass.getuser()}" and me.role == "admin" and me.scope is None


# -- roles, enforced in the service -----------------------------------------------------------
def test_a_viewer_cannot_upload_and_nothing_is_created(store, orders):
    with pytest.raises(AccessDenied) as refused:
        service.load_file(store, VIEWER, orders, dataset="orders")
    assert refused.value.message("en") == ("Your role (viewer) cannot upload datasets; that needs the role editor. "
                                           "Ask your administrator if you need it.")
    assert "查看者" in refused.value.message("zh")
    assert store.datasets() == [] and len(store.audit_trail()) == 0


def test_replace_and_rename_need_an_editor(store, loaded, orders):
    for call in (lambda: service.load_file(store, VIEWER, orders, dataset="orders", replace=True),
                 lambda: service.rename_dataset(store, VIEWER, "orders", "renamed"),
                 lambda: service.attach_attributes(store, VIEWER, loaded, orders)):
        with pytest.raises(AccessDenied):
            call()
    assert store.dataset("orders").version == loaded.version  # nothing changed
    service.rename_dataset(store, EDITOR, "orders", "renamed")
    assert store.find("renamed") is not None and store.find("orders") is None


def test_delete_is_for_administrators_only(store, loaded):
    for who in (VIEWER, EDITOR, NOBODY):
        with pytest.raises(AccessDenied):
            service.delete_dataset(store, who, "orders")
    assert store.find("orders") is not None
    service.delete_dataset(store, ADMIN, "orders")
    assert store.find("orders") is None


def test_settings_and_the_audit_trail_are_for_administrators(store, loaded):
    with pytest.raises(AccessDenied):
        service.save_weights(store, EDITOR, loaded, {"revenue": 2.0})
    assert service.saved_weights(store, loaded) is None
    service.save_weights(store, ADMIN, loaded, {"revenue": 2.0})
    assert service.saved_weights(store, loaded) == {"revenue": 2.0}
    with pytest.raises(AccessDenied):
        service.audit_trail(store, EDITOR)
    assert len(service.audit_trail(store, ADMIN)) == 2  # the upload and the saved weights


def test_no_role_means_no_action_at_all(store, loaded):
    with pytest.raises(AccessDenied):
        service.add_followup(store, NOBODY, loaded, "A1", "contacted")
    with pytest.raises(AccessDenied):
        service.followups(store, NOBODY, loaded)


# -- scope: a sales lead sees their own accounts ------------------------------------------------
def test_scope_by_the_owner_of_the_lines_limits_every_figure(store, loaded):
    mine = service.Slice.of(loaded, scope=ALICE.scope)
    summary = service.customer_summary(store, mine)
    assert _ids(summary) == {"A1", "A2"}
    assert summary["revenue"].sum() == pytest.approx(350.0)  # 100 + 50 + 200
    assert service.slice_concentration(store, mine)["total"] == pytest.approx(350.0)
    assert _ids(service.accounts_table(store, mine, "2024-03-31")) <= {"A1", "A2"}
    churn = service.churn_list(store, mine, "2024-03-31", 90, scope="all")
    assert _ids(churn.table) <= {"A1", "A2"}
    # the whole dataset, for comparison: every customer, 1,550 in all
    everything = service.customer_summary(store, service.Slice.of(loaded))
    assert _ids(everything) == {"A1", "A2", "B1", "B2", "C1"} and everything["revenue"].sum() == pytest.approx(1550.0)


def test_scope_by_the_owner_attribute_takes_the_account_owner(store, loaded, tmp_path):
    # the attributes say B1 is Alice's account (whoever sold its lines) and A2 is Bob's
    attributes = tmp_path / "owners.csv"
    attributes.write_text("customer_id,owner\nA1,Alice\nB1,Alice\nA2,Bob\n", encoding="utf-8")
    service.attach_attributes(store, EDITOR, loaded, attributes)
    dataset = store.dataset("orders")
    summary = service.customer_summary(store, service.Slice.of(dataset, scope=("Alice",)))
    assert _ids(summary) == {"A1", "B1"} and summary["revenue"].sum() == pytest.approx(450.0)  # 150 + 300


def test_no_owner_anywhere_shows_a_scoped_user_nothing(store, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("customer_id,order_date,amount\nA1,2024-01-05,100\nB1,2024-01-06,200\n", encoding="utf-8")
    service.load_file(store, EDITOR, path, dataset="plain")
    dataset = store.dataset("plain")
    assert not service.scope_has_owner(store, dataset)
    assert service.customer_summary(store, service.Slice.of(dataset, scope=("Alice",))).empty


def test_follow_ups_only_on_accounts_in_scope_and_authored_by_the_identity(store, loaded):
    service.add_followup(store, ALICE, loaded, "A1", "contacted", note="called")
    with pytest.raises(AccessDenied) as refused:
        service.add_followup(store, ALICE, loaded, "B1", "contacted")
    assert "B1" in refused.value.message("en")
    service.add_followup(store, VIEWER, loaded, "B1", "new", note="someone else's account")
    everything = service.followups(store, ADMIN, loaded)
    assert everything[["customer_id", "owner"]].values.tolist() == [["B1", "vi@example.com"],
                                                                   ["A1", "alice@example.com"]]
    assert service.followups(store, ALICE, loaded)["customer_id"].tolist() == ["A1"]


def test_rejected_rows_are_not_for_a_scoped_user(store, loaded):
    with pytest.raises(AccessDenied):
        service.rejected_rows(store, Identity("lead@example.com", "editor", scope=("Alice",)), loaded)
    with pytest.raises(AccessDenied):
        service.rejected_rows(store, VIEWER, loaded)
    assert len(service.rejected_rows(store, EDITOR, loaded)) == 0


# -- the audit trail -------------------------------------------------------------------------
def test_every_change_is_in_the_audit_trail_with_who_made_it(store, loaded, orders, tmp_path):
    service.load_file(store, EDITOR, orders, dataset="orders", replace=True)
    service.rename_dataset(store, EDITOR, "orders", "订单")
    dataset = store.dataset("订单")
    service.add_followup(store, VIEWER, dataset, "A1", "contacted")
    service.save_weights(store, ADMIN, dataset, {"revenue": 1.0})
    service.record_sign_in(store, NOBODY)
    service.delete_dataset(store, ADMIN, "订单")
    trail = service.audit_trail(store, ADMIN)
    assert trail[["actor", "action", "dataset"]].values.tolist()[::-1] == [
        ["ed@example.com", "upload", "orders"],
        ["ed@example.com", "replace", "orders"],
        ["ed@example.com", "rename", "订单"],
        ["vi@example.com", "followup", "订单"],
        ["ada@example.com", "settings", "订单"],
        ["stranger@other.org", "sign_in", ""],
        ["ada@example.com", "delete", "订单"],
    ]
    details = trail["detail"].tolist()[::-1]
    assert details[0] == {"file": "orders.csv", "rows": 6, "rejected": 0}
    assert details[2] == {"old_name": "orders"}
    assert details[3] == {"customer_id": "A1", "status": "contacted"}
    assert details[5] == {"role": "none"}
    # a refused action writes nothing
    with pytest.raises(AccessDenied):
        service.load_file(store, VIEWER, orders, dataset="again")
    assert len(service.audit_trail(store, ADMIN)) == 7


def test_the_command_line_prints_and_exports_the_trail(cli, orders, tmp_path):
    assert cli("ingest", orders, "--dataset", "orders").returncode == 0
    assert cli("followup", "--dataset", "orders", "--customer", "A1", "--status", "contacted",
               "--owner", "王芳").returncode == 0
    assert cli("drop", "orders").returncode == 0
    done = cli("audit", "--json")
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout.strip().splitlines()[-1])["entries"]
    me = getpass.getuser()  # the local user signs with the computer's user name
    assert [(e["actor"], e["action"], e["dataset"]) for e in entries] == [
        (me, "delete", "orders"), (f"{me} (王芳)", "followup", "orders"), (me, "upload", "orders")]
    out = tmp_path / "audit.csv"
    assert cli("audit", "--limit", "2", "--out", out).returncode == 0
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "at,actor,action,dataset,detail" and len(lines) == 3
    assert lines[1].split(",")[1:4] == [me, "delete", "orders"]


# -- the sign-in configuration ----------------------------------------------------------------
GOOD_AUTH = {"redirect_uri": "https://kam.example.com/oauth2callback", "cookie_secret": "9" * 64,
             "client_id": "kam", "client_secret": "s", "server_metadata_url": "https://idp.example.com/.well-known/x"}


@pytest.mark.parametrize("change, key", [
    ({}, None),
    ({"cookie_secret": "replace-me-with-the-output-of-python-c-import-secrets-print-secrets-token-hex-32"},
     "auth_cookie_secret_weak"),
    ({"cookie_secret": "short-secret"}, "auth_cookie_secret_weak"),
    ({"client_id": ""}, "auth_config_missing"),
])
def test_an_unusable_sign_in_configuration_is_named(change, key):
    from ui.auth import configuration_problem

    problem = configuration_problem({"auth": {**GOOD_AUTH, **change}, "kam": {"roles": {"admins": ["a@b.c"]}}})
    assert (problem[0] if problem else None) == key
    if key == "auth_config_missing":
        assert problem[1] == {"keys": "client_id"}
    assert configuration_problem({"auth": GOOD_AUTH})[0] == "auth_no_roles"  # nobody could do anything


def test_make_run_refuses_to_start_with_the_sample_secret(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    example = ROOT / ".streamlit" / "secrets.example.toml"
    refused = subprocess.run([sys.executable, "-m", "ui.auth", str(example)], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "sample cookie secret" in refused.stderr
    good = tmp_path / "secrets.toml"
    good.write_text(example.read_text(encoding="utf-8").replace(
        "replace-me-with-the-output-of-python-c-import-secrets-print-secrets-token-hex-32", "f" * 64), encoding="utf-8")
    assert subprocess.run([sys.executable, "-m", "ui.auth", str(good)], cwd=ROOT).returncode == 0
    assert subprocess.run([sys.executable, "-m", "ui.auth", str(tmp_path / "absent.toml")], cwd=ROOT).returncode == 0
