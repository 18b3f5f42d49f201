-- A claim writes only its task row: when it was claimed, and the attempt's
-- deadline (claimed_at + the step timeout) next to the lease, so a step
-- costs no timer row and the step itself is written once, at the report.
ALTER TABLE tasks ADD COLUMN claimed_at BIGINT;
ALTER TABLE tasks ADD COLUMN timeout_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN deadline_at BIGINT;
CREATE INDEX tasks_deadline ON tasks (deadline_at) WHERE state = 'leased' AND deadline_at IS NOT NULL;
