from django.urls import path

from apps.apikeys import views_pages

app_name = "apikeys"

urlpatterns = [
    path("", views_pages.key_list_view, name="list"),
    path("new/", views_pages.key_issue_view, name="issue"),
    path("<str:key_id>/", views_pages.key_detail_view, name="detail"),
    path("<str:key_id>/rotate/", views_pages.key_rotate_view, name="rotate"),
    path("<str:key_id>/revoke/", views_pages.key_revoke_view, name="revoke"),
]
