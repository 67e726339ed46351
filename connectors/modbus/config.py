"""Configuration of the Modbus connector: one connection, its devices and their fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

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
CONNECTION_TYPES = ("tcp", "rtu_over_tcp", "serial")
RTU_UNIT_IDS = range(1, 248)


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
    unit: str = Field(
        default="", description="UCUM unit; `{bool}`, `{state}`, `{part}`…; empty: a plain number."
    )

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


_FIELD_LIST: TypeAdapter[list[FieldConfig]] = TypeAdapter(list[FieldConfig])


class _TcpSettings(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    timeout_s: float = Field(default=3.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)


class TcpConnection(_TcpSettings):
    """A Modbus TCP connection (MBAP framing)."""

    type: Literal["tcp"] = "tcp"


class RtuOverTcpConnection(_TcpSettings):
    """Modbus RTU frames over a TCP connection, as a transparent serial gateway expects."""

    type: Literal["rtu_over_tcp"]


class SerialConnection(_Strict):
    """Modbus RTU on a serial line; the defaults are the specification's 19200 8E1."""

    type: Literal["serial"]
    port: str = Field(min_length=1)
    baudrate: int = Field(default=19200, gt=0)
    bytesize: int = 8
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=1.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)

    @field_validator("bytesize")
    @classmethod
    def _rtu_bytes(cls, value: int) -> int:
        if value != 8:
            raise ValueError("Modbus RTU needs 8 data bits (7 is for Modbus ASCII)")
        return value


def _connection_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "tcp"))
    return str(getattr(value, "type", "tcp"))


Connection = Annotated[
    Annotated[TcpConnection, Tag("tcp")]
    | Annotated[RtuOverTcpConnection, Tag("rtu_over_tcp")]
    | Annotated[SerialConnection, Tag("serial")],
    Discriminator(
        _connection_type,
        custom_error_type="connection_type",
        custom_error_message=f"type must be one of {', '.join(CONNECTION_TYPES)}",
    ),
]


class DeviceConfig(_Strict):
    """One Modbus unit behind the connection and the fields read from it."""

    name: str = Field(min_length=1)
    unit_id: int = Field(ge=0, le=255)
    poll_interval_s: float | None = Field(default=None, gt=0)
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

    connection: Connection
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _share_fields(cls, data: Any) -> Any:
        """Validate each distinct field list once, so devices of one kind share their fields.

        A fleet of identical meters then holds one set of field models, not one per device.
        A list that does not validate is left for the per-device pass, which names the device.
        """
        if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
            return data
        validated: dict[str, list[FieldConfig]] = {}
        devices: list[Any] = []
        for device in data["devices"]:
            fields = device.get("fields") if isinstance(device, dict) else None
            if isinstance(fields, list) and fields and isinstance(fields[0], dict):
                key = repr(fields)
                models = validated.get(key)
                if models is None:
                    try:
                        models = validated[key] = _FIELD_LIST.validate_python(fields)
                    except ValidationError:
                        devices.append(device)
                        continue
                device = {**device, "fields": models}
            devices.append(device)
        return {**data, "devices": devices}

    @model_validator(mode="after")
    def _check(self) -> ModbusConfig:
        names = [d.name for d in self.devices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate device names: {', '.join(duplicates)}")
        if not isinstance(self.connection, TcpConnection):
            for index, device in enumerate(self.devices):
                if device.unit_id not in RTU_UNIT_IDS:
                    raise ValueError(
                        f"devices.{index}.unit_id: {device.unit_id} ({device.name}) is not a "
                        f"device address on an RTU bus; use 1-247 (0 is broadcast, which no "
                        f"device answers)"
                    )
        return self
