"""The front-desk role and its check."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

FRONT_DESK_GROUP = "Front desk"
FRONT_DESK_PERMISSION = "rfid.use_front_desk"


def is_front_desk(user) -> bool:
    """Clerks (the "Front desk" group) and anyone else given the permission, e.g. superusers."""
    return user.is_active and user.has_perm(FRONT_DESK_PERMISSION)


def front_desk_required(view):
    """Signed-in front-desk staff only: others are sent to sign in, or refused with 403."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not is_front_desk(request.user):
            raise PermissionDenied("Front desk only")
        return view(request, *args, **kwargs)

    return guarded
