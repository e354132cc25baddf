-- cdr + billing: rating arithmetic, number normalisation, jurisdiction, hourly summaries, the ingest
-- watermark of the acc_cdrs worker, and partition maintenance that moves CDRs out of the default
-- partitions. The set-based ingest/enrich/rate statements live in src/warp/cdr/ (they work on
-- per-transaction staging tables); everything that must give one answer everywhere lives here.

-- ---------------------------------------------------------------------------------------------
-- Rating arithmetic (plain SQL, inlinable: evaluated once per CDR in the rating statements).

CREATE FUNCTION billing.billable_seconds(duration_s integer, initial_increment integer,
                                         subsequent_increment integer, minimum_s integer DEFAULT 0)
    RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN duration_s IS NULL OR duration_s <= 0 THEN 0
        WHEN greatest(duration_s, coalesce(minimum_s, 0)) <= initial_increment THEN initial_increment
        ELSE (initial_increment
              + ((greatest(duration_s, coalesce(minimum_s, 0))::bigint - initial_increment
                  + subsequent_increment - 1) / subsequent_increment) * subsequent_increment)::integer
    END
$$;
COMMENT ON FUNCTION billing.billable_seconds(integer, integer, integer, integer) IS
    '0 when duration <= 0; else d = max(duration, minimum): the initial increment when d <= it, otherwise '
    'initial + ceil((d - initial) / subsequent) * subsequent. Increments must be positive.';

CREATE FUNCTION billing.call_charge(duration_s integer, rate_per_minute numeric, initial_increment integer,
                                    subsequent_increment integer, connection_fee numeric DEFAULT 0,
                                    minimum_s integer DEFAULT 0)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN duration_s IS NULL OR duration_s <= 0 THEN 0::numeric
        -- round() on numeric rounds halves away from zero: half-up for these non-negative amounts.
        ELSE round(billing.billable_seconds(duration_s, initial_increment, subsequent_increment, minimum_s)::numeric
                   * rate_per_minute / 60 + coalesce(connection_fee, 0), 6)
    END
$$;
COMMENT ON FUNCTION billing.call_charge(integer, numeric, integer, integer, numeric, integer) IS
    '0 when duration <= 0; else billable_seconds * rate_per_minute / 60 + connection_fee, rounded half-up '
    'to 6 decimal places (per-call precision; invoices round to cents).';

-- ---------------------------------------------------------------------------------------------
-- Numbers

CREATE FUNCTION cdr.number_chars(p_raw text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Fast paths: a number that is already digits (with an optional +) is returned as is, and a
    -- plain URI (sip:+12125550100@host, tel:...) gives its digits with one match (what the two
    -- replacements would give); only other decorated forms pay for the replacements.
    SELECT CASE WHEN p_raw ~ '^\+?[0-9]+$' THEN p_raw
                ELSE coalesce(substring(p_raw FROM '^(?:sips?|tel):(\+?[0-9]+)(?:[@;]|$)'),
                              regexp_replace(regexp_replace(btrim(p_raw), '^(sips?|tel):|[@;].*$', '', 'g'),
                                             '[[:space:]().-]', '', 'g')) END
$$;
COMMENT ON FUNCTION cdr.number_chars(text) IS
    'A switch-reported number without sip:/tel: URI decoration, parameters and formatting characters.';

-- Helpers below are single expressions without FROM so that the planner inlines them into the bulk
-- statements (a non-inlined SQL function costs microseconds per call, per row).
CREATE FUNCTION cdr.e164_chars(p_chars text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- The accepted forms: +E.164, 011 + international, 11 NANP digits starting with 1, 10 NANP digits.
    SELECT CASE
        WHEN p_chars ~ '^\+[1-9][0-9]{1,14}$' THEN p_chars
        WHEN p_chars ~ '^011[1-9][0-9]{1,14}$' THEN '+' || substr(p_chars, 4)
        WHEN p_chars ~ '^1[2-9][0-9]{9}$' THEN '+' || p_chars
        WHEN p_chars ~ '^[2-9][0-9]{9}$' THEN '+1' || p_chars
    END
$$;
COMMENT ON FUNCTION cdr.e164_chars(text) IS
    'E.164 form of an already cleaned number (cdr.number_chars), NULL when it is none of the accepted forms.';

CREATE FUNCTION cdr.e164(p_raw text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT cdr.e164_chars(cdr.number_chars(p_raw))
$$;
COMMENT ON FUNCTION cdr.e164(text) IS
    'E.164 form of a number as a switch reports it (sip:/tel: URI, formatting, 011, 1+10 or 10 NANP digits); '
    'NULL when it is none of those.';

CREATE FUNCTION cdr.nanp_number(p_number text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN btrim(p_number) ~ '^\+1[2-9][0-9]{9}$' THEN substr(btrim(p_number), 3)
        WHEN btrim(p_number) ~ '^1[2-9][0-9]{9}$' THEN substr(btrim(p_number), 2)
        WHEN btrim(p_number) ~ '^[2-9][0-9]{9}$' THEN btrim(p_number)
    END
$$;
COMMENT ON FUNCTION cdr.nanp_number(text) IS
    'The 10 NANP digits (NPA-NXX-XXXX) of +1 E.164, 1 + 10 digits or 10 digits; NULL for anything else.';

CREATE FUNCTION cdr.is_answered(p_sip_code integer, p_duration numeric) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(p_sip_code BETWEEN 200 AND 299 AND p_duration > 0, false)
$$;
COMMENT ON FUNCTION cdr.is_answered(integer, numeric) IS
    'A call counts as answered (and billable) when its final SIP code is 2xx and it lasted more than 0 s.';

CREATE FUNCTION cdr.is_timestamp_text(p_value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        -- Fast path: the shape Kamailio writes (no offset, day <= 28) with plain field ranges.
        WHEN p_value ~ '^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$'
             AND substr(p_value, 6, 2) BETWEEN '01' AND '12' AND substr(p_value, 9, 2) BETWEEN '01' AND '28'
             AND substr(p_value, 12, 2) <= '23' AND substr(p_value, 15, 2) <= '59'
             AND substr(p_value, 18, 2) <= '59' THEN true
        WHEN btrim(p_value) ~ '^[0-9]{9,10}(\.[0-9]{1,6})?$' THEN true
        WHEN btrim(p_value) ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$'
            -- days 29-31 only where the month has them
            THEN substr(btrim(p_value), 9, 2) <= '28'
                 OR substr(btrim(p_value), 9, 2)::integer
                    <= extract(day FROM make_date(substr(btrim(p_value), 1, 4)::integer,
                                                  substr(btrim(p_value), 6, 2)::integer, 1)
                                        + interval '1 month - 1 day')
        ELSE false
    END
$$;
COMMENT ON FUNCTION cdr.is_timestamp_text(text) IS
    'True for what cdr.parse_timestamp accepts: Unix epoch seconds, or YYYY-MM-DD HH:MM:SS[.ffffff] with an '
    'optional T, Z or UTC offset; a day past the month''s end is refused. Lets imports report bad lines '
    'without a failing cast.';

CREATE FUNCTION cdr.parse_timestamp(p_value text, p_tz text DEFAULT 'UTC') RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        -- Fast path: a local time without offset (what Kamailio writes): one simple match, then the cast.
        WHEN p_value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+$' THEN p_value::timestamp AT TIME ZONE p_tz
        WHEN btrim(p_value) ~ '^[0-9]{9,10}(\.[0-9]{1,6})?$' THEN to_timestamp(btrim(p_value)::numeric)
        WHEN btrim(p_value) ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN btrim(p_value)::timestamptz
        ELSE btrim(p_value)::timestamp AT TIME ZONE p_tz
    END
$$;
COMMENT ON FUNCTION cdr.parse_timestamp(text, text) IS
    'A switch time as timestamptz: epoch seconds, a time with its own offset, or a local time in p_tz '
    '(Kamailio writes the server''s local time; default UTC).';

-- ---------------------------------------------------------------------------------------------
-- Jurisdiction: the rules in one immutable function, the LERG/LRN look-ups around it.

CREATE FUNCTION cdr.classify_jurisdiction(p_dnis_nanp text, p_dnis_e164 text, p_dest_country text,
                                          p_origin_state text, p_terminating_state text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        -- Malformed or missing destination: nothing can be said about it.
        WHEN p_dnis_nanp IS NULL AND (p_dnis_e164 IS NULL OR p_dnis_e164 LIKE '+1%') THEN 'INDETERMINATE'
        WHEN p_dnis_nanp IS NULL THEN 'INTERNATIONAL'
        WHEN left(p_dnis_nanp, 3) IN ('800', '833', '844', '855', '866', '877', '888') THEN 'TOLL_FREE'
        WHEN p_dest_country IS NOT NULL AND p_dest_country <> 'US' THEN 'INTERNATIONAL'
        WHEN p_origin_state IS NULL OR p_terminating_state IS NULL THEN 'INDETERMINATE'
        WHEN p_origin_state = p_terminating_state THEN 'INTRASTATE'
        ELSE 'INTERSTATE'
    END
$$;
COMMENT ON FUNCTION cdr.classify_jurisdiction(text, text, text, text, text) IS
    'Jurisdiction from looked-up facts: destination NANP digits, destination E.164, LERG country of the '
    'destination NPA-NXX, US origin state (NULL: ANI missing/malformed/not NANP/unknown/not US) and '
    'terminating state (LRN NPA-NXX when ported). Shared by cdr.jurisdiction and the rating statements.';

CREATE FUNCTION cdr.jurisdiction(p_ani text, p_dnis text, p_lrn text DEFAULT NULL) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    WITH n AS (
        SELECT cdr.nanp_number(p_ani) AS a10,
               cdr.nanp_number(p_dnis) AS d10,
               CASE WHEN btrim(p_dnis) ~ '^\+[1-9][0-9]{1,14}$' THEN btrim(p_dnis) END AS d164,
               cdr.nanp_number(p_lrn) AS l10
    ),
    t AS (
        SELECT n.*, coalesce(n.l10, (SELECT cdr.nanp_number(c.lrn) FROM cdr.lrn_cache c
                                     WHERE c.number = '+1' || n.d10
                                       AND (c.expires_at IS NULL OR c.expires_at > now())),
                        n.d10) AS term10
        FROM n
    )
    SELECT cdr.classify_jurisdiction(
        t.d10, t.d164,
        (SELECT l.country FROM cdr.lerg l WHERE l.npa = substr(t.d10, 1, 3) AND l.nxx = substr(t.d10, 4, 3)),
        (SELECT l.state FROM cdr.lerg l
         WHERE l.npa = substr(t.a10, 1, 3) AND l.nxx = substr(t.a10, 4, 3) AND l.country = 'US'),
        (SELECT l.state FROM cdr.lerg l
         WHERE l.npa = substr(t.term10, 1, 3) AND l.nxx = substr(t.term10, 4, 3) AND l.country = 'US'))
    FROM t
$$;
COMMENT ON FUNCTION cdr.jurisdiction(text, text, text) IS
    'INTERSTATE, INTRASTATE, INTERNATIONAL, TOLL_FREE or INDETERMINATE for a call from p_ani to p_dnis; the '
    'terminating state comes from p_lrn, else the unexpired LRN cache entry, else the destination itself.';

-- ---------------------------------------------------------------------------------------------
-- Hourly summaries

CREATE FUNCTION cdr.calculate_hourly_summary(p_hour timestamptz) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    h constant timestamptz := date_trunc('hour', p_hour, 'UTC');
    n integer;
BEGIN
    -- Two runs for the same hour serialise; each replaces the hour completely.
    PERFORM pg_advisory_xact_lock(hashtext('cdr.hourly_summary'), (extract(epoch FROM h) / 3600)::integer);
    DELETE FROM cdr.hourly_summary WHERE hour_start = h;
    INSERT INTO cdr.hourly_summary (hour_start, account_id, direction, jurisdiction, attempts, answered, asr,
                                    acd_seconds, billable_minutes, revenue, cost, margin, computed_at)
    SELECT h, s.account_id, s.direction, s.jurisdiction, s.attempts, s.answered,
           round(100.0 * s.answered / s.attempts, 4), s.acd, s.minutes, s.revenue, s.cost,
           s.revenue - s.cost, now()
    FROM (
        SELECT r.account_id, r.direction, coalesce(e.jurisdiction, 'UNKNOWN') AS jurisdiction,
               count(*)::integer AS attempts,
               (count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)))::integer AS answered,
               round(avg(r.duration) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)), 2) AS acd,
               round(coalesce(sum(e.billable_seconds), 0) / 60.0, 4) AS minutes,
               coalesce(sum(e.customer_charge), 0) AS revenue,
               coalesce(sum(e.vendor_cost), 0) AS cost
        FROM cdr.raw_cdr r
        LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
        WHERE r.start_time >= h AND r.start_time < h + interval '1 hour'
        GROUP BY r.account_id, r.direction, coalesce(e.jurisdiction, 'UNKNOWN')
    ) AS s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION cdr.calculate_hourly_summary(timestamptz) IS
    'Recomputes the hour containing p_hour (UTC) in cdr.hourly_summary per account, direction and '
    'jurisdiction (UNKNOWN until enriched); CDRs without an account form their own rows (account_id NULL). '
    'Idempotent: the hour is replaced. Returns the number of summary rows.';

-- ---------------------------------------------------------------------------------------------
-- Failed calls: CDRs kept although no customer trunk claimed their source address.

CREATE VIEW cdr.failed_calls WITH (security_barrier = true, security_invoker = true) AS
SELECT r.id, r.start_time, r.call_id, r.source_ip, r.raw_ani, r.raw_dnis, r.ani, r.dnis, r.sip_code,
       r.sip_reason, r.duration, r.carrier_trunk_name, r.ingest_source, r.source_file, r.source_line,
       CASE WHEN r.source_ip IS NULL THEN 'NO_SOURCE_IP' ELSE 'UNKNOWN_SOURCE_IP' END AS reason
FROM cdr.raw_cdr r
WHERE NOT r.trunk_identified;
COMMENT ON VIEW cdr.failed_calls IS
    'CDRs whose customer trunk could not be identified from the source address (kept, never dropped).';
ALTER VIEW cdr.failed_calls OWNER TO warp_owner;
GRANT SELECT ON cdr.failed_calls TO warp_app, warp_staff, warp_readonly;

-- ---------------------------------------------------------------------------------------------
-- References of cdr.raw_cdr (account, trunk, carrier trunk): checked once per statement, not per row.
-- A foreign key runs one look-up (and lock) of its referenced row for every inserted row; the three of
-- raw_cdr cost more than half of a bulk ingest's INSERT (docs/performance.md, issue 7). These triggers
-- give the same guarantee set-based: after every INSERT or UPDATE statement on cdr.raw_cdr, the
-- distinct referenced rows are locked FOR KEY SHARE (what a foreign key's check does, so a concurrent
-- delete waits for this transaction) and a missing one fails the statement with the foreign key's
-- error; deleting or re-keying a referenced account, trunk or carrier trunk that raw CDRs still use
-- fails like ON DELETE RESTRICT (and TRUNCATE is refused). Inserts go through cdr.raw_cdr (the
-- parent): partitions are only written by partition maintenance, which moves rows already checked.

CREATE FUNCTION cdr.raw_cdr_check_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    no_account text;
    no_trunk text;
    no_carrier_trunk text;
BEGIN
    -- One pass over the statement's rows: their distinct references, each locked as a foreign key's
    -- check locks it; what could not be locked does not exist (or was deleted concurrently).
    WITH refs AS MATERIALIZED (
        SELECT account_id, trunk_id, carrier_trunk_id FROM new_rows GROUP BY 1, 2, 3
    ),
    a AS (SELECT DISTINCT account_id AS id FROM refs WHERE account_id IS NOT NULL),
    a_locked AS (SELECT x.id FROM accounts.accounts x WHERE x.id IN (SELECT id FROM a) FOR KEY SHARE OF x),
    -- MATCH SIMPLE, as the foreign key was: checked when both columns are set
    t AS (SELECT DISTINCT trunk_id, account_id FROM refs WHERE trunk_id IS NOT NULL AND account_id IS NOT NULL),
    t_locked AS (
        SELECT x.id, x.account_id FROM routing.trunks x
        WHERE (x.id, x.account_id) IN (SELECT trunk_id, account_id FROM t) FOR KEY SHARE OF x
    ),
    c AS (SELECT DISTINCT carrier_trunk_id AS id FROM refs WHERE carrier_trunk_id IS NOT NULL),
    c_locked AS (SELECT x.id FROM routing.carrier_trunks x WHERE x.id IN (SELECT id FROM c) FOR KEY SHARE OF x)
    SELECT (SELECT min(id::text) FROM a WHERE id NOT IN (SELECT id FROM a_locked)),
           (SELECT min(format('%s, %s', trunk_id, account_id)) FROM t
            WHERE (trunk_id, account_id) NOT IN (SELECT id, account_id FROM t_locked)),
           (SELECT min(id::text) FROM c WHERE id NOT IN (SELECT id FROM c_locked))
    INTO no_account, no_trunk, no_carrier_trunk;
    IF no_account IS NOT NULL THEN
        PERFORM public.raise_missing_reference('cdr', 'raw_cdr', 'raw_cdr_account_id_fkey', 'account_id',
                                               no_account, 'accounts');
    END IF;
    IF no_trunk IS NOT NULL THEN
        PERFORM public.raise_missing_reference('cdr', 'raw_cdr', 'raw_cdr_trunk_id_fkey', 'trunk_id, account_id',
                                               no_trunk, 'trunks');
    END IF;
    IF no_carrier_trunk IS NOT NULL THEN
        PERFORM public.raise_missing_reference('cdr', 'raw_cdr', 'raw_cdr_carrier_trunk_id_fkey', 'carrier_trunk_id',
                                               no_carrier_trunk, 'carrier_trunks');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdr.raw_cdr_check_references() IS
    'Statement-level foreign key check of cdr.raw_cdr (account_id, (trunk_id, account_id), carrier_trunk_id): '
    'locks the distinct referenced rows FOR KEY SHARE and fails like the foreign key when one is missing.';
CREATE TRIGGER raw_cdr_references_insert_trg AFTER INSERT ON cdr.raw_cdr
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdr.raw_cdr_check_references();
CREATE TRIGGER raw_cdr_references_update_trg AFTER UPDATE ON cdr.raw_cdr
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdr.raw_cdr_check_references();

CREATE FUNCTION cdr.restrict_raw_cdr_references() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    col constant text := TG_ARGV[0];
    used boolean;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM cdr.raw_cdr WHERE %I IS NOT NULL)', col) INTO used;
        IF used THEN
            RAISE EXCEPTION 'cannot truncate %.%: cdr.raw_cdr rows reference it (%)', TG_TABLE_SCHEMA, TG_TABLE_NAME, col
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    -- The rows of a transaction that inserted raw CDRs and committed while this one waited for the
    -- referenced row's lock are only visible to a READ COMMITTED statement (a foreign key uses a
    -- cross-check snapshot for that): other isolation levels may not delete referenced rows.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION '%.% rows referenced by cdr.raw_cdr may only be deleted or re-keyed in READ COMMITTED',
            TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'feature_not_supported';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id
       AND (TG_TABLE_NAME <> 'trunks' OR to_jsonb(NEW) -> 'account_id' = to_jsonb(OLD) -> 'account_id') THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM cdr.raw_cdr WHERE %I = $1)', col) INTO used USING OLD.id;
    IF used THEN
        PERFORM public.raise_still_referenced(TG_TABLE_NAME, format('raw_cdr_%s_fkey', col), OLD.id::text,
                                              'cdr', 'raw_cdr');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION cdr.restrict_raw_cdr_references() IS
    'ON DELETE RESTRICT for the references of cdr.raw_cdr (argument: its column): refuses to delete, re-key '
    'or truncate a referenced row while raw CDRs use it.';
CREATE TRIGGER accounts_raw_cdr_restrict_trg AFTER DELETE OR UPDATE OF id ON accounts.accounts
    FOR EACH ROW EXECUTE FUNCTION cdr.restrict_raw_cdr_references('account_id');
CREATE TRIGGER accounts_raw_cdr_truncate_trg BEFORE TRUNCATE ON accounts.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION cdr.restrict_raw_cdr_references('account_id');
CREATE TRIGGER trunks_raw_cdr_restrict_trg AFTER DELETE OR UPDATE OF id, account_id ON routing.trunks
    FOR EACH ROW EXECUTE FUNCTION cdr.restrict_raw_cdr_references('trunk_id');
CREATE TRIGGER trunks_raw_cdr_truncate_trg BEFORE TRUNCATE ON routing.trunks
    FOR EACH STATEMENT EXECUTE FUNCTION cdr.restrict_raw_cdr_references('trunk_id');
CREATE TRIGGER carrier_trunks_raw_cdr_restrict_trg AFTER DELETE OR UPDATE OF id ON routing.carrier_trunks
    FOR EACH ROW EXECUTE FUNCTION cdr.restrict_raw_cdr_references('carrier_trunk_id');
CREATE TRIGGER carrier_trunks_raw_cdr_truncate_trg BEFORE TRUNCATE ON routing.carrier_trunks
    FOR EACH STATEMENT EXECUTE FUNCTION cdr.restrict_raw_cdr_references('carrier_trunk_id');

-- ---------------------------------------------------------------------------------------------
-- Where the acc_cdrs worker stopped, per source (restart-safe: advanced in the ingest transaction).

CREATE TABLE cdr.ingest_watermarks (
    id            uuid         NOT NULL DEFAULT uuid_generate_v4(),
    source        varchar(100) NOT NULL,
    last_id       bigint       NOT NULL DEFAULT 0,
    rows_ingested bigint       NOT NULL DEFAULT 0,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT ingest_watermarks_pkey PRIMARY KEY (id),
    CONSTRAINT ingest_watermarks_source_key UNIQUE (source),
    CONSTRAINT ingest_watermarks_last_id_check CHECK (last_id >= 0 AND rows_ingested >= 0)
);
COMMENT ON TABLE cdr.ingest_watermarks IS
    'Highest Kamailio acc_cdrs id ingested per source; advanced in the same transaction as the CDRs.';
CREATE TRIGGER ingest_watermarks_updated_at_trg BEFORE UPDATE ON cdr.ingest_watermarks
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
SELECT accounts.secure_table('cdr.ingest_watermarks', 'STAFF_ONLY');
SELECT audit.attach_audit('cdr.ingest_watermarks');

-- ---------------------------------------------------------------------------------------------
-- Partition maintenance. cdr.raw_cdr is referenced by enriched_cdr (ON DELETE CASCADE) and
-- vendor_cdr (ON DELETE SET NULL), so its rows cannot simply be moved out of the default partition:
-- the month's enriched rows and vendor links are set aside first, the raw rows moved into the new
-- partition, then everything put back, all in the caller's transaction.

CREATE FUNCTION cdr.move_default_cdrs(p_month date) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    month_start constant date := date_trunc('month', p_month)::date;
    lower_bound constant timestamptz := make_timestamptz(extract(year FROM month_start)::int,
                                                         extract(month FROM month_start)::int, 1, 0, 0, 0, 'UTC');
    upper_bound constant timestamptz := lower_bound + interval '1 month';
    part_name constant text := 'raw_cdr_' || to_char(month_start, 'YYYY_MM');
    moved bigint;
BEGIN
    IF to_regclass('cdr.' || part_name) IS NOT NULL THEN
        RETURN 0;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS cdr_move_enriched (LIKE cdr.enriched_cdr) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS cdr_move_vendor (id uuid, raw_cdr_id uuid, raw_cdr_start_time timestamptz)
        ON COMMIT DROP;
    TRUNCATE cdr_move_enriched, cdr_move_vendor;

    WITH d AS (DELETE FROM cdr.enriched_cdr WHERE start_time >= lower_bound AND start_time < upper_bound
               RETURNING *)
    INSERT INTO cdr_move_enriched SELECT * FROM d;
    INSERT INTO cdr_move_vendor
    SELECT v.id, v.raw_cdr_id, v.raw_cdr_start_time FROM cdr.vendor_cdr v
    WHERE v.raw_cdr_start_time >= lower_bound AND v.raw_cdr_start_time < upper_bound;

    EXECUTE format('CREATE TABLE cdr.%I (LIKE cdr.raw_cdr INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part_name);
    EXECUTE format('WITH d AS (DELETE FROM cdr.raw_cdr_default WHERE start_time >= $1 AND start_time < $2 '
                   'RETURNING *) INSERT INTO cdr.%I SELECT * FROM d', part_name)
        USING lower_bound, upper_bound;
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE cdr.raw_cdr ATTACH PARTITION cdr.%I FOR VALUES FROM (%L) TO (%L)',
                   part_name, lower_bound, upper_bound);
    EXECUTE format('COMMENT ON TABLE cdr.%I IS %L', part_name,
                   format('Partition of cdr.raw_cdr for %s.', to_char(month_start, 'YYYY-MM')));
    EXECUTE format('ALTER TABLE cdr.%I OWNER TO warp_owner', part_name);
    EXECUTE format('ALTER TABLE cdr.%I ENABLE ROW LEVEL SECURITY', part_name);
    EXECUTE format('ALTER TABLE cdr.%I FORCE ROW LEVEL SECURITY', part_name);

    -- The enriched table's own partition (no stray rows left for the month), then the rows back.
    IF to_regclass('cdr.enriched_cdr_' || to_char(month_start, 'YYYY_MM')) IS NULL THEN
        EXECUTE format('CREATE TABLE cdr.%I PARTITION OF cdr.enriched_cdr FOR VALUES FROM (%L) TO (%L)',
                       'enriched_cdr_' || to_char(month_start, 'YYYY_MM'), lower_bound, upper_bound);
        EXECUTE format('COMMENT ON TABLE cdr.%I IS %L', 'enriched_cdr_' || to_char(month_start, 'YYYY_MM'),
                       format('Partition of cdr.enriched_cdr for %s.', to_char(month_start, 'YYYY-MM')));
        EXECUTE format('ALTER TABLE cdr.%I OWNER TO warp_owner', 'enriched_cdr_' || to_char(month_start, 'YYYY_MM'));
        EXECUTE format('ALTER TABLE cdr.%I ENABLE ROW LEVEL SECURITY', 'enriched_cdr_' || to_char(month_start, 'YYYY_MM'));
        EXECUTE format('ALTER TABLE cdr.%I FORCE ROW LEVEL SECURITY', 'enriched_cdr_' || to_char(month_start, 'YYYY_MM'));
    END IF;
    INSERT INTO cdr.enriched_cdr SELECT * FROM cdr_move_enriched;
    UPDATE cdr.vendor_cdr v SET raw_cdr_id = m.raw_cdr_id, raw_cdr_start_time = m.raw_cdr_start_time
    FROM cdr_move_vendor m WHERE v.id = m.id;
    RETURN moved;
END
$$;
COMMENT ON FUNCTION cdr.move_default_cdrs(date) IS
    'Creates the month''s raw_cdr (and enriched_cdr) partition, moving that month''s raw CDRs out of '
    'raw_cdr_default while their enriched rows and vendor CDR links are set aside and restored. Returns '
    'the number of raw CDRs moved (0 when the partition already exists).';

CREATE FUNCTION cdr.create_monthly_partition(p_month date DEFAULT (date_trunc('month', now()) + interval '1 month')::date)
    RETURNS SETOF text
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    parent record;
    month_start constant date := date_trunc('month', p_month)::date;
    lower_bound timestamptz := make_timestamptz(extract(year FROM month_start)::int,
                                                extract(month FROM month_start)::int, 1, 0, 0, 0, 'UTC');
    upper_bound timestamptz;
    part_name text;
    default_part regclass;
    stray bigint;
BEGIN
    upper_bound := lower_bound + interval '1 month';
    -- Raw CDRs are referenced by foreign keys: moved by their own routine first.
    IF to_regclass('cdr.raw_cdr_' || to_char(month_start, 'YYYY_MM')) IS NULL
       AND EXISTS (SELECT 1 FROM cdr.raw_cdr_default WHERE start_time >= lower_bound AND start_time < upper_bound) THEN
        PERFORM cdr.move_default_cdrs(month_start);
        RETURN NEXT 'cdr.raw_cdr_' || to_char(month_start, 'YYYY_MM');
    END IF;
    FOR parent IN
        SELECT c.oid::regclass AS rel, n.nspname, c.relname, a.attname AS key_column
        FROM pg_partitioned_table pt
        JOIN pg_class c ON c.oid = pt.partrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
        WHERE pt.partstrat = 'r' AND pt.partnatts = 1
          AND n.nspname IN ('accounts', 'auth', 'numbers', 'routing', 'cdr', 'messaging', 'billing',
                            'vendor_mgmt', 'audit')
          AND NOT c.relispartition
        ORDER BY n.nspname, c.relname
    LOOP
        part_name := format('%s_%s', parent.relname, to_char(month_start, 'YYYY_MM'));
        IF to_regclass(format('%I.%I', parent.nspname, part_name)) IS NOT NULL THEN
            CONTINUE;
        END IF;
        SELECT i.inhrelid::regclass INTO default_part
        FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhrelid
        WHERE i.inhparent = parent.rel AND pg_get_expr(pc.relpartbound, pc.oid) = 'DEFAULT';
        stray := 0;
        IF default_part IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %s WHERE %I >= $1 AND %I < $2',
                           default_part, parent.key_column, parent.key_column)
                INTO stray USING lower_bound, upper_bound;
        END IF;
        IF stray > 0 THEN
            IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = parent.rel AND contype = 'f') THEN
                RAISE EXCEPTION '%.% has % rows for % in its default partition and is referenced by '
                                'foreign keys; move them with warp maintenance partitions',
                                parent.nspname, parent.relname, stray, to_char(month_start, 'YYYY-MM');
            END IF;
            EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           parent.nspname, part_name, parent.rel);
            EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) '
                           'INSERT INTO %I.%I SELECT * FROM moved',
                           default_part, parent.key_column, parent.key_column, parent.nspname, part_name)
                USING lower_bound, upper_bound;
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           parent.rel, parent.nspname, part_name, lower_bound, upper_bound);
        ELSE
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           parent.nspname, part_name, parent.rel, lower_bound, upper_bound);
        END IF;
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', parent.nspname, part_name,
                       format('Partition of %s.%s for %s.', parent.nspname, parent.relname,
                              to_char(month_start, 'YYYY-MM')));
        EXECUTE format('ALTER TABLE %I.%I OWNER TO warp_owner', parent.nspname, part_name);
        EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', parent.nspname, part_name);
        EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', parent.nspname, part_name);
        RETURN NEXT format('%I.%I', parent.nspname, part_name);
    END LOOP;
END
$$;
COMMENT ON FUNCTION cdr.create_monthly_partition(date) IS
    'Creates the month''s partition of every monthly-partitioned table (idempotent), moving that month''s '
    'rows out of the default partitions (raw CDRs with their enriched rows and vendor links); returns what '
    'it created.';

CREATE FUNCTION cdr.maintain_partitions(p_ahead integer DEFAULT 3)
    RETURNS TABLE (partition_name text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    m date;
BEGIN
    IF p_ahead IS NULL OR p_ahead < 0 OR p_ahead > 36 THEN
        RAISE EXCEPTION 'ahead: % is not between 0 and 36 months', p_ahead USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One maintenance run at a time.
    PERFORM pg_advisory_xact_lock(hashtext('cdr.maintain_partitions'));
    FOR m IN
        SELECT DISTINCT month FROM (
            SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => g))::date AS month
            FROM generate_series(0, p_ahead) AS g
            UNION
            SELECT date_trunc('month', start_time AT TIME ZONE 'UTC')::date FROM cdr.raw_cdr_default
            UNION
            SELECT date_trunc('month', start_time AT TIME ZONE 'UTC')::date FROM cdr.enriched_cdr_default
        ) AS months
        ORDER BY month
    LOOP
        RETURN QUERY SELECT cdr.create_monthly_partition(m);
    END LOOP;
END
$$;
COMMENT ON FUNCTION cdr.maintain_partitions(integer) IS
    'Partitions for this month and p_ahead months ahead, plus every month that has rows in a CDR default '
    'partition (moved out). SECURITY DEFINER (creates tables as warp_owner); staff only.';
ALTER FUNCTION cdr.maintain_partitions(integer) OWNER TO warp_owner;
ALTER FUNCTION cdr.move_default_cdrs(date) OWNER TO warp_owner;
ALTER FUNCTION cdr.create_monthly_partition(date) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION cdr.maintain_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdr.maintain_partitions(integer) TO warp_staff;

-- Partitions for this month and the next three.
SELECT count(*) FROM (
    SELECT cdr.create_monthly_partition((date_trunc('month', now()) + make_interval(months => m))::date)
    FROM generate_series(0, 3) AS m
) AS created;
