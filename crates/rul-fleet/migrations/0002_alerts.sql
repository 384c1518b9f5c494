-- RUL alerts with their history: one row per alert, updated on escalation, acknowledgement and clearing.
CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    engine_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    opened_cycle BIGINT NOT NULL,
    opened_lower DOUBLE PRECISION NOT NULL,
    last_lower DOUBLE PRECISION NOT NULL,
    updated_cycle BIGINT NOT NULL,
    opened_ms BIGINT NOT NULL,
    acked_by TEXT,
    ack_note TEXT,
    acked_ms BIGINT,
    cleared_cycle BIGINT,
    cleared_ms BIGINT
);

CREATE INDEX alerts_state ON alerts (state, opened_ms);
CREATE INDEX alerts_engine ON alerts (engine_id);
