"""An identity provider's signing side, on loopback: RSA and EC keys, a JWKS document that a
test can rotate, served over HTTP as PyJWKClient fetches it, and tokens signed with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://login.example.test/"
AUDIENCE = "https://tickler.example.test"


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    @classmethod
    def rsa(cls, kid: str) -> Key:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> Key:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        rs = self.alg == "RS256"
        algorithm = jwt.algorithms.RSAAlgorithm if rs else jwt.algorithms.ECAlgorithm
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def claims(sub: str = "oidc-user", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + 300,
        "scope": "tasks:read tasks:write",
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def sign(key: Key, payload: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": kid or key.kid})


def hs256_with_public_key(key: Key, payload: dict[str, Any]) -> str:
    """The algorithm-confusion token: HS256 with the provider's public key as the secret
    (PyJWT refuses to make one, so it is put together by hand)."""

    def part(data: dict[str, Any]) -> bytes:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = part({"alg": "HS256", "typ": "JWT", "kid": key.kid}) + b"." + part(payload)
    mac = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


@dataclass
class JwksServer:
    keys: list[Key]
    fetches: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def rotate(self, keys: list[Key]) -> None:
        self.keys = keys

    def __enter__(self) -> JwksServer:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                body = json.dumps({"keys": [k.jwk() for k in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
