"""The alert bench's settings: the rig's and the defaults a user gets, and the p50's bound."""

from __future__ import annotations

from sentio.bench.alert import default_settings, faulty, go_seconds, rig_settings
from sentio.config import AlertingConfig


def test_go_durations_in_seconds() -> None:
    assert go_seconds("2m") == 120 and go_seconds("1m30s") == 90 and go_seconds("500ms") == 0.5
    assert go_seconds("1h") == 3600 and go_seconds("0s") == 0


def test_the_defaults_are_what_a_user_gets_and_bound_the_p50() -> None:
    s = default_settings(3)
    alerting = AlertingConfig()
    assert (s.anomaly_for, s.anomaly_hold, s.group_wait) == (
        alerting.anomaly_for, alerting.anomaly_hold, alerting.group_wait,
    )  # fmt: skip
    assert s.evaluation_interval == "15s" and s.infer_every_s == 60
    assert s.export_interval_s is None and s.flush_interval_s is None
    assert s.bound_s == go_seconds(alerting.anomaly_for) + 2 * 15 + go_seconds("30s") + 10
    assert s.parallel == 3 and faulty(3) == ["alert-pump-2", "alert-pump-3", "alert-pump-4"]


def test_the_rig_keeps_its_short_settings() -> None:
    s = rig_settings("10s")
    assert (s.anomaly_for, s.anomaly_hold, s.group_wait, s.infer_every_s) == ("8s", "0s", "1s", 2)
    assert s.bound_s == 8 + 20 + 1 + 10 and s.parallel == 1
