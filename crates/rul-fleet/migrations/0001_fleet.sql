-- Fleet state: engines, their readings (one row per cycle) and the tracked prediction after each reading.
-- Portable SQL: the same text runs on SQLite and PostgreSQL through sqlx's Any driver.
CREATE TABLE engines (
    engine_id TEXT PRIMARY KEY,
    -- JSON array of strings.
    tags TEXT NOT NULL,
    -- JSON object of string -> string.
    labels TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE readings (
    engine_id TEXT NOT NULL,
    cycle BIGINT NOT NULL,
    -- JSON array of 24 numbers or nulls: s1..s21, setting_1..setting_3.
    vals TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (engine_id, cycle)
);

CREATE TABLE predictions (
    engine_id TEXT NOT NULL,
    cycle BIGINT NOT NULL,
    rul DOUBLE PRECISION NOT NULL,
    lower_bound DOUBLE PRECISION NOT NULL,
    upper_bound DOUBLE PRECISION NOT NULL,
    rul_model DOUBLE PRECISION NOT NULL,
    model_lower DOUBLE PRECISION NOT NULL,
    model_upper DOUBLE PRECISION NOT NULL,
    level DOUBLE PRECISION NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    -- Tracker state after this cycle (mean, variance), so a restart resumes exactly.
    track_mean DOUBLE PRECISION NOT NULL,
    track_var DOUBLE PRECISION NOT NULL,
    model_version TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (engine_id, cycle)
);

CREATE INDEX readings_received ON readings (received_ms);
CREATE INDEX predictions_created ON predictions (created_ms);
