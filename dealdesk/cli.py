"""The `dealdesk` command: up, worker, api, seed, migrate, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import uvicorn
from pydantic import ValidationError

from dealdesk.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as err:
        messages = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in err.errors()
        )
        raise SystemExit(f"dealdesk: invalid configuration: {messages}") from None


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """An engine for a CLI step; a database that cannot be reached or migrated ends the command
    with one line saying why, not a traceback."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from store.db import make_engine
    from store.migrate import MigrationError

    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        engine = make_engine(settings.effective_database_url)
    except SQLAlchemyError as err:
        raise SystemExit(f"dealdesk: DEALDESK_DATABASE_URL cannot be used: {err}") from None
    try:
        yield engine
    except MigrationError as err:
        raise SystemExit(f"dealdesk: {err}") from None
    except DBAPIError as err:
        raise SystemExit(f"dealdesk: the database cannot be used: {err.orig}") from None
    finally:
        engine.dispose()


def _ensure_schema(settings: Settings, engine: Engine) -> None:
    """Start-up check: the database must be at the newest migration. Only an empty database in
    development is migrated here, so `make run` works from nothing; anything else is the job
    of `dealdesk migrate`, run once per deploy, not by every replica racing at start-up."""
    from store import migrate

    if settings.mode == "development" and migrate.is_empty(engine):
        migrate.upgrade(engine)
        print(f"database created at schema revision {migrate.head_revision()}")
    migrate.check(engine)


def _check_temporal_settings(settings: Settings) -> None:
    from dealdesk.temporal import TemporalConfigError, tls_config

    try:
        tls_config(settings)
    except TemporalConfigError as err:
        raise SystemExit(f"dealdesk: {err}") from None


def _prepare_database(settings: Settings) -> None:
    from dealdesk.seed import seed_demo
    from store.db import session_factory

    with _database(settings) as engine:
        _ensure_schema(settings, engine)
        if settings.seed_demo_data:
            done = seed_demo(session_factory(engine))
            if done:
                print(f"seeded: {', '.join(done)}")


def cmd_migrate(settings: Settings) -> None:
    from store import migrate

    with _database(settings) as engine:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    if before == after:
        print(f"database schema already at revision {after} (newest)")
    else:
        print(f"database schema migrated from {before or 'empty'} to revision {after}")


def cmd_audit_verify(settings: Settings) -> None:
    """Walk the whole audit chain; exit 1 with the first broken position and why."""
    from store import audit, migrate
    from store.db import session_factory

    with _database(settings) as engine:
        migrate.check(engine)
        with session_factory(engine)() as session:
            started = time.perf_counter()
            verdict = audit.verify(session)
            took = time.perf_counter() - started
    if not verdict.ok:
        raise SystemExit(f"dealdesk: {verdict.message()}")
    print(f"{verdict.message()} (verified in {took:.2f} s)")


async def _serve(
    settings: Settings, *, with_worker: bool, with_api: bool, banner: str | None = None
) -> None:
    from activities.notify import mailer_from_settings
    from api.main import create_app
    from dealdesk import temporal
    from dealdesk.telemetry import runtime_for
    from dealdesk.worker import build_worker
    from store.db import make_engine, session_factory

    try:
        # Binds the worker's metrics endpoint, if it has one: a taken port stops start-up here.
        runtime = runtime_for(settings, worker=with_worker)
    except (RuntimeError, ValueError) as err:
        raise SystemExit(f"dealdesk: cannot start Temporal telemetry: {err}") from None
    try:
        client = await temporal.connect(settings, runtime=runtime)
    except (RuntimeError, temporal.TemporalConfigError) as err:
        raise SystemExit(
            f"dealdesk: cannot connect to Temporal at {settings.temporal_address}: {err}"
        ) from None
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
        # log_config=None: uvicorn's loggers (access log included) propagate to the handler
        # that dealdesk.logging put on the root logger, so they share its format.
        config = uvicorn.Config(
            app, host=settings.api_host, port=settings.api_port, log_config=None, log_level=None
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
        f"  Web app      {settings.base_url}/",
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
    _check_temporal_settings(settings)
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
    sub.add_parser("migrate", help="bring the database schema to the newest migration")
    sub.add_parser("seed", help="add the demo data that is missing (development only)")
    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="check every audit row against the hash chain (exit 1 if broken)"
    )
    args = parser.parse_args(argv)
    settings = _settings()
    from dealdesk.logging import configure_logging

    configure_logging(format=settings.effective_log_format, level=settings.log_level)
    if args.command == "up":
        cmd_up(settings)
    elif args.command in ("worker", "api"):
        with _database(settings) as engine:
            _ensure_schema(settings, engine)
        _check_temporal_settings(settings)
        worker = args.command == "worker"
        asyncio.run(_serve(settings, with_worker=worker, with_api=not worker))
    elif args.command == "migrate":
        cmd_migrate(settings)
    elif args.command == "audit":
        cmd_audit_verify(settings)
    elif args.command == "seed":
        if settings.mode != "development":
            raise SystemExit("dealdesk: demo data is seeded only in development mode")
        _prepare_database(settings)


if __name__ == "__main__":
    main(sys.argv[1:])
