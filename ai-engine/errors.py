"""Errors of the AI engine, under Sentio's own tree.

SentioError
└── AiEngineError              the AI engine cannot do what was asked
    ├── DatasetError           a labelled corpus is missing, unreadable or malformed
    ├── StateError             a saved state file is unreadable or malformed
    └── CycleStopped           a cycle stopped at a page boundary because the engine stops
"""

from __future__ import annotations

from sentio.errors import SentioError


class AiEngineError(SentioError):
    """Raise when the AI engine cannot do what was asked."""


class DatasetError(AiEngineError):
    """Raise when a labelled corpus is missing, unreadable or malformed."""


class StateError(AiEngineError):
    """Raise when a saved state file cannot be read back (the query then fits again)."""


class CycleStopped(AiEngineError):
    """Raise at a page boundary when the engine stops; the saved state is the last whole cycle's."""
