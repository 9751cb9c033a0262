from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("messages/<str:workflow_id>/", views.send_message, name="send-message"),
]
