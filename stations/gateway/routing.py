from django.urls import re_path

from stations.gateway.consumer import NoSuchEndpoint, OCPPConsumer

websocket_urlpatterns = [
    # Anything after /ocpp/ is the charge point id (some chargers add a trailing slash). Whatever it is,
    # even empty or with control characters, admission refuses it with a recorded attempt, never a 500.
    re_path(r"(?s)^ocpp/(?P<charge_point_id>.*?)/?$", OCPPConsumer.as_asgi()),
    re_path(r"", NoSuchEndpoint.as_asgi()),
]
