"""Sign-in that slows down password guessing without letting anyone lock a person out from elsewhere.

Failures are counted per (user name, address) and per address over fifteen
minutes (csms.throttle). Past the limits, attempts from there are refused
without a password check until the window has passed; the same person signs
in from any other address meanwhile. Every failure is a FailedSignIn for staff.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts.models import FailedSignIn
from csms.throttle import FailureWindow

SIGN_IN_FAILURES = FailureWindow(window_s=15 * 60)
PER_PERSON_AND_ADDRESS, PER_ADDRESS = 5, 50


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        name, address = (username or "").strip().lower()[:150], _address(request)
        if _over_limit(name, address):
            FailedSignIn.objects.create(username=name, remote_address=address, throttled=True)
            if request is not None:
                request.sign_in_throttled = True  # the sign-in form says to wait, not "wrong password"
            raise PermissionDenied("too many failed sign-ins")  # stops Django trying other backends
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username is not None:
            SIGN_IN_FAILURES.failed((name, address))
            SIGN_IN_FAILURES.failed(address)
            FailedSignIn.objects.create(username=name, remote_address=address)
        return user


def _over_limit(name: str, address: str) -> bool:
    return (
        SIGN_IN_FAILURES.count((name, address)) >= PER_PERSON_AND_ADDRESS
        or SIGN_IN_FAILURES.count(address) >= PER_ADDRESS
    )


def _address(request) -> str:
    return (request.META.get("REMOTE_ADDR", "") if request is not None else "")[:64]
