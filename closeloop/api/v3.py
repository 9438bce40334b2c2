"""/API/v3: the Qualtrics-compatible subset. Token auth and the Qualtrics envelope everywhere."""

from closeloop.api.auth import TOKEN_AUTH
from closeloop.api.qualtrics import QualtricsAPI
from closeloop.api.users import v3_router as users_router
from closeloop.directory.api_v3 import router as directory_router
from closeloop.distributions.api_v3 import router as distributions_v3_router
from closeloop.surveys.api_v3 import router as surveys_v3_router

api = QualtricsAPI(
    title="Closeloop Qualtrics-compatible API",
    version="3",
    description="A subset of the Qualtrics API v3. Authenticate with the X-API-TOKEN header.",
    urls_namespace="api-v3",
    auth=TOKEN_AUTH,
)
api.add_router("", users_router)
api.add_router("", surveys_v3_router)
api.add_router("", distributions_v3_router)
api.add_router("/directories", directory_router)
