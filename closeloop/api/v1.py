"""/api/v1: Closeloop's own API. Token auth; errors as RFC 9457 problem details."""

from closeloop.api.auth import TOKEN_AUTH
from closeloop.api.problems import ProblemAPI
from closeloop.api.users import v1_router as users_router
from closeloop.surveys.api_v1 import router as surveys_router
from closeloop.workflows.api_v1 import router as workflows_router

api = ProblemAPI(
    title="Closeloop API",
    version="1",
    description="Closeloop's own API. Authenticate with the X-API-TOKEN header or a bearer token.",
    urls_namespace="api-v1",
    auth=TOKEN_AUTH,
)
api.add_router("", users_router)
api.add_router("", surveys_router)
api.add_router("/workflows", workflows_router)
