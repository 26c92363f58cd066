"""Break-glass: reset one user's MFA from the shell (their phone is lost, or they are locked
out after too many wrong codes, and no admin can sign in to do it on **Users**).

    manage.py reset_mfa <username> --reason TEXT

Exactly what an admin's "reset MFA" does (apps.accounts.services.mfa.mfa_reset): the
authenticator and backup codes are removed, an MFA lock is lifted, every session of the user
ends, and they enrol again at their next sign-in. Audited as ``shell:<operating-system user>``
with the reason.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.accounts.services.mfa import mfa_reset
from apps.audit.actors import Actor, shell_operator_name


class Command(BaseCommand):
    help = "Reset a user's MFA (devices, backup codes, lock, sessions) from the shell; audited."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", required=True)

    def handle(self, *args: object, **options: object) -> None:
        reason = str(options["reason"]).strip()
        if not reason:
            raise CommandError("--reason must say why")
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"no user {options['username']!r}") from None
        operator = shell_operator_name()
        mfa_reset(user=user, actor=Actor.system(f"shell:{operator}"), request=None, reason=reason)
        self.stdout.write(
            f"MFA of {user.username} reset by shell:{operator}: devices and backup codes "
            "removed, lock lifted, sessions ended; they enrol again at their next sign-in."
        )
