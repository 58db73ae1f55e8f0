"""Customer groups (集团客户): which group each customer belongs to, and the lines of a dataset
counted by group.

A group is who controls the buying: the branches 华润集团上海分公司 and 华润集团北京分公司, or the
ship-to accounts of one parent, are one group. Where a customer's group comes from, first
that applies:

1. the ``customer_group`` of the customer attributes file (an analyst's decision wins);
2. the ``customer_group`` of its sales lines: the latest line's (by order date; lines of the
   same instant: the greatest group text) — a customer given two groups is named in the load
   report (``ingest.load.group_conflicts``), never merged silently;
3. none: the customer is a group of its own, with its own id and name.

A group named in a file has the group text as its id and name. A customer whose id is exactly
a group text (an ERP's parent column holding the parent's customer code) is a member of that
group. Figures by group are the figures of the customers' lines with the customer replaced by
its group (``roll_up``): every analysis then counts groups where it counted customers.
"""
from __future__ import annotations

import re

import ibis
import pandas as pd

# the separator of the text key the latest line's group is picked by (``line_groups``)
_SEP = "\x1f"


def line_groups(table: ibis.Table) -> ibis.Table:
    """Per customer whose lines name a group: customer_id and customer_group, the group of its
    latest line (by order date; same instant: the greatest group text; the same rule as the load
    report's, ``ingest.load.GROUP_PICK_KEY``). Lines without a group are ignored."""
    named = table.filter(table.customer_group.notnull() & (table.customer_group != ""))
    key = named.order_date.strftime("%Y-%m-%d %H:%M:%S") + _SEP + named.customer_group
    return named.group_by("customer_id").aggregate(picked=key.max())


def group_map(customers: pd.DataFrame, from_lines: pd.DataFrame | None,
              from_attributes: pd.DataFrame | None) -> pd.DataFrame:
    """One row per customer of ``customers`` (customer_id, name): customer_id, name (its own),
    group_id, group_name.

    ``from_lines``: customer_id, picked (``line_groups``); ``from_attributes``: customer_id,
    customer_group (the attributes file's; it wins where it gives a group, blank = none). A
    customer with no group is its own group: its id, and its name (else its id). A customer
    whose id equals a group's text joins that group."""
    out = customers[["customer_id"]].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    group = pd.Series(pd.NA, index=out.index, dtype=object)
    if from_lines is not None and len(from_lines):
        picked = from_lines.set_index(from_lines["customer_id"].astype(str))["picked"]
        group = out["customer_id"].map(picked.str.split(_SEP, n=1).str[1]).astype(object)
    if from_attributes is not None and len(from_attributes):
        given = from_attributes.dropna(subset=["customer_group"])
        given = given[given["customer_group"].astype(str).str.strip() != ""]
        given = given.set_index(given["customer_id"].astype(str))["customer_group"].astype(str).str.strip()
        given = given[~given.index.duplicated(keep="last")]
        from_file = out["customer_id"].map(given)
        group = from_file.where(from_file.notna(), group)
    names = customers.set_index(customers["customer_id"].astype(str))["name"] if "name" in customers else None
    named_groups = set(group.dropna())
    joins = out["customer_id"].where(group.isna() & out["customer_id"].isin(named_groups))
    group = group.where(group.notna(), joins)
    out["group_id"] = group.where(group.notna(), out["customer_id"]).astype(str)
    own_name = out["customer_id"].map(names) if names is not None else pd.Series(pd.NA, index=out.index)
    own_name = own_name.where(own_name.notna() & (own_name.astype(str) != ""), out["customer_id"])
    out["group_name"] = group.where(group.notna(), own_name).astype(str)
    out["name"] = out["customer_id"].map(names) if names is not None else None
    return out.sort_values("customer_id", kind="mergesort").reset_index(drop=True)


def has_groups(gmap: pd.DataFrame) -> bool:
    """Whether any group has more than one member, or any customer a group other than itself."""
    return bool(len(gmap)) and bool((gmap["group_id"] != gmap["customer_id"]).any())


def members(gmap: pd.DataFrame) -> pd.DataFrame:
    """group_id, group_name, members (customers in the group), one row per group."""
    return (gmap.groupby("group_id", sort=True)[["group_name", "customer_id"]]
            .agg(group_name=("group_name", "first"), members=("customer_id", "size")).reset_index())


def group_head(ids: pd.Series, groups: pd.DataFrame) -> pd.DataFrame:
    """group_id, group_name and members of each account id in ``ids`` (``groups``: ``members``'
    rows), in ``ids``' order and index — the first columns of every per-group export. An id the
    table lacks is a group of one, named by its id."""
    ids = ids.astype(str)
    by_id = groups.set_index("group_id")
    return pd.DataFrame({"group_id": ids.values, "group_name": ids.map(by_id["group_name"]).fillna(ids).values,
                         "members": ids.map(by_id["members"]).fillna(1).astype(int).values}, index=ids.index)


def roll_up(table: ibis.Table, gmap: pd.DataFrame) -> ibis.Table:
    """The lines of ``table`` with each customer replaced by its group: customer_id is the
    group_id, customer_name the group_name, and ``member_id`` keeps the customer the line was
    sold to (``filters.order_key`` keeps orders of different members apart). A customer missing
    from ``gmap`` (a receivables line of a customer without sales) stays its own group."""
    mapping = ibis.memtable(gmap[["customer_id", "group_id", "group_name"]].rename(
        columns={"customer_id": "_member", "group_id": "_gid", "group_name": "_gname"}))
    joined = table.left_join(mapping, table.customer_id == mapping._member)
    columns = {}
    for name in table.columns:
        if name == "customer_id":
            columns["customer_id"] = joined._gid.coalesce(joined.customer_id)
            columns["member_id"] = joined.customer_id
        elif name == "customer_name":
            columns["customer_name"] = joined._gname.coalesce(joined.customer_name)
        else:
            columns[name] = joined[name]
    if "customer_name" not in table.columns:
        columns["customer_name"] = joined._gname.coalesce(joined.customer_id)
    return joined.select(**columns)


def group_attributes(attributes: pd.DataFrame, gmap: pd.DataFrame, revenue: pd.DataFrame) -> pd.DataFrame:
    """The attributes of each group: its largest member's qualitative attributes (the member
    with the most net revenue in ``revenue`` — customer_id, revenue, over the whole dataset;
    ties and members without revenue: the smallest id; only members with a row in
    ``attributes``), with customer_id the group id; ``credit_limit`` is the sum over the members
    that have one (None when none has). One row per group that has an attributed member."""
    if attributes is None or not len(attributes):
        return attributes
    rows = attributes.copy()
    rows["customer_id"] = rows["customer_id"].astype(str)
    rows = rows.merge(gmap[["customer_id", "group_id"]], on="customer_id", how="left")
    rows["group_id"] = rows["group_id"].fillna(rows["customer_id"])
    sales = revenue.assign(customer_id=revenue["customer_id"].astype(str)).set_index("customer_id")["revenue"]
    rows["_revenue"] = rows["customer_id"].map(sales).fillna(float("-inf"))
    ranked = rows.sort_values(["group_id", "_revenue", "customer_id"], ascending=[True, False, True], kind="mergesort")
    out = ranked.drop_duplicates("group_id").set_index("group_id")
    if "credit_limit" in rows:
        out["credit_limit"] = rows.groupby("group_id")["credit_limit"].sum(min_count=1)
    out = out.drop(columns=["customer_id", "_revenue"]).reset_index().rename(columns={"group_id": "customer_id"})
    return out[[c for c in attributes.columns if c in out.columns]]


# -- suggestions from names ---------------------------------------------------------------------
# What a branch, office, place or legal form adds to a buyer's name, stripped from the end of a
# name (repeatedly) to find the buyer behind it. A Chinese company name reads place + brand +
# business + legal form (上海东方贸易有限公司); a branch adds place + branch word after the
# company (华润集团上海分公司). Only the end is stripped, so 上海东方贸易 and 北京东方贸易 stay apart.
_CITIES_CN = ("北京", "上海", "天津", "重庆", "广州", "深圳", "杭州", "南京", "苏州", "武汉", "成都", "西安", "沈阳",
              "大连", "青岛", "济南", "郑州", "长沙", "合肥", "福州", "厦门", "宁波", "无锡", "东莞", "佛山", "昆明",
              "南宁", "贵阳", "太原", "石家庄", "哈尔滨", "长春", "南昌", "兰州", "乌鲁木齐", "呼和浩特", "海口",
              "广东", "江苏", "浙江", "山东", "河南", "河北", "湖北", "湖南", "四川", "福建", "安徽", "辽宁",
              "华东", "华南", "华北", "华中", "西南", "西北", "东北", "香港", "澳门", "台湾", "中国")
_CITY = "(?:" + "|".join(_CITIES_CN) + ")(?:省|市|区|地区)?"
_CN_STEPS = (
    re.compile(r"[\(（][^()（）]*[\)）]$"),                                     # (北京)
    re.compile(r"(?:分公司|子公司|办事处|分厂|分店|分部|分行|营业部|分中心|门店|代表处|联络处|经营部|辦事處|營業部|門店|代表處)$"),
    re.compile(r"(?:股份有限公司|有限责任公司|有限公司|股份公司|公司)$"),
    re.compile(_CITY + "$"),                                                   # 华润集团上海 → 华润集团
)
_CN_GROUP_WORD = re.compile(r"(?:控股集团|集团|控股集團|集團)$")
# words that name a line of business, not a buyer (two unrelated 贸易有限公司 are never one group)
_CN_BUSINESS = re.compile("(?:贸易|商贸|科技|实业|工贸|电子|机械|物流|国际|发展|投资|建设|工程|服务|咨询|信息|技术|"
                          "网络|电器|化工|医药|食品|服饰|商务|供应链|进出口|销售|制造|材料|控股|集团|有限|股份|"
                          "责任|公司|貿易|商貿|實業|電子|機械|物流|國際|發展|投資|建設|工程|服務|諮詢|資訊|技術|集團|"
                          "有限|股份|責任)")
_LATIN_STEPS = (
    re.compile(r"\s*[-–—,]\s*[^-–—,()]*\b(?:branch|office|plant|site|division|subsidiary|store)\.?$", re.I),
    re.compile(r"\s+\S+\s+(?:branch|office|plant)\.?$", re.I),               # Siemens Berlin Branch
    re.compile(r"\s*\([^()]*\)$"),                                            # (Shanghai)
    re.compile(r"[\s,]+(?:co\.?,?\s*ltd\.?|ltd\.?|limited|inc\.?|incorporated|corp\.?|corporation|llc|plc|gmbh|"
               r"ag|se|s\.?a\.?|b\.?v\.?|n\.?v\.?|s\.?r\.?l\.?|pty|co\.?|company)$", re.I),
)
_LATIN_GROUP_WORD = re.compile(r"[\s,]+(?:group|holdings?)$", re.I)
_GENERIC_LATIN = {"trading", "trade", "technology", "technologies", "tech", "industries", "industrial",
                  "international", "services", "service", "solutions", "global", "holding", "holdings",
                  "group", "company", "enterprises", "import", "export", "logistics", "consulting", "and", "&",
                  "engineering", "systems", "general", "supply", "supplies", "the", "new", "china", "asia"}


def _strip(text: str, steps, trim: str) -> str:
    core = text
    while True:
        before = core
        for step in steps:
            core = step.sub("", core).strip(trim)
        if core == before or not core:
            return core


def name_core(name) -> tuple[str, str] | None:
    """The buyer behind a customer name, as (key, shown): branch, office, place and legal-form
    parts stripped from the end (华润集团上海分公司 → 华润集团; "Siemens AG - Berlin Branch" →
    Siemens; "Acme (Shanghai) Co., Ltd." → Acme); ``key`` also drops a final 集团 / Group and
    case, so 华润集团有限公司 and 华润集团北京分公司 share one. None when nothing specific is left:
    an empty name, or a core that only names a place and a line of business (上海贸易有限公司,
    "Global Trading Ltd": two unrelated 贸易有限公司 are never one group)."""
    if name is None or (isinstance(name, float) and name != name):
        return None
    text = re.sub(r"\s+", " ", str(name)).strip()
    if not text:
        return None
    if re.search(r"[\u4e00-\u9fff]", text):
        shown = _strip(text, _CN_STEPS, " -–—·")
        key = _CN_GROUP_WORD.sub("", shown)
        specific = _CN_BUSINESS.sub("", re.sub("^(?:" + _CITY + ")+", "", key))
        if len(specific) < 2:
            return None
        return key, shown
    shown = _strip(text, _LATIN_STEPS, " -–—,.")
    key = _LATIN_GROUP_WORD.sub("", shown).casefold()
    words = re.findall(r"[\w&]+", key)
    if not words or all(w in _GENERIC_LATIN for w in words) or len(key) < 2:
        return None
    return key, shown


def suggest_groups(customers: pd.DataFrame) -> pd.DataFrame:
    """Groups proposed from names (``customers``: customer_id, name): customers whose names
    share a buyer (``name_core``'s key) with at least one other customer are proposed as one
    group, named by the longest of their stripped names (华润集团 over 华润; ties: the smallest
    customer id's). One row per customer that gets a suggestion — customer_id, name, group —
    by group then customer id. A customer alone with its buyer, or without one, gets none. A
    suggestion is only a proposal: loaded back as an attributes file it becomes the groups."""
    columns = ["customer_id", "name", "group"]
    if customers is None or not len(customers) or "name" not in customers:
        return pd.DataFrame(columns=columns)
    rows = customers[["customer_id", "name"]].copy()
    rows["customer_id"] = rows["customer_id"].astype(str)
    cores = [name_core(n) for n in rows["name"]]
    rows["_key"] = [c[0] if c else None for c in cores]
    rows["_shown"] = [c[1] if c else None for c in cores]
    rows = rows.dropna(subset=["_key"])
    rows = rows[rows.groupby("_key")["customer_id"].transform("size") > 1].copy()
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows["_len"] = rows["_shown"].str.len()
    best = rows.sort_values(["_key", "_len", "customer_id"], ascending=[True, False, True], kind="mergesort")
    rows["group"] = rows["_key"].map(best.drop_duplicates("_key").set_index("_key")["_shown"])
    return rows.sort_values(["group", "customer_id"], kind="mergesort")[columns].reset_index(drop=True)
