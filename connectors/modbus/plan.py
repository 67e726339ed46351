"""Plan the read requests of a device: merge nearby fields of one table into few requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .config import BIT_TABLES, MAX_BITS_PER_REQUEST, FieldConfig, Table

TABLE_ORDER: tuple[Table, ...] = ("coil", "discrete_input", "holding", "input")


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read: a table, a start address, a count, and the fields it covers."""

    table: Table
    address: int
    count: int
    fields: tuple[FieldConfig, ...]

    @property
    def end(self) -> int:
        """Return the first address after the request."""
        return self.address + self.count


def plan_requests(
    fields: Iterable[FieldConfig],
    *,
    max_gap: int = 0,
    max_registers: int = 125,
    one_request_per_field: bool = False,
) -> list[ReadRequest]:
    """Merge fields of one table lying within ``max_gap`` of each other into requests.

    A request holds at most ``max_registers`` registers, or 2000 bits for coils and discrete
    inputs; requests come ordered by table (coil, discrete_input, holding, input), then address.
    """
    by_table: dict[Table, list[FieldConfig]] = {t: [] for t in TABLE_ORDER}
    for f in fields:
        by_table[f.table].append(f)
    requests: list[ReadRequest] = []
    for table in TABLE_ORDER:
        ordered = sorted(by_table[table], key=lambda f: (f.address, -f.width))
        limit = MAX_BITS_PER_REQUEST if table in BIT_TABLES else max_registers
        requests.extend(_merge(table, ordered, max_gap, limit, one_request_per_field))
    return requests


def _merge(
    table: Table, fields: Sequence[FieldConfig], max_gap: int, limit: int, single: bool
) -> list[ReadRequest]:
    out: list[ReadRequest] = []
    group: list[FieldConfig] = []
    start = end = 0
    for f in fields:
        f_end = f.address + f.width
        fits = (
            group and not single and f.address <= end + max_gap and max(end, f_end) - start <= limit
        )
        if fits:
            group.append(f)
            end = max(end, f_end)
            continue
        if group:
            out.append(ReadRequest(table, start, end - start, tuple(group)))
        group, start, end = [f], f.address, f_end
    if group:
        out.append(ReadRequest(table, start, end - start, tuple(group)))
    return out
