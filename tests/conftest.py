"""Fixtures shared by every test package. Each group below is owned by one part of
the tree; keep new fixtures in a group of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from hramada.relay.config import RelayConfig


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio only."""
    return "asyncio"


# ==================================================================================
# Relay: an in-process relay (ASGI, no sockets) and a real relay process.
# ==================================================================================

RELAY_START_TIMEOUT = 20.0
RELAY_STOP_TIMEOUT = 15.0


@dataclass
class InProcessRelay:
    """A relay app with its lifespan running, reached through ``httpx.ASGITransport``."""

    app: Any
    config: RelayConfig
    db_path: Path
    _stack: AsyncExitStack = field(repr=False)

    async def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """An HTTP client that appears to the relay as coming from ``address``."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        return await self._stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://relay.test"))


@pytest.fixture
async def relay_asgi(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[InProcessRelay]]]:
    """Factory: ``relay = await relay_asgi(**config_overrides)`` starts an in-process
    relay on a fresh SQLite file (rate limit off unless overridden); everything is
    shut down at teardown."""
    from hramada.relay.app import create_app
    from hramada.relay.config import RelayConfig

    async with AsyncExitStack() as stack:
        count = 0

        async def start(**overrides: Any) -> InProcessRelay:
            nonlocal count
            count += 1
            db_path = tmp_path / f"relay-{count}.sqlite3"
            settings: dict[str, Any] = {"db_url": f"sqlite:///{db_path}", "rate": 0.0}
            settings.update(overrides)
            config = RelayConfig(**settings)
            app = create_app(config)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return InProcessRelay(app, config, db_path, stack)

        yield start


@dataclass
class RelayProcess:
    """A relay started with ``python -m hramada.relay serve`` on 127.0.0.1."""

    proc: subprocess.Popen
    url: str
    db_path: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Ask the relay to stop (SIGTERM by default); kill it if it has not stopped
        within the timeout. Returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=RELAY_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=RELAY_STOP_TIMEOUT)
        return self.proc.returncode


@pytest.fixture
def relay_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RelayProcess]]:
    """Factory: ``relay = relay_process("--rate", "0", env={...})`` starts a real relay
    subprocess bound to 127.0.0.1 on a free port with a fresh SQLite file, and waits
    (at most 20 s) for its "listening" line. Every relay started is stopped at teardown."""
    started: list[RelayProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> RelayProcess:
        folder = tmp_path_factory.mktemp("relay")
        db_path = folder / "relay.sqlite3"
        stdout_path, stderr_path = folder / "stdout.txt", folder / "stderr.txt"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
        environ.update(env or {})
        cmd = [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1",
               "--port", "0", "--db", f"sqlite:///{db_path}", *args]
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    env=environ)
        relay = RelayProcess(proc, "", db_path, stdout_path, stderr_path)
        started.append(relay)
        deadline = time.monotonic() + RELAY_START_TIMEOUT
        prefix = "hramada relay listening on "
        while True:
            line = relay.stdout_text().partition("\n")[0]
            if line.startswith(prefix) and relay.stdout_text().endswith("\n"):
                relay.url = line[len(prefix):]
                return relay
            if proc.poll() is not None or time.monotonic() > deadline:
                relay.stop()
                raise RuntimeError(f"the relay did not start: {relay.stderr_text()[-2000:]}")
            time.sleep(0.02)

    yield start
    for relay in started:
        relay.stop()


# ==================================================================================
# Profiles: the one passphrase tests use (new passphrases must be strong).
# ==================================================================================

# Five random words: zxcvbn puts it far above the strength a new passphrase needs.
# Test modules import it with ``from conftest import PASSPHRASE``.
PASSPHRASE = "quiet lantern orbit meadow thistle"


# ==================================================================================
# Client: bringing a person into a group the way the CLI does it.
# ==================================================================================

async def _bring_in(admin: Any, newcomer: Any, group: str, vouchers: tuple = ()) -> str:
    """``admin`` invites ``newcomer``; ``admin`` and ``vouchers`` vouch; ``admin`` admits;
    the newcomer syncs. Returns the join request id."""
    join = await newcomer.join((await admin.invite(group))["code"])
    for person in (admin, *vouchers):
        await person.vouch(group, join.request)
    await admin.admit(group, join.request)
    await newcomer.sync()
    return join.request


@pytest.fixture
def bring_in() -> Callable[..., Awaitable[str]]:
    """``await bring_in(admin, newcomer, group, vouchers=(...))``: the whole admission."""
    return _bring_in
