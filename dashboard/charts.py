"""History charts as inline SVG, drawn on the server by pygal.

pygal embeds a script from a CDN and a ``<style>`` element by default. The
console's Content-Security-Policy allows neither, so every chart is rendered
with ``js=[]`` and ``css=[]``, and an XML filter removes what remains: the
``<style>`` and ``<script>`` elements, ``style`` attributes and comments. The
colours come from ``static/console.css`` instead, so charts follow the light
or dark scheme of the page. pygal shows values in a tooltip drawn by that
script, so the filter gives every data point an SVG ``<title>`` that the
browser shows on hover instead.

Rendered charts are cached by their data, because the overview redraws every
topic's sparkline on each refresh while the samples change once per interval.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from xml.etree.ElementTree import Element, SubElement

import pygal  # type: ignore[import-untyped]
from markupsafe import Markup

from .history import HOUR, Point, Span, add_up

CHART_WIDTH = 480
CHART_HEIGHT = 240
SPARK_WIDTH = 160
SPARK_HEIGHT = 32
CACHE_SIZE = 1024

# Series names, in the order of their colours (.color-0, .color-1, ...) in
# console.css.
RATE_SERIES = ("pushed", "completed", "failed")
_REMOVED = ("style", "script", "desc")

Series = tuple[tuple[str, tuple[float | None, ...]], ...]


def rates_chart(points: Sequence[Point], span: Span) -> Markup:
    """Return the chart of jobs pushed, completed and failed per minute."""
    series = tuple(
        (name, tuple(getattr(point, name) for point in points)) for name in RATE_SERIES
    )
    labels = _labels(points, span)
    title = "Jobs pushed, completed and failed per minute"
    return Markup(_line_chart(title, series, labels, span.name, "jobs/min"))


def pending_chart(points: Sequence[Point], span: Span) -> Markup:
    """Return the chart of the peak pending count per bucket."""
    values = tuple(
        None if point.pending is None else float(point.pending) for point in points
    )
    series = (("pending", values),)
    labels = _labels(points, span)
    return Markup(_line_chart("Pending jobs", series, labels, span.name, "jobs"))


def age_chart(points: Sequence[Point], span: Span) -> Markup:
    """Return the chart of the oldest pending job's age in seconds."""
    series = (("oldest pending", tuple(p.oldest_pending_age for p in points)),)
    labels = _labels(points, span)
    title = "Age of the oldest pending job in seconds"
    return Markup(_line_chart(title, series, labels, span.name, "s"))


def sparkline(points: Sequence[Point]) -> Markup:
    """Return a small chart of jobs pushed and completed per minute.

    It has no dots to hover, so its ``<title>`` sums up the whole span.
    """
    series = tuple(
        (name, tuple(getattr(point, name) for point in points))
        for name in RATE_SERIES[:2]
    )
    return Markup(_sparkline(series, _sparkline_title(points)))


def sparklines(
    by_topic: Mapping[str, Sequence[Point]],
) -> tuple[dict[str, Markup], Markup | None]:
    """Return the sparkline of every topic and of all topics added up."""
    drawn = {name: sparkline(points) for name, points in by_topic.items()}
    overall = sparkline(add_up(by_topic.values())) if by_topic else None
    return drawn, overall


def _sparkline_title(points: Sequence[Point]) -> str:
    minutes = len(points)
    totals = []
    for name in RATE_SERIES:
        values = [getattr(point, name) for point in points]
        known = [value for value in values if value is not None]
        if not known:
            return f"No samples in the last {minutes} minutes"
        totals.append(f"{format_value(sum(known))} {name}")
    return f"Last {minutes} minutes: " + ", ".join(totals)


def sparkline_cache_info() -> functools._CacheInfo:
    """Return the hits and misses of the sparkline cache."""
    return _sparkline.cache_info()


def clear_cache() -> None:
    """Forget every rendered chart, so that the next request draws it again."""
    _line_chart.cache_clear()
    _sparkline.cache_clear()


def format_value(value: float | None) -> str:
    """Return *value* as chart text: whole numbers plain, others to 0.1."""
    if value is None:
        return "no data"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


@functools.lru_cache(maxsize=CACHE_SIZE)
def _line_chart(
    title: str, series: Series, labels: tuple[str, ...], span: str, unit: str
) -> str:
    chart = pygal.Line(
        _config(),
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        x_labels=labels,
        x_labels_major_every=15 if span == HOUR.name else 36,
        show_minor_x_labels=False,
        include_x_axis=True,
        dots_size=2,
        legend_at_bottom=True,
        legend_at_bottom_columns=len(series),
        truncate_legend=-1,
        truncate_label=-1,
    )
    for name, values in series:
        chart.add(name, list(values))
    names = [name for name, _ in series]
    chart.add_xml_filter(_for_console(title, names, unit))
    return str(chart.render(is_unicode=True))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _sparkline(series: Series, title: str) -> str:
    chart = pygal.Line(_config(), include_x_axis=True)
    for name, values in series:
        chart.add(name, list(values))
    chart.add_xml_filter(_for_console(title, [], ""))
    svg = chart.render_sparkline(
        is_unicode=True, width=SPARK_WIDTH, height=SPARK_HEIGHT, margin=2
    )
    return str(svg)


def _config() -> pygal.Config:
    return pygal.Config(
        js=[],
        css=[],
        no_prefix=True,
        disable_xml_declaration=True,
        formatter=format_value,
        classes=["pygal-chart", "chart"],
    )


def _labels(points: Sequence[Point], span: Span) -> tuple[str, ...]:
    # Times in UTC, like every other time on the console. A day's labels
    # carry no date, because the span ends now.
    return tuple(time.strftime("%H:%M", time.gmtime(point.at)) for point in points)


def _for_console(
    title: str, names: list[str], unit: str
) -> Callable[[Element], Element]:
    """Return pygal's XML filter that makes its SVG fit the console's CSP."""

    def strip(svg: Element) -> Element:
        _add_point_titles(svg, names, unit)
        _remove_extras(svg)
        svg.set("role", "img")
        svg.set("aria-label", title)
        chart_title = svg.find("title")
        if chart_title is not None:
            chart_title.text = title
        return svg

    return strip


def _remove_extras(svg: Element) -> None:
    # Besides what the CSP forbids, this drops the empty <defs> and the
    # <desc> elements that only pygal's script reads, which are most of the
    # markup of a chart with many points.
    svg.attrib.pop("id", None)
    for parent in svg.iter():
        parent.attrib.pop("style", None)
        for child in list(parent):
            # Comments have a function, not a string, as their tag.
            if not isinstance(child.tag, str) or child.tag in _REMOVED:
                parent.remove(child)
    for defs in svg.findall("defs"):
        if len(defs) == 0:
            svg.remove(defs)


def _add_point_titles(svg: Element, names: list[str], unit: str) -> None:
    # pygal writes each data point as <g class="dots"> holding the circle and
    # <desc> elements with the formatted value and the x label, inside a
    # <g class="series serie-N"> per series.
    for group in svg.iter("g"):
        classes = group.get("class", "").split()
        index = next((c[6:] for c in classes if c.startswith("serie-")), None)
        if index is None or not index.isdigit() or int(index) >= len(names):
            continue
        name = names[int(index)]
        for dots in group.iter("g"):
            if dots.get("class") != "dots":
                continue
            value = _desc_text(dots, "value")
            label = _desc_text(dots, "x_label")
            title = SubElement(dots, "title")
            title.text = f"{name} at {label} UTC: {value} {unit}"


def _desc_text(dots: Element, kind: str) -> str:
    for desc in dots.iter("desc"):
        if kind in desc.get("class", "").split():
            return desc.text or ""
    return ""
