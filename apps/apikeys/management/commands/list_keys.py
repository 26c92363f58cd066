from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from apps.apikeys.models import ApiKey


class Command(BaseCommand):
    help = "List API keys (never secrets)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="include revoked and expired keys")

    def handle(self, *args: object, **options) -> None:
        keys = ApiKey.objects.select_related("owner").order_by("created_at")
        rows = [("KEY ID", "NAME", "OWNER", "STATUS", "EXPIRES", "LAST USED", "SCOPES")]
        for key in keys:
            if key.status != "active" and not options["all"]:
                continue
            rows.append(
                (
                    key.key_id,
                    key.name,
                    key.owner.username,
                    key.status,
                    f"{key.expires_at:%Y-%m-%d}",
                    f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                    ",".join(key.scopes),
                )
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            )
