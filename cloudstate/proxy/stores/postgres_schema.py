"""The PostgreSQL store's schema: versioned migrations and the functions the writer calls.

``MIGRATIONS[n]`` takes a database from schema version n to n + 1. Never edit a released step;
append new ones. Every step keeps the layout one family of tables keyed by
``(persistence_id, entity_id)`` where it has entities: 1 the journal, snapshots and values (CRDT
states are values under ``crdt:<persistence id>``), 2 consumer offsets, 3 the topic log (with its
own commit-ordered offset, under the journal lock), 4 view rows, 5 the outbox, 6 durable tasks,
dead letters and idempotency records (with the functions that write them with an entity), 7 value
expiry, consumer reset generations, parked messages (eventing dead letters) and view generations,
8 cluster membership.

Two server-side functions do the conditional writes in a single statement each, so a whole batch
of writes is pipelined in one round trip (``fetchmany``) and a lost condition never raises (no
savepoint, no subtransaction per request): they return the new sequence / version, or
``-1 - actual`` when the condition failed, or :data:`KEY_TAKEN` when the write's idempotency key
is stored already (then nothing was written either).

One concern: the PostgreSQL schema (its DDL and server-side functions, step by step).
"""

from __future__ import annotations

#: Journal appends run under this transaction-level advisory lock (combined with a hash of the
#: schema name), so offsets are committed in the order they are assigned — see postgres.py.
JOURNAL_LOCK_NAME = "cloudstate.journal"
#: Migrations run under this transaction-level advisory lock (per schema).
MIGRATION_LOCK_NAME = "cloudstate.migrate"

VERSION_TABLE = "cloudstate_schema_version"

#: What the ``*_durable`` write functions return when the idempotency key is taken (far below
#: any ``-1 - actual``).
KEY_TAKEN = -(2**62)

# The task columns of durable_tasks and dead_letters (DurableTask.COLUMNS, in that order).
_TASK_TABLE_COLUMNS = """
            name TEXT COLLATE "C" PRIMARY KEY,
            key TEXT NOT NULL,
            service TEXT NOT NULL,
            method TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BYTEA NOT NULL,
            due DOUBLE PRECISION NOT NULL,
            metadata BYTEA NOT NULL,
            attempts INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL"""

# The arguments of the durable writes: the idempotency record (i_key NULL: none), the names of the
# cancelled tasks, then the started tasks column by column (one name at most once in all).
_DURABLE_PARAMETERS = """
            i_key TEXT, i_fingerprint TEXT, i_response BYTEA, i_created DOUBLE PRECISION,
            c_names TEXT[], t_names TEXT[], t_keys TEXT[], t_services TEXT[], t_methods TEXT[],
            t_type_urls TEXT[], t_payloads BYTEA[], t_dues DOUBLE PRECISION[],
            t_metadata BYTEA[], t_attempts INTEGER[], t_max_attempts INTEGER[], t_errors TEXT[],
            t_created DOUBLE PRECISION[]"""
_TASK_ARGUMENTS = """c_names, t_names, t_keys, t_services, t_methods, t_type_urls, t_payloads,
                t_dues, t_metadata, t_attempts, t_max_attempts, t_errors, t_created"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE events (
            "offset" BIGINT GENERATED ALWAYS AS IDENTITY,
            persistence_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            sequence BIGINT NOT NULL,
            type_url TEXT NOT NULL,
            payload BYTEA NOT NULL,
            written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (persistence_id, entity_id, sequence),
            UNIQUE ("offset")
        )
        """,
        'CREATE INDEX events_by_offset ON events (persistence_id, "offset")',
        """
        CREATE TABLE snapshots (
            persistence_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            sequence BIGINT NOT NULL,
            type_url TEXT NOT NULL,
            payload BYTEA NOT NULL,
            PRIMARY KEY (persistence_id, entity_id)
        )
        """,
        # A delete keeps the row (deleted, no payload) so that the version keeps growing.
        """
        CREATE TABLE "values" (
            persistence_id TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            type_url TEXT,
            payload BYTEA,
            version BIGINT NOT NULL,
            deleted BOOLEAN NOT NULL DEFAULT FALSE,
            PRIMARY KEY (persistence_id, entity_id)
        )
        """,
        # Runs under the journal lock: the MAX read sees every committed append, so the check is
        # exact and the INSERT cannot hit the primary key.
        """
        CREATE FUNCTION cloudstate_append_events(
            p_persistence_id TEXT, p_entity_id TEXT, p_expected BIGINT,
            p_type_urls TEXT[], p_payloads BYTEA[], p_snapshot_type_url TEXT, p_snapshot BYTEA
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            actual BIGINT;
            highest BIGINT := p_expected + cardinality(p_type_urls);
        BEGIN
            SELECT COALESCE(MAX(sequence), 0) INTO actual FROM events
                WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id;
            IF actual <> p_expected THEN
                RETURN -1 - actual;
            END IF;
            INSERT INTO events (persistence_id, entity_id, sequence, type_url, payload)
                SELECT p_persistence_id, p_entity_id, p_expected + e.n, e.type_url, e.payload
                FROM unnest(p_type_urls, p_payloads) WITH ORDINALITY AS e(type_url, payload, n)
                ORDER BY e.n;
            IF p_snapshot IS NOT NULL THEN
                INSERT INTO snapshots (persistence_id, entity_id, sequence, type_url, payload)
                    VALUES (p_persistence_id, p_entity_id, highest, p_snapshot_type_url,
                            p_snapshot)
                    ON CONFLICT (persistence_id, entity_id) DO UPDATE SET
                        sequence = excluded.sequence, type_url = excluded.type_url,
                        payload = excluded.payload;
            END IF;
            RETURN highest;
        END
        $$
        """,
        # Conditional on the version; a deleted value matches 0 and its tombstone version. Both
        # branches are single statements that PostgreSQL makes atomic against concurrent writers
        # (ON CONFLICT for racing creators, the re-checked WHERE for racing updaters).
        """
        CREATE FUNCTION cloudstate_save_value(
            p_persistence_id TEXT, p_entity_id TEXT, p_type_url TEXT, p_payload BYTEA,
            p_expected BIGINT
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            written BIGINT;
            actual BIGINT;
        BEGIN
            IF p_expected IS NULL OR p_expected = 0 THEN
                INSERT INTO "values" AS v
                    (persistence_id, entity_id, type_url, payload, version, deleted)
                    VALUES (p_persistence_id, p_entity_id, p_type_url, p_payload, 1,
                            p_payload IS NULL)
                    ON CONFLICT (persistence_id, entity_id) DO UPDATE SET
                        type_url = excluded.type_url, payload = excluded.payload,
                        version = v.version + 1, deleted = excluded.deleted
                    WHERE p_expected IS NULL OR v.deleted
                    RETURNING v.version INTO written;
            ELSE
                UPDATE "values" SET type_url = p_type_url, payload = p_payload,
                        version = version + 1, deleted = p_payload IS NULL
                    WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id
                        AND version = p_expected
                    RETURNING version INTO written;
            END IF;
            IF written IS NULL THEN
                SELECT version INTO actual FROM "values"
                    WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id;
                RETURN -1 - COALESCE(actual, 0);
            END IF;
            RETURN written;
        END
        $$
        """,
    ),
    # 2: offsets of event-log consumers (eventing, projections).
    (
        """
        CREATE TABLE consumer_offsets (
            consumer_id TEXT PRIMARY KEY,
            "offset" BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
    ),
    # 3: the embedded topic log. Appends run under the journal lock (like event appends), so
    # offsets are committed in the order they are assigned.
    (
        """
        CREATE TABLE topic_messages (
            "offset" BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BYTEA NOT NULL,
            ce_id TEXT NOT NULL,
            ce_source TEXT NOT NULL,
            ce_type TEXT NOT NULL,
            ce_subject TEXT NOT NULL,
            ce_time TEXT NOT NULL,
            content_type TEXT NOT NULL,
            written_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
        'CREATE INDEX topic_messages_by_offset ON topic_messages (topic, "offset")',
        """
        CREATE FUNCTION cloudstate_append_topic(
            p_topic TEXT, p_type_urls TEXT[], p_payloads BYTEA[], p_ids TEXT[], p_sources TEXT[],
            p_types TEXT[], p_subjects TEXT[], p_times TEXT[], p_content_types TEXT[]
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            last_offset BIGINT;
        BEGIN
            WITH inserted AS (
                INSERT INTO topic_messages (topic, type_url, payload, ce_id, ce_source, ce_type,
                        ce_subject, ce_time, content_type)
                    SELECT p_topic, m.type_url, m.payload, m.ce_id, m.ce_source, m.ce_type,
                        m.ce_subject, m.ce_time, m.content_type
                    FROM unnest(p_type_urls, p_payloads, p_ids, p_sources, p_types, p_subjects,
                        p_times, p_content_types) WITH ORDINALITY
                        AS m(type_url, payload, ce_id, ce_source, ce_type, ce_subject, ce_time,
                            content_type, n)
                    ORDER BY m.n
                    RETURNING "offset"
            )
            SELECT MAX("offset") INTO last_offset FROM inserted;
            RETURN last_offset;
        END
        $$
        """,
    ),
    # 4: view rows (cloudstate.view): the row message's bytes and its indexed columns (s1..s4
    # text in byte order, n1..n4 numbers), one index per slot so queries run as indexed SQL.
    (
        """
        CREATE TABLE view_rows (
            view_id TEXT NOT NULL,
            row_key TEXT NOT NULL,
            payload BYTEA NOT NULL,
            s1 TEXT COLLATE "C", s2 TEXT COLLATE "C", s3 TEXT COLLATE "C", s4 TEXT COLLATE "C",
            n1 NUMERIC, n2 NUMERIC, n3 NUMERIC, n4 NUMERIC,
            PRIMARY KEY (view_id, row_key)
        )
        """,
        *(
            f"CREATE INDEX view_rows_{slot} ON view_rows (view_id, {slot})"
            for slot in ("s1", "s2", "s3", "s4", "n1", "n2", "n3", "n4")
        ),
    ),
    # 5: the outbox: topic messages appended in the same statement as an entity's write, only
    # if the write's condition held (callers take the journal lock, as for topic appends).
    (
        """
        CREATE FUNCTION cloudstate_insert_outbox(
            o_topics TEXT[], o_type_urls TEXT[], o_payloads BYTEA[], o_ids TEXT[], o_sources TEXT[],
            o_types TEXT[], o_subjects TEXT[], o_times TEXT[], o_content_types TEXT[]
        ) RETURNS VOID LANGUAGE sql AS $$
            INSERT INTO topic_messages (topic, type_url, payload, ce_id, ce_source, ce_type,
                    ce_subject, ce_time, content_type)
                SELECT m.topic, m.type_url, m.payload, m.ce_id, m.ce_source, m.ce_type,
                    m.ce_subject, m.ce_time, m.content_type
                FROM unnest(o_topics, o_type_urls, o_payloads, o_ids, o_sources, o_types,
                    o_subjects, o_times, o_content_types) WITH ORDINALITY
                    AS m(topic, type_url, payload, ce_id, ce_source, ce_type, ce_subject,
                        ce_time, content_type, n)
                ORDER BY m.n
        $$
        """,
        """
        CREATE FUNCTION cloudstate_append_events_outbox(
            p_persistence_id TEXT, p_entity_id TEXT, p_expected BIGINT,
            p_type_urls TEXT[], p_payloads BYTEA[], p_snapshot_type_url TEXT, p_snapshot BYTEA,
            o_topics TEXT[], o_type_urls TEXT[], o_payloads BYTEA[], o_ids TEXT[], o_sources TEXT[],
            o_types TEXT[], o_subjects TEXT[], o_times TEXT[], o_content_types TEXT[]
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            written BIGINT;
        BEGIN
            written := cloudstate_append_events(p_persistence_id, p_entity_id, p_expected,
                p_type_urls, p_payloads, p_snapshot_type_url, p_snapshot);
            IF written >= 0 THEN
                PERFORM cloudstate_insert_outbox(o_topics, o_type_urls, o_payloads, o_ids,
                    o_sources, o_types, o_subjects, o_times, o_content_types);
            END IF;
            RETURN written;
        END
        $$
        """,
        """
        CREATE FUNCTION cloudstate_save_value_outbox(
            p_persistence_id TEXT, p_entity_id TEXT, p_type_url TEXT, p_payload BYTEA,
            p_expected BIGINT,
            o_topics TEXT[], o_type_urls TEXT[], o_payloads BYTEA[], o_ids TEXT[], o_sources TEXT[],
            o_types TEXT[], o_subjects TEXT[], o_times TEXT[], o_content_types TEXT[]
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            written BIGINT;
        BEGIN
            written := cloudstate_save_value(p_persistence_id, p_entity_id, p_type_url, p_payload,
                p_expected);
            IF written >= 0 THEN
                PERFORM cloudstate_insert_outbox(o_topics, o_type_urls, o_payloads, o_ids,
                    o_sources, o_types, o_subjects, o_times, o_content_types);
            END IF;
            RETURN written;
        END
        $$
        """,
    ),
    # 6: durable calls (cloudstate.proxy.durable): pending tasks by name (due first), their dead
    # letters and the idempotency records of keyed calls; the writes of an entity that carry them.
    (
        f"CREATE TABLE durable_tasks ({_TASK_TABLE_COLUMNS}\n        )",
        "CREATE INDEX durable_tasks_by_due ON durable_tasks (due, name)",
        f"CREATE TABLE dead_letters ({_TASK_TABLE_COLUMNS},\n"
        "            failed_at DOUBLE PRECISION NOT NULL\n        )",
        "CREATE INDEX dead_letters_by_failed_at ON dead_letters (failed_at)",
        """
        CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            response BYTEA NOT NULL,
            created DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX idempotency_by_created ON idempotency (created)",
        # Inserts the record unless its key is taken (FALSE); no record (NULL key): TRUE. A key
        # inserted by a transaction that has not committed yet makes this wait for it.
        """
        CREATE FUNCTION cloudstate_insert_idempotency(
            i_key TEXT, i_fingerprint TEXT, i_response BYTEA, i_created DOUBLE PRECISION
        ) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
        BEGIN
            IF i_key IS NULL THEN
                RETURN TRUE;
            END IF;
            INSERT INTO idempotency (key, fingerprint, response, created)
                VALUES (i_key, i_fingerprint, i_response, i_created)
                ON CONFLICT (key) DO NOTHING;
            RETURN FOUND;
        END
        $$
        """,
        """
        CREATE FUNCTION cloudstate_write_tasks(
            c_names TEXT[], t_names TEXT[], t_keys TEXT[], t_services TEXT[], t_methods TEXT[],
            t_type_urls TEXT[], t_payloads BYTEA[], t_dues DOUBLE PRECISION[],
            t_metadata BYTEA[], t_attempts INTEGER[], t_max_attempts INTEGER[], t_errors TEXT[],
            t_created DOUBLE PRECISION[]
        ) RETURNS VOID LANGUAGE sql AS $$
            DELETE FROM durable_tasks WHERE name = ANY(c_names);
            INSERT INTO durable_tasks (name, key, service, method, type_url, payload, due,
                    metadata, attempts, max_attempts, last_error, created)
                SELECT * FROM unnest(t_names, t_keys, t_services, t_methods, t_type_urls,
                    t_payloads, t_dues, t_metadata, t_attempts, t_max_attempts, t_errors,
                    t_created)
                ON CONFLICT (name) DO UPDATE SET key = excluded.key,
                    service = excluded.service, method = excluded.method,
                    type_url = excluded.type_url, payload = excluded.payload,
                    due = excluded.due, metadata = excluded.metadata,
                    attempts = excluded.attempts, max_attempts = excluded.max_attempts,
                    last_error = excluded.last_error, created = excluded.created;
        $$
        """,
        # The sequence is checked first (under the journal lock, exact), then the key is taken,
        # then everything is written; a failed check returns before any write.
        f"""
        CREATE FUNCTION cloudstate_append_events_durable(
            p_persistence_id TEXT, p_entity_id TEXT, p_expected BIGINT,
            p_type_urls TEXT[], p_payloads BYTEA[], p_snapshot_type_url TEXT, p_snapshot BYTEA,
            o_topics TEXT[], o_type_urls TEXT[], o_payloads BYTEA[], o_ids TEXT[], o_sources TEXT[],
            o_types TEXT[], o_subjects TEXT[], o_times TEXT[], o_content_types TEXT[],
            {_DURABLE_PARAMETERS}
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            actual BIGINT;
            written BIGINT;
        BEGIN
            SELECT COALESCE(MAX(sequence), 0) INTO actual FROM events
                WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id;
            IF actual <> p_expected THEN
                RETURN -1 - actual;
            END IF;
            IF NOT cloudstate_insert_idempotency(i_key, i_fingerprint, i_response, i_created) THEN
                RETURN {KEY_TAKEN};
            END IF;
            written := cloudstate_append_events(p_persistence_id, p_entity_id, p_expected,
                p_type_urls, p_payloads, p_snapshot_type_url, p_snapshot);
            PERFORM cloudstate_insert_outbox(o_topics, o_type_urls, o_payloads, o_ids,
                o_sources, o_types, o_subjects, o_times, o_content_types);
            PERFORM cloudstate_write_tasks({_TASK_ARGUMENTS});
            RETURN written;
        END
        $$
        """,
        # The key is taken first (the value's write is one conditional statement that cannot be
        # undone); a lost condition then removes the record again, which this transaction alone
        # has seen. A lost condition is reported before a taken key, as for events.
        f"""
        CREATE FUNCTION cloudstate_save_value_durable(
            p_persistence_id TEXT, p_entity_id TEXT, p_type_url TEXT, p_payload BYTEA,
            p_expected BIGINT,
            o_topics TEXT[], o_type_urls TEXT[], o_payloads BYTEA[], o_ids TEXT[], o_sources TEXT[],
            o_types TEXT[], o_subjects TEXT[], o_times TEXT[], o_content_types TEXT[],
            {_DURABLE_PARAMETERS}
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            written BIGINT;
            actual BIGINT;
            was_deleted BOOLEAN;
        BEGIN
            IF NOT cloudstate_insert_idempotency(i_key, i_fingerprint, i_response, i_created) THEN
                SELECT version, deleted INTO actual, was_deleted FROM "values"
                    WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id;
                actual := COALESCE(actual, 0);
                IF p_expected IS NOT NULL AND p_expected <> actual
                        AND NOT (COALESCE(was_deleted, TRUE) AND p_expected = 0) THEN
                    RETURN -1 - actual;
                END IF;
                RETURN {KEY_TAKEN};
            END IF;
            written := cloudstate_save_value(p_persistence_id, p_entity_id, p_type_url, p_payload,
                p_expected);
            IF written < 0 THEN
                IF i_key IS NOT NULL THEN
                    DELETE FROM idempotency WHERE key = i_key;
                END IF;
                RETURN written;
            END IF;
            PERFORM cloudstate_insert_outbox(o_topics, o_type_urls, o_payloads, o_ids,
                o_sources, o_types, o_subjects, o_times, o_content_types);
            PERFORM cloudstate_write_tasks({_TASK_ARGUMENTS});
            RETURN written;
        END
        $$
        """,
    ),
    # 7: running it for years. Value expiry (TTL): expires_at, seconds since the epoch (NULL:
    # never), indexed for the purge; an expired value counts as deleted for the version check.
    # Consumer offsets get a reset generation (a running consumer notices a reset). Parked
    # messages: the dead letters of eventing consumers and views. View generations: which
    # generation of a view's rows answers queries and which one a rebuild fills (rows of
    # generation n > 0 live under view id "<view>~g<n>").
    (
        'ALTER TABLE "values" ADD COLUMN expires_at DOUBLE PRECISION',
        'CREATE INDEX values_by_expiry ON "values" (expires_at) WHERE expires_at IS NOT NULL',
        "ALTER TABLE consumer_offsets ADD COLUMN generation BIGINT NOT NULL DEFAULT 0",
        """
        CREATE TABLE parked_messages (
            consumer_id TEXT COLLATE "C" NOT NULL,
            "offset" BIGINT NOT NULL,
            key TEXT NOT NULL,
            type_url TEXT NOT NULL,
            payload BYTEA NOT NULL,
            metadata BYTEA NOT NULL,
            what TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            failed_at DOUBLE PRECISION NOT NULL,
            redrive BOOLEAN NOT NULL DEFAULT FALSE,
            PRIMARY KEY (consumer_id, "offset")
        )
        """,
        "CREATE INDEX parked_messages_to_redrive ON parked_messages (consumer_id) WHERE redrive",
        """
        CREATE TABLE view_generations (
            view_id TEXT PRIMARY KEY,
            active INTEGER NOT NULL,
            building INTEGER
        )
        """,
        # As in step 1, but an expired value matches like a deleted one, and every write clears
        # expires_at (cloudstate_value_expiry sets it again in the same statement).
        """
        CREATE OR REPLACE FUNCTION cloudstate_save_value(
            p_persistence_id TEXT, p_entity_id TEXT, p_type_url TEXT, p_payload BYTEA,
            p_expected BIGINT
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        DECLARE
            written BIGINT;
            actual BIGINT;
            now_epoch DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
        BEGIN
            IF p_expected IS NULL OR p_expected = 0 THEN
                INSERT INTO "values" AS v
                    (persistence_id, entity_id, type_url, payload, version, deleted)
                    VALUES (p_persistence_id, p_entity_id, p_type_url, p_payload, 1,
                            p_payload IS NULL)
                    ON CONFLICT (persistence_id, entity_id) DO UPDATE SET
                        type_url = excluded.type_url, payload = excluded.payload,
                        version = v.version + 1, deleted = excluded.deleted, expires_at = NULL
                    WHERE p_expected IS NULL OR v.deleted OR v.expires_at <= now_epoch
                    RETURNING v.version INTO written;
            ELSE
                UPDATE "values" SET type_url = p_type_url, payload = p_payload,
                        version = version + 1, deleted = p_payload IS NULL, expires_at = NULL
                    WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id
                        AND version = p_expected
                    RETURNING version INTO written;
            END IF;
            IF written IS NULL THEN
                SELECT version INTO actual FROM "values"
                    WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id;
                RETURN -1 - COALESCE(actual, 0);
            END IF;
            RETURN written;
        END
        $$
        """,
        # Wraps a value write: ``written`` is what the write returned (>= 0: it was applied).
        """
        CREATE FUNCTION cloudstate_value_expiry(
            written BIGINT, p_persistence_id TEXT, p_entity_id TEXT, p_expires_at DOUBLE PRECISION
        ) RETURNS BIGINT LANGUAGE plpgsql AS $$
        BEGIN
            IF written >= 0 AND p_expires_at IS NOT NULL THEN
                UPDATE "values" SET expires_at = p_expires_at
                    WHERE persistence_id = p_persistence_id AND entity_id = p_entity_id
                        AND NOT deleted;
            END IF;
            RETURN written;
        END
        $$
        """,
    ),
    (
        # 8: cluster membership (docs/scale-out.md, "Nodes in a cluster"). Heartbeats are the
        # server's clock, so the nodes' clocks never need to agree.
        """
        CREATE TABLE cluster_members (
            node_id TEXT COLLATE "C" PRIMARY KEY,
            address TEXT NOT NULL,
            incarnation BIGINT NOT NULL,
            heartbeat_at TIMESTAMPTZ NOT NULL,
            joined_at TIMESTAMPTZ NOT NULL
        )
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_TASK_COLUMNS = (
    "name key service method type_url payload due metadata attempts max_attempts last_error created"
)

#: The columns of every table at :data:`SCHEMA_VERSION`, checked at start so that a schema
#: changed by hand (or tables of another application under our names) is refused, not served.
#: A migration that adds or changes a table updates this too (every PostgreSQL test fails
#: otherwise: a freshly migrated schema would not pass the check).
TABLE_COLUMNS: dict[str, frozenset[str]] = {
    table: frozenset(columns.split())
    for table, columns in {
        "events": "offset persistence_id entity_id sequence type_url payload written_at",
        "snapshots": "persistence_id entity_id sequence type_url payload",
        "values": "persistence_id entity_id type_url payload version deleted expires_at",
        "consumer_offsets": "consumer_id offset updated_at generation",
        "parked_messages": "consumer_id offset key type_url payload metadata what attempts "
        "last_error failed_at redrive",
        "view_generations": "view_id active building",
        "topic_messages": "offset topic type_url payload ce_id ce_source ce_type ce_subject "
        "ce_time content_type written_at",
        "view_rows": "view_id row_key payload s1 s2 s3 s4 n1 n2 n3 n4",
        "durable_tasks": _TASK_COLUMNS,
        "dead_letters": _TASK_COLUMNS + " failed_at",
        "idempotency": "key fingerprint response created",
        "cluster_members": "node_id address incarnation heartbeat_at joined_at",
        VERSION_TABLE: "version applied_at",
    }.items()
}
