from __future__ import annotations

import json
import math
import random

import pytest
from sentio.connectors.contract import Reading
from sentio.connectors.mqtt.config import BrokerConfig
from sentio.connectors.zigbee2mqtt import Zigbee2MqttConfig, Zigbee2MqttDecoder, device_metadata
from sentio.simulators.faults import (
    BearingWear,
    Dead,
    Drift,
    FaultSet,
    Spike,
    Stuck,
    WearEffect,
    parse_kind,
)
from sentio.simulators.line import Line
from sentio.simulators.pump import Pump
from sentio.simulators.signals import clamp, daily, lag, noisy, walk
from sentio.simulators.zigbee import (
    COMMON,
    EMPTY_BATTERY_MV,
    MV_PER_PERCENT,
    ZigbeeSensor,
    sensors,
)


def test_signal_building_blocks() -> None:
    assert noisy(None, 5.0, 1.0) == 5.0
    assert noisy(random.Random(1), 5.0, 0.0) == 5.0
    assert noisy(random.Random(1), 5.0, 1.0) != 5.0
    assert lag(0.0, 10.0, 60.0, 60.0) == pytest.approx(10.0 * (1 - math.exp(-1)))
    assert lag(0.0, 10.0, 1.0, 0.0) == 10.0
    assert daily(15 * 3600.0, 20.0, 2.0) == pytest.approx(22.0)
    assert daily(3 * 3600.0, 20.0, 2.0) == pytest.approx(18.0)
    assert clamp(5.0, 0.0, 1.0) == 1.0 and clamp(-5.0, 0.0, 1.0) == 0.0
    rng = random.Random(2)
    value = 50.0
    for _ in range(10_000):
        value = walk(rng, value, 5.0, 40.0, 60.0)
        assert 40.0 <= value <= 60.0


def test_fault_kinds_parse() -> None:
    assert parse_kind("wear") == BearingWear()
    assert parse_kind("spike:x:2:0.5") == Spike("x", 2.0, 0.5)
    for bad in ("wear:fast", "drift:x", "stuck", "spike:x", "dead:1", "melt"):
        with pytest.raises(ValueError, match="unknown fault or arguments"):
            parse_kind(bad)


def test_faults_change_values_as_described() -> None:
    faults = FaultSet(["a", "b", "c"])
    rng = random.Random(0)
    base = {"a": 10.0, "b": 20.0, "c": 30.0}
    faults.inject(BearingWear(2.0), 0.0, base)
    faults.inject(Drift("b", 3.0), 0.0, base)
    faults.inject(Stuck("c"), 0.0, base)
    faults.inject(Spike("c", 100.0), 0.0, base)
    wear = {"a": WearEffect(1.0, 0.5)}
    got = faults.apply({"a": 10.0, "b": 20.0, "c": 99.0}, 3600.0, rng, wear)
    assert got == {"a": 10.0 + 2.0 + 0.5 * 4.0, "b": 23.0, "c": 30.0}
    assert not faults.dead
    faults.inject(Dead(), 3600.0, got)
    assert faults.dead
    faults.clear()
    assert faults.active == ()


def test_spike_probability_and_fault_checks() -> None:
    faults = FaultSet(["a"], wear=False)
    faults.inject(Spike("a", 1.0, probability=0.0), 0.0, {"a": 0.0})
    rng = random.Random(0)
    assert all(faults.apply({"a": 0.0}, 1.0, rng, {}) == {"a": 0.0} for _ in range(100))
    with pytest.raises(ValueError, match="no metric 'z'; one of a"):
        faults.check(Drift("z", 1.0))
    with pytest.raises(ValueError, match="no moving parts"):
        faults.check(BearingWear())


def test_pump_keeps_its_wear_model() -> None:
    pump = Pump(noise=False)
    assert pump.values == {
        "vibration": 2.5,
        "bearing_temperature": 45.0,
        "motor_current": 12.0,
        "pressure": 4.2,
        "flow": 35.0,
    }
    pump.inject(BearingWear(1.0))
    pump.advance(3600.0)
    assert pump.values["vibration"] == pytest.approx(2.5 + 4.0 + 2.0)
    assert pump.values["bearing_temperature"] == pytest.approx(45.0 + 15.0 + 5.0)
    assert pump.values["motor_current"] == pytest.approx(12.5)
    pump.running = False
    pump.advance(1.0)
    assert pump.values["vibration"] == 0.0, "a stopped pump does not show wear"


def test_stations_run_at_plausible_levels_and_count_parts() -> None:
    line = Line(noise=False)
    oven = line.station("oven")
    press = line.station("Press")
    conveyor = line.station("CONVEYOR")
    assert oven.values == {"temperature": 180.0, "motor_current": 4.2}
    assert press.values["pressure"] == 160.0
    assert conveyor.values["speed"] == 0.5
    assert (oven.state, oven.part_count) == (1, 0)
    line.advance(60.0)
    assert [s.part_count for s in line.stations.values()] == [12, 12, 12]
    assert line.node_id("Oven", "Temperature") == "Line1.Oven.Temperature"
    with pytest.raises(KeyError, match="no station 'Kiln'; one of Conveyor, Press, Oven"):
        line.station("Kiln")


def test_a_stopped_oven_cools_slowly_and_its_fan_stops_at_once() -> None:
    oven = Line(noise=False).station("Oven")
    oven.running = False
    oven.advance(600.0)
    assert oven.state == 0
    assert oven.values["temperature"] == pytest.approx(25.0 + 155.0 * math.exp(-1))
    assert oven.values["motor_current"] == pytest.approx(0.0, abs=1e-6)
    before = oven.part_count
    oven.advance(60.0)
    assert oven.part_count == before


def test_station_wear_raises_current_and_temperature() -> None:
    conveyor = Line(noise=False).station("Conveyor")
    conveyor.inject(BearingWear(1.0))
    seen = [dict(conveyor.advance(1800.0)) for _ in range(4)]
    currents = [v["motor_current"] for v in seen]
    temperatures = [v["temperature"] for v in seen]
    assert currents == sorted(currents) and currents[-1] == pytest.approx(6.5 + 0.8 * 2 + 0.3 * 4)
    assert temperatures == sorted(temperatures) and temperatures[-1] > 42.0 + 10.0
    assert seen[-1]["speed"] < 0.5


def test_noise_is_small_against_the_level() -> None:
    line = Line(seed=7)
    temperatures = [line.station("Oven").advance(1.0)["temperature"] for _ in range(500)]
    assert 175.0 < min(temperatures) < max(temperatures) < 185.0
    assert len(set(temperatures)) > 400


def test_zigbee_sensors_drain_their_battery_slowly() -> None:
    sensor = ZigbeeSensor("climate-1", "climate", drain_per_h=1.0, noise=False)
    start = sensor.battery
    assert 70.0 <= start <= 100.0
    sensor.advance(3600.0)
    assert sensor.battery == pytest.approx(start - 1.0)
    volts = EMPTY_BATTERY_MV + MV_PER_PERCENT * (start - 1.0)
    assert sensor.values["voltage"] == pytest.approx(volts)
    assert sensor.online
    sensor.advance(3600.0 * 200)
    assert sensor.battery == 0.0 and not sensor.online


def test_zigbee_payloads_look_like_zigbee2mqtt() -> None:
    climate, contact, occupancy = sensors(3, seed=1)
    assert [s.name for s in (climate, contact, occupancy)] == [
        "climate-1",
        "contact-2",
        "occupancy-3",
    ]
    state = climate.payload()
    assert list(state) == sorted(state)
    assert set(state) == {"temperature", "humidity", "pressure", *COMMON}
    assert isinstance(state["battery"], int) and isinstance(state["linkquality"], int)
    assert isinstance(state["voltage"], int)
    assert 15.0 < float(state["temperature"]) < 28.0
    assert 20.0 < float(state["humidity"]) < 70.0
    assert 970.0 < float(state["pressure"]) < 1050.0
    assert set(contact.payload()) == {"contact", *COMMON}
    assert contact.payload()["contact"] is True
    assert set(occupancy.payload()) == {"occupancy", "illuminance", *COMMON}


def test_doors_open_and_rooms_get_occupied_now_and_then() -> None:
    _, contact, occupancy = sensors(3, seed=3)
    contacts, occupied = set(), set()
    for _ in range(3600):
        contact.advance(1.0)
        occupancy.advance(1.0)
        contacts.add(contact.payload()["contact"])
        occupied.add(occupancy.payload()["occupancy"])
    assert contacts == {True, False}
    assert occupied == {True, False}


def test_a_dead_sensor_goes_offline() -> None:
    sensor = ZigbeeSensor("climate-1", "climate")
    sensor.inject(Dead())
    assert not sensor.online
    sensor.clear_faults()
    assert sensor.online


def test_the_zigbee2mqtt_decoder_reads_what_the_sensors_publish() -> None:
    climate, contact, _ = sensors(3)
    decoder = Zigbee2MqttDecoder(
        Zigbee2MqttConfig(broker=BrokerConfig(host="127.0.0.1"), base_topic="zigbee2mqtt")
    )
    assert device_metadata(climate.entry()) == {
        "ieee_address": climate.ieee_address,
        "model": "WSDCGQ11LM",
        "vendor": "Aqara",
        "power_source": "Battery",
    }
    devices = json.dumps([climate.entry(), contact.entry()]).encode()
    assert decoder.decode("zigbee2mqtt/bridge/devices", devices, 1) == []
    samples = decoder.decode("zigbee2mqtt/climate-1", json.dumps(climate.payload()).encode(), 1)
    assert all(isinstance(s, Reading) for s in samples)
    units = {s.metric: s.unit for s in samples if isinstance(s, Reading)}
    assert units == {
        "battery": "%",
        "humidity": "%",
        "linkquality": "{lqi}",
        "pressure": "hPa",
        "temperature": "Cel",
        "voltage": "mV",
    }
    assert samples[0].attributes["model"] == "WSDCGQ11LM"
    door = decoder.decode("zigbee2mqtt/contact-2", json.dumps(contact.payload()).encode(), 1)
    assert {s.metric: s.value for s in door if isinstance(s, Reading)}["contact"] == 1.0
