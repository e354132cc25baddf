-- Multi-tenancy, reseller hierarchy and the audit trail, enforced by PostgreSQL itself.
--
-- Roles (cluster-wide, created once):
--   warp_owner    NOLOGIN, BYPASSRLS: owns every WARP object; migrations run as it (DDL only).
--   warp_app      what the API and workers use: DML only, subject to row-level security.
--   warp_readonly reporting: SELECT only, subject to row-level security.
--   warp_staff    NOLOGIN, BYPASSRLS: platform staff; the application switches to it explicitly
--                 (SET LOCAL ROLE / set_config('role', 'warp_staff', true)) for a staff transaction.
-- The tenant of a transaction is the setting warp.account_id (set_config(..., true)). Staff access is
-- the explicit role warp_staff (plus the setting warp.role = 'staff' for functions and the audit
-- trail), never the absence of a tenant: with no tenant, warp_app sees no customer row at all.
-- Policies therefore hold only the tenant condition, which keeps them index-friendly: an OR with a
-- staff flag would turn every tenant query into a sequential scan (see docs/performance.md).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warp_owner') THEN
        CREATE ROLE warp_owner NOLOGIN BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warp_app') THEN
        CREATE ROLE warp_app LOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warp_readonly') THEN
        CREATE ROLE warp_readonly LOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warp_staff') THEN
        CREATE ROLE warp_staff NOLOGIN BYPASSRLS;
    END IF;
END
$$;

-- The schemas first: a table can only be given to warp_owner when warp_owner may create in its schema
-- (a migrating login that is not a superuser, docs/operations.md "Roles and logins").
ALTER SCHEMA accounts OWNER TO warp_owner;
ALTER SCHEMA auth OWNER TO warp_owner;
ALTER SCHEMA numbers OWNER TO warp_owner;
ALTER SCHEMA routing OWNER TO warp_owner;
ALTER SCHEMA cdr OWNER TO warp_owner;
ALTER SCHEMA messaging OWNER TO warp_owner;
ALTER SCHEMA billing OWNER TO warp_owner;
ALTER SCHEMA vendor_mgmt OWNER TO warp_owner;
ALTER SCHEMA audit OWNER TO warp_owner;

-- ---------------------------------------------------------------------------------------------
-- Tenant context

CREATE FUNCTION accounts.current_account_id() RETURNS uuid
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT CASE
        WHEN current_setting('warp.account_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN current_setting('warp.account_id', true)::uuid
    END
$$;
COMMENT ON FUNCTION accounts.current_account_id() IS
    'The tenant of the current transaction (setting warp.account_id), NULL when unset or malformed.';

CREATE FUNCTION accounts.is_staff() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT coalesce(current_setting('warp.role', true), '') = 'staff'
$$;
COMMENT ON FUNCTION accounts.is_staff() IS
    'True when the transaction explicitly acts as platform staff (setting warp.role = ''staff'').';

CREATE FUNCTION accounts.visible_account_ids() RETURNS uuid[]
    -- PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is never inlined, so its recursive query
    -- was planned again on every call (once per statement on every tenant table, ~0.2 ms);
    -- PL/pgSQL keeps the plan for the session.
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    me constant uuid := accounts.current_account_id();
    ids uuid[];
BEGIN
    IF me IS NULL THEN
        RETURN '{}'::uuid[];
    END IF;
    WITH RECURSIVE tree (id) AS (
        SELECT me
        UNION
        SELECT h.child_account_id
        FROM accounts.account_hierarchy h
        JOIN tree t ON h.parent_account_id = t.id
    )
    SELECT array_agg(tree.id) INTO ids FROM tree;
    RETURN ids;
END
$$;
COMMENT ON FUNCTION accounts.visible_account_ids() IS
    'The tenant and all its descendants in accounts.account_hierarchy (any depth); empty without a tenant.';

-- ---------------------------------------------------------------------------------------------
-- Reseller hierarchy: cycles are rejected.

CREATE FUNCTION accounts.account_hierarchy_reject_cycle() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    -- One writer at a time, so two concurrent edges cannot close a cycle together.
    PERFORM pg_advisory_xact_lock(hashtext('accounts.account_hierarchy'));
    IF EXISTS (
        WITH RECURSIVE below (id) AS (
            SELECT NEW.child_account_id
            UNION
            SELECT h.child_account_id
            FROM accounts.account_hierarchy h
            JOIN below b ON h.parent_account_id = b.id
            WHERE h.id IS DISTINCT FROM NEW.id
        )
        SELECT 1 FROM below WHERE id = NEW.parent_account_id
    ) THEN
        RAISE EXCEPTION 'account % cannot become a child of its own descendant %',
            NEW.child_account_id, NEW.parent_account_id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'account_hierarchy_cycle_check',
                  SCHEMA = 'accounts', TABLE = 'account_hierarchy';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION accounts.account_hierarchy_reject_cycle() IS
    'Trigger: refuses an edge that would make an account its own ancestor.';

CREATE TRIGGER account_hierarchy_cycle_trg
    BEFORE INSERT OR UPDATE OF parent_account_id, child_account_id ON accounts.account_hierarchy
    FOR EACH ROW EXECUTE FUNCTION accounts.account_hierarchy_reject_cycle();

-- ---------------------------------------------------------------------------------------------
-- Secrets never reach the audit trail or the API request log.

CREATE FUNCTION audit.has_secret_word(p_words text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    -- p_words: one or more normalised names (lower-case letters and digits only), separated by
    -- spaces. The one statement of which names are secret, for column names, JSON keys and the
    -- request log's fast path alike.
    SELECT p_words ~ '(password|passwd|secret|token|apikey|authorization|credential|privatekey|hash|ha1)'
        OR p_words ~ '(^| )(cvv|cvv2|cvc|cvc2|securitycode|cardnumber|pan|pin|cookie)( |$)'
$$;
COMMENT ON FUNCTION audit.has_secret_word(text) IS
    'True when one of the space-separated normalised names holds a secret (password, token, API key, hash, card data...).';

CREATE FUNCTION audit.is_secret_key(p_key text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    SELECT audit.has_secret_word(lower(regexp_replace(p_key, '[^A-Za-z0-9]', '', 'g')))
$$;
COMMENT ON FUNCTION audit.is_secret_key(text) IS
    'True for a JSON key or column name whose value is a secret (password, token, API key, hash, card data...).';

CREATE FUNCTION audit.luhn_valid(p_digits text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
DECLARE
    total integer := 0;
    digit integer;
    double_it boolean := false;
BEGIN
    IF p_digits !~ '^[0-9]{13,19}$' THEN
        RETURN false;
    END IF;
    FOR i IN REVERSE length(p_digits)..1 LOOP
        digit := substr(p_digits, i, 1)::integer;
        IF double_it THEN
            digit := digit * 2;
            IF digit > 9 THEN
                digit := digit - 9;
            END IF;
        END IF;
        total := total + digit;
        double_it := NOT double_it;
    END LOOP;
    RETURN total % 10 = 0;
END
$$;
COMMENT ON FUNCTION audit.luhn_valid(text) IS 'True for 13-19 digits passing the Luhn check (payment card numbers).';

CREATE FUNCTION audit.sanitize_text(p_text text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
DECLARE
    candidate text;
    result text := p_text;
BEGIN
    IF p_text !~ '[0-9]{4}' THEN
        RETURN p_text;
    END IF;
    FOR candidate IN
        SELECT m[1] FROM regexp_matches(p_text, '((?:[0-9][ -]?){12,18}[0-9])', 'g') AS m
    LOOP
        IF audit.luhn_valid(regexp_replace(candidate, '[ -]', '', 'g')) THEN
            result := replace(result, candidate, '[REDACTED]');
        END IF;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION audit.sanitize_text(text) IS 'Masks anything in a string that looks like a payment card number (Luhn-valid, 13-19 digits).';

CREATE FUNCTION audit.sanitize_jsonb_walk(p_value jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
BEGIN
    CASE jsonb_typeof(p_value)
    WHEN 'object' THEN
        RETURN coalesce(
            (SELECT jsonb_object_agg(
                        e.key,
                        CASE WHEN audit.is_secret_key(e.key) AND e.value <> 'null'::jsonb
                             THEN '"[REDACTED]"'::jsonb
                             ELSE audit.sanitize_jsonb_walk(e.value) END)
             FROM jsonb_each(p_value) AS e),
            '{}'::jsonb);
    WHEN 'array' THEN
        RETURN coalesce(
            (SELECT jsonb_agg(audit.sanitize_jsonb_walk(e.value) ORDER BY e.ord)
             FROM jsonb_array_elements(p_value) WITH ORDINALITY AS e(value, ord)),
            '[]'::jsonb);
    WHEN 'string' THEN
        RETURN to_jsonb(audit.sanitize_text(p_value #>> '{}'));
    WHEN 'number' THEN
        IF audit.luhn_valid(p_value::text) THEN
            RETURN '"[REDACTED]"'::jsonb;
        END IF;
        RETURN p_value;
    ELSE
        RETURN p_value;
    END CASE;
END
$$;
COMMENT ON FUNCTION audit.sanitize_jsonb_walk(jsonb) IS
    'The recursive part of audit.sanitize_jsonb: masks secret-named keys and card-like numbers at any depth.';

CREATE FUNCTION audit.may_hold_secret(p_value jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    -- A cheap over-approximation of what the walk masks: a run of 13+ digits with single
    -- separators anywhere (every card candidate of sanitize_text, and every Luhn-checked JSON
    -- number), or a secret name among the document's keys at any depth (normalised as
    -- is_secret_key does, one string, one test). Words in values ("shipping", "company") do not
    -- count: the walk masks values by their key or their digits only.
    SELECT p_value::text ~ '[0-9]([ -]?[0-9]){12}'
        OR coalesce(audit.has_secret_word((
               SELECT string_agg(lower(regexp_replace(k #>> '{}', '[^A-Za-z0-9]', '', 'g')), ' ')
               FROM jsonb_path_query(p_value, 'strict $.** ? (@.type() == "object").keyvalue().key') AS k)),
           false)
$$;
COMMENT ON FUNCTION audit.may_hold_secret(jsonb) IS
    'False only when audit.sanitize_jsonb would change nothing in the document (fast path).';

CREATE FUNCTION audit.sanitize_jsonb(p_value jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
BEGIN
    -- Most request bodies hold nothing to mask: one pass over the text instead of a PL/pgSQL call
    -- per JSON node (measured: 355 -> ~30 us of backend CPU per logged POST with a message body).
    IF p_value IS NULL OR NOT audit.may_hold_secret(p_value) THEN
        RETURN p_value;
    END IF;
    RETURN audit.sanitize_jsonb_walk(p_value);
END
$$;
COMMENT ON FUNCTION audit.sanitize_jsonb(jsonb) IS
    'Recursively masks secret-named keys and card-like numbers in a JSON document.';

-- ---------------------------------------------------------------------------------------------
-- The audit trail: one generic trigger for every business table.

CREATE FUNCTION audit.log_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    row_data jsonb;
    changed text[];
    record_key text;
    col text;
    actor text := current_setting('warp.actor_id', true);
    actor_kind text := upper(coalesce(current_setting('warp.actor_type', true), ''));
    tenant uuid;
    uuid_re constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
BEGIN
    -- Written so that nothing here can fail for bad settings: an audit row never cancels the
    -- statement it records.
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.key ORDER BY n.key) INTO changed
        FROM jsonb_each(new_row) AS n
        WHERE n.value IS DISTINCT FROM old_row -> n.key
          AND n.key <> 'updated_at';
        IF changed IS NULL THEN
            RETURN NULL;  -- nothing but bookkeeping changed
        END IF;
    END IF;
    row_data := coalesce(new_row, old_row);
    SELECT string_agg(coalesce(row_data ->> a, ''), ',' ORDER BY o) INTO record_key
    FROM unnest(TG_ARGV) WITH ORDINALITY AS pk(a, o);
    FOR col IN SELECT k FROM jsonb_object_keys(row_data) AS k WHERE audit.is_secret_key(k) LOOP
        IF old_row -> col IS NOT NULL AND old_row -> col <> 'null'::jsonb THEN
            old_row := jsonb_set(old_row, ARRAY[col], '"[REDACTED]"');
        END IF;
        IF new_row -> col IS NOT NULL AND new_row -> col <> 'null'::jsonb THEN
            new_row := jsonb_set(new_row, ARRAY[col], '"[REDACTED]"');
        END IF;
    END LOOP;
    IF TG_TABLE_SCHEMA = 'accounts' AND TG_TABLE_NAME = 'accounts' THEN
        tenant := (row_data ->> 'id')::uuid;
    ELSIF row_data ->> 'account_id' ~ uuid_re THEN
        tenant := (row_data ->> 'account_id')::uuid;
    END IF;
    INSERT INTO audit.audit_log (
        schema_name, table_name, record_id, action, old_row, new_row, changed_columns,
        account_id, actor_type, actor_id, request_id)
    VALUES (
        TG_TABLE_SCHEMA, TG_TABLE_NAME, record_key, TG_OP, old_row, new_row, changed,
        tenant,
        CASE WHEN actor_kind IN ('USER', 'API_KEY', 'STAFF', 'SYSTEM') THEN actor_kind ELSE 'SYSTEM' END,
        CASE WHEN actor ~ uuid_re THEN actor::uuid END,
        left(nullif(current_setting('warp.request_id', true), ''), 128));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION audit.log_change() IS
    'AFTER row trigger: records INSERT/UPDATE/DELETE in audit.audit_log with old/new rows (secrets masked), '
    'changed columns, tenant, actor and request id. Trigger arguments: the primary-key column names.';

CREATE FUNCTION audit.attach_audit(p_table regclass) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    pk_args text;
    rel_name name;
BEGIN
    SELECT c.relname INTO rel_name FROM pg_class c WHERE c.oid = p_table;
    SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY k.ord) INTO pk_args
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = p_table AND i.indisprimary;
    IF pk_args IS NULL THEN
        RAISE EXCEPTION 'audit.attach_audit: % has no primary key', p_table;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', rel_name || '_audit_trg', p_table);
    EXECUTE format(
        'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION audit.log_change(%s)',
        rel_name || '_audit_trg', p_table, pk_args);
END
$$;
COMMENT ON FUNCTION audit.attach_audit(regclass) IS
    'Attaches the generic audit trigger (<table>_audit_trg) to a business table.';

-- ---------------------------------------------------------------------------------------------
-- The API request log: sanitized in SQL, written in batches by the API.

CREATE FUNCTION audit.log_api_requests(p_entries jsonb) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    WITH inserted AS (
        INSERT INTO audit.api_request_log (
            requested_at, method, path, status_code, latency_ms, account_id, api_key_id, user_id,
            client_ip, request_id, user_agent, request_body, response_body)
        SELECT coalesce((e ->> 'requested_at')::timestamptz, now()),
               upper(e ->> 'method'),
               audit.sanitize_text(e ->> 'path'),
               (e ->> 'status_code')::integer,
               (e ->> 'latency_ms')::numeric(10, 3),
               (e ->> 'account_id')::uuid,
               (e ->> 'api_key_id')::uuid,
               (e ->> 'user_id')::uuid,
               (e ->> 'client_ip')::inet,
               left(e ->> 'request_id', 128),
               e ->> 'user_agent',
               audit.sanitize_jsonb(e -> 'request_body'),
               audit.sanitize_jsonb(e -> 'response_body')
        FROM jsonb_array_elements(p_entries) AS e
        RETURNING 1
    )
    SELECT count(*)::integer FROM inserted
$$;
COMMENT ON FUNCTION audit.log_api_requests(jsonb) IS
    'Writes a batch of API requests (JSON array of objects) to audit.api_request_log, bodies sanitized.';

-- ---------------------------------------------------------------------------------------------
-- Row-level security, ownership and grants, applied table by table.

CREATE FUNCTION accounts.secure_table(p_table regclass, p_kind text, p_parent_column text DEFAULT NULL,
                                      p_parent regclass DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    visible constant text := 'ANY ((SELECT accounts.visible_account_ids())::uuid[])';
    read_expr text;
    write_expr text;
    part regclass;
BEGIN
    CASE p_kind
    -- Staff (role warp_staff, BYPASSRLS) never reach these policies; they hold the tenant rule only.
    WHEN 'TENANT' THEN
        read_expr := format('account_id = %s', visible);
        write_expr := read_expr;
    WHEN 'TENANT_OR_GLOBAL' THEN
        read_expr := format('account_id IS NULL OR account_id = %s', visible);
        write_expr := format('account_id = %s', visible);
    WHEN 'ACCOUNT' THEN
        read_expr := format('id = %s', visible);
        write_expr := read_expr;
    WHEN 'HIERARCHY' THEN
        read_expr := format('parent_account_id = %s', visible);
        write_expr := 'false';
    WHEN 'PARENT' THEN
        IF p_parent_column IS NULL OR p_parent IS NULL THEN
            RAISE EXCEPTION 'secure_table(%, PARENT) needs the parent column and table', p_table;
        END IF;
        read_expr := format('EXISTS (SELECT 1 FROM %s AS parent WHERE parent.id = %I)',
                            p_parent, p_parent_column);
        write_expr := read_expr;
    WHEN 'REFERENCE' THEN
        read_expr := 'true';
        write_expr := 'false';
    WHEN 'STAFF_ONLY' THEN
        read_expr := 'false';
        write_expr := 'false';
    ELSE
        RAISE EXCEPTION 'secure_table: unknown kind %', p_kind;
    END CASE;

    EXECUTE format('ALTER TABLE %s OWNER TO warp_owner', p_table);
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format('DROP POLICY IF EXISTS tenant_read ON %s', p_table);
    EXECUTE format('DROP POLICY IF EXISTS tenant_insert ON %s', p_table);
    EXECUTE format('DROP POLICY IF EXISTS tenant_update ON %s', p_table);
    EXECUTE format('DROP POLICY IF EXISTS tenant_delete ON %s', p_table);
    EXECUTE format('CREATE POLICY tenant_read ON %s FOR SELECT USING (%s)', p_table, read_expr);
    EXECUTE format('CREATE POLICY tenant_insert ON %s FOR INSERT WITH CHECK (%s)', p_table, write_expr);
    EXECUTE format('CREATE POLICY tenant_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)',
                   p_table, write_expr, write_expr);
    EXECUTE format('CREATE POLICY tenant_delete ON %s FOR DELETE USING (%s)', p_table, write_expr);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO warp_app, warp_staff', p_table);
    EXECUTE format('GRANT SELECT ON %s TO warp_readonly', p_table);
    EXECUTE format('COMMENT ON POLICY tenant_read ON %s IS %L', p_table, 'row-level security kind ' || p_kind);
    -- Partitions are reached only through their parent: same owner and RLS, no grants.
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = p_table LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO warp_owner', part);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', part);
        EXECUTE format('REVOKE ALL ON %s FROM warp_app, warp_readonly, warp_staff', part);
    END LOOP;
END
$$;
COMMENT ON FUNCTION accounts.secure_table(regclass, text, text, regclass) IS
    'Owner warp_owner, RLS enabled and forced with the policies of a kind (TENANT, TENANT_OR_GLOBAL, ACCOUNT, '
    'HIERARCHY, PARENT, REFERENCE, STAFF_ONLY), DML for warp_app and warp_staff, SELECT for warp_readonly. '
    'Call for every new table.';

-- ---------------------------------------------------------------------------------------------
-- Apply to every table that exists now. Later migrations call secure_table / attach_audit for
-- their new tables; tests/db/test_tenancy.py fails for any table that escapes.

DO $$
DECLARE
    t record;
    kind text;
    special constant jsonb := '{
        "accounts.accounts": "ACCOUNT",
        "accounts.account_hierarchy": "HIERARCHY",
        "routing.blacklist": "TENANT_OR_GLOBAL",
        "vendor_mgmt.vendors": "STAFF_ONLY",
        "vendor_mgmt.carriers": "STAFF_ONLY",
        "vendor_mgmt.contracts": "STAFF_ONLY",
        "vendor_mgmt.slas": "STAFF_ONLY",
        "vendor_mgmt.incidents": "STAFF_ONLY",
        "vendor_mgmt.performance_metrics": "STAFF_ONLY",
        "vendor_mgmt.service_providers": "STAFF_ONLY",
        "vendor_mgmt.smpp_connectors": "STAFF_ONLY",
        "audit.retention_policies": "STAFF_ONLY",
        "audit.stir_shaken_certs": "STAFF_ONLY",
        "cdr.vendor_cdr": "STAFF_ONLY"
    }';
    parent_of constant jsonb := '{
        "auth.sessions": ["user_id", "auth.users"],
        "auth.user_roles": ["user_id", "auth.users"]
    }';
    not_audited constant text[] := ARRAY[
        'audit.audit_log', 'audit.api_request_log',
        'cdr.raw_cdr', 'cdr.enriched_cdr', 'cdr.hourly_summary', 'cdr.vendor_cdr', 'cdr.lerg',
        'cdr.lrn_cache', 'messaging.mdr', 'messaging.webhook_events', 'messaging.webhook_attempts',
        'routing.rate_deck', 'billing.balance_ledger', 'billing.usage_summary',
        'vendor_mgmt.performance_metrics'];
BEGIN
    FOR t IN
        SELECT n.nspname, c.relname, c.oid::regclass AS rel,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped) AS has_account
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('accounts', 'auth', 'numbers', 'routing', 'cdr', 'messaging', 'billing',
                            'vendor_mgmt', 'audit')
          AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    LOOP
        IF parent_of ? (t.nspname || '.' || t.relname) THEN
            PERFORM accounts.secure_table(
                t.rel, 'PARENT',
                parent_of -> (t.nspname || '.' || t.relname) ->> 0,
                (parent_of -> (t.nspname || '.' || t.relname) ->> 1)::regclass);
        ELSE
            kind := coalesce(special ->> (t.nspname || '.' || t.relname),
                             CASE WHEN t.has_account THEN 'TENANT' ELSE 'REFERENCE' END);
            PERFORM accounts.secure_table(t.rel, kind);
        END IF;
        IF NOT (t.nspname || '.' || t.relname) = ANY (not_audited) THEN
            PERFORM audit.attach_audit(t.rel);
        END IF;
    END LOOP;
END
$$;

-- The audit trail is append-only for the application.
REVOKE UPDATE, DELETE ON audit.audit_log FROM warp_app, warp_staff;

GRANT USAGE ON SCHEMA accounts, auth, numbers, routing, cdr, messaging, billing, vendor_mgmt, audit
    TO warp_app, warp_readonly, warp_staff;
GRANT SELECT ON public.schema_migrations TO warp_app, warp_readonly, warp_staff;
-- A rate deck of 4 MiB or more loads on two connections (ADR 0006): their UNLOGGED staging tables
-- (a temporary table is invisible to the other connection) live in a schema of their own, the only
-- place the application creates tables (tests/ops/test_ops_least_privilege.py); the import drops them
-- once both halves are resolved.
CREATE SCHEMA IF NOT EXISTS import_staging AUTHORIZATION warp_owner;
COMMENT ON SCHEMA import_staging IS
    'Staging tables of running two-connection rate-deck imports (routing.rate_import), dropped when the import ends; nothing else.';
GRANT USAGE, CREATE ON SCHEMA import_staging TO warp_staff;


-- Definer functions run as the owner role (BYPASSRLS), never as the superuser that migrated.
ALTER FUNCTION accounts.visible_account_ids() OWNER TO warp_owner;
ALTER FUNCTION audit.log_change() OWNER TO warp_owner;
ALTER FUNCTION audit.log_api_requests(jsonb) OWNER TO warp_owner;
