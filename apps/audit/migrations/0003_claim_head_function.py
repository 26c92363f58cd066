"""One round trip to take the chain lock and read the head (audit_record's critical section).

The lock is held until commit, so every client round trip made while holding it is paid by all
waiting writers. This function takes the lock and then, in a separate statement of a VOLATILE
function (which takes a fresh snapshot per statement in READ COMMITTED), reads the head that the
previous holder committed, the database clock, the isolation level and inet's spelling of the
client IP. audit_record then needs only the INSERT and the COMMIT while holding the lock.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION audit_chain_claim_head(
    lock_key bigint,
    client_ip inet,
    OUT isolation text,
    OUT occurred_at timestamptz,
    OUT ip text,
    OUT head_sequence bigint,
    OUT head_hash varchar
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    isolation := current_setting('transaction_isolation');
    occurred_at := clock_timestamp();
    ip := host(client_ip);
    SELECT e.sequence, e.hash INTO head_sequence, head_hash
      FROM audit_auditevent AS e ORDER BY e.sequence DESC LIMIT 1;
END
$$;
"""

BACKWARD = "DROP FUNCTION IF EXISTS audit_chain_claim_head(bigint, inet);"


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
