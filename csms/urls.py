from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("stations.urls")),
    path("admin/", admin.site.urls),
    path("desk/", include("rfid.urls")),
    path("desk/", include("accounts.urls")),
]
