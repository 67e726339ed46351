"""`sentio bench ai` at its default profile on a few series of the real VictoriaMetrics."""

from __future__ import annotations

import pytest

from sentio.bench.ai import CHANNELS, PROFILES, measure
from sentio.config import SentioConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def test_the_default_profile_fits_a_week_and_scores_every_series_and_device(
    stack_config_live: SentioConfig,
) -> None:
    series = 3 * CHANNELS
    got = await measure(
        stack_config_live, PROFILES["default"], series, 1, lambda _m: None, None, [1, 2]
    )
    assert got.profile == "default" and got.points_per_series == 7 * 1440 + 1 + 3
    # 10,084 points: each page read in two time chunks, after the listing
    assert got.fit_requests == 1 + 2
    # the warm infer cycle: the listing and one page of its widest window, nothing else
    assert got.infer_requests == 2
    assert got.scored_series == series + series // CHANNELS, "every series and every device"
    one, two = got.bytes_per_worker["1"], got.bytes_per_worker["2"]
    assert len(one) == 1 and len(two) == 2
    assert max(two) < one[0], "each of two workers reads less than one alone"
