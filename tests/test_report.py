"""The review report (PDF): read back with pypdf, its figures equal the command line's JSON as
the pages format them, Chinese names are text in an embedded font, user text stays text, and
the first page is looked at through pdftoppm."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from kam_analytics.i18n import catalog, format_amount, format_share

pypdf = pytest.importorskip("pypdf", reason="pypdf reads the PDFs back (make test installs it)")

HOSTILE = "<b>粗体</b> :red[危险] **星号**"


def _lines() -> str:
    rows = ["客户编号,客户名称,订单日期,金额"]
    for month in range(24):
        year, m = 2023 + (month + 6) // 12, (month + 6) % 12 + 1
        for k in range(1, 9):
            if k == 8 and month >= 12:
                continue  # 常客8号 stops buying after the first year: churned by the second review
            amount = 1000 * k if month < 12 or k != 3 else 6000  # 常客3号 doubles in the second year
            name = HOSTILE if k == 5 else f"常客{k}号"
            rows.append(f"R{k},{name},{year}-{m:02d}-15,{amount}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """One store for the module (reviews never change: every test reads the same two)."""
    from conftest import run_cli

    folder = tmp_path_factory.mktemp("report")

    def cli(*args, **kwargs):
        return run_cli(*args, db=folder / "cli.duckdb", **kwargs)

    path = folder / "lines.csv"
    path.write_text(_lines(), encoding="gb18030")
    assert cli("ingest", path, "--dataset", "r").returncode == 0
    ids = []
    for day in ("2024-06-30", "2025-06-30"):
        made = cli("review", "create", "--dataset", "r", "--as-of", day, "--json")
        assert made.returncode == 0, made.stderr
        ids.append(json.loads(made.stdout.splitlines()[-1])["review_id"])
    return cli, ids


def _pdf(cli, tmp_path, *args) -> tuple[object, str]:
    out = tmp_path / "report.pdf"
    made = cli("report", "--dataset", "r", *args, "--out", out)
    assert made.returncode == 0, made.stderr
    reader = pypdf.PdfReader(out)
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, re.sub(r"[ \t]+", " ", text)


def _fonts(reader) -> dict[str, bool]:
    """Every font the pages use: whether its program is embedded (a FontFile in its descriptor)."""
    found = {}
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            for part in [font] + [d.get_object() for d in font.get("/DescendantFonts", [])]:
                descriptor = part.get("/FontDescriptor")
                if descriptor is not None:
                    descriptor = descriptor.get_object()
                    found[str(part.get("/BaseFont"))] = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_report_holds_the_cli_figures_as_text(reviewed, tmp_path, lang):
    cli, (first, second) = reviewed
    compared = json.loads(cli("review", "compare", "--dataset", "r", "--from", first, "--to", second,
                              "--json").stdout.splitlines()[-1])
    bridge = compared["bridge"]
    reader, text = _pdf(cli, tmp_path, "--review", second, "--lang", lang)
    words = catalog(lang)
    assert words["report_title"] in text
    assert format_share(bridge["nrr"]) in text and format_share(bridge["grr"]) in text
    for key in ("start_revenue", "end_revenue", "expansion"):
        assert format_amount(bridge[key], lang) in text
    assert "常客7号" in text                        # a Chinese name, as text
    assert "<b>粗体</b>" in text and ":red[危险]" in text  # user text stays text
    pages = len(reader.pages)
    assert f"1 / {pages}" in text and f"{pages} / {pages}" in text
    assert text.count("2025-06-30") >= pages          # the date on every page
    fonts = _fonts(reader)
    assert fonts and all(fonts.values()), fonts        # every font embedded
    assert any("CJK" in name for name in fonts)


def test_without_an_earlier_review_the_comparison_is_left_out(reviewed, tmp_path):
    cli, (first, _) = reviewed
    _, text = _pdf(cli, tmp_path, "--review", first, "--lang", "en")
    assert "There is no earlier review at this level" in text
    assert catalog("en")["report_bridge"] not in text


def test_a_report_evaluated_now_is_compared_with_the_latest_earlier_review(reviewed, tmp_path):
    cli, (first, second) = reviewed
    # on the second review's date: the latest review dated before it is the first
    _, text = _pdf(cli, tmp_path, "--as-of", "2025-06-30", "--lang", "zh")
    assert "为本报告即时评估（未存档）" in text
    assert f"与截至 2024-06-30 的评审 {first} 比较" in text
    _, text = _pdf(cli, tmp_path, "--review", second, "--compare-to", first, "--lang", "en")
    assert f"Compared with review {first} as of 2024-06-30" in text
    listed = json.loads(cli("review", "list", "--dataset", "r", "--json").stdout.splitlines()[-1])
    assert len(listed["reviews"]) == 2  # nothing archived by a report


def test_the_first_page_looks_like_a_page(reviewed, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: `sudo make system` installs it")
    from PIL import Image

    cli, (_, second) = reviewed
    out = tmp_path / "report.pdf"
    assert cli("report", "--dataset", "r", "--review", second, "--lang", "zh", "--out", out).returncode == 0
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(out), str(tmp_path / "page")], check=True)
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    width, height = image.size
    assert abs(width / height - 210 / 297) < 0.01      # A4
    dark = sum(1 for p in image.getdata() if p < 200)
    assert dark > 0.01 * width * height                # text and the chart, not an empty page (measured: 3–4%)
    from pathlib import Path

    shots = Path(__file__).parent / "screenshots"
    shots.mkdir(exist_ok=True)
    shutil.copy(next(tmp_path.glob("page*.png")), shots / "report_zh_page1.png")


def test_an_unknown_review_is_refused_in_a_sentence(reviewed, tmp_path):
    cli, _ = reviewed
    made = cli("report", "--dataset", "r", "--review", "77", "--lang", "en", "--out", tmp_path / "x.pdf")
    assert made.returncode == 2 and "There is no review 77" in made.stderr
    assert not (tmp_path / "x.pdf").exists()
