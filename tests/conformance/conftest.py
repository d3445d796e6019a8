"""The conformance tests drive a live server on a Redis channel layer, as the stations tests do: an
operator's command from the test process reaches the charger's socket in the server process."""

from tests.stations.conftest import remote_csms, remote_csms_server  # noqa: F401
