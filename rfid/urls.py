from django.urls import path

from rfid import views

app_name = "desk"

urlpatterns = [
    path("", views.search, name="search"),
    path("cards/new/", views.card_new, name="card_new"),
    path("cards/<str:id_tag>/", views.card_detail, name="card"),
    path("cards/<str:id_tag>/topup/", views.card_topup, name="topup"),
    path("cards/<str:id_tag>/block/", views.card_block, name="block"),
    path("cards/<str:id_tag>/replace/", views.card_replace, name="replace"),
    path("topups/<int:entry_id>/receipt/", views.topup_receipt, name="receipt"),
]
