"""The demo dataset: a Chinese B2B supplier of industrial automation parts (CNY), 1,500
customers, 2023-01-01 to 2025-12-31, deterministic (same seed → same rows, byte for byte).

Columns are written with Chinese headers (订单编号, 订单日期, 客户编号, 客户名称, 所属集团, 区域, 行业,
客户经理, 产品名称, 产品类别, 数量, 单价, 折扣率, 金额, 成本, 应收日期, 回款日期, 回款金额) and
loaded through the normal ingest, so the demo exercises the same path as an upload.

Amount is net of discount: 金额 = 数量 × 单价 × (1 − 折扣率); 成本 = 数量 × unit cost, so
profit = 金额 − 成本. Payment terms are 30 or 60 days after the order (应收日期).

Planted patterns (customer ids in ``PLANTED``), so later analyses have something true to find:

- ``whale``: C0001 buys steadily and heavily: more than 10% of total revenue.
- ``pseudo_key``: C0002–C0004 each place one or two very large orders early in 2025 and
  never order again — big revenue in the key-account standard's twelve months, no repeat
  business (伪大客户).
- ``lapsed_key``: C0005–C0008 are large, regular accounts through 2024 whose order gaps widen
  and order sizes shrink during 2025 H1; their last order is between 2025-06 and 2025-08.
- ``declining_key``: C0009–C0011 are large accounts still ordering, but since 2025-07 their
  orders come at three times their usual gap and at half the size (at risk at the data's end).
- ``unprofitable``: C0012–C0014 are big accounts buying at 46–52% discount: negative margin.
- ``rising``: C0015–C0019 start small in 2023 and roughly triple their spend each year.
- ``slow_payer``: C0020–C0024 pay 60–150 days after the due date (others pay within ~10 days).

- ``group``: C0701, C0867, C1103, C1224, C1419 and C1456 — six background accounts with names of
  their own in three regions — belong to one group, 华信控股集团 (the 所属集团 column; every other
  customer has none): about 1% of revenue each, 5% together, the second-largest account by group.

The demo's costs file (``costs``, 费用 with 日期/客户编号/区域/费用类型/金额), made from the lines
above (no random draw): every region's logistics (物流费用, 2% of its revenue, a shared cost by
region each month) and marketing (市场费用, 1%, quarterly), a visit (拜访费用, ¥1,500) for
each of the 50 largest accounts every quarter, and three key accounts expensive to serve
(``COSTLY``, costs as a multiple of the account's gross profit): C0001 with a rebate (返利) and a dedicated salesperson (销售人员), still
profitable; C0833 with a dedicated team and special logistics, still profitable; and C0337,
a key account profitable on gross margin but unprofitable once its dedicated staff, rebates
and logistics (together 1.3 × its gross profit over the three years) are counted.
Everything else is background: lognormal account sizes, gamma-distributed order gaps,
about a third of ordinary accounts lapse at a random date, new accounts join over time.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240601
N_CUSTOMERS = 1500
START = dt.date(2023, 1, 1)
END = dt.date(2025, 12, 31)
DATASET_NAME = "演示数据 Demo"

PLANTED: dict[str, list[str]] = {
    "whale": ["C0001"],
    "pseudo_key": ["C0002", "C0003", "C0004"],
    "lapsed_key": ["C0005", "C0006", "C0007", "C0008"],
    "declining_key": ["C0009", "C0010", "C0011"],
    "unprofitable": ["C0012", "C0013", "C0014"],
    "rising": ["C0015", "C0016", "C0017", "C0018", "C0019"],
    "slow_payer": ["C0020", "C0021", "C0022", "C0023", "C0024"],
    "group": ["C0701", "C0867", "C1103", "C1224", "C1419", "C1456"],
}
GROUP_NAME = "华信控股集团"
COSTLY = {"C0001": ("profitable", 0.25), "C0833": ("profitable", 0.6), "C0337": ("unprofitable", 1.3)}
COSTS_NAME = "demo_costs.csv"

CITIES = {
    "华东": ["上海", "杭州", "南京", "苏州", "宁波", "合肥", "济南", "青岛"],
    "华南": ["深圳", "广州", "东莞", "佛山", "厦门", "福州"],
    "华北": ["北京", "天津", "石家庄", "太原"],
    "西南": ["成都", "重庆", "昆明", "贵阳"],
    "华中": ["武汉", "长沙", "郑州", "南昌"],
    "西北": ["西安", "兰州", "银川"],
}
REGION_WEIGHTS = {"华东": 0.34, "华南": 0.24, "华北": 0.16, "西南": 0.10, "华中": 0.11, "西北": 0.05}
CORES = ["华信", "恒达", "金鼎", "瑞丰", "中科", "宏远", "天润", "博越", "嘉禾", "东方", "联创", "新世纪",
         "永盛", "鑫源", "长城", "海川", "正泰", "德信", "明阳", "富康", "汇通", "星辰", "安泰", "启明",
         "卓越", "远航", "凯达", "华瑞", "盛世", "同创"]
INDUSTRIES = {"制造业": "精密制造", "汽车": "汽车零部件", "电子": "电子科技", "医药": "医药", "能源": "新能源",
              "食品饮料": "食品", "物流": "物流", "建筑": "建设工程", "零售": "商贸"}
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司"]
OWNERS = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷"]
# product, category, list price (CNY), unit cost
PRODUCTS = [
    ("工业传感器 S200", "传感器", 380.0, 210.0), ("光电开关 P10", "传感器", 95.0, 48.0),
    ("压力变送器 T7", "传感器", 1250.0, 760.0), ("PLC 控制器 X3", "控制器", 6800.0, 4300.0),
    ("PLC 扩展模块 E8", "控制器", 1450.0, 820.0), ("伺服电机 M750", "驱动", 3900.0, 2600.0),
    ("伺服驱动器 D750", "驱动", 4200.0, 2750.0), ("变频器 V22", "驱动", 5600.0, 3500.0),
    ("工控机 IPC-7", "工控机", 12800.0, 8900.0), ("触摸屏 HMI-10", "工控机", 3300.0, 2050.0),
    ("线缆套件 C5", "配件", 260.0, 120.0), ("接线端子 K1", "配件", 18.0, 7.5),
    ("安装调试服务", "服务", 8000.0, 4200.0), ("年度维保服务", "服务", 24000.0, 11000.0),
]


def _company_names(rng: np.random.Generator, regions: list[str], industries: list[str]) -> list[str]:
    names, seen = [], set()
    for region, industry in zip(regions, industries):
        for _ in range(200):
            city = rng.choice(CITIES[region])
            name = f"{city}{rng.choice(CORES)}{INDUSTRIES[industry]}{rng.choice(SUFFIXES)}"
            if name not in seen:
                break
        else:
            name = f"{name}（{len(names)}）"
        seen.add(name)
        names.append(name)
    return names


def _order_dates(rng, start: dt.date, end: dt.date, gap: float, regularity: float = 4.0) -> list[dt.date]:
    dates, day = [], start + dt.timedelta(days=int(rng.uniform(0, gap)))
    while day <= end:
        dates.append(day)
        day += dt.timedelta(days=max(1, int(round(rng.gamma(regularity, gap / regularity)))))
    return dates


def _profile(i: int, rng) -> dict:
    """Ordering profile of customer i (0-based): size, gap, life span, discount, payment delay."""
    cid = f"C{i + 1:04d}"
    size = float(np.exp(rng.normal(9.6, 1.1)))  # typical order value, CNY
    gap = float(np.clip(rng.lognormal(np.log(55), 0.6), 10, 240))
    joined = START if rng.random() < 0.65 else START + dt.timedelta(days=int(rng.uniform(0, 900)))
    lapse = None
    if rng.random() < 0.33:
        lapse = joined + dt.timedelta(days=int(rng.uniform(60, (END - joined).days + 120)))
    p = dict(cid=cid, size=size, gap=gap, start=joined, end=min(lapse or END, END),
             discount=float(np.clip(rng.normal(0.06, 0.04), 0, 0.2)), delay=float(rng.uniform(-5, 12)),
             kind="background", growth=0.0)
    planted = next((k for k, ids in PLANTED.items() if cid in ids and k != "group"), None)  # (a group: ordinary ordering)
    if planted == "whale":
        p.update(size=950_000.0, gap=7.0, start=START, end=END, discount=0.05)
    elif planted == "pseudo_key":
        first = dt.date(2025, 1, 20) + dt.timedelta(days=40 * (i - 1))  # (C0002: i = 1) in the data's last twelve months
        p.update(size=4_500_000.0, gap=20.0, start=first, end=first + dt.timedelta(days=25), discount=0.03)
    elif planted in ("lapsed_key", "declining_key", "unprofitable"):
        p.update(size=90_000.0 + 15_000 * (i % 4), gap=14.0, start=START, end=END, discount=0.05)
        if planted == "unprofitable":
            p.update(discount=0.46 + 0.02 * (i % 4))
    elif planted == "rising":
        p.update(size=9_000.0, gap=35.0, start=START, end=END, growth=1.1)
    elif planted == "slow_payer":
        p.update(size=40_000.0, gap=21.0, start=START, end=END, delay=float(60 + 22 * (i % 5)))
    p["kind"] = planted or "background"
    return p


def _orders_for(p: dict, rng, index: int) -> list[tuple[dt.date, float]]:
    """(order date, order value before discount) for one customer."""
    kind = p["kind"]
    if kind == "pseudo_key":
        n = 1 + index % 2
        return [(p["start"] + dt.timedelta(days=12 * k), p["size"] * rng.uniform(0.8, 1.2)) for k in range(n)]
    out = []
    if kind == "lapsed_key":
        last = dt.date(2025, 6, 1) + dt.timedelta(days=25 * (index % 4))
        dates = _order_dates(rng, p["start"], dt.date(2024, 12, 31), p["gap"])
        decline = [d for d in _order_dates(rng, dt.date(2025, 1, 10), last, p["gap"] * 2.5) if d < last] + [last]
        out += [(d, p["size"] * rng.lognormal(0, 0.25)) for d in dates]
        out += [(d, p["size"] * 0.45 * rng.lognormal(0, 0.25)) for d in decline]
        return out
    if kind == "declining_key":
        dates = _order_dates(rng, p["start"], dt.date(2025, 6, 30), p["gap"])
        late = _order_dates(rng, dt.date(2025, 7, 15), dt.date(2025, 11, 20), p["gap"] * 3)
        return [(d, p["size"] * rng.lognormal(0, 0.25)) for d in dates] + \
               [(d, p["size"] * 0.5 * rng.lognormal(0, 0.25)) for d in late]
    dates = _order_dates(rng, p["start"], p["end"], p["gap"]) or [p["start"]]
    for d in dates:
        years = (d - START).days / 365.25
        factor = np.exp(p["growth"] * years) if p["growth"] else 1.0
        out.append((d, p["size"] * factor * rng.lognormal(0, 0.35)))
    return out


def generate(seed: int = SEED) -> pd.DataFrame:
    """The demo transactions with Chinese headers, one row per order line."""
    rng = np.random.default_rng(seed)
    region_names = list(REGION_WEIGHTS)
    regions = list(rng.choice(region_names, size=N_CUSTOMERS, p=list(REGION_WEIGHTS.values())))
    industries = list(rng.choice(list(INDUSTRIES), size=N_CUSTOMERS))
    names = _company_names(rng, regions, industries)
    owners = {region: [OWNERS[(k + j) % len(OWNERS)] for j in range(3)] for k, region in enumerate(region_names)}
    prices = np.array([p[2] for p in PRODUCTS])
    rows = []
    order_no = 100000
    for i in range(N_CUSTOMERS):
        p = _profile(i, rng)
        owner = owners[regions[i]][i % 3]
        for day, value in sorted(_orders_for(p, rng, i)):
            order_no += 1
            n_lines = int(rng.integers(1, 4))
            products = rng.choice(len(PRODUCTS), size=n_lines, replace=False)
            shares = rng.dirichlet(np.ones(n_lines))
            terms = 30 if rng.random() < 0.6 else 60
            due = day + dt.timedelta(days=terms)
            for k, share in zip(products, shares):
                name, category, price, cost = PRODUCTS[k]
                qty = max(1, int(round(value * share / prices[k])))
                discount = round(float(np.clip(p["discount"] + rng.normal(0, 0.01), 0, 0.6)), 3)
                amount = round(qty * price * (1 - discount), 2)
                delay = p["delay"] + rng.normal(0, 4)
                paid_day = due + dt.timedelta(days=int(round(delay)))
                paid = None if paid_day > END else paid_day
                rows.append((f"SO{order_no}", day.isoformat(), p["cid"], names[i], regions[i], industries[i], owner,
                             name, category, qty, price, discount, amount, round(qty * cost, 2), due.isoformat(),
                             paid.isoformat() if paid else None, amount if paid else None))
    columns = ["订单编号", "订单日期", "客户编号", "客户名称", "区域", "行业", "客户经理", "产品名称", "产品类别",
               "数量", "单价", "折扣率", "金额", "成本", "应收日期", "回款日期", "回款金额"]
    frame = pd.DataFrame(rows, columns=columns)
    # (after the rows are drawn: the group column takes nothing from the random stream)
    frame.insert(4, "所属集团", frame["客户编号"].map(dict.fromkeys(PLANTED["group"], GROUP_NAME)))
    return frame


def costs(lines: pd.DataFrame) -> pd.DataFrame:
    """The demo's costs file (module docstring), from the demo's lines."""
    frame = lines.assign(day=pd.to_datetime(lines["订单日期"]), amount=lines["金额"].astype(float),
                         profit=lines["金额"].astype(float) - lines["成本"].astype(float))
    frame["month"] = frame["day"].dt.to_period("M")
    rows = []
    by_region = frame.groupby(["区域", "month"])["amount"].sum()
    for (region, month), revenue in by_region.items():
        day = month.to_timestamp(how="end").date().isoformat()
        rows.append((day, None, region, "物流费用", round(revenue * 0.02, 2)))
        if month.month % 3 == 0:
            quarter = by_region.loc[region].loc[month - 2:month].sum()
            rows.append((day, None, region, "市场费用", round(quarter * 0.01, 2)))
    largest = frame.groupby("客户编号")["amount"].sum().sort_values(ascending=False, kind="mergesort").index[:50]
    quarters = pd.period_range(START, END, freq="Q")
    for customer in sorted(largest):
        for quarter in quarters:
            rows.append((quarter.to_timestamp(how="end").date().isoformat(), customer, None, "拜访费用", 1500.0))
    months = pd.period_range(START, END, freq="M")
    for customer, (_, share) in COSTLY.items():
        gross = float(frame.loc[frame["客户编号"] == customer, "profit"].sum())
        monthly = gross * share / len(months)
        for month in months:
            day = month.to_timestamp(how="end").date().isoformat()
            rows.append((day, customer, None, "销售人员", round(monthly * 0.5, 2)))
            rows.append((day, customer, None, "返利", round(monthly * 0.3, 2)))
            rows.append((day, customer, None, "物流费用", round(monthly * 0.2, 2)))
    return pd.DataFrame(rows, columns=["日期", "客户编号", "区域", "费用类型", "金额"])


def write_csv(path: str | Path, seed: int = SEED) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(seed).to_csv(path, index=False, encoding="utf-8")
    return path


def seed_store(store) -> None:
    """Load the demo dataset into an empty store (no-op when the store has any dataset)."""
    from kam_analytics.ingest import ingest_file

    if store.datasets():
        return
    from kam_analytics.ingest.costs import ingest_costs

    tmp = store.path.parent / "tmp"
    path = write_csv(tmp / "demo_seed.csv")
    cost_path = tmp / COSTS_NAME
    try:
        dataset = ingest_file(store, path, dataset=DATASET_NAME).dataset
        costs(pd.read_csv(path, dtype={"客户编号": str})).to_csv(cost_path, index=False, encoding="utf-8")
        ingest_costs(store, store.dataset(dataset), cost_path)
    finally:
        path.unlink(missing_ok=True)
        cost_path.unlink(missing_ok=True)
