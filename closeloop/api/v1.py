from ninja import NinjaAPI

api = NinjaAPI(title="Closeloop API", version="1", urls_namespace="api-v1")
