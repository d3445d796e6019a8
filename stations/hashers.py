from django.contrib.auth.hashers import PBKDF2PasswordHasher


class ChargerPasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 for short charger passwords (OCPP security profile 1), with fewer rounds than for people.

    Django's default of 1,000,000 rounds protects people's weak passwords for
    a login a day; a charger's password is checked on every (re)connect, and
    a site's chargers reconnect together after a power cut. 20,000 rounds
    (~4 to 20 ms, by machine) for a password shorter than OCPP's 16-character
    minimum, which the admin form and `add_charger` warn about.
    """

    algorithm = "pbkdf2_sha256_charger"
    iterations = 20_000


class ChargerKeyHasher(PBKDF2PasswordHasher):
    """PBKDF2 for charger keys of 16 characters or more, as OCPP asks (random, 16 to 40).

    A long random key cannot be guessed from its hash however fast the hash
    is; slow rounds only cost CPU at every connect: 20,000 rounds took 23 ms
    per charger here, so 10,000 chargers reconnecting spent four minutes of
    CPU on hashing alone. 1,000 rounds (about a millisecond) still slow down
    a guess at a key that is long but not random.
    """

    algorithm = "pbkdf2_sha256_charger_key"
    iterations = 1_000
