-- numbers: the inventory state machine, reservation/order/release (SECURITY DEFINER: tenants read the
-- inventory but cannot write it), the porting state machine with atomic completion, and E911 rules.
--
-- Errors raised here carry a CONSTRAINT name so the application maps them to domain errors:
--   inventory_status_transition_check, port_requests_status_transition_check,
--   dids_e911_address_check, numbers_not_available, numbers_not_found, numbers_no_tenant,
--   numbers_forbidden, port_requests_number_unavailable.

-- ---------------------------------------------------------------------------------------------
-- Inventory status machine

CREATE FUNCTION numbers.inventory_transition_allowed(p_from text, p_to text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    SELECT (p_from, p_to) IN (
        ('AVAILABLE', 'RESERVED'), ('AVAILABLE', 'ACTIVE'), ('AVAILABLE', 'PORTING_IN'),
        ('AVAILABLE', 'DISCONNECTED'),
        ('RESERVED', 'AVAILABLE'), ('RESERVED', 'ACTIVE'),
        ('ACTIVE', 'AGING'), ('ACTIVE', 'PORTING_OUT'), ('ACTIVE', 'DISCONNECTED'),
        ('AGING', 'AVAILABLE'), ('AGING', 'DISCONNECTED'),
        ('PORTING_IN', 'ACTIVE'), ('PORTING_IN', 'DISCONNECTED'),
        ('PORTING_OUT', 'ACTIVE'), ('PORTING_OUT', 'DISCONNECTED'),
        ('DISCONNECTED', 'AVAILABLE'), ('DISCONNECTED', 'PORTING_IN'))
$$;
COMMENT ON FUNCTION numbers.inventory_transition_allowed(text, text) IS
    'The inventory status machine: AVAILABLE -> RESERVED -> ACTIVE -> AGING -> AVAILABLE, plus porting and disconnection.';

CREATE FUNCTION numbers.inventory_status_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT numbers.inventory_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'number %: status % cannot change to %', OLD.number, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'inventory_status_transition_check',
                  SCHEMA = 'numbers', TABLE = 'inventory';
    END IF;
    IF OLD.status = 'AGING' AND NEW.status = 'AVAILABLE' AND OLD.aging_expires_at > now() THEN
        RAISE EXCEPTION 'number %: aging until %', OLD.number, OLD.aging_expires_at
            USING ERRCODE = 'check_violation', CONSTRAINT = 'inventory_status_transition_check',
                  SCHEMA = 'numbers', TABLE = 'inventory';
    END IF;
    NEW.status_changed_at := now();
    IF NEW.status <> 'RESERVED' THEN
        NEW.reserved_by_account_id := NULL;
        NEW.reserved_at := NULL;
        NEW.reservation_expires_at := NULL;
    END IF;
    IF NEW.status <> 'AGING' THEN
        NEW.aging_expires_at := NULL;
    ELSIF NEW.aging_expires_at IS NULL THEN
        NEW.aging_expires_at := now() + interval '90 days';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION numbers.inventory_status_guard() IS
    'Trigger: refuses an illegal inventory status change (and AGING -> AVAILABLE before aging ends); keeps reservation/aging columns consistent.';

CREATE TRIGGER inventory_status_guard_trg BEFORE UPDATE OF status ON numbers.inventory
    FOR EACH ROW EXECUTE FUNCTION numbers.inventory_status_guard();

-- ---------------------------------------------------------------------------------------------
-- Acting account: the tenant itself, one of its descendants (reseller), or any account for staff.

CREATE FUNCTION numbers.acting_account(p_account_id uuid) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    tenant uuid := accounts.current_account_id();
BEGIN
    IF p_account_id IS NULL THEN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'account: no tenant in this transaction and no account given'
                USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_no_tenant';
        END IF;
        RETURN tenant;
    END IF;
    IF accounts.is_staff() OR p_account_id = ANY (accounts.visible_account_ids()) THEN
        RETURN p_account_id;
    END IF;
    RAISE EXCEPTION 'account %: not visible to this tenant', p_account_id
        USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_forbidden';
END
$$;
COMMENT ON FUNCTION numbers.acting_account(uuid) IS
    'The account a numbers operation acts for: the tenant, a descendant of it, or any account for staff.';

-- Lock the inventory rows of p_numbers in a fixed order (no deadlocks between racing callers) and
-- raise numbers_not_found for numbers WARP does not hold.
CREATE FUNCTION numbers.lock_inventory(p_numbers text[]) RETURNS SETOF numbers.inventory
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(n, ', ' ORDER BY n) INTO missing
    FROM (SELECT DISTINCT unnest(p_numbers) AS n) AS wanted
    WHERE NOT EXISTS (SELECT 1 FROM numbers.inventory i WHERE i.number = wanted.n);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'numbers: not in inventory: %', missing
            USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_not_found', DETAIL = missing;
    END IF;
    RETURN QUERY
        SELECT i.* FROM numbers.inventory i
        WHERE i.number = ANY (p_numbers)
        ORDER BY i.number
        FOR UPDATE;
END
$$;
COMMENT ON FUNCTION numbers.lock_inventory(text[]) IS
    'Locks the inventory rows of the given numbers in number order; raises numbers_not_found for unknown ones.';

CREATE FUNCTION numbers.reserve_number(p_numbers text[], p_ttl interval DEFAULT interval '15 minutes',
                                       p_account_id uuid DEFAULT NULL)
    RETURNS TABLE (number varchar, reservation_expires_at timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    acct uuid := numbers.acting_account(p_account_id);
    taken text;
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' OR p_ttl > interval '7 days' THEN
        RAISE EXCEPTION 'ttl: must be between 1 second and 7 days'
            USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_reservation_ttl_check';
    END IF;
    IF coalesce(cardinality(p_numbers), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT string_agg(l.number, ', ' ORDER BY l.number) INTO taken
    FROM numbers.lock_inventory(p_numbers) AS l
    WHERE NOT (l.status = 'AVAILABLE'
               OR (l.status = 'RESERVED' AND (l.reserved_by_account_id = acct OR l.reservation_expires_at <= now())));
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'numbers: not available: %', taken
            USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_not_available', DETAIL = taken;
    END IF;
    RETURN QUERY
        UPDATE numbers.inventory i
        SET status = 'RESERVED', reserved_by_account_id = acct, reserved_at = now(),
            reservation_expires_at = now() + p_ttl
        WHERE i.number = ANY (p_numbers)
        RETURNING i.number, i.reservation_expires_at;
END
$$;
COMMENT ON FUNCTION numbers.reserve_number(text[], interval, uuid) IS
    'Reserves all the given numbers for the account (default: the tenant) for p_ttl, or none: '
    'raises numbers_not_available / numbers_not_found. Concurrency-safe (row locks in number order).';

CREATE FUNCTION numbers.cleanup_expired_reservations() RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    WITH freed AS (
        UPDATE numbers.inventory SET status = 'AVAILABLE'
        WHERE status = 'RESERVED' AND reservation_expires_at <= now()
        RETURNING 1
    )
    SELECT count(*)::integer FROM freed
$$;
COMMENT ON FUNCTION numbers.cleanup_expired_reservations() IS
    'Returns expired reservations to AVAILABLE; returns how many.';

CREATE FUNCTION numbers.recycle_aged_numbers() RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    WITH freed AS (
        UPDATE numbers.inventory SET status = 'AVAILABLE'
        WHERE status = 'AGING' AND aging_expires_at <= now()
        RETURNING 1
    )
    SELECT count(*)::integer FROM freed
$$;
COMMENT ON FUNCTION numbers.recycle_aged_numbers() IS 'AGING numbers whose aging period ended become AVAILABLE; returns how many.';

-- ---------------------------------------------------------------------------------------------
-- Charges: an order (or a completed port-in) records on the new did_assignments row the number's
-- monthly and setup charge from billing.number_rates of the account's rate plan in force, so billing can
-- invoice (prorated monthly over the assignment period, setup once). No plan or rate: NULL (unrated).

ALTER TABLE numbers.did_assignments ADD CONSTRAINT did_assignments_number_rate_id_fkey
    FOREIGN KEY (number_rate_id) REFERENCES billing.number_rates (id) ON DELETE SET NULL;

CREATE FUNCTION numbers.number_charges(p_account_id uuid, p_number_type text, p_at timestamptz DEFAULT now())
    RETURNS TABLE (number_rate_id uuid, monthly_charge numeric, setup_charge numeric, port_in_fee numeric)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT r.id, r.monthly_charge, r.setup_charge, r.port_in_fee
    FROM billing.account_rate_plans ap
    JOIN billing.number_rates r ON r.rate_plan_id = ap.rate_plan_id
    WHERE ap.account_id = p_account_id
      AND ap.effective_at <= p_at AND (ap.expires_at IS NULL OR ap.expires_at > p_at)
      AND r.number_type = p_number_type
      AND r.effective_date <= (p_at AT TIME ZONE 'UTC')::date
      AND (r.expires_date IS NULL OR r.expires_date > (p_at AT TIME ZONE 'UTC')::date)
    LIMIT 1
$$;
COMMENT ON FUNCTION numbers.number_charges(uuid, text, timestamptz) IS
    'The number rate (monthly, setup, port-in) of the account''s rate plan in force at p_at for a number type; '
    'no row when the account has no plan or the plan no rate for the type. Runs as the caller (RLS applies).';

CREATE FUNCTION numbers.order_numbers(p_numbers text[], p_account_id uuid DEFAULT NULL,
                                      p_e911_address_id uuid DEFAULT NULL)
    RETURNS SETOF numbers.dids
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    acct uuid := numbers.acting_account(p_account_id);
    taken text;
BEGIN
    IF coalesce(cardinality(p_numbers), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT string_agg(l.number, ', ' ORDER BY l.number) INTO taken
    FROM numbers.lock_inventory(p_numbers) AS l
    WHERE NOT (l.status = 'AVAILABLE'
               OR (l.status = 'RESERVED' AND (l.reserved_by_account_id = acct OR l.reservation_expires_at <= now())));
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'numbers: not available: %', taken
            USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_not_available', DETAIL = taken;
    END IF;
    UPDATE numbers.inventory i SET status = 'ACTIVE' WHERE i.number = ANY (p_numbers);
    INSERT INTO numbers.did_assignments (account_id, inventory_id, number, activated_at, number_rate_id,
                                         monthly_charge, setup_charge)
    SELECT acct, i.id, i.number, now(), c.number_rate_id, c.monthly_charge, c.setup_charge
    FROM numbers.inventory i
    LEFT JOIN LATERAL numbers.number_charges(acct, i.number_type, now()) AS c ON true
    WHERE i.number = ANY (p_numbers);
    RETURN QUERY
        INSERT INTO numbers.dids (account_id, inventory_id, number, voice_enabled, e911_address_id, activated_at)
        SELECT acct, i.id, i.number, p_e911_address_id IS NOT NULL, p_e911_address_id, now()
        FROM numbers.inventory i WHERE i.number = ANY (p_numbers)
        ORDER BY i.number
        RETURNING *;
END
$$;
COMMENT ON FUNCTION numbers.order_numbers(text[], uuid, uuid) IS
    'Turns available numbers (or numbers reserved by the account) into the account''s DIDs with an open '
    'assignment, all or none. DIDs are voice-enabled only when an E911 address is given.';

CREATE FUNCTION numbers.release_did(p_number text, p_aging interval DEFAULT interval '90 days')
    RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    d numbers.dids;
    until timestamptz := now() + coalesce(p_aging, interval '90 days');
BEGIN
    SELECT * INTO d FROM numbers.dids WHERE number = p_number FOR UPDATE;
    IF NOT FOUND OR NOT (accounts.is_staff() OR d.account_id = ANY (accounts.visible_account_ids())) THEN
        RAISE EXCEPTION 'number %: not a DID of this account', p_number
            USING ERRCODE = 'P0001', CONSTRAINT = 'numbers_not_found', DETAIL = p_number;
    END IF;
    DELETE FROM numbers.dids WHERE id = d.id;
    UPDATE numbers.did_assignments SET disconnected_at = now()
    WHERE inventory_id = d.inventory_id AND disconnected_at IS NULL;
    UPDATE numbers.inventory SET status = 'AGING', aging_expires_at = until WHERE id = d.inventory_id;
    RETURN until;
END
$$;
COMMENT ON FUNCTION numbers.release_did(text, interval) IS
    'Disconnects a DID of the tenant: closes its assignment and ages the number for p_aging before resale.';

-- ---------------------------------------------------------------------------------------------
-- E911: a voice-enabled DID needs an address, or an exemption with a reason (recorded for compliance).

CREATE FUNCTION numbers.dids_e911_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF NEW.voice_enabled AND NEW.e911_address_id IS NULL AND NOT NEW.e911_exempt THEN
        RAISE EXCEPTION 'number %: a voice-enabled DID needs an E911 address or an exemption with a reason',
            NEW.number
            USING ERRCODE = 'check_violation', CONSTRAINT = 'dids_e911_address_check',
                  SCHEMA = 'numbers', TABLE = 'dids';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION numbers.dids_e911_guard() IS
    'Trigger: refuses a voice-enabled DID without an E911 address or an exemption.';

CREATE TRIGGER dids_e911_guard_trg
    BEFORE INSERT OR UPDATE OF voice_enabled, e911_address_id, e911_exempt ON numbers.dids
    FOR EACH ROW EXECUTE FUNCTION numbers.dids_e911_guard();

CREATE FUNCTION numbers.dids_record_e911_exemption() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
BEGIN
    IF NEW.e911_exempt AND (TG_OP = 'INSERT' OR NOT OLD.e911_exempt
                            OR OLD.e911_exempt_reason IS DISTINCT FROM NEW.e911_exempt_reason) THEN
        INSERT INTO audit.compliance_records (account_id, record_type, subject_table, subject_id, status, reason,
                                              details, recorded_by_user_id)
        VALUES (NEW.account_id, 'E911_EXEMPTION', 'numbers.dids', NEW.id, 'EXEMPT', NEW.e911_exempt_reason,
                jsonb_build_object('number', NEW.number),
                (SELECT u.id FROM auth.users u
                 WHERE upper(current_setting('warp.actor_type', true)) IN ('USER', 'STAFF')
                   AND u.id::text = current_setting('warp.actor_id', true)));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION numbers.dids_record_e911_exemption() IS
    'Trigger: records every E911 exemption (and changed reason) of a DID in audit.compliance_records.';

CREATE TRIGGER dids_record_e911_exemption_trg
    AFTER INSERT OR UPDATE OF e911_exempt, e911_exempt_reason ON numbers.dids
    FOR EACH ROW EXECUTE FUNCTION numbers.dids_record_e911_exemption();

CREATE FUNCTION audit.check_e911_compliance(p_account_id uuid DEFAULT NULL)
    RETURNS TABLE (account_id uuid, number varchar, did_id uuid, reason text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    SELECT d.account_id, d.number, d.id,
           CASE
               WHEN d.e911_address_id IS NULL THEN 'NO_ADDRESS'
               WHEN a.validation_status = 'INVALID' THEN 'ADDRESS_INVALID'
               ELSE 'ADDRESS_NOT_VALIDATED'
           END
    FROM numbers.dids d
    LEFT JOIN numbers.e911_addresses a ON a.id = d.e911_address_id
    WHERE d.voice_enabled
      AND NOT d.e911_exempt
      AND (p_account_id IS NULL OR d.account_id = p_account_id)
      AND (d.e911_address_id IS NULL OR a.validation_status IS DISTINCT FROM 'VALID')
    ORDER BY d.account_id, d.number
$$;
COMMENT ON FUNCTION audit.check_e911_compliance(uuid) IS
    'Voice-enabled, non-exempt DIDs (of one account, or all the caller can see) without a VALID E911 address, with the reason. '
    'Runs as the caller: row-level security limits a tenant to its own DIDs.';

-- ---------------------------------------------------------------------------------------------
-- Porting: PENDING -> SUBMITTED -> FOC_RECEIVED -> COMPLETED, or REJECTED / CANCELLED.

CREATE FUNCTION numbers.port_requests_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    allowed boolean;
    staff_only boolean;
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    allowed := (OLD.status, NEW.status) IN (
        ('PENDING', 'SUBMITTED'), ('PENDING', 'CANCELLED'),
        ('SUBMITTED', 'FOC_RECEIVED'), ('SUBMITTED', 'REJECTED'), ('SUBMITTED', 'CANCELLED'),
        ('FOC_RECEIVED', 'COMPLETED'), ('FOC_RECEIVED', 'REJECTED'), ('FOC_RECEIVED', 'CANCELLED'));
    staff_only := NEW.status IN ('FOC_RECEIVED', 'COMPLETED', 'REJECTED');
    IF NOT allowed OR (staff_only AND NOT accounts.is_staff()) THEN
        RAISE EXCEPTION '%', format('port request %s: status %s cannot change to %s%s', OLD.id, OLD.status,
                                    NEW.status, CASE WHEN allowed THEN ' (staff only)' ELSE '' END)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'port_requests_status_transition_check',
                  SCHEMA = 'numbers', TABLE = 'port_requests';
    END IF;
    CASE NEW.status
        WHEN 'SUBMITTED' THEN NEW.submitted_at := now();
        WHEN 'FOC_RECEIVED' THEN NEW.foc_received_at := now();
        WHEN 'COMPLETED' THEN NEW.completed_at := now();
        WHEN 'CANCELLED' THEN NEW.cancelled_at := now();
        ELSE NULL;
    END CASE;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION numbers.port_requests_guard() IS
    'Trigger: the porting state machine; FOC, completion and rejection are staff-only.';

CREATE TRIGGER port_requests_guard_trg BEFORE UPDATE OF status ON numbers.port_requests
    FOR EACH ROW EXECUTE FUNCTION numbers.port_requests_guard();

CREATE FUNCTION numbers.port_requests_complete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    clash text;
BEGIN
    IF NEW.direction <> 'PORT_IN' THEN
        RETURN NULL;
    END IF;
    IF NEW.status IN ('REJECTED', 'CANCELLED') THEN
        UPDATE numbers.port_request_numbers SET status = CASE WHEN NEW.status = 'REJECTED' THEN 'REJECTED' ELSE 'CANCELLED' END
        WHERE port_request_id = NEW.id AND status = 'PENDING';
        RETURN NULL;
    END IF;
    -- COMPLETED: every number becomes an ACTIVE inventory row and a DID of the account, or none does.
    PERFORM 1 FROM numbers.inventory i
    JOIN numbers.port_request_numbers p ON p.number = i.number
    WHERE p.port_request_id = NEW.id
    ORDER BY i.number FOR UPDATE OF i;
    SELECT string_agg(p.number, ', ' ORDER BY p.number) INTO clash
    FROM numbers.port_request_numbers p
    JOIN numbers.inventory i ON i.number = p.number
    WHERE p.port_request_id = NEW.id AND i.status NOT IN ('PORTING_IN', 'DISCONNECTED');
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'port request %: numbers already in service here: %', NEW.id, clash
            USING ERRCODE = 'P0001', CONSTRAINT = 'port_requests_number_unavailable', DETAIL = clash;
    END IF;
    INSERT INTO numbers.inventory (number, number_type, status, npa, nxx, country, metadata)
    SELECT p.number, 'DID', 'PORTING_IN',
           CASE WHEN p.number ~ '^\+1[2-9][0-9]{9}$' THEN substr(p.number, 3, 3) END,
           CASE WHEN p.number ~ '^\+1[2-9][0-9]{9}$' THEN substr(p.number, 6, 3) END,
           'US', jsonb_build_object('port_request_id', NEW.id)
    FROM numbers.port_request_numbers p
    WHERE p.port_request_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM numbers.inventory i WHERE i.number = p.number);
    UPDATE numbers.inventory i SET status = 'PORTING_IN'
    FROM numbers.port_request_numbers p
    WHERE p.port_request_id = NEW.id AND p.number = i.number AND i.status = 'DISCONNECTED';
    UPDATE numbers.inventory i SET status = 'ACTIVE'
    FROM numbers.port_request_numbers p
    WHERE p.port_request_id = NEW.id AND p.number = i.number;
    INSERT INTO numbers.did_assignments (account_id, inventory_id, number, activated_at, number_rate_id,
                                         monthly_charge, setup_charge)
    SELECT NEW.account_id, i.id, i.number, now(), c.number_rate_id, c.monthly_charge, c.port_in_fee
    FROM numbers.port_request_numbers p JOIN numbers.inventory i ON i.number = p.number
    LEFT JOIN LATERAL numbers.number_charges(NEW.account_id, i.number_type, now()) AS c ON true
    WHERE p.port_request_id = NEW.id;
    INSERT INTO numbers.dids (account_id, inventory_id, number, voice_enabled, activated_at, metadata)
    SELECT NEW.account_id, i.id, i.number, false, now(), jsonb_build_object('port_request_id', NEW.id)
    FROM numbers.port_request_numbers p JOIN numbers.inventory i ON i.number = p.number
    WHERE p.port_request_id = NEW.id;
    UPDATE numbers.port_request_numbers p SET status = 'PORTED', inventory_id = i.id
    FROM numbers.inventory i
    WHERE p.port_request_id = NEW.id AND i.number = p.number;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION numbers.port_requests_complete() IS
    'Trigger: on COMPLETED the ported numbers become ACTIVE inventory and DIDs of the account (same transaction); '
    'on REJECTED/CANCELLED the pending numbers follow.';

CREATE TRIGGER port_requests_complete_trg
    AFTER UPDATE OF status ON numbers.port_requests
    FOR EACH ROW WHEN (NEW.status IN ('COMPLETED', 'REJECTED', 'CANCELLED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION numbers.port_requests_complete();

-- ---------------------------------------------------------------------------------------------
-- Search (warp.numbers.service.search_available, GET /v1/available-numbers): partial indexes on the
-- AVAILABLE rows, each ending with the number under COLLATE "C" (E.164 is '+' and digits, so C order is
-- numeric order and LIKE 'prefix%' is an index range): an equality filter plus ORDER BY number LIMIT n is
-- one index range read without a sort. npa / npanxx are number prefixes. `contains` uses the trigram
-- index when the pattern has a run of three digits. Measured in bench/numbers_search.py.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX inventory_available_number_idx ON numbers.inventory (number_type, number COLLATE "C")
    WHERE status = 'AVAILABLE';
CREATE INDEX inventory_available_state_idx ON numbers.inventory (number_type, state, number COLLATE "C")
    WHERE status = 'AVAILABLE';
CREATE INDEX inventory_available_rate_center_idx ON numbers.inventory (number_type, rate_center, number COLLATE "C")
    WHERE status = 'AVAILABLE';
CREATE INDEX inventory_available_lata_idx ON numbers.inventory (number_type, lata, number COLLATE "C")
    WHERE status = 'AVAILABLE';
CREATE INDEX inventory_available_number_trgm_idx ON numbers.inventory USING gin (number gin_trgm_ops)
    WHERE status = 'AVAILABLE';

ALTER FUNCTION numbers.acting_account(uuid) OWNER TO warp_owner;
ALTER FUNCTION numbers.lock_inventory(text[]) OWNER TO warp_owner;
ALTER FUNCTION numbers.reserve_number(text[], interval, uuid) OWNER TO warp_owner;
ALTER FUNCTION numbers.cleanup_expired_reservations() OWNER TO warp_owner;
ALTER FUNCTION numbers.recycle_aged_numbers() OWNER TO warp_owner;
ALTER FUNCTION numbers.order_numbers(text[], uuid, uuid) OWNER TO warp_owner;
ALTER FUNCTION numbers.release_did(text, interval) OWNER TO warp_owner;
ALTER FUNCTION numbers.dids_record_e911_exemption() OWNER TO warp_owner;
ALTER FUNCTION numbers.port_requests_complete() OWNER TO warp_owner;
REVOKE EXECUTE ON FUNCTION numbers.lock_inventory(text[]) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Reservation privacy: the inventory is a REFERENCE table (every tenant searches it), but who holds a
-- reservation is the holder's business. warp_app / warp_readonly may read every column except
-- reserved_by_account_id (column privileges; staff, as warp_staff, keep the whole table); a tenant sees
-- its own reservations through numbers.my_reservations().

REVOKE SELECT ON numbers.inventory FROM warp_app, warp_readonly;
GRANT SELECT (id, number, number_type, status, npa, nxx, rate_center, state, lata, ocn, country, features,
              reserved_at, reservation_expires_at, aging_expires_at, status_changed_at, metadata, created_at,
              updated_at)
    ON numbers.inventory TO warp_app, warp_readonly;

CREATE FUNCTION numbers.my_reservations()
    RETURNS TABLE (number varchar, account_id uuid, reserved_at timestamptz, reservation_expires_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    SELECT i.number, i.reserved_by_account_id, i.reserved_at, i.reservation_expires_at
    FROM numbers.inventory i
    WHERE i.status = 'RESERVED' AND i.reservation_expires_at > now()
      AND (accounts.is_staff() OR i.reserved_by_account_id = ANY (accounts.visible_account_ids()))
    ORDER BY i.number
$$;
COMMENT ON FUNCTION numbers.my_reservations() IS
    'Live reservations held by the tenant (and its descendants; all for staff). The only way a tenant reads '
    'numbers.inventory.reserved_by_account_id, which is not granted to warp_app/warp_readonly.';
ALTER FUNCTION numbers.my_reservations() OWNER TO warp_owner;
ALTER FUNCTION numbers.number_charges(uuid, text, timestamptz) OWNER TO warp_owner;
