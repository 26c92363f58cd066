from django.urls import path

from apps.accounts.views import auth, step_up, users

app_name = "accounts"

urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("login/code/", auth.mfa_verify_view, name="mfa_verify"),
    path("login/enrol/", auth.mfa_enrol_view, name="mfa_enrol"),
    path("logout/", auth.logout_view, name="logout"),
    path("set-password/<uidb64>/<token>/", auth.set_password_view, name="set_password"),
    path("password/", auth.password_change_view, name="password_change"),
    path("step-up/", step_up.step_up_view, name="step_up"),
    path("step-up/continue/", step_up.step_up_continue_view, name="step_up_continue"),
    path("users/", users.user_list_view, name="user_list"),
    path("users/new/", users.user_create_view, name="user_create"),
    path("users/<int:user_id>/", users.user_detail_view, name="user_detail"),
    path("users/<int:user_id>/roles/", users.user_roles_view, name="user_roles"),
    path("users/<int:user_id>/reset-mfa/", users.user_mfa_reset_view, name="user_mfa_reset"),
    path("users/<int:user_id>/deactivate/", users.user_deactivate_view, name="user_deactivate"),
    path("users/<int:user_id>/reactivate/", users.user_reactivate_view, name="user_reactivate"),
]
