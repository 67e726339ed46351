from __future__ import annotations

from sentio.ai_engine.writer import Finding, points


def test_an_anomalous_device_writes_its_top_three_drivers() -> None:
    finding = Finding(
        {"device": "pump-2"}, 1_700_000_000, "multivariate", "pumps", score=3.2,
        drivers={"vibration": 0.6, "pressure": 0.25, "valve": 0.1, "flow": 0.05},
    )  # fmt: skip
    drivers = {p.attributes["driver"]: p.value for p in points(finding) if "driver" in p.attributes}
    assert drivers == {"vibration": 0.6, "pressure": 0.25, "valve": 0.1}
    named = {p.name for p in points(finding) if "driver" in p.attributes}
    assert named == {"sentio.ai.anomaly_driver"}


def test_a_finding_without_drivers_writes_none() -> None:
    finding = Finding({"device": "pump-1"}, 1_700_000_000, "multivariate", "pumps", score=0.3)
    assert not [p for p in points(finding) if "driver" in p.attributes]
