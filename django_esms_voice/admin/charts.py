"""Charts drawn on the server: a status breakdown bar (CSS) and calls over time (inline SVG).

No script and no external file: the page reads the same without JavaScript. Each chart says
what it shows in words too (an aria-label, an SVG title and description, a table), so that a
screen reader, a print-out and a translation all carry the numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from ..services.reporting import Bucket
from .readable import count, share

#: The SVG's drawing box; it scales to the page's width.
WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 36


@dataclass(frozen=True)
class Part:
    """One part of a whole: a status and how many calls have it."""

    key: str
    label: str | Promise
    count: int


def percent(part: int, total: int) -> float:
    """The share of part in total, in percent (0 when there is no total)."""
    return 100.0 * part / total if total else 0.0


def breakdown_text(parts: Sequence[Part]) -> str:
    """The bar in words: "Answered: 600 (60.0%), No answer: 300 (30.0%), ..."."""
    total = sum(part.count for part in parts)
    return ", ".join(
        f"{part.label}: {count(part.count)} ({share(part.count, total)})"
        for part in parts
        if part.count
    )


def status_bar(parts: Sequence[Part]) -> SafeString:
    """A bar split by status, each part as wide as its share; the legend below is its text."""
    total = sum(part.count for part in parts)
    segments = format_html_join(
        "",
        '<span class="esms-voice-bar-part esms-voice-part-{}" data-part="{}" '
        'style="width: {}%" title="{}"></span>',
        ((p.key, p.key, f"{percent(p.count, total):.3f}", f"{p.label}: {p.count}") for p in parts),
    )
    legend = format_html_join(
        "",
        '<li data-legend="{}"{}><span class="esms-voice-swatch esms-voice-part-{}" '
        'aria-hidden="true"></span>{} <strong data-count="{}">{}</strong> '
        '<span data-share="{}">{}</span></li>',
        (
            (
                p.key,
                "" if p.count else mark_safe(" hidden"),  # shown again when calls reach it
                p.key,
                p.label,
                p.key,
                count(p.count),
                p.key,
                share(p.count, total),
            )
            for p in parts
        ),
    )
    return format_html(
        '<div class="esms-voice-bar" role="img" aria-label="{}">{}</div>'
        '<ul class="esms-voice-legend">{}</ul>',
        breakdown_text(parts),
        segments,
        legend,
    )


def mini_bar(parts: Sequence[Part]) -> SafeString:
    """A small status bar for a table row, its numbers in words for a screen reader."""
    total = sum(part.count for part in parts)
    segments = format_html_join(
        "",
        '<span class="esms-voice-bar-part esms-voice-part-{}" style="width: {}%"></span>',
        ((p.key, f"{percent(p.count, total):.3f}") for p in parts if p.count),
    )
    return format_html(
        '<div class="esms-voice-bar esms-voice-mini-bar" role="img" aria-label="{}" title="{}">'
        "{}</div>",
        breakdown_text(parts),
        breakdown_text(parts),
        segments,
    )


def time_label(moment: dt.datetime, step: dt.timedelta) -> str:
    """A bucket's start as the axis shows it: the time, the day and hour, or the day."""
    local = timezone.localtime(moment)
    if step >= dt.timedelta(days=1):
        return formats.date_format(local, "SHORT_DATE_FORMAT")
    if step >= dt.timedelta(hours=1):
        return formats.date_format(local, "SHORT_DATETIME_FORMAT")
    return formats.date_format(local, "H:i")


def timeline_chart(
    buckets: Sequence[Bucket],
    series: Sequence[Part],
    step: dt.timedelta,
    *,
    title: str | Promise,
) -> SafeString:
    """Columns of calls per time slice, stacked by series, with axes and a table of the same."""
    if not buckets:
        return format_html('<p class="help">{}</p>', gettext("No call has ended yet."))
    peak = max(sum(bucket.counts.values()) for bucket in buckets) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(buckets)
    bar_w = min(max(slot * 0.8, 1.0), 40.0)  # one bar alone stays a bar, not a wall
    rects = []
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + (slot - bar_w) / 2
        y = float(TOP + plot_h)
        for part in series:
            n = bucket.counts.get(part.key, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            label = f"{time_label(bucket.start, step)} — {part.label}: {count(n)}"
            rects.append((part.key, f"{x:.1f}", f"{y:.1f}", f"{bar_w:.1f}", f"{h:.1f}", label))
    bars = format_html_join(
        "",
        '<rect class="esms-voice-part-{}" x="{}" y="{}" width="{}" height="{}">'
        "<title>{}</title></rect>",
        rects,
    )
    ticks = {0, len(buckets) // 2, len(buckets) - 1}
    x_labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (
                f"{LEFT + (i + 0.5) * slot:.1f}",
                HEIGHT - BOTTOM + 18,
                time_label(buckets[i].start, step),
            )
            for i in sorted(ticks)
        ),
    )
    peak_text = count(peak)
    description = gettext("%(count)d time slices; the busiest had %(peak)s calls.") % {
        "count": len(buckets),
        "peak": peak_text,
    }
    svg = format_html(
        '<svg class="esms-voice-timeline-chart" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="esms-voice-tl-title esms-voice-tl-desc">'
        '<title id="esms-voice-tl-title">{title}</title><desc id="esms-voice-tl-desc">{desc}</desc>'
        '<line class="esms-voice-axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>'
        '<text x="{lx}" y="{ty}" text-anchor="end">{peak}</text>'
        '<text x="{lx}" y="{base}" text-anchor="end">0</text>'
        "{bars}{x_labels}</svg>",
        w=WIDTH,
        h=HEIGHT,
        title=title,
        desc=description,
        left=LEFT,
        right=WIDTH - RIGHT,
        base=TOP + plot_h,
        lx=LEFT - 6,
        ty=TOP + 10,
        peak=peak_text,
        bars=bars,
        x_labels=x_labels,
    )
    return format_html("{}{}", svg, _timeline_table(buckets, series, step))


def _timeline_table(
    buckets: Sequence[Bucket], series: Sequence[Part], step: dt.timedelta
) -> SafeString:
    """The chart's numbers as a table, folded away under a summary."""
    head = format_html_join("", '<th scope="col">{}</th>', ((part.label,) for part in series))
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}</tr>',
        (
            (
                time_label(bucket.start, step),
                format_html_join(
                    "", "<td>{}</td>", ((count(bucket.counts.get(part.key, 0)),) for part in series)
                ),
            )
            for bucket in buckets
        ),
    )
    return format_html(
        '<details class="esms-voice-chart-table"><summary>{}</summary>'
        '<table><thead><tr><th scope="col">{}</th>{}</tr></thead><tbody>{}</tbody></table>'
        "</details>",
        gettext("The chart as a table"),
        gettext("from"),
        head,
        rows,
    )
