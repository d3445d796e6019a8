"""The command history's readable lines of a charger's answer or report."""

from stations.templatetags.command_history import readable


def test_it_shows_objects_nested_in_a_reported_profile_as_text_not_as_python():
    report = {
        "chargingProfile": [
            {
                "id": 7,
                "chargingSchedule": [
                    {"id": 1, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}]}
                ],
            }
        ]
    }

    ((label, text),) = readable(report)

    assert "{" not in text and "'" not in text
    assert "startPeriod: 0" in text and "limit: 7400" in text
