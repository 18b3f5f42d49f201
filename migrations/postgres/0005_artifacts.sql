-- Artifacts (docs/concepts.md): the metadata of the files steps upload; the
-- bytes are in the artifact store under store_key. A row appears only once
-- its bytes are fully stored, in the transaction that checks the task's
-- lease. Deleting a row (its run purged, or a redelivered task uploading
-- the same name again) moves its key to artifact_trash, whose bytes the
-- server deletes from the store and then the trash row.
CREATE TABLE artifacts (
    id         TEXT    PRIMARY KEY,
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step       TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    task_id    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    size       BIGINT  NOT NULL,
    sha256     TEXT    NOT NULL,
    media_type TEXT    NOT NULL DEFAULT '',
    store_key  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX artifacts_task_name ON artifacts (task_id, name);
CREATE INDEX artifacts_run ON artifacts (run_id, created_at);

CREATE TABLE artifact_trash (
    store_key TEXT PRIMARY KEY
);
CREATE FUNCTION weft_artifacts_to_trash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO artifact_trash (store_key) VALUES (OLD.store_key) ON CONFLICT DO NOTHING;
    RETURN OLD;
END
$$;
CREATE TRIGGER artifacts_to_trash AFTER DELETE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION weft_artifacts_to_trash();

-- How many artifacts a task stored, so a report looks them up only when
-- there are some; and a succeeded step's artifacts by name, for
-- expressions (ref.artifacts.NAME).
ALTER TABLE tasks ADD COLUMN artifacts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN artifacts TEXT;
