"""How chargers' passwords are hashed and checked: the hashers, which one a password takes, and the
process's memory of passwords it has verified (stations.models.Charger.check_password)."""

import hashlib
import hmac

from django.contrib.auth.hashers import PBKDF2PasswordHasher

CHARGER_HASHER = "pbkdf2_sha256_charger"  # ChargerPasswordHasher, for short passwords
CHARGER_KEY_HASHER = "pbkdf2_sha256_charger_key"  # ChargerKeyHasher
# OCPP 2.0.1 BasicAuthPassword, which the 1.6 whitepaper's AuthorizationKey (at least 16) became: 16 to 40.
KEY_LENGTHS = (16, 40)


def charger_hasher(raw_password: str) -> str:
    """A key as long as OCPP asks needs no slow hash; a shorter password keeps a slower one."""
    return CHARGER_KEY_HASHER if len(raw_password) >= KEY_LENGTHS[0] else CHARGER_HASHER


# Passwords this process has verified against a stored hash. A site's chargers
# dropping off together (power, network) come back with the same passwords
# while the server keeps running: each reconnect skips the deliberately slow
# hash. Keyed by the stored hash, so a new password forgets the old one; only
# a digest of the presented password is kept, never the password.
_verified: dict[str, bytes] = {}
_VERIFIED_LIMIT = 50_000


def _presented_digest(encoded: str, raw_password: str) -> bytes:
    return hashlib.sha256(f"{encoded}\0{raw_password}".encode()).digest()


def recently_verified(encoded: str, raw_password: str) -> bool:
    known = _verified.get(encoded)
    return known is not None and hmac.compare_digest(known, _presented_digest(encoded, raw_password))


def remember_verified(encoded: str, raw_password: str) -> None:
    if len(_verified) >= _VERIFIED_LIMIT:
        _verified.clear()
    _verified[encoded] = _presented_digest(encoded, raw_password)


class ChargerPasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 for short charger passwords (OCPP security profile 1), with fewer rounds than for people.

    Django's default of 1,000,000 rounds protects people's weak passwords for
    a login a day; a charger's password is checked on every (re)connect, and
    a site's chargers reconnect together after a power cut. 20,000 rounds
    (~4 to 20 ms, by machine) for a password shorter than OCPP's 16-character
    minimum, which the admin form and `add_charger` warn about.
    """

    algorithm = CHARGER_HASHER
    iterations = 20_000


class ChargerKeyHasher(PBKDF2PasswordHasher):
    """PBKDF2 for charger keys of 16 characters or more, as OCPP asks (random, 16 to 40).

    A long random key cannot be guessed from its hash however fast the hash
    is; slow rounds only cost CPU at every connect: 20,000 rounds took 23 ms
    per charger here, so 10,000 chargers reconnecting spent four minutes of
    CPU on hashing alone. 1,000 rounds (about a millisecond) still slow down
    a guess at a key that is long but not random.
    """

    algorithm = CHARGER_KEY_HASHER
    iterations = 1_000
