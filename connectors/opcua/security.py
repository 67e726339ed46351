"""Message security: the server's endpoints checked against ours, and the client's certificate.

Without ``security.certificate`` the client uses a self-signed certificate kept in
``security.cert_dir`` (one pair per application URI: ``<uri>.der`` and ``<uri>.key.pem``),
generated once and reused until it expires, so the server needs to trust it only once.
The server's certificate is pinned by ``security.server_certificate``, or else trusted on first
use: the first certificate an endpoint presents is kept in ``<cert_dir>/trusted/`` and any other
one later is refused, with the command that accepts it. Folders are 0700, files 0600.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import cert_gen, security_policies, uacrypto
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from .config import Mode, OpcuaConfig, SecurityConfig
from .errors import OpcuaSecurityError, guard

log = logging.getLogger(__name__)
DEFAULT_APPLICATION_URI = "urn:sentio:opcua-client"
CERT_DAYS = 5 * 365
POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
}
_POLICY_URIS = {"None": security_policies.SecurityPolicyNone.URI} | {
    name: policy.URI for name, policy in POLICIES.items()
}
_MODES: dict[Mode, ua.MessageSecurityMode] = {
    "None": ua.MessageSecurityMode.None_,
    "Sign": ua.MessageSecurityMode.Sign,
    "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt,
}


@dataclass(frozen=True, slots=True)
class Material:
    """The client's certificate (DER), private key (PEM) and application URI, and a pinned peer."""

    certificate: bytes
    private_key: bytes
    application_uri: str
    server_certificate: bytes | None = None


def cert_files(cert_dir: Path, application_uri: str) -> tuple[Path, Path]:
    """Return where the generated certificate and key for ``application_uri`` live."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", application_uri).strip("_") or "client"
    return cert_dir / f"{slug}.der", cert_dir / f"{slug}.key.pem"


def client_certificate_file(security: SecurityConfig) -> Path:
    """Return the file of the certificate the client presents: configured, else generated."""
    if security.certificate is not None:
        return security.certificate
    uri = security.application_uri or DEFAULT_APPLICATION_URI
    return cert_files(security.cert_dir, uri)[0]


def untrusted(security: SecurityConfig, endpoint: str, cause: object) -> OpcuaSecurityError:
    """Return the error of a server that closed the secure channel we asked it to open."""
    return OpcuaSecurityError(
        f"{endpoint} closed the secure channel while Sentio opened it ({cause}): most likely it "
        f"has not trusted Sentio's client certificate yet; trust "
        f"{client_certificate_file(security)} on the server (many servers keep an unknown "
        "client certificate in their PKI's rejected folder until it is moved to trusted)"
    )


def _der(data: bytes) -> bytes:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data


def _uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.UniformResourceIdentifier))


def _same_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    der = serialization.Encoding.DER
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, info) == key.public_key().public_bytes(der, info)


def _reusable(cert_file: Path, key_file: Path, application_uri: str) -> Material | None:
    try:
        der, pem = cert_file.read_bytes(), key_file.read_bytes()
        cert = x509.load_der_x509_certificate(der)
        key = serialization.load_pem_private_key(pem, None)
    except (OSError, ValueError, TypeError):
        return None
    if cert.not_valid_after_utc <= datetime.now(UTC) or application_uri not in _uris(cert):
        return None
    return Material(der, pem, application_uri) if _same_key(cert, key) else None


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def trusted_file(cert_dir: Path, endpoint: str) -> Path:
    """Return where the certificate trusted on first use for ``endpoint`` is kept."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", endpoint).strip("_") or "server"
    return cert_dir / "trusted" / f"{slug}.der"


def trust_on_first_use(cert_dir: Path, endpoint: str, server: bytes) -> str | None:
    """Keep the first certificate ``endpoint`` presents; refuse any other one after it.

    Return the warning to report when this call trusted a certificate for the first time.
    """
    path = trusted_file(cert_dir, endpoint)
    try:
        known = path.read_bytes()
    except FileNotFoundError:
        _private_dir(path.parent)
        _write(path, server, 0o600)
        return (
            f"trusting the certificate of {endpoint} on first use "
            f"(sha256 {_fingerprint(server)}), kept in {path}"
        )
    if known == server:
        return None
    offered = path.with_name(f"{path.name}.offered")
    _write(offered, server, 0o600)
    raise OpcuaSecurityError(
        f"{endpoint} presents a certificate (sha256 {_fingerprint(server)}) other than the one "
        f"trusted on first use (sha256 {_fingerprint(known)}, {path}); if the server's "
        f"certificate was replaced on purpose, accept the new one with: mv '{offered}' '{path}'"
    )


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def generated(cert_dir: Path, application_uri: str) -> Material:
    """Return the self-signed pair kept in ``cert_dir``, generating it when missing or stale."""
    cert_file, key_file = cert_files(cert_dir, application_uri)
    reused = _reusable(cert_file, key_file, application_uri)
    if reused is not None:
        return reused
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(application_uri),
        x509.DNSName(socket.gethostname()),
    ]
    cert = cert_gen.generate_self_signed_app_certificate(
        key, application_uri, {}, names, extended=[ExtendedKeyUsageOID.CLIENT_AUTH], days=CERT_DAYS
    )
    pem = cert_gen.dump_private_key_as_pem(key)
    der = cert.public_bytes(serialization.Encoding.DER)
    _private_dir(cert_dir)
    _write(key_file, pem, 0o600)
    _write(cert_file, der, 0o600)
    log.info("generated OPC-UA client certificate %s for %s", cert_file, application_uri)
    return Material(der, pem, application_uri)


def _configured(security: SecurityConfig) -> Material:
    assert security.certificate is not None and security.private_key is not None
    password = security.private_key_password
    secret = password.get_secret_value().encode() if password is not None else None
    try:
        der = _der(security.certificate.read_bytes())
        cert = x509.load_der_x509_certificate(der)
    except (OSError, ValueError) as exc:
        raise OpcuaSecurityError(f"security.certificate: cannot load it: {exc}") from exc
    try:
        data = security.private_key.read_bytes()
        key = (
            serialization.load_pem_private_key(data, secret)
            if data.lstrip().startswith(b"-----BEGIN")
            else serialization.load_der_private_key(data, secret)
        )
    except (OSError, ValueError, TypeError) as exc:
        raise OpcuaSecurityError(f"security.private_key: cannot load it: {exc}") from exc
    if not _same_key(cert, key):
        raise OpcuaSecurityError("security.private_key does not belong to security.certificate")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    uris = _uris(cert)
    uri = security.application_uri or (uris[0] if uris else DEFAULT_APPLICATION_URI)
    return Material(der, pem, uri)


def material(security: SecurityConfig) -> Material | None:
    """Load (or generate) the client's certificate material; None without a security policy."""
    if security.policy == "None":
        return None
    if security.certificate is not None:
        found = _configured(security)
    else:
        uri = security.application_uri or DEFAULT_APPLICATION_URI
        try:
            found = generated(security.cert_dir, uri)
        except OSError as exc:
            raise OpcuaSecurityError(
                f"security.cert_dir {security.cert_dir}: cannot keep a certificate there: {exc}"
            ) from exc
    if security.server_certificate is None:
        return found
    try:
        pinned = _der(security.server_certificate.read_bytes())
    except (OSError, ValueError) as exc:
        raise OpcuaSecurityError(f"security.server_certificate: cannot load it: {exc}") from exc
    return Material(found.certificate, found.private_key, found.application_uri, pinned)


def first_certificate(data: bytes) -> bytes:
    """Return the first DER certificate of a chain (a server may send its issuers after it)."""
    if len(data) < 2 or data[0] != 0x30:
        raise OpcuaSecurityError("the server's certificate is not DER")
    size, head = data[1], 2
    if size & 0x80:
        width = size & 0x7F
        size, head = int.from_bytes(data[2 : 2 + width], "big"), 2 + width
    return data[: head + size]


def _describe(endpoint: ua.EndpointDescription) -> str:
    return f"{endpoint.SecurityPolicyUri.rpartition('#')[2]}/{endpoint.SecurityMode.name}"


async def secure(client: Client, config: OpcuaConfig) -> str | None:
    """Check the server offers our policy and mode, then give ``client`` our certificate.

    Return a warning to report (a certificate trusted on first use), or None.
    """
    security = config.security
    mode = _MODES[security.message_mode]
    found = None if security.policy == "None" else await asyncio.to_thread(material, security)
    client.application_uri = (
        found.application_uri if found else security.application_uri or DEFAULT_APPLICATION_URI
    )
    endpoints = await guard(
        client.connect_and_get_server_endpoints(),
        f"asking {config.endpoint} for its endpoints",
        config.timeout_s,
    )
    policy_uri = _POLICY_URIS[security.policy]
    matching = [
        e for e in endpoints if e.SecurityPolicyUri == policy_uri and e.SecurityMode == mode
    ]
    if not matching:
        offered = ", ".join(sorted({_describe(e) for e in endpoints})) or "nothing"
        raise OpcuaSecurityError(
            f"{config.endpoint} offers no endpoint with security.policy {security.policy} and "
            f"security.mode {security.message_mode}; it offers {offered}"
        )
    if found is None:
        return None
    if not matching[0].ServerCertificate:
        raise OpcuaSecurityError(f"{config.endpoint} sent no certificate for a secure endpoint")
    server = first_certificate(matching[0].ServerCertificate)
    warning = None
    if found.server_certificate is None:
        try:
            warning = await asyncio.to_thread(
                trust_on_first_use, security.cert_dir, config.endpoint, server
            )
        except OSError as exc:
            raise OpcuaSecurityError(
                f"security.cert_dir {security.cert_dir}: cannot keep the server's certificate: "
                f"{exc.strerror}"
            ) from exc
    elif found.server_certificate != server:
        raise OpcuaSecurityError(
            f"{config.endpoint} presents a certificate other than security.server_certificate"
        )
    await guard(
        client.set_security(
            POLICIES[security.policy],
            uacrypto.CertProperties(found.certificate, "der"),
            uacrypto.CertProperties(found.private_key, "pem"),
            server_certificate=uacrypto.CertProperties(server, "der"),
            mode=mode,
        ),
        "setting up security",
        config.timeout_s,
    )
    return warning
