"""Subscriptions: one per device, its monitored items, and its notifications as samples."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif
from asyncua.ua.attribute_ids import AttributeIds
from sentio.connectors.contract import Event, Sample, Severity, now_ns

from .config import DeadbandConfig, SubscriptionConfig
from .errors import OpcuaConnectionError, OpcuaError, guard
from .values import Stamping, Target, to_samples

FEED_LIMIT = 10_000
Item = Sample | OpcuaError | None
_DEADBAND = {"absolute": ua.DeadbandType.Absolute, "percent": ua.DeadbandType.Percent}


class Feed:
    """What a subscribing connector yields next: a sample, the error that ended it, or None."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue(FEED_LIMIT)

    def put(self, item: Item) -> None:
        """Queue ``item``, dropping the oldest item when the feed is full."""
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def get(self) -> Item:
        """Return the next item, waiting for one."""
        return await self._queue.get()


class _Handler:
    """Turn one device's data change notifications into samples on the feed."""

    def __init__(
        self, device: str, targets: dict[int, Target], feed: Feed, stamping: Stamping
    ) -> None:
        self.device = device
        self.targets = targets
        self.feed = feed
        self.stamping = stamping

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        """Queue the sample of one changed value."""
        target = self.targets.get(data.monitored_item.ClientHandle)
        if target is not None:
            value = data.monitored_item.Value
            for sample in to_samples(self.device, target, value, self.stamping, now_ns()):
                self.feed.put(sample)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        """Queue an error when the server ends the subscription."""
        if not status.Status.is_good():
            self.feed.put(
                OpcuaConnectionError(f"subscription of {self.device} ended: {status.Status.name}")
            )


def _filter(deadband: DeadbandConfig | None) -> ua.DataChangeFilter | None:
    if deadband is None:
        return None
    return ua.DataChangeFilter(
        Trigger=ua.DataChangeTrigger.StatusValue,
        DeadbandType=_DEADBAND[deadband.type],
        DeadbandValue=deadband.value,
    )


def _request(
    handle: int, target: Target, settings: SubscriptionConfig
) -> ua.MonitoredItemCreateRequest:
    sampling = settings.sampling_interval_s
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=target.node_id, AttributeId=AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=ua.MonitoringParameters(
            ClientHandle=handle,
            SamplingInterval=-1.0 if sampling is None else sampling * 1000,
            Filter=_filter(target.deadband),
            QueueSize=settings.queue_size,
            DiscardOldest=True,
        ),
    )


async def subscribe(
    client: Client,
    device: str,
    targets: list[Target],
    settings: SubscriptionConfig,
    feed: Feed,
    stamping: Stamping,
    timeout_s: float,
) -> list[Event]:
    """Subscribe to the values of ``targets``; return an ERROR event per node the server refused."""
    handler = _Handler(device, dict(enumerate(targets, start=1)), feed, stamping)
    subscription = await guard(
        client.create_subscription(settings.publishing_interval_s * 1000, handler),
        f"creating the subscription of {device}",
        timeout_s,
    )
    requests = [_request(h, t, settings) for h, t in handler.targets.items()]
    results = await guard(
        subscription.create_monitored_items(requests),
        f"monitoring {len(requests)} nodes of {device}",
        timeout_s,
    )
    return [
        Event(
            device=device,
            body=f"{device}: cannot monitor {target.metric} ({target.address}): {result.name}",
            severity=Severity.ERROR,
            attributes={**target.attributes, "error": "monitor", "metric": target.metric},
        )
        for target, result in zip(targets, results, strict=True)
        if isinstance(result, ua.StatusCode)
    ]
