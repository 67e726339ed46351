"""Render NAB results beside the published scoreboard."""

from __future__ import annotations

from rich.table import Table
from sentio.ai_engine.nab.evaluate import ProfileResult
from sentio.ai_engine.nab.scoreboard import (
    BEST_PUBLISHED,
    NUMENTA_HTM,
    RANDOM_CUT_FOREST,
    Entry,
    ranked,
)

TARGET = 75.0


def as_entry(name: str, results: dict[str, ProfileResult]) -> Entry:
    """Return our results as a scoreboard entry."""
    return Entry(
        name,
        results["standard"].score,
        results["reward_low_FP_rate"].score,
        results["reward_low_FN_rate"].score,
    )


def as_json(results: dict[str, ProfileResult]) -> dict[str, float]:
    """Return the normalised score of each profile, keyed by profile name."""
    return {name: round(result.score, 3) for name, result in results.items()}


def scoreboard_table(ours: Entry) -> Table:
    """Return a table of the published scoreboard with ``ours`` ranked among it."""
    table = Table(title="NAB scoreboard (normalised, higher is better)")
    table.add_column("Detector")
    for column in ("Standard", "Low FP", "Low FN"):
        table.add_column(column, justify="right")
    for entry in ranked(ours):
        style = "bold green" if entry is ours else None
        table.add_row(
            entry.detector,
            f"{entry.standard:.1f}",
            f"{entry.low_fp:.1f}",
            f"{entry.low_fn:.1f}",
            style=style,
        )
    return table


def standing(ours: Entry) -> list[str]:
    """Return one line per reference detector saying where ``ours`` stands (standard profile)."""
    lines = []
    for ref in (BEST_PUBLISHED, NUMENTA_HTM, RANDOM_CUT_FOREST):
        gap = ours.standard - ref.standard
        side = "above" if gap > 0 else "below" if gap < 0 else "level with"
        lines.append(f"{abs(gap):.1f} {side} {ref.detector} ({ref.standard:.1f})")
    verdict = "met" if ours.standard > TARGET else "not met"
    lines.append(f"target: standard above {TARGET:.0f}: {verdict} ({ours.standard:.1f})")
    return lines


def details(results: dict[str, ProfileResult]) -> list[str]:
    """Return one line per profile with its threshold and counts."""
    return [
        f"{r.profile}: {r.score:.2f} at threshold {r.threshold:.4f} "
        f"(TP {r.tp}, FP {r.fp}, FN {r.fn}; raw {r.raw:.2f}, null {r.null:.2f}, "
        f"perfect {r.perfect:.2f})"
        for r in results.values()
    ]
