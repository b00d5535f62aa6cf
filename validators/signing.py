"""Manifest signatures: ``refinery run --sign-key KEYFILE`` and ``refinery validate --verify-key KEYFILE``.

The run signs the exact bytes of ``reports/manifest.json``; the signature goes to
``reports/manifest.json.sig`` (JSON: algorithm, key id, sha256 of the manifest, signature in base64).
The manifest lists the sha256 of every other file the run wrote, so a valid signature vouches for
the whole output folder; ``refinery validate`` checks the files against the manifest.

Key files (the kind is told from the content):

- **Ed25519** (``cryptography``): a private key signs — PEM PKCS#8 (``openssl genpkey -algorithm
  ed25519 -out run.key``) or OpenSSH (``ssh-keygen -t ed25519 -N '' -f run.key``), unencrypted. A
  public key verifies — PEM (``openssl pkey -in run.key -pubout -out run.pub``) or the one-line
  OpenSSH ``ssh-ed25519 AAAA...`` form (``run.key.pub``); the private key verifies too. An auditor
  needs only the public key.
- **HMAC-SHA256**: any other file is a shared secret, used as its raw bytes (at least 32 bytes,
  e.g. ``head -c 32 /dev/urandom > run.hmac``); the same file signs and verifies.

A file that starts like PEM or OpenSSH but is not an Ed25519 key is an error, never an HMAC secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from refinery.atomic import write_atomic

SIGNATURE_NAME = "manifest.json.sig"
_DOMAIN = b"refinery manifest signature v1\n"  # signed bytes = this prefix + the manifest's bytes
HMAC_MIN_BYTES = 32
ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file and what is wrong."""


@dataclass
class ManifestKey:
    algorithm: str  # ED25519 or HMAC_SHA256
    key_id: str  # sha256 (16 hex) of the public key or of the secret: names the key, reveals nothing
    private: object | None = None  # Ed25519PrivateKey
    public: object | None = None  # Ed25519PublicKey
    secret: bytes | None = None  # HMAC key

    @property
    def can_sign(self) -> bool:
        return self.private is not None or self.secret is not None


def _key_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:16]


def _ed25519(private=None, public=None) -> ManifestKey:
    from cryptography.hazmat.primitives import serialization

    public = public if public is not None else private.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ManifestKey(ED25519, _key_id(raw), private=private, public=public)


def load_key(path: str) -> ManifestKey:
    """Read a key file (see the module docstring for the kinds). Raises :class:`KeyFileError`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror or exc}") from None
    text = data.strip()
    if text.startswith(b"-----BEGIN") or text.startswith(b"ssh-"):
        try:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
        except ImportError:  # pragma: no cover - a declared dependency
            raise KeyFileError(f"{path}: Ed25519 keys need the 'cryptography' package") from None
        try:
            if text.startswith(b"-----BEGIN OPENSSH PRIVATE KEY"):
                key = serialization.load_ssh_private_key(text, password=None)
            elif text.startswith(b"ssh-"):
                key = serialization.load_ssh_public_key(text)
            elif b"PRIVATE KEY" in text.split(b"\n", 1)[0]:
                key = serialization.load_pem_private_key(text, password=None)
            else:
                key = serialization.load_pem_public_key(text)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path}: not a usable key ({exc}); an encrypted private key must be decrypted "
                               "first") from None
        except Exception as exc:  # noqa: BLE001 - cryptography raises its own types for unsupported keys
            raise KeyFileError(f"{path}: not a usable key: {type(exc).__name__}: {exc}") from None
        if isinstance(key, Ed25519PrivateKey):
            return _ed25519(private=key)
        if isinstance(key, Ed25519PublicKey):
            return _ed25519(public=key)
        raise KeyFileError(f"{path}: {type(key).__name__.lstrip('_')} is not an Ed25519 key; only Ed25519 keys "
                           "sign manifests (or use a raw HMAC secret of at least 32 bytes)")
    if len(data) < HMAC_MIN_BYTES:
        raise KeyFileError(f"{path}: {len(data)} bytes; an HMAC-SHA256 secret must have at least {HMAC_MIN_BYTES} "
                           "(e.g. head -c 32 /dev/urandom > run.hmac), or give an Ed25519 key")
    return ManifestKey(HMAC_SHA256, _key_id(data), secret=data)


def load_signing_key(path: str) -> ManifestKey:
    key = load_key(path)
    if not key.can_sign:
        raise KeyFileError(f"{path}: a public key cannot sign; give the private key (the public one verifies)")
    return key


def signature_path(out_dir: str) -> str:
    return FileSystems.join(out_dir, "reports", SIGNATURE_NAME)


def _read(path: str) -> bytes:
    with FileSystems.open(path) as f:
        return f.read()


def sign_bytes(key: ManifestKey, manifest_bytes: bytes) -> dict:
    message = _DOMAIN + manifest_bytes
    if key.algorithm == ED25519:
        sig = key.private.sign(message)
    else:
        sig = hmac.new(key.secret, message, hashlib.sha256).digest()
    return {"algorithm": key.algorithm, "key_id": key.key_id,
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "signature": base64.b64encode(sig).decode()}


def sign_manifest(out_dir: str, key: ManifestKey) -> str:
    """Sign the manifest as it is on disk; write and return the signature file's path."""
    manifest_bytes = _read(FileSystems.join(out_dir, "reports", "manifest.json"))
    path = signature_path(out_dir)
    write_atomic(path, json.dumps(sign_bytes(key, manifest_bytes), indent=1).encode())
    return path


def verify_bytes(key: ManifestKey, manifest_bytes: bytes, sig: dict) -> list[str]:
    """Problems with ``sig`` for these manifest bytes (empty: the signature holds)."""
    where = f"reports/{SIGNATURE_NAME}"
    if not isinstance(sig, dict) or not {"algorithm", "signature"} <= set(sig):
        return [f"{where}: not a Refinery signature file"]
    if sig["algorithm"] != key.algorithm:
        return [f"{where}: signed with {sig['algorithm']}, but the verify key is {key.algorithm}"]
    if sig.get("manifest_sha256") and sig["manifest_sha256"] != hashlib.sha256(manifest_bytes).hexdigest():
        return [f"{where}: the manifest changed after it was signed (its sha256 differs from the signed one)"]
    try:
        raw = base64.b64decode(sig["signature"], validate=True)
    except (ValueError, TypeError):
        return [f"{where}: the signature is not base64"]
    message = _DOMAIN + manifest_bytes
    if key.algorithm == ED25519:
        from cryptography.exceptions import InvalidSignature

        try:
            key.public.verify(raw, message)
            good = True
        except InvalidSignature:
            good = False
    else:
        good = hmac.compare_digest(raw, hmac.new(key.secret, message, hashlib.sha256).digest())
    if good:
        return []
    if sig.get("key_id") not in (None, key.key_id):
        return [f"{where}: the signature does not verify: signed with another key (key id {sig.get('key_id')}, "
                f"this key is {key.key_id})"]
    return [f"{where}: the signature does not verify: the manifest or the signature was altered after signing"]


def verify_manifest(out_dir: str, key: ManifestKey) -> list[str]:
    """Problems with the output's signature under ``key`` (empty: signed and intact)."""
    try:
        manifest_bytes = _read(FileSystems.join(out_dir, "reports", "manifest.json"))
    except Exception as exc:  # noqa: BLE001 - the integrity check reports the missing manifest itself
        return [f"reports/manifest.json: cannot check the signature: {type(exc).__name__}: {exc}"]
    path = signature_path(out_dir)
    if not FileSystems.exists(path):
        return [f"reports/{SIGNATURE_NAME}: missing: the manifest is not signed"]
    try:
        sig = json.loads(_read(path))
    except Exception as exc:  # noqa: BLE001
        return [f"reports/{SIGNATURE_NAME}: unreadable: {type(exc).__name__}: {exc}"]
    return verify_bytes(key, manifest_bytes, sig)
