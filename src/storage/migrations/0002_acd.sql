-- Agents (each is also a SIP user in `users`) and the queue outcome of a call.
-- Portable SQL, as 0001.

-- One row per agent ever provisioned. `skills` is "name:level,..." (level 1-10), `queues` is
-- "q1,q2" or NULL for "every queue the skills qualify for". A removed agent keeps its row with
-- `removed_at` set, so the queue file's demo agents are not provisioned again at the next start.
CREATE TABLE agents (
    id          TEXT PRIMARY KEY NOT NULL,
    display     TEXT,
    skills      TEXT NOT NULL,
    queues      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    removed_at  INTEGER
);

-- answered, abandoned, overflowed, timed_out or refused; NULL for calls that never queued.
-- (`queue`, `agent` and `wait_ms` are in 0001 already.)
ALTER TABLE cdr ADD COLUMN queue_outcome TEXT;
