class ApiTrailingSlashMiddleware:
    """Qualtrics clients send both /API/v3/whoami and /API/v3/whoami/; route both the same."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(("/API/v3/", "/api/v1/")) and len(path) > 8 and path.endswith("/"):
            request.path_info = path.rstrip("/")
        return self.get_response(request)
