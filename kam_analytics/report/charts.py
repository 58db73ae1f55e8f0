"""The report's charts as SVG, drawn here without a browser: the Pareto curve of a review's
twelve months and the waterfall of its revenue bridge. Labels are text (the PDF keeps them as
text in the embedded font), escaped: a label may be user text."""
from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
FONT = "font-family=\"Noto Sans CJK SC, Noto Sans SC, sans-serif\" font-size=\"11\""
BLUE, GREEN, RED, GREY = "#2f6db5", "#2e8b57", "#c0392b", "#7f8c8d"


def _frame(body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">' + "".join(body) + "</svg>")


def _text(x: float, y: float, label: str, anchor: str = "middle", fill: str = "#333") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" {FONT}>{escape(label)}</text>'


def pareto(points: list[list[float]], x_label: str, y_label: str, title: str) -> str:
    """The Pareto curve: customer share (x, 0–100%) against cumulative revenue share (y), with
    the 80% line; ``points`` as ``analytics.reviews.pareto_points`` gives them."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> tuple[float, float]:
        return LEFT + x * plot_w, TOP + (1 - y) * plot_h

    body = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>']
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x, y = at(tick, 0)
        body.append(_text(x, y + 14, f"{tick * 100:.0f}%"))
        x, y = at(0, tick)
        body.append(_text(x - 6, y + 4, f"{tick * 100:.0f}%", anchor="end"))
    x0, y80 = at(0, 0.8)
    body.append(f'<line x1="{x0:.1f}" y1="{y80:.1f}" x2="{LEFT + plot_w:.1f}" y2="{y80:.1f}" stroke="{GREY}" '
                f'stroke-dasharray="4 3"/>')
    if points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{at(x, y)[0]:.1f},{at(x, y)[1]:.1f}" for i, (x, y) in enumerate(points))
        body.append(f'<path d="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    body.append(_text(LEFT + plot_w / 2, HEIGHT - 6, x_label))
    body.append(f'<text x="12" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" fill="#333" {FONT} '
                f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>')
    return _frame(body, title)


def waterfall(steps: list[tuple[str, float, str]], format_value, title: str) -> str:
    """A waterfall of ``steps`` (label, value, kind): kind 'total' draws a bar from 0 (start,
    end), 'up' and 'down' a floating bar from the running level (up: + value, down: − value),
    'extra' a bar stacked on the level reached (new accounts, after the end). Values are drawn
    with ``format_value``."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    level, bars = 0.0, []
    for label, value, kind in steps:
        if kind == "total":
            low, high, level = 0.0, value, value
        elif kind == "up" or kind == "extra":
            low, high = level, level + value
            level = high
        else:
            low, high = level - value, level
            level = low
        bars.append((label, value, kind, min(low, high), max(low, high)))
    top = max([b[4] for b in bars] + [1e-9])
    bottom = min([b[3] for b in bars] + [0.0])
    span = top - bottom or 1.0
    slot = plot_w / max(len(bars), 1)

    def y_of(v: float) -> float:
        return TOP + (top - v) / span * plot_h

    body = [f'<line x1="{LEFT}" y1="{y_of(0):.1f}" x2="{LEFT + plot_w}" y2="{y_of(0):.1f}" stroke="#999"/>']
    colours = {"total": BLUE, "up": GREEN, "down": RED, "extra": GREEN}
    for i, (label, value, kind, low, high) in enumerate(bars):
        x = LEFT + i * slot + slot * 0.15
        height = max(y_of(low) - y_of(high), 0.5)
        body.append(f'<rect x="{x:.1f}" y="{y_of(high):.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
                    f'fill="{colours[kind]}"/>')
        sign = "" if kind == "total" or abs(value) < 0.005 else ("+" if kind in ("up", "extra") else "−")
        body.append(_text(x + slot * 0.35, y_of(high) - 4, sign + format_value(value)))
        body.append(_text(x + slot * 0.35, HEIGHT - 22, label))
    return _frame(body, title)
