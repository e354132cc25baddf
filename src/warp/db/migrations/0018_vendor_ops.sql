-- Vendor operations, compliance, reporting and maintenance:
--   vendor_mgmt: provider health-check history, providers by capability, hourly carrier metrics
--                computed from CDRs, SLA breaches raised as incidents;
--   audit:       expiring STIR/SHAKEN certificates, the security-incident status workflow, 10DLC gaps,
--                retention applied by dropping/detaching whole monthly partitions;
--   reporting:   materialized views (each with a unique index, so REFRESH ... CONCURRENTLY works) and
--                the tenant-filtered path customers read them through;
--   archive:     where DETACH retention moves old partitions.

-- ---------------------------------------------------------------------------------------------
-- Provider health checks and providers by capability

CREATE TABLE vendor_mgmt.provider_health_checks (
    id                  uuid          NOT NULL DEFAULT uuid_generate_v4(),
    service_provider_id uuid          NOT NULL,
    status              varchar(16)   NOT NULL,
    latency_ms          numeric(10,3),
    error               text,
    checked_at          timestamptz   NOT NULL DEFAULT now(),
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT provider_health_checks_pkey PRIMARY KEY (id),
    CONSTRAINT provider_health_checks_service_provider_id_fkey FOREIGN KEY (service_provider_id)
        REFERENCES vendor_mgmt.service_providers (id) ON DELETE CASCADE,
    CONSTRAINT provider_health_checks_status_check CHECK (status IN ('HEALTHY', 'DEGRADED', 'DOWN')),
    CONSTRAINT provider_health_checks_latency_ms_check CHECK (latency_ms >= 0)
);
CREATE INDEX provider_health_checks_service_provider_id_idx
    ON vendor_mgmt.provider_health_checks (service_provider_id, checked_at);
COMMENT ON TABLE vendor_mgmt.provider_health_checks IS 'One row per health check of a service provider (explicit check or a failed call during failover); the latest state is copied to service_providers.health_status.';
CREATE TRIGGER provider_health_checks_updated_at_trg BEFORE UPDATE ON vendor_mgmt.provider_health_checks
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
SELECT accounts.secure_table('vendor_mgmt.provider_health_checks', 'STAFF_ONLY');
SELECT audit.attach_audit('vendor_mgmt.provider_health_checks');

CREATE FUNCTION vendor_mgmt.get_providers_by_capability(p_capability text)
    RETURNS TABLE (id uuid, name varchar, provider_type varchar, capabilities text[], config jsonb,
                   priority integer, health_status varchar)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    SELECT p.id, p.name, p.provider_type, p.capabilities, p.config, p.priority, p.health_status
    FROM vendor_mgmt.service_providers p
    WHERE p.enabled AND p_capability = ANY (p.capabilities)
    ORDER BY p.priority, p.name
$$;
COMMENT ON FUNCTION vendor_mgmt.get_providers_by_capability(text) IS
    'Enabled service providers offering a capability, by priority (lowest first, then name): the failover order. '
    'Config holds only secret references, never secrets.';
ALTER FUNCTION vendor_mgmt.get_providers_by_capability(text) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION vendor_mgmt.get_providers_by_capability(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vendor_mgmt.get_providers_by_capability(text) TO warp_app, warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Carrier performance per hour, from CDRs. NER (network effectiveness ratio, ITU E.411) counts a
-- call as network-effective when it was answered or failed for a user reason (busy, no answer,
-- declined, unknown number), not a network one.

CREATE FUNCTION vendor_mgmt.is_network_effective(p_sip_code integer, p_duration numeric) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    SELECT cdr.is_answered(p_sip_code, p_duration)
        OR coalesce(p_sip_code IN (404, 410, 480, 484, 486, 487, 600, 603, 604), false)
$$;
COMMENT ON FUNCTION vendor_mgmt.is_network_effective(integer, numeric) IS
    'True for an answered call or one that failed for a user reason (404/410/480/484/486/487/600/603/604).';

CREATE FUNCTION vendor_mgmt.compute_performance_metrics(p_from timestamptz, p_to timestamptz)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    h_from constant timestamptz := date_trunc('hour', p_from, 'UTC');
    h_to constant timestamptz := date_trunc('hour', p_to, 'UTC')
        + CASE WHEN p_to > date_trunc('hour', p_to, 'UTC') THEN interval '1 hour' ELSE interval '0' END;
    n integer;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'performance metrics: empty period % .. %', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('vendor_mgmt.performance_metrics'));
    -- Each hour of the period is replaced completely (idempotent, and CDRs that arrive late count).
    DELETE FROM vendor_mgmt.performance_metrics
    WHERE carrier_trunk_id IS NULL AND hour_start >= h_from AND hour_start < h_to;
    INSERT INTO vendor_mgmt.performance_metrics (carrier_id, carrier_trunk_id, hour_start, attempts, answered,
                                                 completed, asr, acd_seconds, pdd_ms, ner, computed_at)
    SELECT s.carrier_id, NULL, s.hour_start, s.attempts, s.answered, s.completed,
           round(100.0 * s.answered / s.attempts, 4), s.acd, s.pdd,
           round(100.0 * s.completed / s.attempts, 4), now()
    FROM (
        SELECT ct.carrier_id, date_trunc('hour', r.start_time, 'UTC') AS hour_start,
               count(*)::integer AS attempts,
               (count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)))::integer AS answered,
               (count(*) FILTER (WHERE vendor_mgmt.is_network_effective(r.sip_code, r.duration)))::integer
                   AS completed,
               round(avg(r.duration) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)), 2) AS acd,
               round(avg(r.pdd_ms), 2) AS pdd
        FROM cdr.raw_cdr r
        JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id
        WHERE r.start_time >= h_from AND r.start_time < h_to
        GROUP BY ct.carrier_id, date_trunc('hour', r.start_time, 'UTC')
    ) AS s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION vendor_mgmt.compute_performance_metrics(timestamptz, timestamptz) IS
    'Recomputes carrier-level (carrier_trunk_id NULL) hourly metrics for every hour touching [p_from, p_to): '
    'attempts, answered, network-effective, ASR %, ACD s, PDD ms, NER %. Idempotent. Returns rows written.';

ALTER TABLE vendor_mgmt.incidents ADD COLUMN window_start_at timestamptz;
ALTER TABLE vendor_mgmt.incidents ADD CONSTRAINT incidents_sla_id_window_start_at_key
    UNIQUE (sla_id, window_start_at);
COMMENT ON COLUMN vendor_mgmt.incidents.window_start_at IS
    'For an SLA breach: start of the measurement window (hour/day/month) that breached; one incident per SLA and window.';

CREATE FUNCTION vendor_mgmt.check_sla_breaches(p_from timestamptz, p_to timestamptz)
    RETURNS SETOF vendor_mgmt.incidents
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
    SET TimeZone = 'UTC'
AS $$
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'SLA check: empty period % .. %', p_from, p_to USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH windows AS (
        -- Every complete measurement window (HOUR/DAY/MONTH, UTC) of an enabled SLA that ended in
        -- (p_from, p_to] and overlaps the SLA's validity; it is judged on all of its data.
        SELECT s.id AS sla_id, s.vendor_id, s.carrier_id, s.metric, s.comparator, s.target_value,
               s.measurement_window, s.effective_date, s.expires_date,
               w.ws AS window_start, w.ws + s.step AS window_end
        FROM (SELECT x.*, ('1 ' || lower(x.measurement_window))::interval AS step
              FROM vendor_mgmt.slas x WHERE x.enabled) AS s
        CROSS JOIN LATERAL generate_series(date_trunc(lower(s.measurement_window), p_from, 'UTC'), p_to, s.step)
            AS w(ws)
        WHERE w.ws + s.step > p_from AND w.ws + s.step <= least(p_to, now())
          AND w.ws + s.step > s.effective_date::timestamptz
          AND (s.expires_date IS NULL OR w.ws < s.expires_date::timestamptz)
    ), call_windows AS (
        -- Carrier SLAs measured on the hourly CDR metrics (ASR, ACD, PDD, NER; UPTIME = hours with traffic
        -- that had at least one network-effective call).
        SELECT w.sla_id, w.vendor_id, w.carrier_id, w.metric, w.comparator, w.target_value,
               w.measurement_window, w.window_start,
               sum(m.attempts) AS attempts, sum(m.answered) AS answered, sum(m.completed) AS completed,
               sum(m.acd_seconds * m.answered) AS acd_weighted,
               sum(m.pdd_ms * m.attempts) FILTER (WHERE m.pdd_ms IS NOT NULL) AS pdd_weighted,
               sum(m.attempts) FILTER (WHERE m.pdd_ms IS NOT NULL) AS pdd_attempts,
               count(*) FILTER (WHERE m.attempts > 0) AS hours,
               count(*) FILTER (WHERE m.attempts > 0 AND m.completed = 0) AS hours_down
        FROM windows w
        JOIN vendor_mgmt.performance_metrics m
          ON m.carrier_id = w.carrier_id AND m.carrier_trunk_id IS NULL
         AND m.hour_start >= w.window_start AND m.hour_start < w.window_end
        WHERE w.carrier_id IS NOT NULL AND w.metric IN ('ASR', 'ACD', 'PDD', 'NER', 'UPTIME')
          AND (m.hour_start AT TIME ZONE 'UTC')::date >= w.effective_date
          AND (w.expires_date IS NULL OR (m.hour_start AT TIME ZONE 'UTC')::date < w.expires_date)
        GROUP BY w.sla_id, w.vendor_id, w.carrier_id, w.metric, w.comparator, w.target_value,
                 w.measurement_window, w.window_start
    ), call_observed AS (
        SELECT c.sla_id, c.vendor_id, c.carrier_id, c.metric, c.comparator, c.target_value,
               c.measurement_window, c.window_start,
               round(CASE c.metric
                   WHEN 'ASR' THEN 100.0 * c.answered / nullif(c.attempts, 0)
                   WHEN 'NER' THEN 100.0 * c.completed / nullif(c.attempts, 0)
                   WHEN 'ACD' THEN c.acd_weighted / nullif(c.answered, 0)
                   WHEN 'PDD' THEN c.pdd_weighted / nullif(c.pdd_attempts, 0)
                   WHEN 'UPTIME' THEN 100.0 * (c.hours - c.hours_down) / nullif(c.hours, 0)
               END, 4) AS value,
               CASE WHEN c.metric = 'UPTIME'
                    THEN format('%s hours with traffic, %s without a network-effective call', c.hours, c.hours_down)
                    ELSE format('%s attempts', c.attempts) END AS basis
        FROM call_windows c
    ), uptime_windows AS (
        SELECT w.*, greatest(w.window_start, w.effective_date::timestamptz) AS lo,
               least(w.window_end, coalesce(w.expires_date::timestamptz, 'infinity')) AS hi
        FROM windows w
        WHERE w.metric = 'UPTIME' AND w.carrier_id IS NULL
    ), checks AS (
        -- Health checks of those vendors' providers from the earliest window on, plus, per provider,
        -- the last one before it (a state holds until the next check).
        SELECT p.id AS provider_id, p.vendor_id, c.status, c.checked_at
        FROM vendor_mgmt.service_providers p
        CROSS JOIN (SELECT min(u.lo) AS lo, max(u.hi) AS hi FROM uptime_windows u) AS b
        CROSS JOIN LATERAL (
            (SELECT h.status, h.checked_at FROM vendor_mgmt.provider_health_checks h
             WHERE h.service_provider_id = p.id AND h.checked_at < b.lo
             ORDER BY h.checked_at DESC LIMIT 1)
            UNION ALL
            SELECT h.status, h.checked_at FROM vendor_mgmt.provider_health_checks h
            WHERE h.service_provider_id = p.id AND h.checked_at >= b.lo AND h.checked_at < b.hi
        ) AS c
        WHERE p.vendor_id IN (SELECT u.vendor_id FROM uptime_windows u)
    ), segments AS (
        SELECT k.vendor_id, k.provider_id, k.status, k.checked_at AS seg_start,
               coalesce(lead(k.checked_at) OVER (PARTITION BY k.provider_id ORDER BY k.checked_at),
                        'infinity'::timestamptz) AS seg_end
        FROM checks k
    ), provider_windows AS (
        SELECT u.sla_id, u.vendor_id, u.carrier_id, u.metric, u.comparator, u.target_value,
               u.measurement_window, u.window_start,
               sum(extract(epoch FROM least(g.seg_end, u.hi) - greatest(g.seg_start, u.lo))) AS observed_s,
               coalesce(sum(extract(epoch FROM least(g.seg_end, u.hi) - greatest(g.seg_start, u.lo)))
                            FILTER (WHERE g.status <> 'DOWN'), 0) AS up_s,
               count(DISTINCT g.provider_id) AS providers
        FROM uptime_windows u
        JOIN segments g ON g.vendor_id = u.vendor_id AND g.seg_start < u.hi AND g.seg_end > u.lo
        WHERE u.hi > u.lo
        GROUP BY u.sla_id, u.vendor_id, u.carrier_id, u.metric, u.comparator, u.target_value,
                 u.measurement_window, u.window_start
    ), provider_observed AS (
        SELECT w.sla_id, w.vendor_id, w.carrier_id, w.metric, w.comparator, w.target_value,
               w.measurement_window, w.window_start,
               round(100.0 * w.up_s / nullif(w.observed_s, 0), 4) AS value,
               format('%s provider(s), %s of %s minutes up by health checks', w.providers,
                      round(w.up_s / 60.0, 1), round(w.observed_s / 60.0, 1)) AS basis
        FROM provider_windows w
    ), delivery_observed AS (
        -- Outbound messages the vendor's providers carried that reached a final status.
        SELECT w.sla_id, w.vendor_id, w.carrier_id, w.metric, w.comparator, w.target_value,
               w.measurement_window, w.window_start,
               round(100.0 * count(*) FILTER (WHERE m.status = 'DELIVERED') / count(*), 4) AS value,
               format('%s messages with a final status, %s delivered', count(*),
                      count(*) FILTER (WHERE m.status = 'DELIVERED')) AS basis
        FROM windows w
        JOIN vendor_mgmt.service_providers p ON p.vendor_id = w.vendor_id
        JOIN messaging.mdr m ON m.service_provider_id = p.id
         AND m.created_at >= w.window_start AND m.created_at < w.window_end
        WHERE w.metric = 'DELIVERY_RATE'
          AND m.direction = 'OUTBOUND' AND m.status IN ('DELIVERED', 'UNDELIVERED', 'FAILED', 'REJECTED')
          AND m.created_at >= w.effective_date::timestamptz
          AND (w.expires_date IS NULL OR m.created_at < w.expires_date::timestamptz)
        GROUP BY w.sla_id, w.vendor_id, w.carrier_id, w.metric, w.comparator, w.target_value,
                 w.measurement_window, w.window_start
    ), breached AS (
        SELECT o.* FROM (
            SELECT * FROM call_observed
            UNION ALL SELECT * FROM provider_observed
            UNION ALL SELECT * FROM delivery_observed
        ) AS o
        WHERE o.value IS NOT NULL
          AND ((o.comparator = 'GTE' AND o.value < o.target_value)
            OR (o.comparator = 'LTE' AND o.value > o.target_value))
    )
    INSERT INTO vendor_mgmt.incidents AS i (vendor_id, carrier_id, sla_id, title, description, severity,
                                            observed_value, target_value, window_start_at)
    SELECT b.vendor_id, b.carrier_id, b.sla_id,
           left(format('SLA breach: %s %s (target %s %s)', coalesce(c.name, v.name), b.metric,
                       CASE b.comparator WHEN 'GTE' THEN '>=' ELSE '<=' END, b.target_value), 200),
           format('%s over the %s starting %s UTC was %s against a target of %s %s (%s).',
                  b.metric, lower(b.measurement_window), to_char(b.window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                  b.value, CASE b.comparator WHEN 'GTE' THEN '>=' ELSE '<=' END, b.target_value, b.basis),
           CASE WHEN b.metric IN ('UPTIME', 'DELIVERY_RATE')
                     AND abs(b.value - b.target_value) > 0.05 * abs(b.target_value) THEN 'CRITICAL'
                WHEN abs(b.value - b.target_value) > 0.2 * abs(b.target_value) THEN 'HIGH'
                ELSE 'MEDIUM' END,
           b.value, b.target_value, b.window_start
    FROM breached b
    JOIN vendor_mgmt.vendors v ON v.id = b.vendor_id
    LEFT JOIN routing.carriers c ON c.id = b.carrier_id
    ON CONFLICT ON CONSTRAINT incidents_sla_id_window_start_at_key DO NOTHING
    RETURNING i.*;
END
$$;
COMMENT ON FUNCTION vendor_mgmt.check_sla_breaches(timestamptz, timestamptz) IS
    'Judges every complete measurement window (HOUR/DAY/MONTH, UTC) of each enabled SLA that ended in '
    '(p_from, p_to], on all of its data, and opens one incident per breached SLA and window (idempotent); returns '
    'the incidents opened now. Carrier SLAs (carrier_id set): ASR/ACD/PDD/NER from the hourly metrics, UPTIME = % '
    'of hours with traffic that had a network-effective call. Vendor UPTIME (no carrier): time-weighted share of '
    'the window its service providers were not DOWN per their health checks (a state holds until the next check). '
    'DELIVERY_RATE: % DELIVERED of the outbound messages its providers carried that reached a final status.';

ALTER FUNCTION vendor_mgmt.is_network_effective(integer, numeric) OWNER TO warp_owner;
ALTER FUNCTION vendor_mgmt.compute_performance_metrics(timestamptz, timestamptz) OWNER TO warp_owner;
ALTER FUNCTION vendor_mgmt.check_sla_breaches(timestamptz, timestamptz) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION vendor_mgmt.compute_performance_metrics(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION vendor_mgmt.check_sla_breaches(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vendor_mgmt.compute_performance_metrics(timestamptz, timestamptz) TO warp_staff;
GRANT EXECUTE ON FUNCTION vendor_mgmt.check_sla_breaches(timestamptz, timestamptz) TO warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Compliance

CREATE FUNCTION audit.expiring_stir_shaken_certs(p_within interval DEFAULT interval '30 days')
    RETURNS TABLE (id uuid, name varchar, spc varchar, ocn varchar, status varchar, not_after timestamptz,
                   days_left integer, expired boolean)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT c.id, c.name, c.spc, c.ocn, c.status, c.not_after,
           floor(extract(epoch FROM c.not_after - now()) / 86400)::integer,
           c.not_after <= now()
    FROM audit.stir_shaken_certs c
    WHERE c.status IN ('ACTIVE', 'PENDING') AND c.revoked_at IS NULL
      AND c.not_after < now() + p_within
    ORDER BY c.not_after, c.name
$$;
COMMENT ON FUNCTION audit.expiring_stir_shaken_certs(interval) IS
    'Active or pending STIR/SHAKEN certificates expiring within p_within (default 30 days) or already expired.';

CREATE FUNCTION audit.security_incident_transition_allowed(p_from text, p_to text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    SELECT p_from = p_to OR (p_from, p_to) IN (
        ('OPEN', 'INVESTIGATING'), ('OPEN', 'CONTAINED'), ('OPEN', 'RESOLVED'),
        ('INVESTIGATING', 'CONTAINED'), ('INVESTIGATING', 'RESOLVED'),
        ('CONTAINED', 'INVESTIGATING'), ('CONTAINED', 'RESOLVED'),
        ('RESOLVED', 'INVESTIGATING'), ('RESOLVED', 'CLOSED'))
$$;
COMMENT ON FUNCTION audit.security_incident_transition_allowed(text, text) IS
    'Security incident workflow: OPEN -> INVESTIGATING -> CONTAINED -> RESOLVED -> CLOSED (steps may be skipped '
    'forward; RESOLVED/CONTAINED may reopen to INVESTIGATING; CLOSED is final).';

CREATE FUNCTION audit.security_incidents_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- A past incident may be recorded in any state; its timestamps are filled in.
        IF NEW.status IN ('RESOLVED', 'CLOSED') THEN
            NEW.resolved_at := coalesce(NEW.resolved_at, NEW.closed_at, now());
        END IF;
        IF NEW.status = 'CLOSED' THEN
            NEW.closed_at := coalesce(NEW.closed_at, now());
        END IF;
        RETURN NEW;
    END IF;
    IF NOT audit.security_incident_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'security incident %: status cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'security_incidents_status_transition_check',
                  SCHEMA = 'audit', TABLE = 'security_incidents';
    END IF;
    IF NEW.status = 'RESOLVED' AND OLD.status <> 'RESOLVED' THEN
        NEW.resolved_at := coalesce(NEW.resolved_at, now());
    ELSIF NEW.status = 'CLOSED' THEN
        NEW.closed_at := coalesce(NEW.closed_at, now());
    ELSIF NEW.status IN ('INVESTIGATING', 'CONTAINED') THEN
        NEW.resolved_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION audit.security_incidents_guard() IS
    'Trigger: enforces the security incident status workflow and stamps resolved_at / closed_at.';
CREATE TRIGGER security_incidents_status_trg
    BEFORE INSERT OR UPDATE OF status ON audit.security_incidents
    FOR EACH ROW EXECUTE FUNCTION audit.security_incidents_guard();

CREATE FUNCTION audit.ten_dlc_gaps()
    RETURNS TABLE (account_id uuid, number varchar, did_id uuid, campaign_id uuid, reason text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT d.account_id, d.number, d.id, d.campaign_id,
           CASE WHEN d.campaign_id IS NULL THEN 'NO_CAMPAIGN' ELSE 'CAMPAIGN_' || c.status END
    FROM numbers.dids d
    JOIN numbers.inventory i ON i.id = d.inventory_id
    LEFT JOIN messaging.campaigns_10dlc c ON c.id = d.campaign_id
    WHERE d.messaging_enabled AND i.number_type = 'DID'
      AND (d.campaign_id IS NULL OR c.status IS DISTINCT FROM 'APPROVED')
    ORDER BY d.account_id, d.number
$$;
COMMENT ON FUNCTION audit.ten_dlc_gaps() IS
    'Messaging-enabled local (10DLC) numbers without an APPROVED campaign, with the reason. Runs as the caller (RLS applies).';

-- ---------------------------------------------------------------------------------------------
-- Retention: whole monthly partitions past the policy are detached (and dropped, for DROP); rows
-- are deleted only from unpartitioned tables (DELETE policies). Referencing rows in other tables
-- are handled first: partitions of tables that reference this one go earlier in the order, and
-- ON DELETE SET NULL references from unpartitioned tables are cleared.

CREATE SCHEMA IF NOT EXISTS archive;
COMMENT ON SCHEMA archive IS 'Partitions detached by retention (action DETACH): kept for export, outside the application schemas.';
ALTER SCHEMA archive OWNER TO warp_owner;

CREATE FUNCTION audit.partition_upper_bound(p_partition regclass) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_class c WHERE c.oid = p_partition
$$;
COMMENT ON FUNCTION audit.partition_upper_bound(regclass) IS
    'Exclusive upper bound of a RANGE partition on a timestamptz key (NULL for a DEFAULT partition).';

CREATE FUNCTION audit.apply_retention(p_now timestamptz DEFAULT now(), p_dry_run boolean DEFAULT false)
    RETURNS TABLE (table_name text, target text, action text, rows_affected bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    pol record;
    part record;
    fk record;
    cutoff timestamptz;
    time_column text;
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit.apply_retention'));
    FOR pol IN
        SELECT p.id, p.schema_name, p.table_name, p.retention_period, p.action,
               to_regclass(format('%I.%I', p.schema_name, p.table_name)) AS rel,
               c.relkind = 'p' AS partitioned,
               -- referenced by other partitioned tables' foreign keys: handled after them
               (SELECT count(*) FROM pg_constraint k
                JOIN pg_class rc ON rc.oid = k.conrelid
                WHERE k.contype = 'f' AND k.confrelid = c.oid AND rc.relkind = 'p') AS referenced
        FROM audit.retention_policies p
        LEFT JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', p.schema_name, p.table_name))
        WHERE p.enabled
        ORDER BY 8, p.schema_name, p.table_name
    LOOP
        IF pol.rel IS NULL THEN
            CONTINUE;
        END IF;
        cutoff := p_now - pol.retention_period;
        IF pol.partitioned THEN
            IF pol.action = 'DELETE' THEN
                RAISE EXCEPTION 'retention %.%: partitioned tables lose whole partitions (DROP or DETACH), never rows',
                    pol.schema_name, pol.table_name USING ERRCODE = 'invalid_parameter_value';
            END IF;
            FOR part IN
                SELECT i.inhrelid::regclass AS rel, n2.nspname, pc.relname,
                       audit.partition_upper_bound(i.inhrelid::regclass) AS upper_bound
                FROM pg_inherits i
                JOIN pg_class pc ON pc.oid = i.inhrelid
                JOIN pg_namespace n2 ON n2.oid = pc.relnamespace
                WHERE i.inhparent = pol.rel
                ORDER BY pc.relname
            LOOP
                CONTINUE WHEN part.upper_bound IS NULL OR part.upper_bound > cutoff;
                table_name := format('%I.%I', pol.schema_name, pol.table_name);
                target := format('%I.%I', part.nspname, part.relname);
                action := pol.action;
                rows_affected := NULL;
                IF NOT p_dry_run THEN
                    -- Unpartitioned tables pointing here with ON DELETE SET NULL lose the link.
                    FOR fk IN
                        SELECT k.conrelid::regclass AS ref_table,
                               (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY x.o)
                                FROM unnest(k.conkey) WITH ORDINALITY AS x(attnum, o)
                                JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum) AS cols,
                               (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY x.o)
                                FROM unnest(k.confkey) WITH ORDINALITY AS x(attnum, o)
                                JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.attnum) AS ref_cols,
                               cardinality(k.conkey) AS ncols
                        FROM pg_constraint k
                        JOIN pg_class rc ON rc.oid = k.conrelid
                        WHERE k.contype = 'f' AND k.confrelid = pol.rel AND k.confdeltype = 'n'
                          AND rc.relkind = 'r' AND NOT rc.relispartition
                    LOOP
                        EXECUTE format('UPDATE %s SET (%s) = ROW(%s) WHERE (%s) IN (SELECT %s FROM %s)',
                                       fk.ref_table, fk.cols,
                                       array_to_string(array_fill('NULL'::text, ARRAY[fk.ncols]), ', '),
                                       fk.cols, fk.ref_cols, part.rel);
                    END LOOP;
                    EXECUTE format('SELECT count(*) FROM %s', part.rel) INTO rows_affected;
                    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', pol.rel, part.rel);
                    IF pol.action = 'DROP' THEN
                        EXECUTE format('DROP TABLE %s', part.rel);
                    ELSE
                        EXECUTE format('ALTER TABLE %s SET SCHEMA archive', part.rel);
                        target := format('archive.%I', part.relname);
                    END IF;
                END IF;
                RETURN NEXT;
            END LOOP;
        ELSIF pol.action = 'DELETE' THEN
            -- The moment a row stops mattering: closed, else expired, else created.
            SELECT a.attname INTO time_column
            FROM pg_attribute a
            WHERE a.attrelid = pol.rel AND NOT a.attisdropped
              AND a.attname IN ('closed_at', 'expires_at', 'created_at')
            ORDER BY array_position(ARRAY['closed_at', 'expires_at', 'created_at']::name[], a.attname)
            LIMIT 1;
            CONTINUE WHEN time_column IS NULL;
            table_name := format('%I.%I', pol.schema_name, pol.table_name);
            target := format('%I < %s', time_column, cutoff);
            action := 'DELETE';
            IF p_dry_run THEN
                EXECUTE format('SELECT count(*) FROM %s WHERE %I < $1', pol.rel, time_column)
                    INTO rows_affected USING cutoff;
            ELSE
                EXECUTE format('DELETE FROM %s WHERE %I < $1', pol.rel, time_column) USING cutoff;
                GET DIAGNOSTICS n = ROW_COUNT;
                rows_affected := n;
            END IF;
            IF rows_affected > 0 THEN
                RETURN NEXT;
            END IF;
        END IF;
        IF NOT p_dry_run THEN
            UPDATE audit.retention_policies SET last_applied_at = p_now WHERE id = pol.id;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION audit.apply_retention(timestamptz, boolean) IS
    'Applies enabled retention policies as of p_now: monthly partitions whose whole range is older than the '
    'period are detached, then dropped (DROP) or moved to schema archive (DETACH); DELETE policies delete rows '
    'of unpartitioned tables by closed_at, else expires_at, else created_at. Returns what it did (or would do).';
ALTER FUNCTION audit.apply_retention(timestamptz, boolean) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION audit.apply_retention(timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.apply_retention(timestamptz, boolean) TO warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Reporting: materialized views. RLS does not apply to materialized views, so only staff and the
-- read-only reporting role read them directly; customers go through reporting.account_daily_summary,
-- a security-barrier view filtered by accounts.visible_account_ids().

CREATE SCHEMA IF NOT EXISTS reporting;
COMMENT ON SCHEMA reporting IS 'Materialized reporting views (refreshed concurrently by maintenance) and the tenant-filtered views over them.';
ALTER SCHEMA reporting OWNER TO warp_owner;

CREATE MATERIALIZED VIEW reporting.hourly_traffic AS
SELECT date_trunc('hour', r.start_time, 'UTC') AS hour_start,
       coalesce(r.account_id, '00000000-0000-0000-0000-000000000000'::uuid) AS account_id,
       r.direction,
       count(*)::bigint AS attempts,
       count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration))::bigint AS answered,
       round(100.0 * count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)) / count(*), 4) AS asr,
       round(avg(r.duration) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)), 2) AS acd_seconds,
       round(coalesce(sum(e.billable_seconds), 0) / 60.0, 4) AS billable_minutes,
       coalesce(sum(e.customer_charge), 0)::numeric(16,6) AS revenue,
       coalesce(sum(e.vendor_cost), 0)::numeric(16,6) AS cost,
       coalesce(sum(e.margin), 0)::numeric(16,6) AS margin
FROM cdr.raw_cdr r
LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
GROUP BY 1, 2, 3
WITH DATA;
CREATE UNIQUE INDEX hourly_traffic_hour_start_key ON reporting.hourly_traffic (hour_start, account_id, direction);
CREATE INDEX hourly_traffic_account_id_idx ON reporting.hourly_traffic (account_id, hour_start);
COMMENT ON MATERIALIZED VIEW reporting.hourly_traffic IS
    'Calls per hour, account and direction: attempts, ASR, ACD, minutes, revenue, cost, margin. CDRs without an '
    'identified account are under the nil UUID.';

CREATE MATERIALIZED VIEW reporting.daily_account_summary AS
WITH calls AS (
    SELECT (r.start_time AT TIME ZONE 'UTC')::date AS day, r.account_id,
           count(*)::bigint AS call_attempts,
           count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration))::bigint AS calls_answered,
           round(coalesce(sum(e.billable_seconds), 0) / 60.0, 4) AS billable_minutes,
           coalesce(sum(e.customer_charge), 0) AS voice_charges
    FROM cdr.raw_cdr r
    LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
    WHERE r.account_id IS NOT NULL
    GROUP BY 1, 2
), messages AS (
    SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day, m.account_id,
           count(*)::bigint AS messages,
           coalesce(sum(m.charge), 0) AS messaging_charges
    FROM messaging.mdr m
    GROUP BY 1, 2
)
SELECT coalesce(c.day, m.day) AS day,
       coalesce(c.account_id, m.account_id) AS account_id,
       coalesce(c.call_attempts, 0) AS call_attempts,
       coalesce(c.calls_answered, 0) AS calls_answered,
       coalesce(c.billable_minutes, 0) AS billable_minutes,
       coalesce(c.voice_charges, 0)::numeric(16,6) AS voice_charges,
       coalesce(m.messages, 0) AS messages,
       coalesce(m.messaging_charges, 0)::numeric(16,6) AS messaging_charges,
       (coalesce(c.voice_charges, 0) + coalesce(m.messaging_charges, 0))::numeric(16,6) AS total_charges
FROM calls c
FULL JOIN messages m ON m.day = c.day AND m.account_id = c.account_id
WITH DATA;
CREATE UNIQUE INDEX daily_account_summary_account_id_day_key ON reporting.daily_account_summary (account_id, day);
COMMENT ON MATERIALIZED VIEW reporting.daily_account_summary IS
    'Per account and UTC day: calls, answered, billable minutes, voice and messaging charges. Customers read it '
    'through reporting.account_daily_summary only.';

CREATE MATERIALIZED VIEW reporting.carrier_performance AS
SELECT (r.start_time AT TIME ZONE 'UTC')::date AS day,
       ct.carrier_id,
       c.name AS carrier_name,
       count(*)::bigint AS attempts,
       count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration))::bigint AS answered,
       round(100.0 * count(*) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)) / count(*), 4) AS asr,
       round(avg(r.duration) FILTER (WHERE cdr.is_answered(r.sip_code, r.duration)), 2) AS acd_seconds,
       round(avg(r.pdd_ms), 2) AS pdd_ms,
       round(100.0 * count(*) FILTER (WHERE vendor_mgmt.is_network_effective(r.sip_code, r.duration)) / count(*), 4)
           AS ner,
       round(coalesce(sum(e.billable_seconds), 0) / 60.0, 4) AS billable_minutes,
       coalesce(sum(e.vendor_cost), 0)::numeric(16,6) AS cost
FROM cdr.raw_cdr r
JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id
JOIN routing.carriers c ON c.id = ct.carrier_id
LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
GROUP BY 1, 2, 3
WITH DATA;
CREATE UNIQUE INDEX carrier_performance_carrier_id_day_key ON reporting.carrier_performance (carrier_id, day);
COMMENT ON MATERIALIZED VIEW reporting.carrier_performance IS
    'Per carrier and UTC day: attempts, ASR, ACD, PDD, NER, minutes and vendor cost (staff only).';

ALTER MATERIALIZED VIEW reporting.hourly_traffic OWNER TO warp_owner;
ALTER MATERIALIZED VIEW reporting.daily_account_summary OWNER TO warp_owner;
ALTER MATERIALIZED VIEW reporting.carrier_performance OWNER TO warp_owner;
GRANT USAGE ON SCHEMA reporting TO warp_app, warp_readonly, warp_staff;
GRANT SELECT ON reporting.hourly_traffic, reporting.daily_account_summary, reporting.carrier_performance
    TO warp_staff, warp_readonly;

CREATE VIEW reporting.account_daily_summary WITH (security_barrier = true) AS
SELECT s.day, s.account_id, s.call_attempts, s.calls_answered, s.billable_minutes, s.voice_charges,
       s.messages, s.messaging_charges, s.total_charges
FROM reporting.daily_account_summary s
WHERE s.account_id = ANY ((SELECT accounts.visible_account_ids())::uuid[]);
COMMENT ON VIEW reporting.account_daily_summary IS
    'The tenant''s own daily summary (its account and descendants): the only path customers have to the '
    'materialized daily_account_summary, which row-level security cannot protect.';
ALTER VIEW reporting.account_daily_summary OWNER TO warp_owner;
GRANT SELECT ON reporting.account_daily_summary TO warp_app, warp_readonly, warp_staff;

CREATE FUNCTION reporting.refresh(p_view text, p_concurrently boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
BEGIN
    IF p_view NOT IN ('hourly_traffic', 'daily_account_summary', 'carrier_performance') THEN
        RAISE EXCEPTION 'reporting.refresh: unknown view %', p_view USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_concurrently THEN
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY reporting.%I', p_view);
    ELSE
        EXECUTE format('REFRESH MATERIALIZED VIEW reporting.%I', p_view);
    END IF;
END
$$;
COMMENT ON FUNCTION reporting.refresh(text, boolean) IS
    'Refreshes one reporting view, concurrently by default (readers are not blocked). Staff/maintenance only.';
ALTER FUNCTION reporting.refresh(text, boolean) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION reporting.refresh(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.refresh(text, boolean) TO warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Contract commitments: committed spend/minutes per commitment period against the actual vendor cost
-- and minutes. Periods run from the contract's start_date (MONTHLY, QUARTERLY, ANNUAL) and stop at its
-- end_date. Traffic counted for a contract: calls through carriers linked to it (vendor_mgmt.carriers.
-- contract_id), or through the vendor's carriers linked to no contract, read from the daily
-- reporting.carrier_performance view (as of its last refresh: a year of periods costs a year of
-- carrier-days, not a scan of every CDR); and vendor cost of messages carried by the vendor's providers.

CREATE FUNCTION vendor_mgmt.contract_commitments(p_from date, p_to date)
    RETURNS TABLE (contract_id uuid, vendor_id uuid, vendor_name varchar, contract_name varchar,
                   currency char(3), commitment_period varchar, period_start date, period_end date,
                   in_progress boolean, committed_amount numeric, actual_spend numeric, spend_shortfall numeric,
                   committed_minutes bigint, actual_minutes numeric, minutes_shortfall numeric, met boolean)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
    SET TimeZone = 'UTC'
AS $$
    WITH contracts AS (
        SELECT k.*, v.name AS vendor_name,
               CASE k.commitment_period WHEN 'MONTHLY' THEN 1 WHEN 'QUARTERLY' THEN 3 ELSE 12 END AS months,
               least(coalesce(k.end_date, p_to), p_to) AS last_day
        FROM vendor_mgmt.contracts k
        JOIN vendor_mgmt.vendors v ON v.id = k.vendor_id
        WHERE k.commitment_period IS NOT NULL
          AND (k.commitment_amount IS NOT NULL OR k.commitment_minutes IS NOT NULL)
          AND k.status <> 'DRAFT' AND k.start_date < p_to AND (k.end_date IS NULL OR k.end_date >= p_from)
    ), periods AS (
        SELECT k.id, k.vendor_id, k.vendor_name, k.name, k.currency, k.commitment_period,
               k.commitment_amount, k.commitment_minutes,
               (k.start_date + n * k.months * interval '1 month')::date AS period_start,
               least((k.start_date + (n + 1) * k.months * interval '1 month')::date,
                     coalesce(k.end_date + 1, 'infinity'::date)) AS period_end
        FROM contracts k
        CROSS JOIN LATERAL generate_series(
            0, ((extract(year FROM age(k.last_day, k.start_date)) * 12
                 + extract(month FROM age(k.last_day, k.start_date)))::integer / k.months) + 1) AS n
    ), actual AS (
        SELECT p.*,
               (SELECT coalesce(sum(cp.cost), 0)
                FROM reporting.carrier_performance cp
                JOIN vendor_mgmt.carriers vc ON vc.carrier_id = cp.carrier_id
                WHERE cp.day >= p.period_start AND cp.day < p.period_end
                  AND (vc.contract_id = p.id OR (vc.contract_id IS NULL AND vc.vendor_id = p.vendor_id)))
               + (SELECT coalesce(sum(m.vendor_cost), 0)
                  FROM messaging.mdr m
                  JOIN vendor_mgmt.service_providers sp ON sp.id = m.service_provider_id
                  WHERE sp.vendor_id = p.vendor_id
                    AND m.created_at >= p.period_start::timestamptz AND m.created_at < p.period_end::timestamptz)
                 AS spend,
               (SELECT round(coalesce(sum(cp.billable_minutes), 0), 2)
                FROM reporting.carrier_performance cp
                JOIN vendor_mgmt.carriers vc ON vc.carrier_id = cp.carrier_id
                WHERE cp.day >= p.period_start AND cp.day < p.period_end
                  AND (vc.contract_id = p.id OR (vc.contract_id IS NULL AND vc.vendor_id = p.vendor_id)))
                 AS minutes
        FROM periods p
        WHERE p.period_start < p.period_end AND p.period_start < p_to AND p.period_end > p_from
    )
    SELECT a.id, a.vendor_id, a.vendor_name, a.name, a.currency, a.commitment_period,
           a.period_start, a.period_end, a.period_end > (now() AT TIME ZONE 'UTC')::date,
           a.commitment_amount, round(a.spend, 2),
           CASE WHEN a.commitment_amount IS NOT NULL THEN greatest(a.commitment_amount - round(a.spend, 2), 0) END,
           a.commitment_minutes, a.minutes,
           CASE WHEN a.commitment_minutes IS NOT NULL THEN greatest(a.commitment_minutes - a.minutes, 0) END,
           (a.commitment_amount IS NULL OR round(a.spend, 2) >= a.commitment_amount)
               AND (a.commitment_minutes IS NULL OR a.minutes >= a.commitment_minutes)
    FROM actual a
    ORDER BY a.vendor_name, a.name, a.period_start
$$;
COMMENT ON FUNCTION vendor_mgmt.contract_commitments(date, date) IS
    'Per contract with a commitment and per commitment period overlapping [p_from, p_to): committed spend and '
    'minutes against the actual vendor cost (calls through the contract''s carriers per reporting.carrier_performance, messages through the '
    'vendor''s providers) and billable minutes; shortfall and whether the commitment is met (staff).';
ALTER FUNCTION vendor_mgmt.contract_commitments(date, date) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION vendor_mgmt.contract_commitments(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vendor_mgmt.contract_commitments(date, date) TO warp_staff;
