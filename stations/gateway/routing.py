from django.urls import re_path

from stations.gateway.consumer import OCPPConsumer

websocket_urlpatterns = [
    # Anything after /ocpp/ is the charge point id; some chargers add a trailing slash.
    re_path(r"^ocpp/(?P<charge_point_id>[^/].*?)/?$", OCPPConsumer.as_asgi()),
]
