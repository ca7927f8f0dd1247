"""A real HTTP server (uvicorn on a free port, in the test's event loop) and Debian's chromium.

Playwright drives /usr/bin/chromium; its own browser download is never used. The server runs
as a task in the same event loop as the tests, so the app shares the session's Temporal client.

`open_as` signs a user in, in a browser context of their own, and watches every page of it:
an uncaught exception, a console.error, or a server error (5xx) fails the test at teardown.
`snap` saves a screenshot under the run's output directory (pytest's base temporary directory,
`--basetemp` to choose it), printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import create_app
from dealdesk.settings import Settings

CHROMIUM = "/usr/bin/chromium"
_HAS_CHROMIUM = os.path.exists(CHROMIUM)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would replace the test runner's Ctrl-C handling with its own.
        yield


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _HAS_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (Debian chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
async def base_url(
    settings: Settings, engine: Engine, temporal_client: Client, worker: Worker
) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app_settings = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": port})
    app = create_app(app_settings, engine=engine, temporal=temporal_client)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()


# Chromium logs every 4xx answer to a fetch as a console error. The pages get them on purpose
# (a 422 is how the live price shows field errors, a 403 or 404 how a refusal looks): not
# JavaScript errors. Server errors are caught from the responses instead.
_NETWORK_NOTICE = re.compile(
    r"^Failed to load resource: the server responded with a status of 4\d\d"
)

SignIn = Callable[..., Awaitable[Page]]


def _watch(page: Page, problems: list[str]) -> None:
    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _NETWORK_NOTICE.match(message.text):
            problems.append(f"console error on {page.url}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"uncaught on {page.url}: {error}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} from {r.url}") if r.status >= 500 else None,
    )


@pytest.fixture
async def open_as(browser: Browser, base_url: str) -> AsyncIterator[SignIn]:
    problems: list[str] = []
    contexts: list[BrowserContext] = []

    async def sign_in(username: str, **options: object) -> Page:
        context = await browser.new_context(base_url=base_url, **options)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        context.on("page", lambda page: _watch(page, problems))
        contexts.append(context)
        page = await context.new_page()
        await page.goto("/login")
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(f"{username}-demo")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(re.compile(r"/(deals|inbox|finance|admin/policy)$"))
        return page

    yield sign_in
    for context in contexts:
        await context.close()
    assert problems == [], "JavaScript or server errors in the browser:\n" + "\n".join(problems)


SCREENSHOTS = "screenshots"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / SCREENSHOTS
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def snap(screenshot_dir: Path) -> Callable[[Page, str], Awaitable[None]]:
    async def take(page: Page, name: str) -> None:
        await page.screenshot(path=screenshot_dir / f"{name}.png", full_page=True)

    return take


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    folder = terminalreporter.config._tmp_path_factory.getbasetemp() / SCREENSHOTS  # type: ignore[attr-defined]
    if folder.is_dir():
        terminalreporter.write_line(f"Screenshots of the web app: {folder}")
