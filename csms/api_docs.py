"""/api/v1/docs/: the REST API's Swagger UI page, with this server's files only.

Apart from csms.api: that module is the schema generator's class (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS),
which drf-spectacular's views import while they load.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    """/api/v1/docs/: Swagger UI from drf-spectacular-sidecar's files on this server, its start-up
    script a file of its own (?script) and no inline style: the site's Content-Security-Policy
    (csms.security) lets nothing inline run, and nothing is fetched from elsewhere."""

    template_name = "api/docs.html"
    title = _("CSMS REST API")
