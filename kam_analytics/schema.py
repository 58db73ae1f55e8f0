"""The canonical transaction schema and the header synonyms that map user files onto it.

Everything after ingest sees these column names, never the user's headers.
"""
from __future__ import annotations

import re

MONEY = "DECIMAL(18,4)"

# canonical name -> (DuckDB type, kind). kind drives parsing: id, text, date, money, number, rate.
COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("VARCHAR", "id"),
    "order_date": ("TIMESTAMP", "date"),
    "amount": (MONEY, "money"),
    "order_id": ("VARCHAR", "id"),
    "customer_name": ("VARCHAR", "text"),
    "customer_group": ("VARCHAR", "text"),
    "region": ("VARCHAR", "text"),
    "industry": ("VARCHAR", "text"),
    "segment": ("VARCHAR", "text"),
    "owner": ("VARCHAR", "text"),
    "product": ("VARCHAR", "text"),
    "category": ("VARCHAR", "text"),
    "channel": ("VARCHAR", "text"),
    "quantity": ("DOUBLE", "number"),
    "unit_price": (MONEY, "money"),
    "cost": (MONEY, "money"),
    "profit": (MONEY, "money"),
    "discount": ("DOUBLE", "rate"),
    "due_date": ("TIMESTAMP", "date"),
    "paid_date": ("TIMESTAMP", "date"),
    "paid_amount": (MONEY, "money"),
}

REQUIRED = ("customer_id", "order_date", "amount")

# Names a user may write for a canonical column in ``--map`` (``group=集团`` for customer_group).
MAP_ALIASES = {"group": "customer_group"}

# Dimensions a dataset may carry; each unlocks a filter and a breakdown.
DIMENSIONS = ("region", "industry", "segment", "owner", "category", "channel")

# Per-customer attributes (a second upload joined on customer_id).
ATTRIBUTE_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("VARCHAR", "id"),
    "customer_name": ("VARCHAR", "text"),
    "customer_group": ("VARCHAR", "text"),
    "industry": ("VARCHAR", "text"),
    "region": ("VARCHAR", "text"),
    "owner": ("VARCHAR", "text"),
    "owner_email": ("VARCHAR", "text"),
    "credit_rating": ("VARCHAR", "text"),
    "industry_influence": ("DOUBLE", "number"),
    "credit_limit": ("DOUBLE", "number"),
}

# A file of costs to serve (``ingest.costs``): a date, an amount, a cost type and whom the
# cost is for — a customer (a direct cost) or dimension values (a shared cost).
COST_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("VARCHAR", "id"),
    "customer_name": ("VARCHAR", "text"),
    "order_date": ("TIMESTAMP", "date"),
    "amount": (MONEY, "money"),
    "cost_type": ("VARCHAR", "text"),
    **{d: ("VARCHAR", "text") for d in DIMENSIONS},
}
# the columns a shared cost may name (a cost row without a customer id)
COST_DIMENSIONS = DIMENSIONS

# Synonyms in order of preference (the first header found wins). Compared after normalise().
SYNONYMS: dict[str, list[str]] = {
    "customer_id": [
        "customer id", "customerid", "customer no", "customer number", "customer code", "cust id",
        "client id", "account id", "account number", "buyer id", "member id",
        "客户编号", "客户代码", "客户id", "客户编码", "客户号", "客户代号", "会员编号", "买家id",
    ],
    "customer_name": [
        "customer name", "customer", "client name", "client", "account name", "account", "company name",
        "company", "buyer",
        "客户名称", "客户", "客户名", "客户全称", "公司名称", "单位名称", "购货单位", "买家",
    ],
    "customer_group": [
        "customer group", "group", "group name", "parent", "parent account", "parent company",
        "parent customer", "ultimate parent", "corporate group", "account group",
        "集团", "集团名称", "所属集团", "母公司", "上级客户", "上级单位", "总公司",
    ],
    "order_date": [
        "order date", "orderdate", "invoice date", "invoicedate", "transaction date", "sale date",
        "sales date", "purchase date", "date", "order time", "created at", "posting date",
        "订单日期", "下单日期", "下单时间", "日期", "销售日期", "交易日期", "开票日期", "单据日期", "业务日期",
        "订单时间", "成交日期",
    ],
    "amount": [
        "sales", "amount", "revenue", "net sales", "net amount", "sales amount", "line total", "total",
        "turnover", "value", "net revenue", "order amount", "dollar value", "dollars", "dollar amount",
        "销售额", "金额", "含税金额", "应收金额", "发票金额", "开票金额", "invoice amount", "实收金额", "销售金额", "收入", "营业额", "成交金额", "订单金额",
        "价税合计", "销售收入", "总金额", "合计金额",
    ],
    "order_id": [
        "order id", "orderid", "order no", "order number", "invoice no", "invoiceno", "invoice",
        "invoice id", "invoice number", "transaction id", "document no",
        "订单编号", "订单号", "单号", "单据编号", "发票号", "订单id", "销售单号",
    ],
    "region": ["region", "area", "territory", "sales region", "区域", "大区", "地区", "销售区域", "片区", "country", "国家", "省份", "province", "state"],
    "industry": ["industry", "sector", "vertical", "行业", "所属行业", "行业类别"],
    "segment": ["segment", "customer segment", "customer type", "客户类型", "客户分类", "客户类别", "细分市场"],
    "owner": [
        "owner", "account manager", "sales rep", "salesperson", "sales person", "sales manager", "rep",
        "销售", "客户经理", "负责人", "业务员", "销售员", "销售代表", "销售经理", "跟进人",
    ],
    "product": [
        "product name", "product", "item", "description", "product id", "stockcode", "stock code", "sku",
        "商品名称", "产品名称", "产品", "商品", "品名", "物料名称", "产品编号", "商品编码",
    ],
    "category": ["category", "product category", "sub category", "类别", "品类", "产品类别", "商品类别", "分类"],
    "channel": ["channel", "sales channel", "渠道", "销售渠道"],
    "quantity": ["quantity", "qty", "units", "数量", "销量", "销售数量", "件数"],
    "unit_price": ["unit price", "unitprice", "price", "单价", "销售单价", "含税单价"],
    "cost": ["cost", "cogs", "total cost", "cost of goods", "成本", "销售成本", "总成本"],
    "profit": ["profit", "gross profit", "利润", "毛利", "毛利润", "毛利额"],
    "discount": ["discount", "discount rate", "折扣", "折扣率", "折让", "优惠"],
    "due_date": ["due date", "payment due", "payment due date", "应收日期", "到期日", "账期到期日", "应付款日期"],
    "paid_date": ["paid date", "payment date", "date paid", "received date", "date received", "receipt date", "回款日期", "付款日期", "收款日期", "到账日期"],
    "paid_amount": ["paid amount", "amount paid", "payment amount", "amount received", "received amount", "paid",
                    "已收金额", "已收款金额", "回款金额", "已付金额", "收款金额", "到账金额", "已回款"],
    "credit_rating": ["credit rating", "credit", "rating", "信用等级", "信用评级", "信用"],
    "industry_influence": ["industry influence", "influence", "行业影响力", "影响力"],
    "owner_email": ["owner email", "owner e-mail", "account manager email", "sales rep email", "email of owner",
                    "负责人邮箱", "客户经理邮箱", "销售邮箱", "业务员邮箱", "跟进人邮箱"],
    "credit_limit": ["credit limit", "credit line", "credit limit amount", "信用额度", "授信额度", "信用限额", "赊销额度"],
}

# A costs file's own words, before the shared ones (``cost_synonyms``): its amount is a cost
# (费用, 金额, Cost …), its date the day the cost was incurred.
_COST_WORDS: dict[str, list[str]] = {
    "amount": ["cost amount", "expense amount", "amount", "cost", "expense", "expenses", "total",
               "费用金额", "成本金额", "支出金额", "金额", "费用", "成本", "支出", "费用额"],
    "order_date": ["cost date", "expense date", "date", "month", "period", "费用日期", "发生日期", "报销日期", "日期",
                   "月份", "期间"],
    "cost_type": ["cost type", "expense type", "cost category", "expense category", "cost item", "expense item",
                  "type", "费用类型", "费用类别", "费用项目", "费用科目", "成本类型", "成本项目", "科目", "类型"],
}


def cost_synonyms() -> dict[str, list[str]]:
    """The synonyms a costs file is mapped with: its own words first, then the shared ones
    for the customer and the dimensions (客户编号, 区域, 负责人, 渠道 …)."""
    return {**SYNONYMS, **_COST_WORDS}


_NORMALISE = re.compile(r"[\s_\-./\\()（）:：#]+")
# Traditional -> simplified for the characters of common headers (Big5 files from 台湾/香港).
_TRADITIONAL = str.maketrans(
    "戶編碼稱訂單銷額號區業經負責數價產類務貨潤應間時員實際總計與購買賣貿稅費帳賬層級關聯開發據項線廠東華國優門",
    "户编码称订单销额号区业经负责数价产类务货润应间时员实际总计与购买卖贸税费账账层级关联开发据项线厂东华国优门")


def normalise_header(header: str) -> str:
    """Lower-case a header and fold separators to single spaces: 'Order_Date' -> 'order date'."""
    header = str(header).translate(_TRADITIONAL)
    text = _NORMALISE.sub(" ", header.replace("\ufeff", "")).strip().lower()
    # 'CustomerID' / 'InvoiceDate' style: split camel case before lower-casing lost it.
    camel = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(header).replace("\ufeff", "").strip())
    camel = _NORMALISE.sub(" ", camel).strip().lower()
    return camel if camel != text and camel.replace(" ", "") == text.replace(" ", "") else text


def _keys(header: str) -> set[str]:
    norm = normalise_header(header)
    return {norm, norm.replace(" ", "")}


def auto_mapping(headers: list[str], columns: dict[str, tuple[str, str]] | None = None,
                 synonyms: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Map canonical columns to source headers by synonym, in order of preference.

    Each source header is used once, except that the customer name may also serve as the
    customer id when a file has only a name column (客户 / Customer).
    """
    columns = columns or COLUMNS
    synonyms = synonyms or SYNONYMS
    mapping: dict[str, str] = {}
    used: set[str] = set()
    keyed = [(h, _keys(h)) for h in headers]

    def find(canonical: str) -> str | None:
        for synonym in synonyms.get(canonical, []):
            wanted = {synonym, synonym.replace(" ", "")}
            for header, keys in keyed:
                if header not in used and keys & wanted:
                    return header
        return None

    for canonical in columns:
        header = find(canonical)
        if header is not None:
            mapping[canonical] = header
            used.add(header)
    if "customer_id" not in mapping and "customer_name" in mapping:
        mapping["customer_id"] = mapping["customer_name"]
    return mapping
