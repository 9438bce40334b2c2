from ninja import NinjaAPI

api = NinjaAPI(title="Closeloop Qualtrics-compatible API", version="3", urls_namespace="api-v3")
