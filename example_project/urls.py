from __future__ import annotations

from django.contrib import admin
from django.urls import path

from example_project.demo import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("approvals/", views.approvals, name="demo-approvals"),
    path("approvals/<str:workflow_id>/decide/", views.decide, name="demo-decide"),
    path("imports/", views.imports, name="demo-imports"),
    path(
        "imports/<str:workflow_id>/progress/", views.import_progress, name="demo-import-progress"
    ),
    path("imports/<str:workflow_id>/", views.import_page, name="demo-import"),
]
