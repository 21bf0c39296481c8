"""Crash test: 1,000 digests, `crm send --loop` killed with SIGKILL partway, started again.

The SMTP sink runs in another process and records every message it accepted. Afterwards every
recipient must have its digest, and the Message-IDs are the ones queued.

Two kills: (1) at a moment when everything handed to the server was acknowledged and nothing is
half-sent (the sink holds new RCPTs) — then exactly one message per recipient, none lost, none
twice; (2) at an arbitrary moment of full-speed sending — none lost, and the only repeats are
messages that were in flight (at most one per SMTP session) and carry the same Message-ID, so a
receiver can drop them (see crm.mail.sender: the window between the server's 250 and our commit).
Runs on the file-based SQLite database of the test, or on PostgreSQL with CRM_TEST_DATABASE_URL.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.mail.models import OutboxMessage
from crm.mail.outbox import enqueue, format_address

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 1000
CONNECTIONS = 4
LEASE_SECONDS = 2
DEADLINE = 120


async def _queue_digests(session_maker, count: int) -> dict[str, str]:
    """Queue ``count`` digests to distinct recipients; recipient → Message-ID."""
    expected = {}
    async with session_maker() as s, s.begin():
        for n in range(count):
            email = f"gv{n:04d}@demo.edu.vn"
            row = await enqueue(s, key=f"digest:{n}:{n}:2026-W47", kind="digest",
                                sender="Thư viện <thu-vien@thuvien.demo.edu.vn>",
                                to=format_address(f"Nguyễn Văn {n}", email),
                                subject="Thư mục tài liệu mới theo chuyên ngành – tuần 47",
                                text=f"Kính gửi Thầy/Cô,\nBản tin số {n}: 12 tài liệu mới về thư viện số.\n" * 5,
                                html=f"<p>Bản tin số {n}</p>" * 5)
            expected[email] = row.message_id
    return expected


class Harness:
    def __init__(self, tmp: Path, settings) -> None:
        self.tmp = tmp
        self.settings = settings
        self.log = tmp / "delivered.tsv"
        self.port_file = tmp / "sink.port"
        self.release = tmp / "release"
        self.processes: list[subprocess.Popen] = []

    def start_sink(self, stall_after: int | None) -> int:
        args = [sys.executable, "-m", "tests.mail.recording_sink", str(self.log), str(self.port_file)]
        if stall_after is not None:
            args += ["--stall-after", str(stall_after), "--release-file", str(self.release)]
        self.processes.append(subprocess.Popen(args, cwd=ROOT))
        deadline = time.monotonic() + 20
        while not self.port_file.exists():
            assert time.monotonic() < deadline, "the sink did not start"
            time.sleep(0.05)
        return int(self.port_file.read_text())

    def start_sender(self, port: int) -> subprocess.Popen:
        env = {**os.environ, "CRM_DATABASE_URL": self.settings.database.url, "CRM_SMTP_HOST": "127.0.0.1",
               "CRM_SMTP_PORT": str(port), "CRM_SMTP_SINK": "0", "CRM_SECRET_KEY": self.settings.secret_key,
               "CRM_VAR_DIR": str(self.tmp), "CRM_MAIL_RETURN_PATH": "bounces@thuvien.demo.edu.vn",
               "CRM_RUN_SCHEDULER": "0"}
        process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "crm"), "send", "--loop", "--interval", "0.2", "--lease", str(LEASE_SECONDS),
             "--connections", str(CONNECTIONS), "--worker-id", f"crash-{len(self.processes)}"],
            cwd=self.tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    def delivered(self) -> list[tuple[str, str]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]  # type: ignore[misc]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def harness(tmp_path, settings):
    h = Harness(tmp_path, settings)
    yield h
    h.stop_all()


async def _sent(session_maker) -> int:
    async with session_maker() as s:
        return await s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent"))


async def _wait_until(predicate, what: str, timeout: float = DEADLINE, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the sender exited ({process.returncode}): {process.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _finish_after_restart(harness: Harness, session_maker, port: int) -> None:
    second = harness.start_sender(port)

    async def all_sent() -> bool:
        return await _sent(session_maker) == MESSAGES

    await _wait_until(all_sent, "every message to be sent after the restart", process=second)
    second.send_signal(signal.SIGTERM)  # a graceful stop this time
    assert second.wait(timeout=30) == 0


async def test_kill_when_nothing_is_half_sent_delivers_each_digest_exactly_once(harness, session_maker):
    expected = await _queue_digests(session_maker, MESSAGES)
    port = harness.start_sink(stall_after=MESSAGES // 3)
    first = harness.start_sender(port)

    async def stalled() -> bool:
        # The sink holds new messages; wait until everything it accepted is committed as sent.
        accepted = len(harness.delivered())
        return accepted >= MESSAGES // 3 and await _sent(session_maker) == accepted

    await _wait_until(stalled, "the first third to be delivered and committed", process=first)
    first.kill()  # SIGKILL: no cleanup, its claimed rows stay "sending" under a lease
    first.wait(timeout=10)
    async with session_maker() as s:
        stranded = await s.scalar(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.status == "sending"))
    assert stranded > 0, "the kill should leave claimed rows behind"
    harness.release.touch()

    await _finish_after_restart(harness, session_maker, port)
    delivered = harness.delivered()
    per_recipient = Counter(rcpt for rcpt, _mid in delivered)
    assert set(per_recipient) == set(expected)
    assert set(per_recipient.values()) == {1}, [r for r, n in per_recipient.items() if n > 1]
    message_ids = [mid for _rcpt, mid in delivered]
    assert len(message_ids) == MESSAGES and len(set(message_ids)) == MESSAGES
    assert dict(delivered) == expected


async def test_kill_at_an_arbitrary_moment_loses_nothing_and_repeats_only_in_flight_messages(harness, session_maker):
    expected = await _queue_digests(session_maker, MESSAGES)
    port = harness.start_sink(stall_after=None)
    first = harness.start_sender(port)

    async def partway() -> bool:
        return len(harness.delivered()) >= MESSAGES // 3

    await _wait_until(partway, "a third of the messages to be delivered", process=first)
    first.kill()
    first.wait(timeout=10)
    killed_after = len(harness.delivered())
    assert killed_after < MESSAGES, "the sender finished before it could be killed"

    await _finish_after_restart(harness, session_maker, port)
    delivered = harness.delivered()
    per_recipient = Counter(rcpt for rcpt, _mid in delivered)
    assert set(per_recipient) == set(expected)  # none lost
    repeats = {r: n for r, n in per_recipient.items() if n > 1}
    print(f"killed after {killed_after} deliveries; {len(repeats)} message(s) delivered twice (in flight at the kill)")
    assert sum(n - 1 for n in repeats.values()) <= CONNECTIONS, repeats
    # A repeat is the same message: the same Message-ID, so receivers can drop it.
    assert {(rcpt, expected[rcpt]) for rcpt, _ in delivered} == set(delivered)
    assert len({mid for _rcpt, mid in delivered}) == MESSAGES
