from __future__ import annotations

import socket
from pathlib import Path

import pytest
from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from sentio.connectors.opcua import OpcuaSecurityError, SecurityConfig
from sentio.connectors.opcua.security import (
    DEFAULT_APPLICATION_URI,
    cert_files,
    first_certificate,
    generated,
    material,
)

URI = "urn:example:client"


def write_pair(
    directory: Path, uri: str, *, pem: bool = False, password: bytes | None = None
) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    cert = cert_gen.generate_self_signed_app_certificate(
        key, uri, {}, names, extended=[ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    cert_path = directory / ("cert.pem" if pem else "cert.der")
    cert_path.write_bytes(cert.public_bytes(encoding))
    crypt = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    key_path = directory / "key.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt)
    )
    return cert_path, key_path


def test_a_generated_certificate_is_kept_and_reused(tmp_path: Path) -> None:
    cert_dir = tmp_path / "certs"
    first = generated(cert_dir, URI)
    cert_file, key_file = cert_files(cert_dir, URI)
    assert cert_file.name == "urn_example_client.der"
    assert key_file.name == "urn_example_client.key.pem"
    assert cert_file.read_bytes() == first.certificate
    assert key_file.read_bytes() == first.private_key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert cert_dir.stat().st_mode & 0o777 == 0o700
    cert = x509.load_der_x509_certificate(first.certificate)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [URI]
    assert socket.gethostname() in san.get_values_for_type(x509.DNSName)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 5 * 365

    assert generated(cert_dir, URI) == first
    other = generated(cert_dir, "urn:example:other")
    assert other.certificate != first.certificate
    assert generated(cert_dir, URI) == first


@pytest.mark.parametrize("damage", ["cert", "key", "swap"])
def test_a_damaged_pair_is_generated_again(tmp_path: Path, damage: str) -> None:
    first = generated(tmp_path, URI)
    cert_file, key_file = cert_files(tmp_path, URI)
    if damage == "cert":
        cert_file.write_bytes(b"not a certificate")
    elif damage == "key":
        key_file.unlink()
    else:
        key_file.write_bytes(generated(tmp_path / "other", URI).private_key)
    again = generated(tmp_path, URI)
    assert again.certificate != first.certificate
    assert generated(tmp_path, URI) == again


def test_material_uses_the_configured_application_uri_and_cert_dir(tmp_path: Path) -> None:
    assert material(SecurityConfig()) is None
    found = material(SecurityConfig(policy="Basic256Sha256", cert_dir=tmp_path))
    assert found is not None
    assert found.application_uri == DEFAULT_APPLICATION_URI
    assert found.server_certificate is None
    assert cert_files(tmp_path, DEFAULT_APPLICATION_URI)[0].exists()
    own = material(SecurityConfig(policy="Basic256Sha256", cert_dir=tmp_path, application_uri=URI))
    assert own is not None
    assert own.application_uri == URI


@pytest.mark.parametrize("pem", [False, True])
def test_a_configured_certificate_gives_its_application_uri(tmp_path: Path, pem: bool) -> None:
    cert, key = write_pair(tmp_path, "urn:example:own", pem=pem, password=b"pw")
    (tmp_path / "server").mkdir()
    server, _ = write_pair(tmp_path / "server", "urn:example:server")
    found = material(
        SecurityConfig.model_validate(
            {
                "policy": "Basic256Sha256",
                "certificate": str(cert),
                "private_key": str(key),
                "private_key_password": "pw",
                "server_certificate": str(server),
            }
        )
    )
    assert found is not None
    assert found.application_uri == "urn:example:own"
    assert x509.load_der_x509_certificate(found.certificate).subject
    assert serialization.load_pem_private_key(found.private_key, None)
    assert found.server_certificate == server.read_bytes()


def test_configured_certificate_errors_name_the_key(tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path, "urn:example:own")
    (tmp_path / "other").mkdir()
    _, other_key = write_pair(tmp_path / "other", "urn:example:other")
    with pytest.raises(OpcuaSecurityError, match=r"security\.private_key does not belong"):
        material(SecurityConfig(policy="Basic256Sha256", certificate=cert, private_key=other_key))
    bad = tmp_path / "bad.der"
    bad.write_bytes(b"junk")
    with pytest.raises(OpcuaSecurityError, match=r"security\.certificate: cannot load it"):
        material(SecurityConfig(policy="Basic256Sha256", certificate=bad, private_key=key))
    with pytest.raises(OpcuaSecurityError, match=r"security\.private_key: cannot load it"):
        material(SecurityConfig(policy="Basic256Sha256", certificate=cert, private_key=bad))
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    with pytest.raises(OpcuaSecurityError, match=r"security\.cert_dir"):
        material(SecurityConfig(policy="Basic256Sha256", cert_dir=blocked / "sub"))


def test_first_certificate_of_a_chain(tmp_path: Path) -> None:
    one = generated(tmp_path, URI).certificate
    two = generated(tmp_path, "urn:example:issuer").certificate
    assert first_certificate(one + two) == one
    assert first_certificate(one) == one
    with pytest.raises(OpcuaSecurityError, match="not DER"):
        first_certificate(b"\x01\x02")
