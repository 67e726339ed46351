"""The built-in generic MQTT connector: subscribes to topic templates and decodes payloads."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from sentio.connectors.contract import Connector, Sample, now_ns

from .config import MqttConfig
from .decode import Route, decode_message
from .session import MqttSession


class MqttConnector(Connector[MqttConfig]):
    """Yield readings from number and JSON payloads as they arrive on subscribed topics."""

    config_model = MqttConfig
    push = True
    open_names = True  # devices and metrics are named by the topics published

    def __init__(self, config: MqttConfig) -> None:
        super().__init__(config)
        self.routes = tuple(Route.compile(s) for s in config.subscriptions)
        self.session = MqttSession(config.broker, [r.template.filter for r in self.routes])

    async def connect(self) -> None:
        """Connect to the broker and subscribe; raise MqttConnectionError if that fails."""
        await self.session.connect()

    async def read(self) -> AsyncGenerator[Sample, None]:
        """Yield samples as messages arrive until ``close``; raise when the broker is lost.

        A bad payload is a WARN event, never an exception; a lost connection raises
        MqttConnectionError, and the collector connects again after a backoff.
        """
        async for item in self.session.messages():
            for sample in self.decode(item.topic.value, item.payload):
                yield sample

    def decode(self, topic: str, payload: bytes) -> list[Sample]:
        """Decode one message received on ``topic``."""
        return decode_message(self.routes, topic, payload, now_ns())

    def dropped(self) -> int:
        """Return the messages dropped because the incoming queue was full."""
        return self.session.dropped

    async def close(self) -> None:
        """Disconnect from the broker; safe to call twice."""
        await self.session.close()
