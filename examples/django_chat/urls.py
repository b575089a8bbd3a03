from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("messages", views.messages, name="messages"),
    path("messages/<str:record_id>", views.message, name="message"),
    path("training-consent", views.training_consent, name="training-consent"),
    path("privacy", views.privacy, name="privacy"),
]
