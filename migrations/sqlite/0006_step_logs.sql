-- What a step printed (docs/concepts.md): one row per line, in their own table
-- so the runs list and the run page never read them. seq orders every
-- line and is the read API's cursor. step_log_sizes counts each step's
-- bytes for --max-log and remembers that its one truncation marker was
-- written. Both go with their run (retention, purge).
CREATE TABLE step_logs (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id   TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path     TEXT    NOT NULL,
    attempt  INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    level    TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX step_logs_run ON step_logs (run_id, seq);
CREATE INDEX step_logs_step ON step_logs (run_id, path, seq);

CREATE TABLE step_log_sizes (
    run_id    TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path      TEXT    NOT NULL,
    bytes     INTEGER NOT NULL DEFAULT 0,
    truncated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, path)
);
