from django.urls import include, path

from closeloop.api.v1 import api as api_v1
from closeloop.api.v3 import api as api_v3

urlpatterns = [
    path("", include("closeloop.web.urls")),
    path("", include("closeloop.accounts.urls")),
    path("outbox/", include("closeloop.outbox.urls")),
    path("extensions/salesforce/", include("closeloop.integrations.salesforce.urls")),
    path("extensions/segment/", include("closeloop.integrations.segment.urls")),
    path("jobs/", include("closeloop.jobs.urls")),
    path("directory/", include("closeloop.directory.urls")),
    path("surveys/", include("closeloop.surveys.urls")),
    path("jfe/", include("closeloop.surveys.respondent_urls")),
    path("workflows/", include("closeloop.workflows.urls")),
    path("inbound/", include("closeloop.workflows.trigger_urls")),
    path("inbound/salesforce/", include("closeloop.integrations.salesforce.inbound_urls")),
    path("inbound/segment/", include("closeloop.integrations.segment.inbound_urls")),
    path("distributions/", include("closeloop.distributions.urls")),
    path("t/", include("closeloop.distributions.public_urls")),
    path("demo/", include("closeloop.demo.urls")),
    path("API/v3/", api_v3.urls),
    path("api/v1/", api_v1.urls),
]
