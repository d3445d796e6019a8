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
    path("chargers/<path:charge_point_id>/password/", views.charger_change_key, name="charger_change_key"),
    path("chargers/<path:charge_point_id>/", views.charger_detail, name="charger_detail"),
    path(
        "api/v1/chargers/<path:charge_point_id>/commands/",
        api.ChargerCommandsApi.as_view(),
        name="api_charger_commands",
    ),
    path(
        "api/v1/chargers/<path:charge_point_id>/password/",
        api.ChargerPasswordApi.as_view(),
        name="api_charger_password",
    ),
    path(
        "api/v1/chargers/<path:charge_point_id>/approve/",
        api.ChargerApprovalApi.as_view(),
        name="api_charger_approve",
    ),
    path(
        "api/v1/chargers/<path:charge_point_id>/tariff/",
        api.ChargerTariffApi.as_view(),
        name="api_charger_tariff",
    ),
    path("api/v1/chargers/<path:charge_point_id>/", api.ChargerApi.as_view(), name="api_charger"),
    path("api/v1/chargers/", api.ChargersApi.as_view(), name="api_chargers"),
    path("api/v1/transactions/", api.TransactionsApi.as_view(), name="api_transactions"),
    path("api/v1/transactions/<int:transaction_id>/", api.TransactionApi.as_view(), name="api_transaction"),
    path(
        "api/v1/transactions/<int:transaction_id>/meter-values/",
        api.TransactionMeterValuesApi.as_view(),
        name="api_transaction_meter_values",
    ),
    path("api/v1/reports/daily/", api.DailyReportApi.as_view(), name="api_daily_report"),
]
