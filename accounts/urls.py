from django.urls import path

from accounts import views

urlpatterns = [
    path("drivers/", views.driver_list, name="driver_list"),
    path("drivers/new/", views.driver_new, name="driver_new"),
    path("drivers/<int:pk>/", views.driver_detail, name="driver_detail"),
]
