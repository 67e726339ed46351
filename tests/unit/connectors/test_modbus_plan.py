from __future__ import annotations

from typing import Any

from sentio.connectors.modbus.config import FieldConfig
from sentio.connectors.modbus.plan import plan_requests


def f(
    name: str, address: int, table: str = "holding", type_: str = "uint16", **kw: Any
) -> FieldConfig:
    return FieldConfig.model_validate(
        {"name": name, "table": table, "address": address, "type": type_, **kw}
    )


def spans(requests: list[Any]) -> list[tuple[str, int, int, list[str]]]:
    return [(r.table, r.address, r.count, [x.name for x in r.fields]) for r in requests]


def test_contiguous_fields_merge_into_one_request() -> None:
    fields = [f("a", 0, type_="float32"), f("b", 2, type_="float32"), f("c", 4)]
    assert spans(plan_requests(fields)) == [("holding", 0, 5, ["a", "b", "c"])]


def test_gap_splits_unless_within_max_gap() -> None:
    fields = [f("a", 0), f("b", 3)]
    assert spans(plan_requests(fields)) == [("holding", 0, 1, ["a"]), ("holding", 3, 1, ["b"])]
    assert spans(plan_requests(fields, max_gap=1)) == [
        ("holding", 0, 1, ["a"]),
        ("holding", 3, 1, ["b"]),
    ]
    assert spans(plan_requests(fields, max_gap=2)) == [("holding", 0, 4, ["a", "b"])]


def test_tables_are_never_merged_and_come_in_table_order() -> None:
    fields = [f("h", 0), f("i", 1, table="input"), f("c", 0, table="coil", type_="bool")]
    assert spans(plan_requests(fields)) == [
        ("coil", 0, 1, ["c"]),
        ("holding", 0, 1, ["h"]),
        ("input", 1, 1, ["i"]),
    ]


def test_requests_stop_at_125_registers() -> None:
    fields = [f(f"r{i}", i * 2, type_="float32") for i in range(100)]  # 200 registers
    assert [(r.address, r.count) for r in plan_requests(fields)] == [(0, 124), (124, 76)]


def test_max_registers_is_honoured() -> None:
    fields = [f(f"r{i}", i) for i in range(10)]
    assert [(r.address, r.count) for r in plan_requests(fields, max_registers=4)] == [
        (0, 4),
        (4, 4),
        (8, 2),
    ]


def test_a_field_is_never_split_across_requests() -> None:
    fields = [f("a", 0), f("b", 1, type_="float64")]
    assert [(r.address, r.count) for r in plan_requests(fields, max_registers=4)] == [
        (0, 1),
        (1, 4),
    ]


def test_bits_merge_up_to_2000() -> None:
    fields = [f(f"c{i}", i, table="coil", type_="bool") for i in range(2500)]
    assert [(r.address, r.count) for r in plan_requests(fields)] == [(0, 2000), (2000, 500)]


def test_overlapping_fields_share_a_request_and_input_order_does_not_matter() -> None:
    fields = [
        f("flag2", 22, type_="bit", bit=2),
        f("status", 22),
        f("flag0", 22, type_="bit", bit=0),
        f("run", 20, type_="uint32"),
    ]
    assert spans(plan_requests(fields)) == [("holding", 20, 3, ["run", "flag2", "status", "flag0"])]


def test_one_request_per_field() -> None:
    fields = [f("a", 0), f("b", 1), f("c", 2, type_="int32")]
    assert spans(plan_requests(fields, one_request_per_field=True)) == [
        ("holding", 0, 1, ["a"]),
        ("holding", 1, 1, ["b"]),
        ("holding", 2, 2, ["c"]),
    ]


def test_no_fields_no_requests() -> None:
    assert plan_requests([]) == []
