"""CHECK constraints on lifecycle states: jobs, attempts, deployments and replicas hold only
the values of their enums (``gigawatt.core.tiers.JobStatus``, ``gigawatt.core.states``).

On SQLite the tables are rebuilt (batch mode; ``env.py`` turns foreign keys off meanwhile
and checks them before committing).

Revision ID: 0005_state_checks
Revises: 0004_inference_routing
"""

from __future__ import annotations

from alembic import op

revision = "0005_state_checks"
down_revision = "0004_inference_routing"
branch_labels = None
depends_on = None

#: (table, constraint, allowed values) as of this revision (frozen: later enum changes need
#: their own migration).
CHECKS = (
    (
        "jobs",
        "ck_jobs_status",
        ("queued", "starting", "running", "preempted", "succeeded", "failed", "cancelled"),
    ),
    (
        "attempts",
        "ck_attempts_status",
        ("starting", "running", "succeeded", "failed", "cancelled", "preempted"),
    ),
    ("inference_deployments", "ck_inference_deployments_status", ("active", "deleted", "failed")),
    ("inference_replicas", "ck_inference_replicas_status", ("starting", "ready", "stopped")),
)


def _condition(values: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{v}'" for v in values))


def upgrade() -> None:
    """Apply."""
    for table, name, values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(name, _condition(values))


def downgrade() -> None:
    """Undo."""
    for table, name, _values in reversed(CHECKS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="check")
