"""The AI engine's models: streaming, seasonal, multivariate and forecasting.

The NAB-tuned streaming detector (one value in, one score in [0, 1] out) is exported here.
"""

from sentio.ai_engine.models.base import StreamingDetector
from sentio.ai_engine.models.envelope import EnvelopeConfig, EnvelopeDetector

__all__ = ["EnvelopeConfig", "EnvelopeDetector", "StreamingDetector"]
