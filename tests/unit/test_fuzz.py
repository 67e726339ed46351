"""Every decoder that takes bytes from outside, fuzzed: only documented errors get out."""

from __future__ import annotations

import pytest

from sentio.bench.fuzz import UNIT_EXAMPLES, Target, run, targets

TARGETS = {t.name: t for t in targets()}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzzed_input_raises_only_documented_errors(name: str) -> None:
    target: Target = TARGETS[name]
    assert run(target, UNIT_EXAMPLES) >= UNIT_EXAMPLES
