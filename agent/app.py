"""The composition root: builds the agent from a gateway config and runs its tasks.

Per poll cycle (one tick, gathered across connections): detect events, build one readings
message (and one events message if any), commit them to the outbox in one transaction,
then wake the publisher. Nothing is published that is not committed first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from agent.batches import Detector, Seen, WireEvent
from agent.cycle import CycleAssembler
from agent.health import Clock, device_metrics, prometheus_text, serve_metrics, status_health
from agent.modbus import ModbusLink
from agent.mqtt import Publisher
from agent.outbox import NewMessage, Outbox, OutboxError
from agent.payload import ReadingsPayloads, events_payload
from agent.poller import ConnectionOwner, DevicePoller, Polled, Ticker
from agent.schedule import base_period_ms
from config.gateway import Gateway
from config.profile import Profile
from config.wire import DeviceFault, TopicKind, topic

log = logging.getLogger("batchmeter.agent")


class Agent:
    def __init__(self, gateway: Gateway, profiles: dict[str, Profile],
                 clock: Callable[[], float] = time.time) -> None:
        self.gateway = gateway
        self.clock = clock
        box = gateway.outbox
        self.outbox = Outbox(box.path, box.max_messages, box.max_bytes)
        self.detector = Detector({d.id: (d.line, profiles[d.id]) for d in gateway.devices})
        self.detector.restore(self.outbox.load_state())
        self._state_text = json.dumps(self.detector.state, sort_keys=True)
        self.ticker = Ticker(clock)
        self.owners = [self._owner(name, profiles) for name in gateway.connections]
        self.owners = [o for o in self.owners if o.devices]
        self.assembler: CycleAssembler[Polled] = CycleAssembler([o.name for o in self.owners], self.flush)
        self.publisher = Publisher(gateway, self.outbox, self.status)
        self.topics = {kind: topic(gateway.site, gateway.gateway, kind)
                       for kind in (TopicKind.READINGS, TopicKind.EVENTS)}
        self.counters = {"cycles": 0, "readings": 0, "events": 0, "outbox_errors": 0}
        self.time_clock = Clock()
        self.payloads = ReadingsPayloads()

    def _owner(self, name: str, profiles: dict[str, Profile]) -> ConnectionOwner:
        connection = self.gateway.connections[name]
        devices = [DevicePoller(d, profiles[d.id], connection.retries, connection.backoff_max)
                   for d in self.gateway.devices if d.connection == name]
        base = base_period_ms([d.every_ms for d in devices]) if devices else 1000
        link = ModbusLink(connection)
        return ConnectionOwner(name, link, devices, base, connection.backoff_max, self.ticker)

    def flush(self, tick_ms: int, polled: list[Polled]) -> None:
        """One poll cycle: events, one transaction, then the publisher is woken."""
        events: list[WireEvent] = self.detector.observe(
            [Seen(p.device, p.ts_ms, p.values) for p in polled if p.error is None]
        )
        events += [DeviceFault(ts_ms=p.ts_ms, device=p.device, detail=p.fault) for p in polled if p.fault]
        state_text = json.dumps(self.detector.state, sort_keys=True)
        changed = state_text != self._state_text
        seqs = self.outbox.next_seqs(2)
        site, gw = self.gateway.site, self.gateway.gateway
        messages = [NewMessage(seqs[0], self.topics[TopicKind.READINGS],
                               self.payloads.payload(site, gw, seqs[0], polled), len(polled), False)]
        if events:
            messages.append(NewMessage(seqs[1], self.topics[TopicKind.EVENTS],
                                       events_payload(site, gw, seqs[1], events), len(events), True))
        try:
            self.outbox.commit(messages, self.detector.state if changed else None, int(self.clock() * 1000))
        except OutboxError as exc:
            self.counters["outbox_errors"] += 1
            log.error("cycle %d not stored: %s", tick_ms, exc)
            return
        self._state_text = state_text
        self.counters["cycles"] += 1
        self.counters["readings"] += len(polled)
        self.counters["events"] += len(events)
        self.publisher.wake()

    def gateway_metrics(self) -> dict[str, float]:
        metrics: dict[str, float] = {k: float(v) for k, v in self.counters.items()}
        metrics.update({f"mqtt_{k}": float(v) for k, v in self.publisher.counters.items()})
        metrics.update(
            mqtt_connected=float(self.publisher.connected), mqtt_inflight=float(len(self.publisher.inflight)),
            outbox_depth=float(self.outbox.depth), outbox_bytes=float(self.outbox.bytes),
            outbox_oldest_age_s=round(self.outbox.oldest_age_s(self.clock()), 3),
            outbox_dropped_messages=float(self.outbox.dropped_messages),
            outbox_dropped_readings=float(self.outbox.dropped_readings),
            modbus_reconnects=float(sum(o.reconnects for o in self.owners)),
            clock_step_s=round(self.time_clock.step_s(), 3),
        )
        return metrics

    def status(self) -> dict[str, float | str]:
        stats = {d.device.id: d.stats for o in self.owners for d in o.devices}
        return status_health(self.gateway_metrics(), stats)

    def metrics_text(self) -> str:
        stats = {d.device.id: d.stats for o in self.owners for d in o.devices}
        return prometheus_text(self.gateway_metrics(), device_metrics(stats))

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for owner in self.owners:
                    group.create_task(owner.run(self.assembler.report, self.assembler.release))
                group.create_task(self.publisher.run())
                if self.gateway.health_port:
                    group.create_task(serve_metrics(self.gateway.health_port, self.metrics_text))
        finally:
            for owner in self.owners:
                owner.link.close()
            self.outbox.close()
