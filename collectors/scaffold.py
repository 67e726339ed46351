"""`sentio connectors new NAME`: scaffold an installable connector plugin package."""

from __future__ import annotations

import re
from pathlib import Path

from sentio.errors import SentioError
from sentio.extras import DISTRIBUTION

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "sentio-connector-{dash}"
version = "0.1.0"
description = "A Sentio connector: {name}"
requires-python = ">=3.11"
dependencies = ["{distribution}"]

[project.entry-points."sentio.connectors"]
{name} = "{package}.connector:{cls}"

[tool.setuptools]
packages = ["{package}"]

[project.optional-dependencies]
test = ["pytest", "pytest-asyncio", "pyyaml"]

[tool.setuptools.package-data]
{package} = ["sample.yaml"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

CONNECTOR = '''\
"""The {name} connector: one number from a text file per device (put your protocol here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sentio.connectors.contract import Connector, Event, Reading, Sample, Severity


class DeviceConfig(BaseModel):
    """One device: where its value is read from, and what it is."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: Path
    metric: str = "value"
    unit: str = Field("1", description="UCUM unit, e.g. Cel, V, W, %.")


class {cls_config}(BaseModel):
    """Settings of the {name} connector."""

    model_config = ConfigDict(extra="forbid")

    devices: list[DeviceConfig]


class {cls}(Connector[{cls_config}]):
    """Poll each device once per ``read``; a failing device becomes an ERROR event."""

    config_model = {cls_config}

    async def connect(self) -> None:
        """Nothing to open for files; a network protocol connects here."""

    async def read(self) -> AsyncIterator[Sample]:
        """Yield one reading per device, or an event saying why it could not be read."""
        for device in self.config.devices:
            try:
                text = await asyncio.to_thread(device.path.read_text, encoding="utf-8")
                value = float(text.strip())
            except (OSError, ValueError) as exc:
                yield Event(device.name, f"cannot read {{device.path}}: {{exc}}", Severity.ERROR)
                continue
            yield Reading(device.name, device.metric, value, device.unit)

    async def close(self) -> None:
        """Release what ``connect`` opened."""
'''

SAMPLE = """\
# A `connectors:` entry of a Sentio config using this connector (`sentio run -c FILE`).
name: {name}-example
type: {name}
poll_interval_s: 10
config:
  devices:
    - name: boiler-1
      path: /var/lib/{name}/boiler-1.txt
      metric: temperature
      unit: Cel
"""

TEST = """\
from __future__ import annotations

from pathlib import Path

import yaml

from {package}.connector import {cls}, {cls_config}
from sentio.connectors.contract import Event, Reading


async def test_reads_each_device_and_reports_a_broken_one(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("21.5\\n")
    config = {cls_config}.model_validate(
        {{"devices": [{{"name": "d1", "path": str(good), "unit": "Cel"}},
                      {{"name": "d2", "path": str(tmp_path / "missing.txt")}}]}}
    )
    connector = {cls}(config)
    await connector.connect()
    samples = [s async for s in connector.read()]
    await connector.close()
    assert isinstance(samples[0], Reading) and samples[0].value == 21.5
    assert isinstance(samples[1], Event) and samples[1].device == "d2"


def test_the_sample_config_is_valid() -> None:
    sample = yaml.safe_load((Path(__file__).parents[1] / "{package}" / "sample.yaml").read_text())
    {cls_config}.model_validate(sample["config"])
"""

README = """\
# sentio-connector-{dash}

A Sentio connector plugin. Install it beside Sentio (`pip install -e .`), check that
`sentio connectors list` shows `{name}`, add a `connectors:` entry like `{package}/sample.yaml`
to your Sentio config, and run `sentio run -c sentio.yaml`. Tests: `pytest`.
"""


def scaffold(name: str, parent: Path) -> Path:
    """Write a plugin package for connector ``name`` under ``parent``; return its folder."""
    if not NAME.match(name):
        raise SentioError(
            f"connector name {name!r}: use lower-case letters, digits and underscores, "
            "starting with a letter"
        )
    package = f"sentio_connector_{name}"
    cls = "".join(part.capitalize() for part in name.split("_")) + "Connector"
    values = {
        "name": name,
        "dash": name.replace("_", "-"),
        "package": package,
        "cls": cls,
        "cls_config": cls.removesuffix("Connector") + "Config",
        "distribution": DISTRIBUTION,
    }
    root = parent / f"sentio-connector-{values['dash']}"
    if root.exists():
        raise SentioError(f"{root} exists already; choose another name or folder")
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        root / package / "__init__.py": '"""The {name} connector for Sentio."""\n',
        root / package / "connector.py": CONNECTOR,
        root / package / "sample.yaml": SAMPLE,
        root / "tests" / "test_connector.py": TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
