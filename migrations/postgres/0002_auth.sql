-- API tokens (PostgreSQL). Only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
    id         TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    flow       TEXT   NOT NULL DEFAULT '',
    hash       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
