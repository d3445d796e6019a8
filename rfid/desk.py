"""The front desk's check: the same question every staff page asks (accounts.access)."""

from accounts.access import WORK_THE_DESK


def is_front_desk(user) -> bool:
    """The "front desk" role, and anyone else given the permission (the admin role)."""
    return user.is_active and user.has_perm(WORK_THE_DESK)
