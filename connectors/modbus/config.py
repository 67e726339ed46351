"""Configuration of the Modbus connector: one connection, its devices and their fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Table = Literal["coil", "discrete_input", "holding", "input"]
FieldType = Literal[
    "bool",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "string",
    "bit",
]
Order = Literal["big", "little"]

BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete_input"})
MAX_REGISTERS_PER_REQUEST = 125
MAX_BITS_PER_REQUEST = 2000
REGISTER_WIDTH: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "bit": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "float64": 4,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldConfig(_Strict):
    """One value read from a device: where it lives and how to decode it."""

    name: str = Field(min_length=1)
    table: Table
    address: int = Field(ge=0, le=65535)
    type: FieldType = "uint16"
    length: int | None = Field(default=None, ge=1, le=2 * MAX_REGISTERS_PER_REQUEST)
    bit: int | None = Field(default=None, ge=0, le=15)
    byte_order: Order = "big"
    word_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = Field(default="1", min_length=1)

    @property
    def width(self) -> int:
        """Return how many registers (or bits, in a bit table) the field spans."""
        if self.type == "bool":
            return 1
        if self.type == "string":
            return ((self.length or 0) + 1) // 2
        return REGISTER_WIDTH[self.type]

    @model_validator(mode="after")
    def _check(self) -> FieldConfig:
        in_bit_table = self.table in BIT_TABLES
        if in_bit_table and self.type != "bool":
            raise ValueError(f"a {self.table} field must have type bool, not {self.type}")
        if not in_bit_table and self.type == "bool":
            raise ValueError(f"type bool is for coils and discrete inputs; use bit in {self.table}")
        if (self.type == "string") != (self.length is not None):
            raise ValueError("length is required for type string and only allowed there")
        if (self.type == "bit") != (self.bit is not None):
            raise ValueError("bit is required for type bit and only allowed there")
        if self.type in {"bool", "bit", "string"} and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError(f"scale and offset do not apply to type {self.type}")
        if self.address + self.width > 65536:
            raise ValueError("the field runs past address 65535")
        return self


class TcpConnection(_Strict):
    """A Modbus TCP connection."""

    type: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    timeout_s: float = Field(default=3.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)


class DeviceConfig(_Strict):
    """One Modbus unit behind the connection and the fields read from it."""

    name: str = Field(min_length=1)
    unit_id: int = Field(ge=0, le=255)
    poll_interval_s: float = Field(default=10.0, gt=0)
    fields: list[FieldConfig] = Field(min_length=1)
    max_gap: int = Field(default=0, ge=0, le=MAX_REGISTERS_PER_REQUEST)
    max_registers: int = Field(default=MAX_REGISTERS_PER_REQUEST, ge=1, le=125)
    pause_between_requests_s: float = Field(default=0.0, ge=0)
    close_after_poll: bool = False
    one_request_per_field: bool = False

    @model_validator(mode="after")
    def _check(self) -> DeviceConfig:
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate field names: {', '.join(duplicates)}")
        too_wide = [
            f.name
            for f in self.fields
            if f.table not in BIT_TABLES and f.width > self.max_registers
        ]
        if too_wide:
            raise ValueError(f"fields wider than max_registers: {', '.join(too_wide)}")
        return self


class ModbusConfig(_Strict):
    """The Modbus connector's configuration."""

    connection: TcpConnection
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ModbusConfig:
        names = [d.name for d in self.devices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate device names: {', '.join(duplicates)}")
        return self
