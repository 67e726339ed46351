"""`sentio demo`: the stack, a workload and simulated devices; where to look; a clean stop."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import math
import random
import shlex
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation
from rich.console import Console
from rich.panel import Panel

from sentio.config import SentioConfig
from sentio.simulators.faults import Fault
from sentio.simulators.fleet import Target
from sentio.stack.query import stream_filter
from sentio.stack.running import stack_running
from sentio.telemetry import Telemetry, setup

if TYPE_CHECKING:
    from sentio.demo_plant import Plant
    from sentio.simulators.slack import Message

DEVICES = ("ahu-1", "ahu-2", "line-1")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
STOP_DUMP_AFTER_S = 20.0
out = Console(soft_wrap=True)


class DemoEmitter:
    """Emit per-device temperature and power, a log per cycle and one span per poll."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.started = time.time()
        meter = telemetry.meter_provider.get_meter("sentio.demo")
        self.tracer = telemetry.tracer_provider.get_tracer("sentio.demo")
        self.logger = logging.getLogger("sentio.demo")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(telemetry.logging_handler())
        self.polls = meter.create_counter("sentio.demo.polls", unit="1", description="Demo polls.")
        meter.create_observable_gauge(
            "sentio.demo.temperature", [self._temperature], unit="Cel", description="Temperature."
        )
        meter.create_observable_gauge(
            "sentio.demo.power", [self._power], unit="W", description="Electrical power."
        )

    def _phase(self, index: int) -> float:
        return (time.time() - self.started) / 60.0 * 2 * math.pi + index

    def _temperature(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(40 + 5 * math.sin(self._phase(i)) + random.gauss(0, 0.3), {"device": d})
            for i, d in enumerate(DEVICES)
        ]

    def _power(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(1500 + 200 * math.cos(self._phase(i)) + random.gauss(0, 10), {"device": d})
            for i, d in enumerate(DEVICES)
        ]

    def cycle(self) -> None:
        """Run one demo poll of every device: a span each, with a log record inside."""
        for device in DEVICES:
            with self.tracer.start_as_current_span("poll", attributes={"device": device}):
                self.polls.add(1, {"device": device})
                self.logger.info("polled %s", device, extra={"device": device})


def where_to_look(config: SentioConfig) -> str:
    """Return the URLs and example queries a person needs."""
    s = config.stack
    vm, vl = s.url("victoriametrics"), s.url("victorialogs")
    jaeger, am = s.url("jaeger"), s.url("alertmanager")
    svc = config.service.name
    stream = stream_filter({"service.name": svc})
    selector = "{service_name=" + json.dumps(svc) + "}"
    tail_cmd = shlex.quote(f"{selector} |= " + json.dumps("polled"))
    logql = urllib.parse.urlencode(
        {"query": f'{selector} | device="ahu-1"', "since": "5m", "limit": "5"},
        quote_via=urllib.parse.quote,
    )
    return "\n".join(
        [
            f"VictoriaMetrics  {vm}/vmui   "
            'PromQL: sentio_demo_temperature_celsius{device="ahu-1"}',
            '                 vibration_mm_per_second{device="pump-2"}  (simulated Modbus pumps)',
            '                 temperature_celsius{instance="demo-line"}  (simulated OPC-UA line)',
            '                 battery_percent{instance="demo-zigbee"}  '
            "(simulated Zigbee sensors, if mosquitto is installed)",
            '                 sentio_ai_anomaly_score{query="pump-vibration"} > 1',
            f"                 {vm}/api/v1/query?query=rate(sentio_demo_polls_total[1m])",
            f'VictoriaLogs     {vl}/select/vmui   LogsQL: {stream} device:="ahu-1"',
            f"                 curl {vl}/select/logsql/query "
            f"--data-urlencode {shlex.quote(f'query=_time:5m {stream} severity_text:=ERROR')}",
            f"LogQL (Loki API) {s.url('loki-api')}/loki/api/v1/query_range?{logql}",
            f"                 sentio logs query {tail_cmd}"
            "   (Grafana: the Sentio Loki datasource)",
            f"Jaeger           {jaeger}/api/traces?service={urllib.parse.quote(svc)}&limit=5   "
            f"(one trace: {jaeger}/api/traces/<trace_id>)",
            f"Dashboards       {vm}/vmui/#/dashboards   (Sentio's, in VictoriaMetrics' UI)",
            f"vmalert          {s.url('vmalert')}/vmalert/groups   Alertmanager {am}/api/v2/alerts",
            "Ctrl-C stops the workload and the stack.",
        ]
    )


def print_where_to_look(config: SentioConfig, slack: str) -> None:
    """Print the welcome text: boxed on a terminal, whole lines otherwise (for copy and paste)."""
    text = f"{where_to_look(config)}\n{slack}"
    if out.is_terminal:
        out.print(Panel(text, title="Sentio demo is running"))
    else:
        print("Sentio demo is running", text, sep="\n", flush=True)


def _print_slack(message: Message) -> None:
    print(f"Slack (local): {message.text()}", flush=True)


def provision_demo(config: SentioConfig, plant: Plant) -> str:
    """Provision rules, Alertmanager and dashboards; return where the Slack messages go.

    Without a webhook configured, Alertmanager's Slack messages go to a local receiver that
    prints them here.
    """
    from sentio.dashboards.alertmanager import slack_secret
    from sentio.dashboards.provision import apply, write_secret
    from sentio.simulators.slack import SlackReceiver

    if slack_secret(config) is not None:
        apply(config, lambda _m: None)
        return "Slack            alerts go to the configured incoming webhook"
    receiver = SlackReceiver(host=config.stack.host, on_message=_print_slack)
    plant.run(receiver.start())
    plant.on_stop(receiver.stop)
    url = receiver.url
    if config.stack.host in {"0.0.0.0", "::"}:  # noqa: S104
        # in a container beside Alertmanager's: the name it reaches this one by (compose's
        # `hostname:`)
        url = url.replace(f"//{config.stack.host}:", f"//{socket.gethostname()}:", 1)
    hook = config.stack.stack_config_dir() / "secrets" / "demo-slack-webhook-url"
    write_secret(config, hook, url + "\n")
    slack = config.alerting.slack.model_copy(update={"webhook_url_file": hook})
    alerting = config.alerting.model_copy(update={"slack": slack})
    apply(config.model_copy(update={"alerting": alerting}), lambda _m: None)
    return (
        f"Slack            no webhook configured: Alertmanager's messages go to {url}"
        " and are printed here"
    )


def run_demo(
    config: SentioConfig,
    duration: float | None = None,
    manage_stack: bool = True,
    faults: Sequence[tuple[Target, Fault]] = (),
    fault_after_s: float = 120.0,
) -> None:
    """Run the demo until Ctrl-C (or ``duration``), then stop what it started."""
    from sentio.demo_plant import Plant, demo_fleet
    from sentio.simulators.mosquitto import find_mosquitto

    mosquitto = find_mosquitto()
    fleet = demo_fleet(zigbee=mosquitto is not None)
    fleet.check(faults)
    context = stack_running(config, out.print) if manage_stack else contextlib.nullcontext(False)
    with context:
        telemetry = setup(config)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
        deadline = None if duration is None else time.monotonic() + duration
        plant = Plant(config, telemetry, fleet, faults, fault_after_s, out.print, mosquitto)
        try:
            plant.start()
            slack = provision_demo(config, plant)
            emitter = DemoEmitter(telemetry)
            print_where_to_look(config, slack)
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                emitter.cycle()
                stop.wait(5.0)
        except KeyboardInterrupt:
            pass
        finally:
            out.print("stopping…")
            # a stop that takes longer than this dumps every thread's stack to stderr
            faulthandler.dump_traceback_later(STOP_DUMP_AFTER_S, repeat=True)
            plant.stop()
            telemetry.shutdown()
            faulthandler.cancel_dump_traceback_later()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
