"""A Modbus TCP server from another library (pyModbusTCP), for the connector's interop tests.

    python modbus_server.py PORT

It serves fixed values whose encodings are written out here by hand (not by pymodbus), prints
"ready" once it listens, and stops on SIGTERM.
"""

from __future__ import annotations

import signal
import struct
import sys
import threading

from pyModbusTCP.server import DataBank, ModbusServer


def words(fmt: str, value: float | int) -> list[int]:
    """Return ``value`` packed big-endian as 16-bit registers, most significant first."""
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def main() -> None:
    """Serve the values until SIGTERM."""
    bank = DataBank()
    bank.set_input_registers(0, words("f", 21.75))  # float32
    bank.set_input_registers(2, words("h", -40))  # int16
    bank.set_input_registers(3, words("I", 4_000_000_000))  # uint32
    bank.set_input_registers(5, words("q", 2**53 + 1))  # int64 beyond a double's integers
    bank.set_input_registers(9, words("d", -1234.5678))  # float64
    bank.set_holding_registers(0, [0x4142, 0x4344, 0x0000])  # string "ABCD"
    bank.set_holding_registers(10, [0b0000_0000_0010_0000])  # bit 5 set
    bank.set_coils(0, [True, False])
    bank.set_discrete_inputs(0, [False, True])
    server = ModbusServer("127.0.0.1", int(sys.argv[1]), no_block=True, data_bank=bank)
    server.start()
    print("ready", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
