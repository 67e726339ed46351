from __future__ import annotations

import pytest
import typer
from sentio.connectors.simulate.cli import parse_fault
from sentio.connectors.simulate.pump import BearingWear, Dead, Drift, Spike, Stuck


def test_faults_parse_with_their_arguments() -> None:
    assert parse_fault("1=wear:2") == (1, BearingWear(2.0))
    assert parse_fault("2=wear") == (2, BearingWear())
    assert parse_fault("1=drift:pressure:0.5") == (1, Drift("pressure", 0.5))
    assert parse_fault("3=stuck:flow") == (3, Stuck("flow"))
    assert parse_fault("1=spike:vibration:5") == (1, Spike("vibration", 5.0))
    assert parse_fault("4=dead") == (4, Dead())


@pytest.mark.parametrize(
    "text", ["wear", "x=wear", "1=melt", "1=spike:vibration", "1=stuck:colour", "1=dead:now"]
)
def test_bad_faults_say_what_is_expected(text: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"UNIT=FAULT|unknown fault"):
        parse_fault(text)
