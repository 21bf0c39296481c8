"""An SMTP sink in a process of its own that appends "recipient<TAB>Message-ID" per accepted message.

    python -m tests.mail.recording_sink LOG PORT_FILE [--stall-after N --release-file PATH]

Used by the crash test: the sender under test is killed with SIGKILL while this process keeps
running, so what was really delivered is known. With ``--stall-after N`` the sink holds every
RCPT TO after the N-th accepted message until ``--release-file`` exists: the sender is then
killed at a moment when all it has handed over was acknowledged and nothing is half-sent.
"""

import argparse
import asyncio
import logging
import os
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import SMTP


class RecordingHandler:
    def __init__(self, log: Path, stall_after: int | None, release: Path | None) -> None:
        self.log = log.open("a", buffering=1)
        self.accepted = 0
        self.stall_after = stall_after
        self.release = release

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall_after is not None and self.accepted >= self.stall_after and self.release is not None:
            while not self.release.exists():
                await asyncio.sleep(0.02)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        for rcpt in envelope.rcpt_tos:
            self.log.write(f"{rcpt}\t{headers.get('Message-ID', '')}\n")
        self.log.flush()
        self.accepted += 1
        return "250 2.0.0 Ok: queued"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("log", type=Path)
    parser.add_argument("port_file", type=Path)
    parser.add_argument("--stall-after", type=int, default=None)
    parser.add_argument("--release-file", type=Path, default=None)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    handler = RecordingHandler(args.log, args.stall_after, args.release_file)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="crash-sink", loop=loop),
                                      host="127.0.0.1", port=0)
    temporary = args.port_file.with_suffix(".tmp")
    temporary.write_text(str(server.sockets[0].getsockname()[1]))
    os.replace(temporary, args.port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
