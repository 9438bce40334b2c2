app_name = "distributions"
urlpatterns: list = []
