"""The built-in Zigbee2MQTT connector: device states, availability and bridge events."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from sentio.connectors.contract import Connector, Sample, now_ns
from sentio.connectors.mqtt.session import MqttSession

from .config import Zigbee2MqttConfig
from .decode import Zigbee2MqttDecoder


class Zigbee2MqttConnector(Connector[Zigbee2MqttConfig]):
    """Yield readings and events from Zigbee2MQTT's topics as they arrive."""

    config_model = Zigbee2MqttConfig
    push = True
    open_names = True  # devices and metrics are named by the topics published
    # devices report on change (and at their reporting intervals, often an hour): the runtime's
    # heartbeat keeps a constant value in PromQL's lookback
    changes_only = True

    def __init__(self, config: Zigbee2MqttConfig) -> None:
        super().__init__(config)
        self.decoder = Zigbee2MqttDecoder(config)
        self.session = MqttSession(config.broker, [self.decoder.topic_filter])

    async def connect(self) -> None:
        """Connect to the broker and subscribe; raise MqttConnectionError if that fails."""
        await self.session.connect()

    async def read(self) -> AsyncGenerator[Sample, None]:
        """Yield samples as messages arrive until ``close``; raise when the broker is lost.

        A bad payload is a WARN event, never an exception; a lost connection raises
        MqttConnectionError, and the collector connects again after a backoff.
        """
        async for item in self.session.messages():
            for sample in self.decoder.decode(item.topic.value, item.payload, now_ns()):
                yield sample

    def dropped(self) -> int:
        """Return the messages dropped because the incoming queue was full."""
        return self.session.dropped

    async def close(self) -> None:
        """Disconnect from the broker; safe to call twice."""
        await self.session.close()
