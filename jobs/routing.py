from django.urls import path

from jobs.consumers import JobsConsumer

websocket_urlpatterns = [
    path("ws/jobs/", JobsConsumer.as_asgi()),
    path("ws/jobs/<uuid:job_id>/", JobsConsumer.as_asgi()),
]
