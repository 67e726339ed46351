"""The reader's streaming parse of a `query_range` response, cut into chunks at every byte."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sentio.ai_engine.reader import ReaderError, _fill, plan, result_items

VM = (
    b'{"status":"success","data":{"resultType":"matrix","result":['
    b'{"metric":{"__name__":"t","device":"a]]}"},"values":[[600,"1.5"],[720,"NaN"],[780,"+Inf"]]},'
    b'{"metric":{"__name__":"t","device":"b"},"values":[]},'
    b'{"metric":{"device":"e"},"values":[[780,"3"]]},'
    b'{ "values": [[660, "2"]], "metric": {"device": "c"} }'
    b']},"stats":{}}'
)


async def _parsed(body: bytes, size: int) -> list[tuple[dict[str, str], list[float]]]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), size):
            yield body[i : i + size]

    out = []
    async for item in result_items(chunks()):
        grid = np.full(4, np.nan)
        _fill(grid, item, 600, 60)
        out.append((item["metric"], grid.tolist()))
    return out


@pytest.mark.parametrize("size", [1, 2, 7, 64, len(VM)])
async def test_every_item_is_parsed_however_the_response_is_cut(size: int) -> None:
    got = await _parsed(VM, size)
    assert [m for m, _ in got] == [
        {"__name__": "t", "device": "a]]}"},
        {"__name__": "t", "device": "b"},
        {"device": "e"},
        {"device": "c"},
    ]
    first = got[0][1]
    assert first[0] == 1.5 and np.isnan(first[1]) and np.isnan(first[2]) and first[3] == np.inf
    assert all(np.isnan(v) for v in got[1][1])
    assert got[2][1][3] == 3.0
    assert got[3][1][1] == 2.0


async def test_a_refused_query_and_a_cut_response_are_errors() -> None:
    refused = json.dumps({"status": "error", "error": "bad query"}).encode()
    with pytest.raises(ReaderError, match="bad query"):
        await _parsed(refused, 5)
    with pytest.raises(ReaderError, match="ended inside its result"):
        await _parsed(VM[:120], 16)


def test_pages_keep_groups_whole_and_queries_under_their_size() -> None:
    listed = [{"__name__": f"m{c}", "device": f"d{d:03d}"} for d in range(300) for c in range(3)]
    pages = plan('{__name__=~"m.", run="r"}', listed, ["device"], None, 10, 600)
    assert all(len(p.labels) <= 9 for p in pages), "three whole devices of three a page at most"
    assert all(len(p.query) <= 600 for p in pages)
    assert sum(len(p.labels) for p in pages) == 900
    assert pages[0].query == '{__name__=~"m.", run="r", device=~"d000|d001|d002"}'
    mine = plan("x", listed, ["device"], lambda labels: labels["device"] < "d150", 1000, 14000)
    assert sum(len(p.labels) for p in mine) == 450, "only the series kept are read"
    assert plan("x", listed[:3], ["device"], None, 1000, 14000)[0].query == "x"
