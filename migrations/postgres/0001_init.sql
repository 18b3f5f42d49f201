-- Weft schema, version 1 (PostgreSQL). Times are unix microseconds (UTC).
CREATE TABLE block_defs (
    name       TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    content    TEXT    NOT NULL,
    raw        TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE flow_defs (
    name        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    raw         TEXT    NOT NULL,
    pins        TEXT    NOT NULL DEFAULT '{}',
    title       TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    has_cron    BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE runs (
    id              TEXT    PRIMARY KEY,
    flow            TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    input           TEXT,
    output          TEXT,
    error           TEXT,
    idempotency_key TEXT,
    parent_run_id   TEXT,
    parent_path     TEXT,
    trigger_kind    TEXT    NOT NULL DEFAULT '',
    state           TEXT,
    created_at      BIGINT  NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    rev             BIGINT  NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_flow_created ON runs (flow, created_at DESC, id DESC);
CREATE INDEX runs_status_created ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_flow_status_created ON runs (flow, status, created_at DESC, id DESC);
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE steps (
    run_id       TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path         TEXT    NOT NULL,
    ref          TEXT    NOT NULL,
    type         TEXT    NOT NULL DEFAULT '',
    block        TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL,
    input        TEXT,
    output       TEXT,
    error        TEXT,
    attempt      BIGINT  NOT NULL DEFAULT 0,
    attempts     TEXT,
    control      TEXT,
    child_run_id TEXT,
    seq          BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    PRIMARY KEY (run_id, path)
);
CREATE INDEX steps_created ON steps (created_at);

CREATE TABLE tasks (
    id               TEXT    PRIMARY KEY,
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path             TEXT    NOT NULL,
    ref              TEXT    NOT NULL,
    attempt          BIGINT  NOT NULL,
    step_seq         BIGINT  NOT NULL DEFAULT 0,
    queue            TEXT    NOT NULL,
    block            TEXT    NOT NULL,
    version          BIGINT  NOT NULL,
    input            TEXT,
    state            TEXT    NOT NULL DEFAULT 'ready',
    visible_at       BIGINT  NOT NULL,
    lease            TEXT,
    lease_us         BIGINT  NOT NULL,
    lease_expires_at BIGINT,
    worker_id        TEXT,
    resources        TEXT,
    concurrency      BIGINT  NOT NULL DEFAULT 0,
    cancel_requested BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX tasks_ready ON tasks (queue, visible_at, step_seq) WHERE state = 'ready';
CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE state = 'leased';
CREATE INDEX tasks_visible ON tasks (visible_at) WHERE state = 'ready';
CREATE INDEX tasks_block_leased ON tasks (block) WHERE state = 'leased';
CREATE INDEX tasks_run ON tasks (run_id, path);

CREATE TABLE timers (
    id      BIGSERIAL PRIMARY KEY,
    run_id  TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path    TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    attempt BIGINT  NOT NULL DEFAULT 0,
    due_at  BIGINT  NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);
CREATE INDEX timers_run ON timers (run_id, path);

CREATE TABLE events (
    seq       BIGSERIAL PRIMARY KEY,
    run_id    TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    time      BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    path      TEXT    NOT NULL DEFAULT '',
    from_state TEXT   NOT NULL DEFAULT '',
    to_state  TEXT    NOT NULL DEFAULT '',
    detail    TEXT
);
CREATE INDEX events_run ON events (run_id, seq);

CREATE TABLE workers (
    id        TEXT    PRIMARY KEY,
    queues    TEXT    NOT NULL,
    last_seen BIGINT  NOT NULL
);

CREATE TABLE cron_fires (
    flow     TEXT    NOT NULL,
    due_at   BIGINT  NOT NULL,
    run_id   TEXT,
    fired_at BIGINT  NOT NULL,
    PRIMARY KEY (flow, due_at)
);
