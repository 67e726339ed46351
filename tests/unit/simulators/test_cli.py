from __future__ import annotations

import pytest
import typer
from sentio.simulators.cli import FAULT_HELP, parse_fault
from sentio.simulators.faults import KINDS
from sentio.simulators.fleet import (
    FaultError,
    SensorTarget,
    StationTarget,
    build_fleet,
)
from sentio.simulators.line import STATIONS
from sentio.simulators.pump import NOMINAL, BearingWear, Dead, Drift, Spike, Stuck
from sentio.simulators.serve import Broker, parse_mqtt_url
from sentio.simulators.zigbee import MODELS
from typer.testing import CliRunner

from sentio.cli import app


def test_faults_parse_with_their_arguments() -> None:
    assert parse_fault("1=wear:2") == (1, BearingWear(2.0))
    assert parse_fault("2=wear") == (2, BearingWear())
    assert parse_fault("1=drift:pressure:0.5") == (1, Drift("pressure", 0.5))
    assert parse_fault("3=stuck:flow") == (3, Stuck("flow"))
    assert parse_fault("1=spike:vibration:5") == (1, Spike("vibration", 5.0))
    assert parse_fault("1=spike:vibration:5:0.1") == (1, Spike("vibration", 5.0, 0.1))
    assert parse_fault("4=dead") == (4, Dead())
    assert parse_fault("pump:2=dead") == (2, Dead())


def test_line_and_zigbee_targets_parse() -> None:
    assert parse_fault("line:Oven=drift:temperature:5") == (
        StationTarget("Oven"),
        Drift("temperature", 5.0),
    )
    assert parse_fault("line:press=wear:0.5") == (StationTarget("press"), BearingWear(0.5))
    assert parse_fault("line:Conveyor=dead") == (StationTarget("Conveyor"), Dead())
    assert parse_fault("zigbee:climate-1=dead") == (SensorTarget("climate-1"), Dead())
    assert parse_fault("zigbee:kitchen/door=spike:battery:-20") == (
        SensorTarget("kitchen/door"),
        Spike("battery", -20.0),
    )


@pytest.mark.parametrize(
    "text",
    [
        "wear",
        "x=wear",
        "1=melt",
        "1=spike:vibration",
        "1=stuck:colour",
        "1=dead:now",
        "1=wear:1:2",
        "1=drift:flow",
        "1=spike:flow:big",
    ],
)
def test_bad_faults_say_what_is_expected(text: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"UNIT=FAULT|unknown fault"):
        parse_fault(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("line:Kiln=dead", "no station 'Kiln'"),
        ("line:Oven=stuck:flow", "unknown fault metric 'flow'"),
        ("line:=dead", "not a target"),
        ("zigbee:x=stuck:vibration", "unknown fault metric 'vibration'"),
        ("modbus:1=dead", "not a target"),
    ],
)
def test_bad_targets_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message):
        parse_fault(text)


def test_the_fleet_checks_that_each_fault_has_a_device_it_fits() -> None:
    fleet = build_fleet(pumps=2, line=True, zigbee=3)
    assert sorted(fleet.pumps) == [1, 2]
    assert fleet.line is not None and list(fleet.line.stations) == ["Conveyor", "Press", "Oven"]
    assert list(fleet.sensors) == ["climate-1", "contact-2", "occupancy-3"]
    fleet.check([parse_fault("2=wear"), parse_fault("line:oven=dead")])
    bad = {
        "3=dead": "no pump with unit id 3",
        "zigbee:climate-9=dead": "no Zigbee sensor named 'climate-9'",
        "zigbee:contact-2=drift:temperature:1": "contact-2: no metric 'temperature'",
        "zigbee:climate-1=wear": "climate-1: this device has no moving parts",
        "line:Oven=drift:pressure:1": "unknown fault metric",
    }
    for text, message in bad.items():
        with pytest.raises((FaultError, typer.BadParameter), match=message):
            fleet.check([parse_fault(text)])
    with pytest.raises(FaultError, match="no line is simulated"):
        build_fleet(pumps=1, line=False, zigbee=0).check([parse_fault("line:Oven=dead")])


def test_inject_says_what_went_where() -> None:
    fleet = build_fleet(pumps=1, line=True, zigbee=1)
    said = fleet.inject([parse_fault("1=dead"), parse_fault("line:Press=stuck:pressure")])
    assert said == [
        "injected Dead() into pump-1",
        "injected Stuck(metric='pressure') into Line1.Press",
    ]
    assert fleet.pumps[1].dead
    assert fleet.line is not None
    assert fleet.line.station("press").faults.active == (Stuck("pressure"),)


def test_help_names_every_metric_a_fault_may_use() -> None:
    metrics = set(NOMINAL) | {s.metric for spec in STATIONS for s in spec.signals}
    metrics |= {m for model in MODELS.values() for m in model.metrics}
    assert KINDS in FAULT_HELP
    assert [m for m in sorted(metrics) if m not in FAULT_HELP] == []
    assert all(spec.name in FAULT_HELP for spec in STATIONS)


def test_mqtt_urls_parse() -> None:
    assert parse_mqtt_url("mqtt://127.0.0.1:1884") == Broker("127.0.0.1", 1884)
    assert parse_mqtt_url("mqtt://broker") == Broker("broker", 1883)
    assert parse_mqtt_url("mqtt://u%40x:p%3Aw@h:1") == Broker("h", 1, "u@x", "p:w")
    for bad in ("http://h", "mqtt://", "mqtt://h:port", "mqtt://h/path", "mqtts://h"):
        with pytest.raises(ValueError, match=r"mqtt://|port"):
            parse_mqtt_url(bad)


def test_the_command_rejects_bad_options_before_serving() -> None:
    runner = CliRunner()
    cases = {
        ("--pumps", "0"): "nothing to simulate",
        ("--fault", "line:Oven=dead"): "no line is simulated",
        ("--zigbee", "1", "--mqtt-url", "tcp://x"): "mqtt://",
        ("--fault", "1=melt"): "unknown fault",
    }
    for args, message in cases.items():
        result = runner.invoke(app, ["simulate", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()), result.output
