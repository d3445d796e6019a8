from django.contrib.auth.hashers import PBKDF2PasswordHasher


class ChargerPasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 for charger passwords (OCPP security profile 1), with far fewer rounds.

    Django's default of 1,000,000 rounds (~190 ms here) protects people's weak
    passwords; a charger's password is a machine secret, and it is checked on
    every (re)connect, on the one thread that does a server's database work:
    5,000 chargers coming back after a power cut would wait minutes. 20,000
    rounds cost ~4 ms. Staff who set short charger passwords weaken this; the
    admin form and `add_charger` say so.
    """

    algorithm = "pbkdf2_sha256_charger"
    iterations = 20_000
