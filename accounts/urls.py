from django.urls import path

from accounts import views

urlpatterns = [
    path("drivers/new/", views.driver_new, name="driver_new"),
    path("drivers/<int:user_id>/", views.driver_detail, name="driver"),
]
