"""A null-modem cable made of two pseudo-terminals, so the RTU path runs without hardware.

The simulator's serial server opens one slave end and the agent opens the other (through a
symlink declared in the plant file); bytes written on either side are relayed to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path


class PtyCable:
    def __init__(self, link: Path) -> None:
        self.link = link
        self._device_master, self._device_slave = os.openpty()
        self._agent_master, self._agent_slave = os.openpty()
        for fd in (self._device_slave, self._agent_slave):
            tty.setraw(fd)  # no echo or newline translation before the serial port is opened
        self.device_path = os.ttyname(self._device_slave)
        self.agent_path = os.ttyname(self._agent_slave)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        self.link.parent.mkdir(parents=True, exist_ok=True)
        self.link.symlink_to(self.agent_path)
        self._loop = loop
        loop.add_reader(self._device_master, self._relay, self._device_master, self._agent_master)
        loop.add_reader(self._agent_master, self._relay, self._agent_master, self._device_master)

    @staticmethod
    def _relay(source: int, sink: int) -> None:
        try:
            data = os.read(source, 4096)
        except OSError:
            return
        if data:
            os.write(sink, data)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._device_master)
            self._loop.remove_reader(self._agent_master)
        with contextlib.suppress(FileNotFoundError):
            if self.link.is_symlink():
                self.link.unlink()
        for fd in (self._device_master, self._device_slave, self._agent_master, self._agent_slave):
            with contextlib.suppress(OSError):
                os.close(fd)
