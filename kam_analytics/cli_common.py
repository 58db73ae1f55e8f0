"""What every command of the command line shares: JSON printing (``--json``: one object on the
last line, NaN as null), the language of messages, the identity the command acts as, CSV
writing and date arguments."""
from __future__ import annotations

import argparse
import json
import math

from kam_analytics import config
from kam_analytics.i18n import normalise_lang, t


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(obj) -> None:
    print(json.dumps(_clean(obj), ensure_ascii=False, default=_json_default))


def _lang() -> str:
    return normalise_lang(config.setting("KAM_LANG") or "en")


def _me():
    """The command line acts as the person at the machine (``access.local_identity``)."""
    from kam_analytics.access import local_identity

    return local_identity()


def _write(frame, path: str) -> int:
    from kam_analytics.export import write_csv

    write_csv(frame, path)
    print(t("cli_written", _lang(), rows=len(frame), path=path))
    return 0


def _date(text: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write it as YYYY-MM-DD") from None
    return text[:10]


