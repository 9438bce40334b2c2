from django.urls import path

from closeloop.outbox import views

app_name = "outbox"
urlpatterns = [
    path("", views.message_list, name="list"),
    path("<int:message_id>/", views.message_detail, name="detail"),
    path("clear/", views.clear, name="clear"),
]
