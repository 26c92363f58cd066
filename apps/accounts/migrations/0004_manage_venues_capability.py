"""Admins configure venues and trading-account credentials (capability manage_venues)."""

from django.db import migrations


def refresh_roles(apps, schema_editor):
    from apps.accounts.roles import roles_ensure

    roles_ensure(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_roles")]

    operations = [migrations.RunPython(refresh_roles, migrations.RunPython.noop)]
