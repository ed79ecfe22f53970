"""Agent CPU per device poll and peak RSS: 50 devices at 1 Hz, outbox and publishing included.

The agent runs as its own process (`batchmeter-agent run`) against bench.modbus_server
(one port per device, as 50 meters with their own IPs would be), a real Mosquitto and a
test acker that acknowledges every message, so the whole path is exercised. CPU comes
from /proc/<pid>/stat over a window after a warm-up; RSS is VmHWM.

Run: `.venv/bin/python -m bench.agent_cost [--devices 50] [--interval 1.0] [--window 20]`
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.agent_harness import Acker, gateway_dict, write_config
from tests.servers import Mosquitto, wait_until

ROOT = Path(__file__).parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--profile", default="sdm630")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mqtt").start()
        server_argv = [sys.executable, "-m", "bench.modbus_server", "--devices", str(args.devices),
                       "--profile", args.profile]
        server = subprocess.Popen(server_argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        agent: subprocess.Popen[bytes] | None = None
        acker = Acker(broker.host, broker.port)
        try:
            assert server.stdout is not None
            ports = [int(p) for p in server.stdout.readline().split()[1:]]
            connections = {f"c{i}": {"type": "tcp", "host": "127.0.0.1", "port": p}
                           for i, p in enumerate(ports)}
            devices = [{"id": f"m{i}", "connection": f"c{i}", "unit": 1, "profile": args.profile,
                        "poll_interval": args.interval} for i in range(len(ports))]
            data = gateway_dict(broker.port, work / "o.sqlite", connections, devices)
            config = write_config(work / "gw.yaml", data)
            agent = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: len(acker.messages) >= 5, 60, "agent warm-up")
            cpu0, polls0 = cpu_seconds(agent.pid), len(acker.readings())
            time.sleep(args.window)  # the measurement window (a benchmark, not a test)
            cpu1, polls1 = cpu_seconds(agent.pid), len(acker.readings())
            polls = polls1 - polls0
            values = sum(len(r.get("values", {})) for r in acker.readings()[-polls:])
            print(f"devices={len(ports)} interval={args.interval}s window={args.window}s polls={polls} "
                  f"values/poll={values / max(polls, 1):.1f}")
            print(f"agent CPU per device poll: {1e6 * (cpu1 - cpu0) / max(polls, 1):.0f} us "
                  f"(CPU {100 * (cpu1 - cpu0) / args.window:.1f} % of one core)")
            print(f"agent peak RSS: {peak_rss_mb(agent.pid):.1f} MB")
        finally:
            acker.close()
            for process in (agent, server):
                if process is not None:
                    process.terminate()
                    process.wait(10)
            broker.stop()


if __name__ == "__main__":
    main()
