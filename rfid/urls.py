from django.urls import path

from rfid import api, views

# Cards for operators and the front desk. "cards/new/" before "cards/<id_tag>/": a card whose
# idTag is NEW is still reached at /cards/NEW/, since idTags are stored and linked upper case.
urlpatterns = [
    path("cards/", views.card_list, name="card_list"),
    path("cards/new/", views.card_new, name="card_new"),
    path("cards/<str:id_tag>/", views.card_detail, name="card_detail"),
    path("cards/<str:id_tag>/topup/", views.card_topup, name="card_topup"),
    path("cards/<str:id_tag>/block/", views.card_block, name="card_block"),
    path("cards/<str:id_tag>/replace/", views.card_replace, name="card_replace"),
    path("topups/<int:entry_id>/receipt/", views.topup_receipt, name="topup_receipt"),
    # The REST API's cards (rfid.api).
    path("api/v1/cards/", api.CardsApi.as_view(), name="api_cards"),
    path("api/v1/cards/<str:id_tag>/", api.CardApi.as_view(), name="api_card"),
    path("api/v1/cards/<str:id_tag>/block/", api.CardBlockApi.as_view(), name="api_card_block"),
    path("api/v1/cards/<str:id_tag>/replace/", api.CardReplaceApi.as_view(), name="api_card_replace"),
    path("api/v1/cards/<str:id_tag>/topups/", api.CardTopUpsApi.as_view(), name="api_card_topups"),
]

# The front desk's old addresses (/desk/…, included under the "desk" namespace): each leads to its
# new one, so bookmarks, pages left open and the `desk:*` names keep working.
desk_urlpatterns = [
    path("", views.moved, {"to": "card_list"}, name="search"),
    path("cards/new/", views.moved, {"to": "card_new"}, name="card_new"),
    path("cards/<str:id_tag>/", views.moved, {"to": "card_detail"}, name="card"),
    path("cards/<str:id_tag>/topup/", views.moved, {"to": "card_topup"}, name="topup"),
    path("cards/<str:id_tag>/block/", views.moved, {"to": "card_block"}, name="block"),
    path("cards/<str:id_tag>/replace/", views.moved, {"to": "card_replace"}, name="replace"),
    path("topups/<int:entry_id>/receipt/", views.moved, {"to": "topup_receipt"}, name="receipt"),
    path("drivers/new/", views.moved, {"to": "driver_new"}, name="driver_new"),
    path("drivers/<int:pk>/", views.moved, {"to": "driver_detail"}, name="driver"),
]
