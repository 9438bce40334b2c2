app_name = "triggers"
urlpatterns: list = []
