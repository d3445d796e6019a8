"""Small builders for test data, so tests say what matters and nothing else."""

from stations.models import Charger


def register_charger(charge_point_id: str, password: str | None = None, **fields) -> Charger:
    """What an operator does with `manage.py add_charger`."""
    charger = Charger(charge_point_id=charge_point_id, **fields)
    charger.set_password(password)
    charger.save()
    return charger
