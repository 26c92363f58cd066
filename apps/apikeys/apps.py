from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apps.apikeys"
    label = "apikeys"

    def ready(self) -> None:
        import apps.apikeys.schema  # noqa: F401 - registers the OpenAPI security scheme
        from apps.accounts.hooks import on_user_deactivated
        from apps.apikeys.services import keys_revoke_for_owner

        def revoke_keys_of_deactivated_user(*, user, actor, request) -> None:
            keys_revoke_for_owner(
                owner=user, actor=actor, reason="owner deactivated", request=request
            )

        on_user_deactivated(revoke_keys_of_deactivated_user)
