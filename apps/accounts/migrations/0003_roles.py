"""Create the role groups (admin, risk_manager, trader, viewer) with their capabilities."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from apps.accounts.roles import roles_ensure

    roles_ensure(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_mfa_devices_and_throttle"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
