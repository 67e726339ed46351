"""The NAB result, pinned on the real corpus so a later change cannot lose it silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sentio.ai_engine.models import EnvelopeConfig
from sentio.ai_engine.nab.corpus import load_corpus
from sentio.ai_engine.nab.evaluate import evaluate
from sentio.ai_engine.nab.runner import score_corpus

NAB_DATA = Path(
    os.environ.get("SENTIO_NAB_DATA", Path(__file__).parents[3].parent / "shared/datasets/nab")
)


@pytest.mark.timeout(300)
@pytest.mark.skipif(not (NAB_DATA / "labels").is_dir(), reason=f"NAB corpus not at {NAB_DATA}")
def test_nab_standard_score_with_the_official_formula_stays_at_least_75() -> None:
    corpus = load_corpus(NAB_DATA)
    scores = score_corpus(corpus.series, EnvelopeConfig(), jobs=2)
    outcome = evaluate(corpus.series, scores, corpus.profiles)
    assert outcome["standard"].score >= 75.0
    assert len(corpus.series) == 58
