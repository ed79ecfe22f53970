"""Agent CPU per device poll and per value, peak RSS: 50 devices at 1 Hz, outbox and publishing
included; beside it, the floor: a bare pymodbus client (bench.modbus_floor) reading the same
planned blocks from the same devices, measured the same way right after the agent.

The agent runs as its own process (`batchmeter-agent run`) against bench.modbus_server
(one port per device, as 50 meters with their own IPs would be), a real Mosquitto and a
test acker that acknowledges every message, so the whole path is exercised. CPU comes
from /proc/<pid>/stat over a window after a warm-up; RSS is VmHWM.

Run: `.venv/bin/python -m bench.agent_cost [--devices 50] [--interval 1.0] [--window 20]
[--no-floor] [--cprofile PATH]` (`--cprofile` runs the agent under cProfile and writes its
stats to PATH at the agent's clean stop; its CPU figure then includes cProfile's overhead).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.plan import plan_profile
from bench.procstat import cpu_seconds
from config.profile import load_profile
from tests.agent_harness import Acker, gateway_dict, write_config
from tests.servers import Mosquitto, wait_until

ROOT = Path(__file__).parents[1]



def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_PROFILED = """
import cProfile, runpy, sys, time
profile = cProfile.Profile(time.process_time)  # CPU time: waits on the loop or fsync do not count
sys.argv[0] = "agent"
profile.enable()
try:
    runpy.run_module("agent", run_name="__main__")
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats({out!r})
"""
"""The agent under cProfile timed by process_time: `python -c` this, then agent's own argv."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--profile", default="sdm630")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare pymodbus floor")
    parser.add_argument("--cprofile", type=Path, help="run the agent under cProfile, stats to this file")
    return parser.parse_args()


def _stop(process: subprocess.Popen[Any] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # seen once: the agent ignoring SIGTERM (see report)
            process.kill()
            process.wait(10)


def _measure_agent(args: argparse.Namespace, work: Path, ports: list[int], broker: Mosquitto,
                   env: dict[str, str]) -> tuple[float, int, int]:
    """(CPU seconds, device polls, values) of the agent over the window, after a warm-up."""
    connections = {f"c{i}": {"type": "tcp", "host": "127.0.0.1", "port": p} for i, p in enumerate(ports)}
    devices = [{"id": f"m{i}", "connection": f"c{i}", "unit": 1, "profile": args.profile,
                "poll_interval": args.interval} for i in range(len(ports))]
    data = gateway_dict(broker.port, work / "o.sqlite", connections, devices)
    config = write_config(work / "gw.yaml", data)
    argv = [sys.executable, "-m", "agent", "run", "--config", str(config)]
    if args.cprofile:
        argv[1:3] = ["-c", _PROFILED.format(out=str(args.cprofile))]
    acker = Acker(broker.host, broker.port)
    agent = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(acker.messages) >= 5, 60, "agent warm-up")
        cpu0, polls0 = cpu_seconds(agent.pid), len(acker.readings())
        time.sleep(args.window)  # the measurement window (a benchmark, not a test)
        cpu1, polls1 = cpu_seconds(agent.pid), len(acker.readings())
        polls = polls1 - polls0
        values = sum(len(r.get("values", {})) for r in acker.readings()[-polls:]) if polls else 0
        print(f"agent peak RSS: {peak_rss_mb(agent.pid):.1f} MB")
        return cpu1 - cpu0, polls, values
    finally:
        _stop(agent)
        acker.close()


def _measure_floor(args: argparse.Namespace, ports: list[int], env: dict[str, str]) -> tuple[float, int]:
    """(CPU seconds, device polls) of a bare pymodbus loop over the same window and devices."""
    argv = [sys.executable, "-m", "bench.modbus_floor", "--ports", ",".join(map(str, ports)),
            "--profile", args.profile, "--interval", str(args.interval)]
    floor = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert floor.stdout is not None
        assert floor.stdout.readline().strip() == "READY", "bench.modbus_floor did not start"
        time.sleep(3 * args.interval)  # warm-up: connections made, first cycles done
        cpu0 = cpu_seconds(floor.pid)
        time.sleep(args.window)
        cpu1 = cpu_seconds(floor.pid)
        floor.terminate()
        tail = floor.communicate(timeout=10)[0].split()
        late = int(tail[tail.index("LATE") + 1]) if "LATE" in tail else -1
        cycles = round(args.window / args.interval)
        print(f"floor: {cycles} cycles in the window, {late} late in the whole run")
        return cpu1 - cpu0, cycles * len(ports)
    finally:
        _stop(floor)


def _report(label: str, cpu: float, polls: int, values: int, window: float) -> float:
    per_poll = 1e6 * cpu / max(polls, 1)
    per_value = 1e6 * cpu / max(values, 1)
    print(f"{label} CPU per device poll: {per_poll:.0f} us, per value: {per_value:.1f} us "
          f"(CPU {100 * cpu / window:.1f} % of one core, {polls} polls, "
          f"{values / max(polls, 1):.1f} values/poll)")
    return per_poll


def main() -> None:
    args = _arguments()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mqtt").start()
        server_argv = [sys.executable, "-m", "bench.modbus_server", "--devices", str(args.devices),
                       "--profile", args.profile]
        server = subprocess.Popen(server_argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            ports = [int(p) for p in server.stdout.readline().split()[1:]]
            blocks = len(plan_profile(load_profile(args.profile)))
            print(f"devices={len(ports)} interval={args.interval}s window={args.window}s "
                  f"profile={args.profile} requests/poll={blocks}")
            cpu, polls, values = _measure_agent(args, work, ports, broker, env)
            agent_us = _report("agent", cpu, polls, values, args.window)
            if not args.no_floor:
                floor_cpu, floor_polls = _measure_floor(args, ports, env)
                floor_us = _report("floor (bare pymodbus, no outbox, no MQTT)", floor_cpu, floor_polls,
                                   floor_polls * values // max(polls, 1), args.window)
                print(f"agent / floor: {agent_us / max(floor_us, 1e-9):.2f}")
        finally:
            _stop(server)
            broker.stop()


if __name__ == "__main__":
    main()
