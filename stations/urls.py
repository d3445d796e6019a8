from django.urls import path

from stations import api, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("chargers/", views.charger_list, name="charger_list"),
    path("reports/", views.daily_report, name="daily_report"),
    path("reports/daily.csv", views.daily_report_csv, name="daily_report_csv"),
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/<int:transaction_id>/", views.session_detail, name="session_detail"),
    # Charge point ids may contain "/" (arriving as %2F): <path:…>, and the longer pattern first.
    path(
        "chargers/<path:charge_point_id>/operate/<slug:operation>/",
        views.charger_operate,
        name="charger_operate",
    ),
    path("chargers/<path:charge_point_id>/", views.charger_detail, name="charger_detail"),
    path(
        "api/v1/chargers/<path:charge_point_id>/commands/",
        api.ChargerCommandsApi.as_view(),
        name="api_charger_commands",
    ),
]
