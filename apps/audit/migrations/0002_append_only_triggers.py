"""Make the audit table append-only and linear in PostgreSQL itself.

- UPDATE and DELETE are refused row by row, TRUNCATE per statement, whoever the caller is
  (short of an owner or superuser disabling the triggers, which is why production runs the app
  as a role that does not own the table; see docs/audit.md).
- An INSERT must extend the current head: sequence = head + 1 and prev_hash = head's hash. With
  the unique prev_hash constraint this keeps the chain linear even for a writer that bypasses
  audit_record's advisory lock (a racing second writer fails instead of forking the chain).
- The triggers are ENABLE ALWAYS, so ``SET session_replication_role = replica`` does not skip
  them.

One exception, for Django's test runner only: TransactionTestCase empties every table with one
TRUNCATE after each test. A superuser session that has set ``breakwater.audit_allow_truncate``
(done by apps.audit.apps only inside Django's test environment) may truncate.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('is_superuser') = 'on'
       AND coalesce(current_setting('breakwater.audit_allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events can only be appended (apps.audit.services.audit_record).';
END
$$;

CREATE FUNCTION audit_event_check_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_sequence bigint;
    head_hash varchar(64);
BEGIN
    SELECT sequence, hash INTO head_sequence, head_hash
      FROM audit_auditevent ORDER BY sequence DESC LIMIT 1;
    IF NEW.sequence IS DISTINCT FROM coalesce(head_sequence, 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM coalesce(head_hash, repeat('0', 64)) THEN
        RAISE EXCEPTION 'audit event % does not extend the chain head (%)',
            NEW.sequence, coalesce(head_sequence, 0)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_extends_head
    BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_check_append();

ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_append_only;
ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_no_truncate;
ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_extends_head;
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS audit_event_extends_head ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_check_append();
DROP FUNCTION IF EXISTS audit_event_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_event")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
