"""The `dealdesk` command: up, worker, api, seed, migrate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Sequence

import uvicorn
from pydantic import ValidationError

from dealdesk.settings import Settings, get_settings


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as err:
        messages = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in err.errors()
        )
        raise SystemExit(f"dealdesk: invalid configuration: {messages}") from None


def _prepare_database(settings: Settings) -> None:
    from dealdesk.seed import seed_demo
    from store.db import create_schema, make_engine, session_factory

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    create_schema(engine)
    if settings.seed_demo_data:
        done = seed_demo(session_factory(engine))
        if done:
            print(f"seeded: {', '.join(done)}")
    engine.dispose()


async def _serve(
    settings: Settings, *, with_worker: bool, with_api: bool, banner: str | None = None
) -> None:
    from activities.notify import mailer_from_settings
    from api.main import create_app
    from dealdesk import temporal
    from dealdesk.worker import build_worker
    from store.db import make_engine, session_factory

    client = await temporal.connect(settings)
    engine = make_engine(settings.effective_database_url)
    tasks: list[asyncio.Task[None]] = []
    worker = None
    if with_worker:
        worker = build_worker(
            client,
            settings=settings,
            sessions=session_factory(engine),
            mailer=mailer_from_settings(settings),
        )
        tasks.append(asyncio.create_task(worker.run()))
    server = None
    if with_api:
        app = create_app(settings, engine=engine, temporal=client)
        config = uvicorn.Config(
            app, host=settings.api_host, port=settings.api_port, log_level="warning"
        )
        server = uvicorn.Server(config)
        tasks.append(asyncio.create_task(server.serve()))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if server is not None:
        # uvicorn installs its own handlers once serving; the API task ending means a signal came.
        tasks[-1].add_done_callback(lambda _: stop.set())
        # uvicorn exposes readiness only as a flag, so poll it briefly.
        while not server.started and not tasks[-1].done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    if banner is not None:
        print(banner, flush=True)
    await stop.wait()
    if server is not None:
        server.should_exit = True
    if worker is not None:
        await worker.shutdown()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    engine.dispose()


def _banner(settings: Settings) -> str:
    from dealdesk.seed import DEMO_USERS

    users = "\n".join(
        f"    {u.username:<6} / {u.password:<11} {', '.join(u.roles)}"
        + (f"; approves as {', '.join(u.approval_roles)}" if u.approval_roles else "")
        for u in DEMO_USERS
    )
    host = settings.temporal_address.rpartition(":")[0] or "127.0.0.1"
    lines = [
        "",
        "DealDesk is up.",
        f"  API docs     {settings.base_url}/docs",
        f"  API          {settings.base_url}/api/v1",
    ]
    if settings.temporal_dev_server:
        lines.append(f"  Temporal UI  http://{host}:{settings.temporal_ui_port}")
    lines.append(f"  Data         {settings.data_dir.resolve()}")
    if settings.seed_demo_data:
        lines += ["  Demo users (username / password, roles):", users]
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


def cmd_up(settings: Settings) -> None:
    from dealdesk.devserver import DevServerError, start_dev_server, wait_until_ready

    _prepare_database(settings)
    process: subprocess.Popen[bytes] | None = None
    try:
        if settings.temporal_dev_server:
            process = start_dev_server(settings)
            try:
                asyncio.run(wait_until_ready(settings, process))
            except DevServerError as err:
                raise SystemExit(f"dealdesk: {err}") from None
        asyncio.run(_serve(settings, with_worker=True, with_api=True, banner=_banner(settings)))
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        print("DealDesk stopped.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dealdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start Temporal (dev server), the worker and the API")
    sub.add_parser("worker", help="run a worker against DEALDESK_TEMPORAL_ADDRESS")
    sub.add_parser("api", help="serve the API against DEALDESK_TEMPORAL_ADDRESS")
    sub.add_parser("migrate", help="create or update the database schema")
    sub.add_parser("seed", help="add the demo data that is missing (development only)")
    args = parser.parse_args(argv)
    settings = _settings()
    if args.command == "up":
        cmd_up(settings)
    elif args.command == "worker":
        asyncio.run(_serve(settings, with_worker=True, with_api=False))
    elif args.command == "api":
        asyncio.run(_serve(settings, with_worker=False, with_api=True))
    elif args.command == "migrate":
        from store.db import create_schema, make_engine

        create_schema(make_engine(settings.effective_database_url))
        print("schema up to date")
    elif args.command == "seed":
        if settings.mode != "development":
            raise SystemExit("dealdesk: demo data is seeded only in development mode")
        _prepare_database(settings)


if __name__ == "__main__":
    main(sys.argv[1:])
