"""Gateway JWTs (PyJWT, HS256): issued at login, verified on every API call.

Expiry is checked against the injected clock rather than PyJWT's own time call, so tests
and fast-forward runs can age tokens. Verified tokens are cached until they expire: the
signature check and JSON parse then happen once per token, not once per request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import jwt

from streamverse.clock import Clock

ISSUER = "streamverse-gateway"
ALGORITHM = "HS256"
REALM = "streamverse"


class AuthError(Exception):
    """Why a token was refused: missing, malformed, expired, bad_signature or invalid_claims."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description

    @property
    def www_authenticate(self) -> str:
        """The RFC 6750 challenge header value for the 401."""
        desc = self.description.replace('"', "'")
        return f'Bearer realm="{REALM}", error="invalid_token", error_description="{desc}"'


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: str
    expires_at: float


class TokenService:
    """Issues and verifies the gateway's bearer tokens."""

    def __init__(self, *, secret: str, clock: Clock, ttl_s: int = 3600, leeway_s: float = 5.0,
                 cache_size: int = 50_000) -> None:
        self._key = secret
        self._clock = clock
        self.ttl_s = ttl_s
        self._leeway = leeway_s
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    def issue(self, user_id: str | int, *, ttl_s: int | None = None) -> str:
        """A signed token for the user, valid for ttl_s seconds from now."""
        now = int(self._clock.now())
        claims = {"sub": str(user_id), "iat": now, "exp": now + (ttl_s or self.ttl_s), "iss": ISSUER}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify_header(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer ...` header, or AuthError."""
        if not authorization:
            raise AuthError("missing", "missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed", "Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        """The principal of a token, or AuthError saying why not."""
        now = self._clock.now()
        cached = self._cache.get(token)
        if cached is not None:
            if now <= cached.expires_at + self._leeway:
                return cached
            self._cache.pop(token, None)
            raise AuthError("expired", "token expired")
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "require": ["exp", "iat", "sub", "iss"]})
        except jwt.InvalidSignatureError:
            raise AuthError("bad_signature", "token signature does not verify") from None
        except (jwt.InvalidIssuerError, jwt.MissingRequiredClaimError) as exc:
            raise AuthError("invalid_claims", f"token claims invalid: {exc}") from None
        except jwt.InvalidTokenError as exc:  # DecodeError, bad algorithm, ...
            raise AuthError("malformed", f"token malformed: {exc}") from None
        exp, iat, sub = claims["exp"], claims["iat"], claims["sub"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float) or not sub:
            raise AuthError("invalid_claims", "token claims exp/iat/sub have the wrong type")
        if now > exp + self._leeway:
            raise AuthError("expired", "token expired")
        if iat > now + self._leeway:
            raise AuthError("invalid_claims", "token issued in the future")
        principal = Principal(str(sub), float(exp))
        cache = self._cache
        cache[token] = principal
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return principal
