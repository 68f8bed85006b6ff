"""JWT access tokens (zorgleefplan.auth.tokens): issuing, and every way verification refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from zorgleefplan.auth.keys import SigningKeys, retire, rotate
from zorgleefplan.auth.tokens import (
    LEEWAY,
    AccessTokenClaims,
    BadSignature,
    InvalidToken,
    MalformedToken,
    MemoryRevokedTokens,
    TokenExpired,
    TokenNotYetValid,
    TokenRevoked,
    TokenVerifier,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
    issue,
)
from zorgleefplan.errors import Unauthorized

ISS = "https://zorg.example"
AUD = "https://zorg.example/fhir"
NOW = 1_800_000_000
LIFETIME = 900


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return SigningKeys.open(tmp_path, check_interval=0)


@pytest.fixture
def revoked() -> MemoryRevokedTokens:
    return MemoryRevokedTokens(clock=lambda: NOW)


@pytest.fixture
def verifier(keys: SigningKeys, revoked: MemoryRevokedTokens) -> TokenVerifier:
    return TokenVerifier(keys, revoked)


def _issue(keys: SigningKeys, now: float = NOW, **extra: Any) -> str:
    return issue(
        keys,
        issuer=ISS,
        audience=AUD,
        subject="account-1",
        client_id="pgo-app",
        scope="patient/CarePlan.rs openid fhirUser",
        lifetime=LIFETIME,
        now=now,
        **extra,
    ).token


def _verify(verifier: TokenVerifier, token: str, now: float = NOW + 1) -> AccessTokenClaims:
    return verifier.verify(token, issuer=ISS, audience=AUD, now=now)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: Any) -> str:
    return _b64(json.dumps(value).encode())


def _unb64json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return _unb64json(header), _unb64json(payload)


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": ISS,
        "sub": "account-1",
        "aud": AUD,
        "exp": NOW + LIFETIME,
        "iat": NOW,
        "jti": "jti-1",
        "client_id": "pgo-app",
        "scope": "patient/CarePlan.rs",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: ECKey, header: dict[str, Any], payload: bytes | dict[str, Any]) -> str:
    """ES256 over any header and payload, with cryptography alone: the verifier must judge
    what it is sent, not only what issue() makes."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{_b64json(header)}.{_b64(body)}"
    der = key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _header(keys: SigningKeys, **changes: Any) -> dict[str, Any]:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": keys.signing_key().kid}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


# --- issuing --------------------------------------------------------------------------------


def test_issued_token_has_rfc9068_header_and_claims(
    keys: SigningKeys, verifier: TokenVerifier
) -> None:
    issued = issue(
        keys,
        issuer=ISS,
        audience=AUD,
        subject="account-1",
        client_id="pgo-app",
        scope="patient/CarePlan.rs launch/patient",
        lifetime=LIFETIME,
        now=NOW,
        patient="p1",
        fhir_user="RelatedPerson/r1",
    )
    header, payload = _parts(issued.token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": keys.signing_key().kid}
    assert payload == {
        "iss": ISS,
        "sub": "account-1",
        "aud": AUD,
        "exp": NOW + LIFETIME,
        "iat": NOW,
        "jti": issued.claims.token_id,
        "client_id": "pgo-app",
        "scope": "patient/CarePlan.rs launch/patient",
        "patient": "p1",
        "fhirUser": "RelatedPerson/r1",
    }
    assert len(issued.claims.token_id) >= 22
    assert _verify(verifier, issued.token) == issued.claims
    assert issued.claims.scopes.permits("CarePlan", "r")


def test_backend_token_carries_organization_and_no_user(keys: SigningKeys) -> None:
    issued = issue(
        keys,
        issuer=ISS,
        audience=AUD,
        subject="ehr-client",
        client_id="ehr-client",
        scope="system/CarePlan.rs",
        lifetime=LIFETIME,
        organization="Organization/5",
    )
    _, payload = _parts(issued.token)
    assert payload["organization"] == "Organization/5"
    assert "fhirUser" not in payload and "patient" not in payload
    assert issued.claims.organization == "Organization/5"


def test_every_token_gets_its_own_jti(keys: SigningKeys) -> None:
    tokens = {_parts(_issue(keys))[1]["jti"] for _ in range(20)}
    assert len(tokens) == 20


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.***.###",
        "é.é.é",
        _b64(b"not json") + ".e30.c2ln",
        _b64json(["alg", "ES256"]) + ".e30.c2ln",
        _b64json({"alg": "ES256"}) + ".***.c2ln",
        "x" * 10_000,
    ],
)
def test_malformed_tokens(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(MalformedToken):
        _verify(verifier, token)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        json.dumps(_claims(jti=None)).encode(),
        json.dumps(_claims(client_id=None)).encode(),
        json.dumps(_claims(exp="soon")).encode(),
        json.dumps(_claims(iat=True)).encode(),
        json.dumps(_claims(aud=[])).encode(),
        json.dumps(_claims(aud=[AUD, 7])).encode(),
        json.dumps(_claims(sub=12)).encode(),
        json.dumps(_claims(fhirUser=["Patient/1"])).encode(),
    ],
)
def test_signed_but_malformed_payloads(
    keys: SigningKeys, verifier: TokenVerifier, payload: bytes
) -> None:
    token = _sign(keys.signing_key().key, _header(keys), payload)
    with pytest.raises(MalformedToken):
        _verify(verifier, token)


def test_alg_none_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = f"{_b64json(_header(keys, alg='none'))}.{_b64json(_claims())}."
    with pytest.raises(UnsupportedAlgorithm):
        _verify(verifier, token)


def test_hmac_keyed_with_the_public_key_is_refused(
    keys: SigningKeys, verifier: TokenVerifier
) -> None:
    # The classic confusion: HS256 with the published public key as the shared secret.
    secret = keys.signing_key().key.as_pem(private=False)
    signing_input = f"{_b64json(_header(keys, alg='HS256'))}.{_b64json(_claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(UnsupportedAlgorithm):
        _verify(verifier, f"{signing_input}.{_b64(mac)}")


def test_rsa_signed_token_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    rsa = RSAKey.generate_key(2048)
    token = jws.serialize_compact(
        _header(keys, alg="RS256"), json.dumps(_claims()), rsa, algorithms=["RS256"]
    )
    with pytest.raises(UnsupportedAlgorithm):
        _verify(verifier, token)


@pytest.mark.parametrize("typ", ["JWT", "at+JWT2", None])
def test_other_token_types_are_refused(
    keys: SigningKeys, verifier: TokenVerifier, typ: str | None
) -> None:
    token = _sign(keys.signing_key().key, _header(keys, typ=typ), _claims())
    with pytest.raises(WrongTokenType):
        _verify(verifier, token)


def test_full_media_type_is_accepted(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _sign(keys.signing_key().key, _header(keys, typ="application/at+jwt"), _claims())
    assert _verify(verifier, token).token_id == "jti-1"


def test_token_signed_by_another_key_under_our_kid_is_refused(
    keys: SigningKeys, verifier: TokenVerifier
) -> None:
    forger = ECKey.generate_key("P-256")
    token = _sign(forger, _header(keys), _claims())
    with pytest.raises(BadSignature):
        _verify(verifier, token)


def test_token_signed_by_another_key_under_its_own_kid_is_refused(
    keys: SigningKeys, verifier: TokenVerifier
) -> None:
    forger = ECKey.generate_key("P-256")
    token = _sign(forger, _header(keys, kid=forger.thumbprint()), _claims())
    with pytest.raises(UnknownKey):
        _verify(verifier, token)


@pytest.mark.parametrize("kid", [None, 7, ""])
def test_missing_or_odd_kid_is_refused(
    keys: SigningKeys, verifier: TokenVerifier, kid: object
) -> None:
    token = _sign(keys.signing_key().key, _header(keys, kid=kid), _claims())
    with pytest.raises(UnknownKey):
        _verify(verifier, token)


def test_tampered_payload_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _issue(keys)
    header, _, signature = token.split(".")
    claims = _parts(token)[1]
    claims["scope"] = "user/*.cruds"
    with pytest.raises(BadSignature):
        _verify(verifier, f"{header}.{_b64json(claims)}.{signature}")


@pytest.mark.parametrize("how", ["flipped", "truncated", "empty", "swapped halves"])
def test_tampered_signature_is_refused(
    keys: SigningKeys, verifier: TokenVerifier, how: str
) -> None:
    header, payload, signature = _issue(keys).split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    mangled = {
        "flipped": raw[:-1] + bytes([raw[-1] ^ 1]),
        "truncated": raw[:32],
        "empty": b"",
        "swapped halves": raw[32:] + raw[:32],
    }[how]
    with pytest.raises(BadSignature):
        _verify(verifier, f"{header}.{payload}.{_b64(mangled)}")


def test_expired_token_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _issue(keys)
    assert _verify(verifier, token, now=NOW + LIFETIME - 1)
    with pytest.raises(TokenExpired) as caught:
        _verify(verifier, token, now=NOW + LIFETIME)
    assert caught.value.issue_code == "expired"


def test_cached_token_is_still_refused_once_expired(
    keys: SigningKeys, verifier: TokenVerifier
) -> None:
    token = _issue(keys)
    first = _verify(verifier, token)
    assert _verify(verifier, token) is first  # served from the cache
    with pytest.raises(TokenExpired):
        _verify(verifier, token, now=NOW + LIFETIME + 1)


def test_token_issued_in_the_future_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    within = _issue(keys, now=NOW + LEEWAY)
    assert _verify(verifier, within, now=NOW).issued_at == NOW + LEEWAY
    beyond = _issue(keys, now=NOW + LEEWAY + 1)
    with pytest.raises(TokenNotYetValid):
        _verify(verifier, beyond, now=NOW)


def test_token_before_nbf_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _sign(keys.signing_key().key, _header(keys), _claims(nbf=NOW + 600))
    with pytest.raises(TokenNotYetValid):
        _verify(verifier, token, now=NOW)
    assert _verify(verifier, token, now=NOW + 600).not_before == NOW + 600


def test_wrong_issuer_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _issue(keys)
    with pytest.raises(WrongIssuer):
        verifier.verify(token, issuer="https://other.example", audience=AUD, now=NOW)


def test_wrong_audience_is_refused(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _issue(keys)
    _verify(verifier, token)  # cached first: the hit must check the audience too
    with pytest.raises(WrongAudience):
        verifier.verify(token, issuer=ISS, audience="https://other.example/fhir", now=NOW)


def test_audience_list_containing_ours_is_accepted(
    keys: SigningKeys, verifier: TokenVerifier
) -> None:
    token = _sign(keys.signing_key().key, _header(keys), _claims(aud=["urn:x", AUD]))
    assert _verify(verifier, token).audience == ("urn:x", AUD)


def test_revoked_token_is_refused_even_when_cached(
    keys: SigningKeys, verifier: TokenVerifier, revoked: MemoryRevokedTokens
) -> None:
    token = _issue(keys)
    claims = _verify(verifier, token)
    revoked.add(claims.token_id, claims.expires_at)
    with pytest.raises(TokenRevoked):
        _verify(verifier, token)
    other = _issue(keys)
    assert _verify(verifier, other).token_id != claims.token_id


def test_memory_revocations_are_dropped_after_expiry() -> None:
    now = [1000.0]
    revoked = MemoryRevokedTokens(clock=lambda: now[0])
    revoked.add("past", 999)
    assert not revoked.is_revoked("past") and len(revoked) == 0
    revoked.add("a", 1100)
    revoked.add("b", 2000)
    assert revoked.is_revoked("a") and revoked.is_revoked("b")
    now[0] = 1500.0
    assert not revoked.is_revoked("a")
    revoked.add("c", 3000)
    assert len(revoked) == 2
    assert revoked.is_revoked("b") and revoked.is_revoked("c")


# --- keys: rotation and retirement ------------------------------------------------------------


def test_rotation_keeps_old_tokens_verifiable(
    tmp_path: Path, keys: SigningKeys, verifier: TokenVerifier
) -> None:
    old_token = _issue(keys)
    new_kid = rotate(tmp_path)
    new_token = _issue(keys)
    assert _parts(new_token)[0]["kid"] == new_kid != _parts(old_token)[0]["kid"]
    assert _verify(verifier, old_token).kid != new_kid
    assert _verify(verifier, new_token).kid == new_kid


def test_token_from_a_retired_key_is_refused_even_when_cached(
    tmp_path: Path, keys: SigningKeys, verifier: TokenVerifier
) -> None:
    cached = _issue(keys)
    uncached = _issue(keys)
    _verify(verifier, cached)
    old_kid = keys.signing_key().kid
    rotate(tmp_path)
    retire(tmp_path, old_kid)
    with pytest.raises(UnknownKey):
        _verify(verifier, cached)
    with pytest.raises(UnknownKey):
        _verify(verifier, uncached)


def test_token_signed_after_another_process_rotated_verifies_at_once(tmp_path: Path) -> None:
    # The verifying worker checks the key file rarely; an unknown kid makes it look at once.
    verifying = SigningKeys.open(tmp_path, check_interval=3600)
    verifier = TokenVerifier(verifying, MemoryRevokedTokens())
    rotate(tmp_path)
    issuing = SigningKeys.open(tmp_path)
    token = _issue(issuing)
    assert _verify(verifier, token).kid == issuing.signing_key().kid


# --- errors and cache -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        MalformedToken,
        UnsupportedAlgorithm,
        WrongTokenType,
        UnknownKey,
        BadSignature,
        TokenExpired,
        TokenNotYetValid,
        WrongIssuer,
        WrongAudience,
        TokenRevoked,
    ],
)
def test_each_refusal_is_a_401_invalid_token_challenge(error: type[InvalidToken]) -> None:
    exc = error()
    assert isinstance(exc, Unauthorized)
    assert exc.status_hint == 401
    assert exc.error == "invalid_token"
    assert exc.diagnostics == error.description
    assert exc.www_authenticate == (
        f'Bearer realm="zorgleefplan", error="invalid_token", '
        f'error_description="{error.description}"'
    )


def test_cache_is_bounded(keys: SigningKeys, revoked: MemoryRevokedTokens) -> None:
    verifier = TokenVerifier(keys, revoked, cache_size=2)
    first, second, third = (_issue(keys) for _ in range(3))
    claims = _verify(verifier, first)
    assert _verify(verifier, first) is claims
    _verify(verifier, second)
    _verify(verifier, third)  # evicts the oldest
    again = _verify(verifier, first)
    assert again == claims and again is not claims


def test_refused_tokens_are_not_cached(keys: SigningKeys, verifier: TokenVerifier) -> None:
    token = _issue(keys)
    with pytest.raises(WrongIssuer):
        verifier.verify(token, issuer="https://other.example", audience=AUD, now=NOW)
    claims = _verify(verifier, token)
    assert _verify(verifier, token) is claims
