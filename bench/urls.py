"""The service's routes plus the two baseline endpoints `make bench` compares with."""

from django.urls import include, path

from bench.views import BenchInsertApi, BenchRowApi

urlpatterns = [
    path("api/v1/bench/insert/", BenchInsertApi.as_view()),
    path("api/v1/bench/rows/<int:row_id>/", BenchRowApi.as_view()),
    path("", include("config.urls")),
]
