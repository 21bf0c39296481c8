"""SmtpTransport against real aiosmtpd servers: STARTTLS, implicit TLS, login, and how refusals are classed."""

import asyncio
import dataclasses
import datetime
import ipaddress
import ssl

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crm.mail.transport import PermanentFailure, SmtpTransport, TemporaryFailure
from crm.settings import MailSettings
from tests.mail.smtp_server import ScriptedHandler, start_server

MESSAGE = "Subject: Thư mục\r\nMessage-ID: <t1@thuvien.demo.edu.vn>\r\n\r\nKính gửi Thầy An,\r\n".encode()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(b"thuvien", b"mat-khau-dung")
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


async def _serve(handler: ScriptedHandler, **options) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    tls = options.pop("ssl", None)

    def protocol():
        smtp = SMTP(handler, hostname="mx.test", loop=loop, **options)
        original = smtp.connection_made

        def connection_made(transport):
            handler.sessions += 1
            handler.transports.append(transport)
            original(transport)

        smtp.connection_made = connection_made
        return smtp

    server = await loop.create_server(protocol, host="127.0.0.1", port=0, ssl=tls)
    return server, server.sockets[0].getsockname()[1]


async def _close(server: asyncio.Server, handler: ScriptedHandler) -> None:
    server.close()
    for transport in handler.transports:
        transport.close()


async def test_starttls_and_login(certificate):
    server_tls, client_tls = certificate
    handler = ScriptedHandler()
    server, port = await _serve(handler, tls_context=server_tls, require_starttls=True, auth_required=True,
                                authenticator=_authenticator)
    mail = MailSettings(port=port, tls="starttls", user="thuvien", password="mat-khau-dung", embedded_sink=False)
    transport = SmtpTransport(mail, tls_context=client_tls)
    try:
        await transport.send("bounces+o1-00000000@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
        await transport.send("bounces+o2-00000000@thuvien.demo.edu.vn", ["lan@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await _close(server, handler)
    assert [r.rcpt_tos for r in handler.received] == [["an@demo.edu.vn"], ["lan@demo.edu.vn"]]
    assert transport.sessions_opened == 1  # one session (TLS-upgraded once) carried both

    # A wrong password stops sending (every message would fail the same way), and retries later.
    handler = ScriptedHandler()
    server, port = await _serve(handler, tls_context=server_tls, require_starttls=True, auth_required=True,
                                authenticator=_authenticator)
    transport = SmtpTransport(dataclasses.replace(mail, port=port, password="sai"), tls_context=client_tls)
    try:
        with pytest.raises(TemporaryFailure) as refused:
            await transport.send("bounces@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await _close(server, handler)
    assert refused.value.server_unavailable and "login refused" in refused.value.message
    assert "535" in refused.value.message and handler.received == []


async def test_a_server_that_requires_starttls_is_a_configuration_problem_not_a_failed_message(certificate):
    server_tls, _client = certificate
    handler = ScriptedHandler()
    server, port = await _serve(handler, tls_context=server_tls, require_starttls=True)
    transport = SmtpTransport(MailSettings(port=port, tls="none", embedded_sink=False))
    try:
        with pytest.raises(TemporaryFailure) as refused:
            await transport.send("bounces@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await _close(server, handler)
    assert refused.value.server_unavailable and "530" in refused.value.message


async def test_implicit_tls(certificate):
    server_tls, client_tls = certificate
    handler = ScriptedHandler()
    server, port = await _serve(handler, ssl=server_tls)
    transport = SmtpTransport(MailSettings(port=port, tls="ssl", embedded_sink=False), tls_context=client_tls)
    try:
        await transport.send("bounces@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await _close(server, handler)
    assert len(handler.received) == 1

    # Without trusting the certificate, nothing is sent.
    handler = ScriptedHandler()
    server, port = await _serve(handler, ssl=server_tls)
    transport = SmtpTransport(MailSettings(port=port, tls="ssl", embedded_sink=False))
    try:
        with pytest.raises(TemporaryFailure) as untrusted:
            await transport.send("bounces@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await _close(server, handler)
    assert untrusted.value.server_unavailable and handler.received == []


async def test_refusals_are_classed_by_code_and_the_session_survives_them():
    server = await start_server(ScriptedHandler(data_replies=["452 4.3.1 Insufficient system storage",
                                                              "552 5.3.4 Message too big"]))
    server.handler.rcpt_replies["nobody@demo.edu.vn"] = "550 5.1.1 No such user"
    transport = SmtpTransport(MailSettings(port=server.port, embedded_sink=False))
    try:
        with pytest.raises(TemporaryFailure) as later:
            await transport.send("b@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
        assert later.value.message == "452 4.3.1 Insufficient system storage" and not later.value.server_unavailable
        with pytest.raises(PermanentFailure) as too_big:
            await transport.send("b@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
        assert (too_big.value.code, too_big.value.stage) == (552, "data")
        with pytest.raises(PermanentFailure) as unknown:
            await transport.send("b@thuvien.demo.edu.vn", ["nobody@demo.edu.vn"], MESSAGE)
        assert unknown.value.stage == "rcpt" and unknown.value.message == "550 5.1.1 No such user"
        await transport.send("b@thuvien.demo.edu.vn", ["an@demo.edu.vn"], MESSAGE)
        # A non-ASCII address goes out with SMTPUTF8 when the server offers it.
        await transport.send("b@thuvien.demo.edu.vn", ["nguyễn@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await server.stop()
    assert server.handler.sessions == 1  # every refusal kept the session
    assert [r.rcpt_tos for r in server.handler.received] == [["an@demo.edu.vn"], ["nguyễn@demo.edu.vn"]]


async def test_a_non_ascii_address_is_refused_locally_by_a_server_without_smtputf8():
    handler = ScriptedHandler()
    server, port = await _serve(handler)
    transport = SmtpTransport(MailSettings(port=port, embedded_sink=False))
    try:
        with pytest.raises(PermanentFailure) as refused:
            await transport.send("b@thuvien.demo.edu.vn", ["nguyễn@demo.edu.vn"], MESSAGE)
    finally:
        await transport.close()
        await _close(server, handler)
    assert refused.value.stage == "local" and "SMTPUTF8" in refused.value.message


def test_an_unknown_tls_mode_is_refused():
    with pytest.raises(ValueError):
        SmtpTransport(MailSettings(tls="tls"))
