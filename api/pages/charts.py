"""Chart geometry for the finance page: server-drawn inline SVG, no script and no library.

Each chart is laid out here (scales, ticks, bar and point positions) and drawn by the macros
of templates/pages/_charts.html.j2, with a title, a description and the same figures as a
table for screen readers. Positions are exact decimals rounded to a tenth of a pixel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from babel.numbers import format_compact_decimal

WIDTH = Decimal(640)
HEIGHT = Decimal(260)
LEFT, RIGHT, TOP, BOTTOM = Decimal(56), Decimal(16), Decimal(14), Decimal(44)
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
MAX_BAR = Decimal(72)
_TENTH = Decimal("0.1")


def _px(value: Decimal) -> str:
    return str(value.quantize(_TENTH))


@dataclass(frozen=True)
class Tick:
    at: str  # the pixel position along its axis
    text: str


@dataclass(frozen=True)
class Axis:
    low: Decimal
    high: Decimal
    ticks: list[Decimal]

    def fraction(self, value: Decimal) -> Decimal:
        return (value - self.low) / (self.high - self.low)


def axis(low: Decimal, high: Decimal, *, count: int = 4, whole: bool = False) -> Axis:
    """A range covering [low, high] (and 0) in `count` or so steps of 1, 2 or 5 x 10^k;
    `whole`: steps of at least 1 (for counts: no tick at half a deal)."""
    low, high = min(low, Decimal(0)), max(high, Decimal(0))
    if high == low:
        high = low + 1
    raw = (high - low) / count
    base = Decimal(1).scaleb(raw.adjusted())
    step = next(base * m for m in (1, 2, 5, 10) if base * m >= raw)
    if whole:
        step = max(step, Decimal(1))
    first = (low / step).to_integral_value(ROUND_FLOOR)
    last = (high / step).to_integral_value(ROUND_CEILING)
    ticks = [step * i for i in range(int(first), int(last) + 1)]
    return Axis(low=ticks[0], high=ticks[-1], ticks=ticks)


def y_at(a: Axis, value: Decimal) -> Decimal:
    return TOP + PLOT_H - a.fraction(value) * PLOT_H


def x_at(a: Axis, value: Decimal) -> Decimal:
    return LEFT + a.fraction(value) * PLOT_W


def short(value: Decimal) -> str:
    """An axis label: 54000 as 54K, 1200000 as 1.2M."""
    return str(format_compact_decimal(value, locale="en_US", fraction_digits=1))


def percent_label(value: Decimal) -> str:
    return f"{value.normalize():f}%"


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value as a reader should see it
    x: str
    y: str
    width: str
    height: str
    label_x: str


@dataclass(frozen=True)
class Marker:
    x: str
    y: str
    text: str


@dataclass
class Chart:
    """One chart: what it shows in words, its drawing, its table, and where to download it."""

    key: str
    title: str
    description: str
    x_label: str
    y_label: str
    columns: list[str]
    rows: list[list[str]]
    downloads: list[tuple[str, str]]  # (link text, URL)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    line: str = ""  # an SVG polyline's points
    line_label: str = ""
    markers: list[Marker] = field(default_factory=list)
    points: list[Marker] = field(default_factory=list)
    empty: bool = False
    baseline: str = ""

    @property
    def width(self) -> str:
        return str(WIDTH)

    @property
    def height(self) -> str:
        return str(HEIGHT)


def bar_chart(
    chart: Chart,
    bars: Sequence[tuple[str, Decimal, str]],
    *,
    tick_text: Callable[[Decimal], str],
    line: Sequence[tuple[Decimal | None, str]] = (),
    whole: bool = False,
) -> Chart:
    """Lay out `bars` (label, value, value as text) on `chart`, and `line` (one value or None
    per bar, with its text) as a polyline over the bars' centres."""
    values = [v for _, v, _ in bars] + [v for v, _ in line if v is not None]
    chart.empty = not bars
    y = axis(min(values, default=Decimal(0)), max(values, default=Decimal(0)), whole=whole)
    chart.y_ticks = [Tick(_px(y_at(y, t)), tick_text(t)) for t in y.ticks]
    zero = y_at(y, Decimal(0))
    chart.baseline = _px(zero)
    slot = PLOT_W / max(len(bars), 1)
    # A bar fills four fifths of its slot, but a lone bar is not a wall.
    bar_width = min(slot * 4 / 5, MAX_BAR)
    for i, (label, value, text) in enumerate(bars):
        top = y_at(y, value)
        chart.bars.append(
            Bar(
                label=label,
                text=text,
                x=_px(LEFT + slot * i + (slot - bar_width) / 2),
                y=_px(min(top, zero)),
                width=_px(bar_width),
                height=_px(abs(zero - top)),
                label_x=_px(LEFT + slot * i + slot / 2),
            )
        )
    points = []
    for i, (level, text) in enumerate(line):
        if level is None:
            continue
        cx, cy = _px(LEFT + slot * i + slot / 2), _px(y_at(y, level))
        points.append(f"{cx},{cy}")
        chart.markers.append(Marker(cx, cy, text))
    chart.line = " ".join(points)
    return chart


def scatter_chart(
    chart: Chart,
    points: Sequence[tuple[str, Decimal, Decimal, str]],
    *,
    tick_text: Callable[[Decimal], str],
) -> Chart:
    """Lay out `points` (label, x, y, text) on `chart`, both axes through 0."""
    chart.empty = not points
    x = axis(Decimal(0), max((p[1] for p in points), default=Decimal(0)))
    y = axis(
        min((p[2] for p in points), default=Decimal(0)),
        max((p[2] for p in points), default=Decimal(0)),
    )
    chart.x_ticks = [Tick(_px(x_at(x, t)), tick_text(t)) for t in x.ticks]
    chart.y_ticks = [Tick(_px(y_at(y, t)), tick_text(t)) for t in y.ticks]
    chart.baseline = _px(y_at(y, Decimal(0)))
    chart.points = [
        Marker(_px(x_at(x, px)), _px(y_at(y, py)), f"{label}: {text}")
        for label, px, py, text in points
    ]
    return chart
