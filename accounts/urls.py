from django.urls import path

from accounts import api, views

urlpatterns = [
    path("drivers/", views.driver_list, name="driver_list"),
    path("drivers/new/", views.driver_new, name="driver_new"),
    path("drivers/<int:pk>/", views.driver_detail, name="driver_detail"),
    path("api/v1/drivers/", api.DriversApi.as_view(), name="api_drivers"),
    path("api/v1/drivers/<int:driver_id>/", api.DriverApi.as_view(), name="api_driver"),
]
