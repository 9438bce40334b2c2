app_name = "respondent"
urlpatterns: list = []
