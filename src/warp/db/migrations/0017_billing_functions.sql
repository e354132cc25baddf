-- billing: the ledger (one posting function, atomic debits with the prepaid credit limit, the
-- balance = sum(ledger) check, low-balance events), usage summaries, the invoice run (set-based:
-- items, taxes of the local tax engine, credits, totals), gapless invoice numbers, issue with the
-- immutability guard, payments applied FIFO, refunds and credit notes.

-- ---------------------------------------------------------------------------------------------
-- Tables

CREATE TABLE billing.invoice_number_counters (
    id          uuid        NOT NULL DEFAULT uuid_generate_v4(),
    year        integer     NOT NULL,
    last_issued integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoice_number_counters_pkey PRIMARY KEY (id),
    CONSTRAINT invoice_number_counters_year_key UNIQUE (year),
    CONSTRAINT invoice_number_counters_year_check CHECK (year BETWEEN 2000 AND 9999),
    CONSTRAINT invoice_number_counters_last_issued_check CHECK (last_issued >= 0)
);
COMMENT ON TABLE billing.invoice_number_counters IS 'Last invoice number issued per year. Issuing locks the year''s row (not a sequence), so numbers have no gaps: a rolled-back issue rolls the counter back too.';
CREATE TRIGGER invoice_number_counters_updated_at_trg BEFORE UPDATE ON billing.invoice_number_counters
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.billing_events (
    id           uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id   uuid        NOT NULL,
    event_type   varchar(32) NOT NULL,
    payload      jsonb       NOT NULL DEFAULT '{}',
    status       varchar(16) NOT NULL DEFAULT 'PENDING',
    delivered_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT billing_events_pkey PRIMARY KEY (id),
    CONSTRAINT billing_events_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT billing_events_event_type_check
        CHECK (event_type IN ('balance.low', 'invoice.issued', 'payment.applied', 'payment.refunded')),
    CONSTRAINT billing_events_status_check
        CHECK (status IN ('PENDING', 'QUEUED', 'NO_ROUTE', 'DELIVERED', 'FAILED'))
);
CREATE INDEX billing_events_account_id_idx ON billing.billing_events (account_id, created_at);
CREATE INDEX billing_events_status_idx ON billing.billing_events (created_at) WHERE status IN ('PENDING', 'QUEUED');
COMMENT ON TABLE billing.billing_events IS 'Billing events (low balance crossed, invoice issued, payment applied or refunded), written in the transaction that caused them and queued in that same transaction on the durable webhook outbox (messaging.webhook_events, same id) of the account''s default route; status follows the delivery (QUEUED, DELIVERED, FAILED) or is NO_ROUTE when the account has no webhook.';
COMMENT ON COLUMN billing.billing_events.id IS 'Stable event id: also the id of the messaging.webhook_events row that delivers it and the payload id receivers deduplicate on.';
CREATE TRIGGER billing_events_updated_at_trg BEFORE UPDATE ON billing.billing_events
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.cycle_runs (
    id           uuid          NOT NULL DEFAULT uuid_generate_v4(),
    period_start date          NOT NULL,
    period_end   date          NOT NULL,
    status       varchar(16)   NOT NULL DEFAULT 'PENDING',
    attempts     integer       NOT NULL DEFAULT 0,
    invoices     integer       NOT NULL DEFAULT 0,
    issued       integer       NOT NULL DEFAULT 0,
    total        decimal(12,2) NOT NULL DEFAULT 0,
    worker       text,
    last_error   text,
    started_at   timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz   NOT NULL DEFAULT now(),
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT cycle_runs_pkey PRIMARY KEY (id),
    CONSTRAINT cycle_runs_period_start_key UNIQUE (period_start, period_end),
    CONSTRAINT cycle_runs_period_end_check CHECK (period_end >= period_start),
    CONSTRAINT cycle_runs_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
    CONSTRAINT cycle_runs_attempts_check CHECK (attempts >= 0 AND invoices >= 0 AND issued >= 0)
);
COMMENT ON TABLE billing.cycle_runs IS 'One row per ended billing cycle (calendar month) the cycle-end worker invoiced or is to invoice. A worker holds the row lock (FOR UPDATE SKIP LOCKED) for the whole run, so two workers never run one cycle at once; COMPLETED cycles are not run again.';
CREATE TRIGGER cycle_runs_updated_at_trg BEFORE UPDATE ON billing.cycle_runs
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

SELECT accounts.secure_table('billing.cycle_runs', 'STAFF_ONLY');
SELECT audit.attach_audit('billing.cycle_runs');
SELECT accounts.secure_table('billing.invoice_number_counters', 'STAFF_ONLY');
SELECT audit.attach_audit('billing.invoice_number_counters');
SELECT accounts.secure_table('billing.billing_events', 'TENANT');
-- Not row-audited: an outbox (an invoice run writes one event per invoice and then marks it queued), like
-- messaging.webhook_events; what it reports (invoices, payments, balances) is audited at its source.

-- Invoice CREDIT lines name the credit they consume (issue decrements its remaining amount).
ALTER TABLE billing.invoice_items ADD COLUMN credit_id uuid;
ALTER TABLE billing.credits ADD CONSTRAINT credits_id_account_id_key UNIQUE (id, account_id);
ALTER TABLE billing.invoice_items ADD CONSTRAINT invoice_items_credit_id_fkey FOREIGN KEY (credit_id, account_id)
    REFERENCES billing.credits (id, account_id) ON DELETE RESTRICT;
CREATE INDEX invoice_items_credit_id_idx ON billing.invoice_items (credit_id, account_id);
ALTER TABLE billing.invoice_items ADD CONSTRAINT invoice_items_credit_id_check
    CHECK (item_type <> 'CREDIT' OR (credit_id IS NOT NULL AND amount <= 0));
COMMENT ON COLUMN billing.invoice_items.credit_id IS 'For CREDIT lines: the billing.credits row consumed when the invoice is issued.';

-- ---------------------------------------------------------------------------------------------
-- Ledger: every balance change goes through billing.post_entry (or, for the CDR rating statement,
-- the same ledger-row-plus-balance-update in one statement). Low-balance events come from a trigger
-- on account_balance, so every path (CDR, MDR, debit, invoice, payment) raises them.

CREATE FUNCTION billing.post_entry(p_account_id uuid, p_entry_type text, p_amount numeric, p_source_type text,
                                   p_source_id uuid, p_description text, p_enforce_limit boolean DEFAULT false)
    RETURNS numeric
    LANGUAGE plpgsql
AS $$
DECLARE
    v_after numeric;
BEGIN
    IF p_amount IS NULL THEN
        RAISE EXCEPTION 'amount: required' USING ERRCODE = 'not_null_violation';
    END IF;
    INSERT INTO billing.account_balance (account_id) VALUES (p_account_id) ON CONFLICT (account_id) DO NOTHING;
    -- One statement: the row lock and the limit check see the latest committed balance (READ COMMITTED
    -- re-evaluates the WHERE on the newest row version after waiting), so concurrent debits serialise.
    UPDATE billing.account_balance b SET balance = b.balance + p_amount
    WHERE b.account_id = p_account_id
      AND (NOT p_enforce_limit OR p_amount >= 0 OR b.billing_cycle <> 'PREPAID'
           OR b.balance + p_amount >= -b.credit_limit)
    RETURNING b.balance INTO v_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'balance: prepaid funds (balance + credit limit) do not cover % for account %',
            -p_amount, p_account_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'account_balance_funds_check';
    END IF;
    INSERT INTO billing.balance_ledger (account_id, entry_type, amount, balance_after, source_type, source_id,
                                        description)
    VALUES (p_account_id, p_entry_type, p_amount, v_after, p_source_type, p_source_id, p_description);
    RETURN v_after;
END
$$;
COMMENT ON FUNCTION billing.post_entry(uuid, text, numeric, text, uuid, text, boolean) IS
    'Moves an account balance by p_amount (signed) and writes its ledger row, atomically; returns the balance '
    'after. With p_enforce_limit a prepaid account never goes below -credit_limit: the debit that would '
    'cross it raises check_violation (constraint account_balance_funds_check) and changes nothing.';

CREATE FUNCTION billing.debit(p_account_id uuid, p_amount numeric, p_source_type text, p_source_id uuid,
                              p_description text DEFAULT NULL)
    RETURNS numeric
    LANGUAGE plpgsql
AS $$
BEGIN
    IF p_amount IS NULL OR p_amount < 0 THEN
        RAISE EXCEPTION 'amount: a debit is a non-negative amount, got %', p_amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'balance_ledger_amount_check';
    END IF;
    RETURN billing.post_entry(p_account_id, 'CHARGE', -p_amount, p_source_type, p_source_id, p_description, true);
END
$$;
COMMENT ON FUNCTION billing.debit(uuid, numeric, text, uuid, text) IS
    'Charges p_amount (>= 0) to an account through the ledger; refused (account_balance_funds_check) when a '
    'prepaid account would go below -credit_limit. The send path of messages uses it.';

CREATE FUNCTION billing.check_ledger(p_account_id uuid DEFAULT NULL)
    RETURNS TABLE (account_id uuid, balance numeric, ledger_sum numeric, difference numeric)
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(b.account_id, l.account_id), coalesce(b.balance, 0), coalesce(l.total, 0),
           coalesce(b.balance, 0) - coalesce(l.total, 0)
    FROM (SELECT x.account_id, x.balance FROM billing.account_balance x
          WHERE p_account_id IS NULL OR x.account_id = p_account_id) AS b
    FULL JOIN (SELECT y.account_id, sum(y.amount) AS total FROM billing.balance_ledger y
               WHERE p_account_id IS NULL OR y.account_id = p_account_id GROUP BY y.account_id) AS l
           ON l.account_id = b.account_id
    WHERE coalesce(b.balance, 0) <> coalesce(l.total, 0)
$$;
COMMENT ON FUNCTION billing.check_ledger(uuid) IS
    'Accounts whose balance differs from the sum of their ledger (no rows: the invariant holds).';

CREATE FUNCTION billing.account_balance_low_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.low_balance_threshold IS NOT NULL AND NEW.balance < NEW.low_balance_threshold
       AND OLD.balance >= NEW.low_balance_threshold THEN
        NEW.last_low_balance_alert_at := now();
        INSERT INTO billing.billing_events (account_id, event_type, payload)
        VALUES (NEW.account_id, 'balance.low',
                jsonb_build_object('account_id', NEW.account_id, 'balance', round(NEW.balance, 2)::text,
                                   'threshold', NEW.low_balance_threshold::text,
                                   'credit_limit', NEW.credit_limit::text, 'currency', NEW.currency));
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION billing.account_balance_low_trg() IS
    'When a balance crosses below its low-balance threshold (not while it stays below), writes a balance.low '
    'event to the billing outbox and stamps last_low_balance_alert_at.';
CREATE TRIGGER account_balance_low_trg BEFORE UPDATE OF balance ON billing.account_balance
    FOR EACH ROW EXECUTE FUNCTION billing.account_balance_low_trg();

-- ---------------------------------------------------------------------------------------------
-- Billing events go out through the durable webhook outbox of messaging (messaging.webhook_events,
-- delivered, retried and signed by warp.workers.webhooks): queued in the transaction that wrote
-- them, set-based per statement, to the account's default route (did_id NULL) status URL, with the
-- same id; the delivery outcome flows back to billing_events.status.

CREATE FUNCTION billing.billing_events_queue_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    WITH routes AS (
        SELECT DISTINCT ON (r.account_id) r.account_id, coalesce(r.status_webhook_url, r.webhook_url) AS url,
               r.webhook_secret_ref
        FROM messaging.inbound_routes r
        WHERE r.did_id IS NULL AND r.enabled AND coalesce(r.status_webhook_url, r.webhook_url) IS NOT NULL
          AND r.account_id IN (SELECT n.account_id FROM new_events n)
        ORDER BY r.account_id, r.created_at
    ),
    queued AS (
        INSERT INTO messaging.webhook_events (id, account_id, event_type, target_url, secret_ref, payload,
                                              next_attempt_at, created_at)
        SELECT n.id, n.account_id, n.event_type, r.url, r.webhook_secret_ref,
               jsonb_build_object('id', n.id, 'type', n.event_type,
                                  'created_at', to_char(n.created_at AT TIME ZONE 'UTC',
                                                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                  'data', n.payload),
               n.created_at, n.created_at
        FROM new_events n JOIN routes r ON r.account_id = n.account_id
        WHERE n.status = 'PENDING'
        ON CONFLICT ON CONSTRAINT webhook_events_pkey DO NOTHING
        RETURNING id
    )
    UPDATE billing.billing_events e
    SET status = CASE WHEN e.id IN (SELECT q.id FROM queued q) THEN 'QUEUED' ELSE 'NO_ROUTE' END
    WHERE e.id IN (SELECT n.id FROM new_events n WHERE n.status = 'PENDING');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION billing.billing_events_queue_trg() IS
    'After an INSERT into billing.billing_events (one statement, any number of rows): queues each new event on '
    'messaging.webhook_events (same id; payload {id, type, created_at, data}) for the account''s default route '
    '(status_webhook_url, else webhook_url) and marks it QUEUED, or NO_ROUTE when the account has none.';
CREATE TRIGGER billing_events_queue_trg AFTER INSERT ON billing.billing_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing.billing_events_queue_trg();

CREATE FUNCTION billing.webhook_outcome_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE billing.billing_events e
    SET status = CASE NEW.status WHEN 'DELIVERED' THEN 'DELIVERED' ELSE 'FAILED' END,
        delivered_at = NEW.delivered_at
    WHERE e.id = NEW.id AND e.status IN ('QUEUED', 'PENDING');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION billing.webhook_outcome_trg() IS
    'When the webhook outbox row of a billing event ends (DELIVERED, or FAILED/EXPIRED after its retries), the '
    'billing event takes that outcome (DELIVERED with its delivered_at, or FAILED).';
CREATE TRIGGER webhook_events_billing_outcome_trg AFTER UPDATE OF status ON messaging.webhook_events
    FOR EACH ROW
    WHEN (NEW.mdr_id IS NULL AND NEW.status IN ('DELIVERED', 'FAILED', 'EXPIRED')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION billing.webhook_outcome_trg();

-- ---------------------------------------------------------------------------------------------
-- Usage summaries: rated CDRs by jurisdiction, charged MDRs by type and direction, DIDs by number type
-- (DID-days active in the period; amount = monthly charge prorated by days active).

CREATE FUNCTION billing.period_bounds(p_start date, p_end date, OUT ts_from timestamptz, OUT ts_to timestamptz,
                                      OUT days integer)
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT p_start::timestamp AT TIME ZONE 'UTC', (p_end + 1)::timestamp AT TIME ZONE 'UTC', p_end - p_start + 1
$$;
COMMENT ON FUNCTION billing.period_bounds(date, date) IS
    'A billing period [p_start, p_end] (dates, inclusive) as UTC instants [ts_from, ts_to) and its day count.';

CREATE FUNCTION billing.did_days(p_activated timestamptz, p_disconnected timestamptz, p_from timestamptz,
                                 p_to timestamptz)
    RETURNS integer
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT greatest(ceil(extract(epoch FROM least(coalesce(p_disconnected, p_to), p_to)
                                            - greatest(p_activated, p_from)) / 86400.0), 0)::integer
$$;
COMMENT ON FUNCTION billing.did_days(timestamptz, timestamptz, timestamptz, timestamptz) IS
    'Days a number was held within [p_from, p_to): a started day counts as a day.';

CREATE FUNCTION billing.compute_usage(p_start date, p_end date, p_account_id uuid DEFAULT NULL,
                                      p_snapshot pg_snapshot DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    b record;
    n integer;
BEGIN
    SELECT * INTO b FROM billing.period_bounds(p_start, p_end);
    DELETE FROM billing.usage_summary u
    WHERE u.period_start = p_start AND u.period_end = p_end AND (p_account_id IS NULL OR u.account_id = p_account_id);
    INSERT INTO billing.usage_summary (account_id, period_start, period_end, usage_type, category, event_count,
                                       quantity, unit, amount, cost, computed_at)
    SELECT e.account_id, p_start, p_end, 'VOICE', e.jurisdiction, count(*),
           round(sum(e.billable_seconds) / 60.0, 6), 'MINUTE', coalesce(sum(e.customer_charge), 0),
           sum(e.vendor_cost), now()
    FROM cdr.enriched_cdr e
    WHERE e.start_time >= b.ts_from AND e.start_time < b.ts_to AND e.rating_status = 'RATED'
      AND e.account_id IS NOT NULL AND (p_account_id IS NULL OR e.account_id = p_account_id)
      AND (p_snapshot IS NULL OR pg_visible_in_snapshot(e.billing_xid, p_snapshot))
    GROUP BY e.account_id, e.jurisdiction
    UNION ALL
    SELECT m.account_id, p_start, p_end, 'MESSAGING', m.message_type || '_' || m.direction, count(*),
           sum(CASE WHEN m.message_type = 'SMS' THEN m.segments ELSE 1 END),
           CASE WHEN m.message_type = 'SMS' THEN 'SEGMENT' ELSE 'MESSAGE' END,
           sum(m.charge), sum(m.vendor_cost), now()
    FROM messaging.mdr m
    WHERE m.created_at >= b.ts_from AND m.created_at < b.ts_to AND m.charge IS NOT NULL
      AND (p_account_id IS NULL OR m.account_id = p_account_id)
      AND (p_snapshot IS NULL OR pg_visible_in_snapshot(m.billing_xid, p_snapshot))
    GROUP BY m.account_id, m.message_type, m.direction
    UNION ALL
    SELECT d.account_id, p_start, p_end, 'DID', i.number_type, count(DISTINCT d.inventory_id),
           sum(billing.did_days(d.activated_at, d.disconnected_at, b.ts_from, b.ts_to)), 'DID_DAY',
           coalesce(sum(round(coalesce(d.monthly_charge, 0)
                              * billing.did_days(d.activated_at, d.disconnected_at, b.ts_from, b.ts_to)
                              / b.days, 6)), 0),
           NULL, now()
    FROM numbers.did_assignments d
    JOIN numbers.inventory i ON i.id = d.inventory_id
    WHERE d.activated_at < b.ts_to AND (d.disconnected_at IS NULL OR d.disconnected_at > b.ts_from)
      AND (p_account_id IS NULL OR d.account_id = p_account_id)
    GROUP BY d.account_id, i.number_type;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION billing.compute_usage(date, date, uuid, pg_snapshot) IS
    'Recomputes billing.usage_summary for a period (all accounts or one): voice minutes and charges by '
    'jurisdiction from rated CDRs, messaging by type_direction from charged MDRs, DID-days and prorated '
    'monthly charges by number type from numbers.did_assignments. With p_snapshot, only the CDRs/MDRs whose '
    'billing_xid is visible in it (what an invoice built with that snapshot bills). Returns the rows written.';

-- ---------------------------------------------------------------------------------------------
-- Late usage: CDRs and MDRs of a period rated (or charged) after that period's invoice was built.
--
-- Which usage an invoice bills is decided by transaction visibility, not by timestamps: every CDR/MDR
-- carries billing_xid, the transaction that wrote its current rating/charge (column default on insert,
-- billing.usage_rerated_trg on a change), and every invoice stores usage_snapshot, the snapshot of its
-- last build. An invoice bills, for its own period and for each earlier period it has late-usage lines
-- for (items whose period_start is before the invoice's), exactly the rows of that usage type visible in
-- its snapshot that no other non-draft invoice billed. A row rated while a run is in progress is either
-- visible in the run's snapshot (committed before it: on this invoice) or not (in progress or later:
-- late usage of a later invoice), whatever the order of the commits and the rating timestamps.
-- Invoice runs and issues serialise on one advisory lock, so two of them never bill the same row.
-- Re-rating usage an issued invoice billed is refused (billing.usage_rerated_trg; cdr rerate skips and
-- reports those CDRs): the correction of billed usage is a credit note or an adjustment, never a
-- silent change.

CREATE FUNCTION billing.usage_lock_key() RETURNS bigint
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT hashtextextended('billing.invoice_usage', 0)
$$;
COMMENT ON FUNCTION billing.usage_lock_key() IS
    'Key of the advisory lock over which usage is billed (billing.usage_lock, billing.usage_rerated_trg).';

CREATE FUNCTION billing.usage_lock() RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    v_seen xid8;
BEGIN
    PERFORM pg_advisory_xact_lock(billing.usage_lock_key());
    -- Transaction ids are this server's: a physical copy (replica, PITR, pg_upgrade) keeps the counter,
    -- a logical copy (pg_dump/pg_restore, logical replication) starts a new one, and then every stored
    -- billing_xid and usage_snapshot compares wrongly (usage of before the copy would look unwritten,
    -- usage written after it already billed). Refuse rather than bill wrong.
    SELECT greatest(
        (SELECT max(pg_snapshot_xmax(i.usage_snapshot)) FROM billing.invoices i WHERE i.usage_snapshot IS NOT NULL),
        (SELECT e.billing_xid FROM cdr.enriched_cdr e ORDER BY e.billing_xid DESC LIMIT 1),
        (SELECT m.billing_xid FROM messaging.mdr m ORDER BY m.billing_xid DESC LIMIT 1))
    INTO v_seen;
    IF v_seen > pg_current_xact_id() THEN
        RAISE EXCEPTION 'billing: stored transaction ids reach % but this server is at %: the database is a logical '
            'copy of another server, and billed usage cannot be told from late usage', v_seen, pg_current_xact_id()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Before WARP writes usage, move this server''s transaction id epoch past the old '
                                'one (pg_resetwal -e %s on the stopped server): docs/operations.md, Backup and restore.',
                                floor(v_seen::text::numeric / 4294967296)::bigint + 1);
    END IF;
END
$$;
COMMENT ON FUNCTION billing.usage_lock() IS
    'Transaction advisory lock taken by billing.build_invoices and billing.issue_invoices before they decide '
    'which usage rows an invoice bills: invoice runs and issues serialise, so no usage row goes on two invoices; '
    'a re-rating (billing.usage_rerated_trg, shared) cannot overlap them either. Refuses when stored transaction '
    'ids are ahead of this server''s (a logical copy: object_not_in_prerequisite_state).';

CREATE FUNCTION billing.usage_billed(p_account_id uuid, p_usage_type text, p_at timestamptz, p_xid xid8)
    RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    -- Only invoices of the row's period or later can bill it (own period or late lines): usually none
    -- for usage being rated, found through invoices_status_idx.
    SELECT EXISTS (
        SELECT 1 FROM billing.invoices i
        JOIN billing.invoice_items it ON it.invoice_id = i.id AND it.account_id = i.account_id
        WHERE i.account_id = p_account_id AND i.status NOT IN ('DRAFT', 'VOID')
          AND i.period_end >= (p_at AT TIME ZONE 'UTC')::date
          AND it.item_type = p_usage_type
          AND it.period_start <= (p_at AT TIME ZONE 'UTC')::date AND it.period_end >= (p_at AT TIME ZONE 'UTC')::date
          AND (i.usage_snapshot IS NULL OR pg_visible_in_snapshot(p_xid, i.usage_snapshot)))
$$;
COMMENT ON FUNCTION billing.usage_billed(uuid, text, timestamptz, xid8) IS
    'Whether a usage row (account, VOICE or MESSAGING, its time, its billing_xid) is on a non-draft invoice: '
    'one with a line of that type for the row''s period (its own period or a late-usage line) whose build '
    'snapshot sees the row.';

CREATE FUNCTION billing.late_usage(p_snapshot pg_snapshot, p_before date, p_account_ids uuid[] DEFAULT NULL)
    RETURNS TABLE (account_id uuid, usage_type text, category text, period_start date, period_end date,
                   events bigint, quantity numeric, unit text, amount numeric)
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    p record;
BEGIN
    -- Per earlier period with a non-draft invoice (a DRAFT picks its usage up when it is regenerated): a row
    -- is invisible to a snapshot only if written at or after its xmax or by one of its in-progress
    -- transactions (xip), so only those rows can be late: an index range on billing_xid from the lowest
    -- xmax of the period's invoice snapshots, plus the few xip values. One statement per period, planned
    -- with its actual bounds (EXECUTE), so it is always those index look-ups, never a scan of the period.
    FOR p IN
        SELECT s.period_start, s.period_end, min(pg_snapshot_xmax(s.snap::pg_snapshot)) AS floor,
               coalesce(array_agg(DISTINCT x.xip) FILTER (WHERE x.xip IS NOT NULL), '{}') AS xips
        FROM (SELECT DISTINCT i.period_start, i.period_end, i.usage_snapshot::text AS snap
              FROM billing.invoices i
              WHERE i.status NOT IN ('DRAFT', 'VOID') AND i.period_end < p_before AND i.usage_snapshot IS NOT NULL
                AND (p_account_ids IS NULL OR i.account_id IN (SELECT unnest(p_account_ids)))) AS s
        LEFT JOIN LATERAL pg_snapshot_xip(s.snap::pg_snapshot) AS x (xip) ON true
        GROUP BY s.period_start, s.period_end
        ORDER BY s.period_start
    LOOP
        RETURN QUERY EXECUTE $q$
            WITH closed AS MATERIALIZED (
                SELECT i.account_id, i.usage_snapshot AS snap FROM billing.invoices i
                WHERE i.period_start = $3 AND i.period_end = $4 AND i.status NOT IN ('DRAFT', 'VOID')
                  AND i.usage_snapshot IS NOT NULL
                  AND ($7::uuid[] IS NULL OR i.account_id IN (SELECT unnest($7::uuid[])))
            ),
            rows AS (
                SELECT x.account_id, 'VOICE' AS usage_type, 'VOICE_' || x.jurisdiction AS category,
                       x.billable_seconds / 60.0 AS quantity, 'MINUTE' AS unit,
                       coalesce(x.customer_charge, 0) AS amount, x.start_time AS at, x.billing_xid
                FROM cdr.enriched_cdr x
                WHERE (x.billing_xid >= $2 OR x.billing_xid = ANY ($8)) AND x.start_time >= $5 AND x.start_time < $6
                  AND x.rating_status = 'RATED' AND x.account_id IS NOT NULL
                UNION ALL
                SELECT x.account_id, 'MESSAGING', x.message_type || '_' || x.direction,
                       CASE WHEN x.message_type = 'SMS' THEN x.segments ELSE 1 END,
                       CASE WHEN x.message_type = 'SMS' THEN 'SEGMENT' ELSE 'MESSAGE' END, x.charge, x.created_at,
                       x.billing_xid
                FROM messaging.mdr x
                WHERE (x.billing_xid >= $2 OR x.billing_xid = ANY ($8)) AND x.created_at >= $5 AND x.created_at < $6
                  AND x.charge IS NOT NULL
            ),
            -- The exact snapshot tests first, the per-row look-up of later invoices only for what is left.
            candidates AS MATERIALIZED (
                SELECT r.* FROM rows r JOIN closed c ON c.account_id = r.account_id
                WHERE pg_visible_in_snapshot(r.billing_xid, $1) AND NOT pg_visible_in_snapshot(r.billing_xid, c.snap)
            )
            SELECT r.account_id, r.usage_type, r.category, $3, $4, count(*), round(sum(r.quantity), 6), r.unit,
                   sum(r.amount)
            FROM candidates r
            WHERE NOT billing.usage_billed(r.account_id, r.usage_type, r.at, r.billing_xid)
            GROUP BY r.account_id, r.usage_type, r.category, r.unit
        $q$
        USING p_snapshot, p.floor, p.period_start, p.period_end, p.period_start::timestamp AT TIME ZONE 'UTC',
              (p.period_end + 1)::timestamp AT TIME ZONE 'UTC', p_account_ids, p.xips;
    END LOOP;
END
$$;
COMMENT ON FUNCTION billing.late_usage(pg_snapshot, date, uuid[]) IS
    'Late usage as seen by snapshot p_snapshot: rated CDRs and charged MDRs of periods ending before p_before '
    'whose account has a non-draft invoice for that period, that the snapshot sees and no non-draft invoice '
    'bills (billing.usage_billed); by account, type, category (VOICE_<jurisdiction>, <type>_<direction>) and '
    'period. Amounts unrounded.';

CREATE FUNCTION billing.usage_rerated_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    v_billed boolean;
BEGIN
    -- A re-rating must not overlap an invoice run: the run could bill the old version (visible in its
    -- snapshot) and the new one would then be late usage, billed again. Shared (re-ratings run together),
    -- and try-only: waiting here, after rating has locked prepaid balances the run's issue also locks,
    -- could deadlock.
    IF NOT pg_try_advisory_xact_lock_shared(billing.usage_lock_key()) THEN
        RAISE EXCEPTION '%.% %: an invoice run or issue is in progress; re-rate after it', TG_TABLE_SCHEMA,
            TG_TABLE_NAME, OLD.id USING ERRCODE = 'lock_not_available';
    END IF;
    IF TG_TABLE_SCHEMA = 'cdr' THEN
        v_billed := OLD.rating_status = 'RATED' AND OLD.account_id IS NOT NULL
                    AND billing.usage_billed(OLD.account_id, 'VOICE', OLD.start_time, OLD.billing_xid);
    ELSE
        v_billed := OLD.charge IS NOT NULL
                    AND billing.usage_billed(OLD.account_id, 'MESSAGING', OLD.created_at, OLD.billing_xid);
    END IF;
    IF v_billed THEN
        RAISE EXCEPTION '%.% % is billed on an issued invoice; its charge cannot change (correct it with a credit note)',
            TG_TABLE_SCHEMA, TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
    END IF;
    NEW.billing_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION billing.usage_rerated_trg() IS
    'Before a change to what a CDR or MDR bills (charge, rating status, account, jurisdiction, quantity): refused '
    'when an issued invoice bills the row (invoices_issued_immutable) and while an invoice run or issue holds '
    'billing.usage_lock (lock_not_available); otherwise billing_xid becomes the changing transaction, so the row '
    'is billed as it is now (on its draft, or as late usage).';
CREATE TRIGGER enriched_cdr_billing_xid_trg BEFORE UPDATE ON cdr.enriched_cdr
    FOR EACH ROW
    WHEN ((OLD.customer_charge, OLD.rating_status, OLD.account_id, OLD.jurisdiction, OLD.billable_seconds,
           OLD.start_time)
          IS DISTINCT FROM (NEW.customer_charge, NEW.rating_status, NEW.account_id, NEW.jurisdiction,
                            NEW.billable_seconds, NEW.start_time))
    EXECUTE FUNCTION billing.usage_rerated_trg();
CREATE TRIGGER mdr_billing_xid_trg BEFORE UPDATE ON messaging.mdr
    FOR EACH ROW
    WHEN ((OLD.charge, OLD.account_id, OLD.segments, OLD.message_type, OLD.direction, OLD.created_at)
          IS DISTINCT FROM (NEW.charge, NEW.account_id, NEW.segments, NEW.message_type, NEW.direction,
                            NEW.created_at))
    EXECUTE FUNCTION billing.usage_rerated_trg();

-- ---------------------------------------------------------------------------------------------
-- Invoices: immutability once issued.

CREATE FUNCTION billing.rls_refuses(p_table regclass, p_account_id uuid) RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT row_security_active(p_table) AND NOT (p_account_id = ANY (accounts.visible_account_ids()))
$$;
COMMENT ON FUNCTION billing.rls_refuses(regclass, uuid) IS
    'True when row-level security will refuse writing a row of p_account_id to p_table for the current role '
    '(the guards below then leave the refusal, insufficient_privilege, to the policy).';

CREATE FUNCTION billing.invoices_guard_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'DRAFT' THEN
            RAISE EXCEPTION 'invoice % is % and cannot be deleted', OLD.invoice_number, OLD.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'DRAFT' OR billing.rls_refuses(TG_RELID, NEW.account_id) THEN
        RETURN NEW;
    END IF;
    IF NEW.status = 'DRAFT'
       OR (NEW.account_id, NEW.invoice_number, NEW.period_start, NEW.period_end, NEW.currency, NEW.subtotal,
           NEW.tax_total, NEW.total, NEW.issue_date, NEW.due_date, NEW.issued_at, NEW.usage_snapshot::text)
          IS DISTINCT FROM
          (OLD.account_id, OLD.invoice_number, OLD.period_start, OLD.period_end, OLD.currency, OLD.subtotal,
           OLD.tax_total, OLD.total, OLD.issue_date, OLD.due_date, OLD.issued_at, OLD.usage_snapshot::text) THEN
        RAISE EXCEPTION 'invoice % is % and immutable (only payments, void and the document may change it)',
            OLD.invoice_number, OLD.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION billing.invoices_guard_trg() IS
    'An issued invoice keeps its number, period, amounts and dates; it cannot go back to DRAFT or be deleted.';
CREATE TRIGGER invoices_guard_trg BEFORE UPDATE OR DELETE ON billing.invoices
    FOR EACH ROW EXECUTE FUNCTION billing.invoices_guard_trg();

CREATE FUNCTION billing.invoice_items_guard_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    v_status text;
BEGIN
    IF billing.rls_refuses(TG_RELID, NEW.account_id) THEN
        RETURN NEW;
    END IF;
    SELECT i.status INTO v_status FROM billing.invoices i WHERE i.id = OLD.invoice_id;
    IF v_status IS DISTINCT FROM 'DRAFT' THEN
        RAISE EXCEPTION 'invoice is % and its items are immutable', v_status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
    END IF;
    IF NEW.invoice_id <> OLD.invoice_id THEN
        RAISE EXCEPTION 'invoice items cannot move between invoices'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION billing.invoice_items_guard_trg() IS 'Items are updated only while their invoice is a DRAFT.';
CREATE TRIGGER invoice_items_guard_trg BEFORE UPDATE ON billing.invoice_items
    FOR EACH ROW EXECUTE FUNCTION billing.invoice_items_guard_trg();

-- Inserts and deletes (an invoice run writes tens of thousands of lines) are checked once per statement
-- with a join over the transition table: a per-row lookup would run a plan cached while the table was
-- empty (a sequential scan) once per line, quadratic in the run's size.
CREATE FUNCTION billing.invoice_items_stmt_guard_trg() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT i.invoice_number, i.status INTO bad
        FROM (SELECT DISTINCT n.invoice_id FROM new_items n) AS n
        JOIN billing.invoices i ON i.id = n.invoice_id
        WHERE i.status <> 'DRAFT'
        LIMIT 1;
    ELSE
        -- Lines of a deleted (DRAFT) invoice go with it; an existing issued invoice keeps its lines.
        SELECT i.invoice_number, i.status INTO bad
        FROM (SELECT DISTINCT o.invoice_id FROM old_items o) AS o
        JOIN billing.invoices i ON i.id = o.invoice_id
        WHERE i.status <> 'DRAFT'
        LIMIT 1;
    END IF;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'invoice % is % and its items are immutable', bad.invoice_number, bad.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION billing.invoice_items_stmt_guard_trg() IS
    'Per statement: no line is added to or removed from an invoice that is not a DRAFT (rows an INSERT ... ON '
    'CONFLICT DO NOTHING skipped are not in the transition table, so they are not refused).';
CREATE TRIGGER invoice_items_insert_guard_trg AFTER INSERT ON billing.invoice_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION billing.invoice_items_stmt_guard_trg();
CREATE TRIGGER invoice_items_delete_guard_trg AFTER DELETE ON billing.invoice_items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION billing.invoice_items_stmt_guard_trg();

-- The audit trail of invoice lines: one audit.audit_log row per invoice and statement (record_id = the
-- invoice id; old_row/new_row = {"lines": [...every line, whole...]}), written set-based, instead of the
-- generic row trigger (1-3 ms per line on a busy machine: more than half of an invoice run). Same
-- content, same actor and request columns as audit.log_change.
CREATE FUNCTION billing.invoice_items_audit_trg() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    actor text := current_setting('warp.actor_id', true);
    actor_kind text := upper(coalesce(current_setting('warp.actor_type', true), ''));
    uuid_re constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
    v_actor_type text;
    v_actor_id uuid;
    v_request text := left(nullif(current_setting('warp.request_id', true), ''), 128);
BEGIN
    v_actor_type := CASE WHEN actor_kind IN ('USER', 'API_KEY', 'STAFF', 'SYSTEM') THEN actor_kind ELSE 'SYSTEM' END;
    v_actor_id := CASE WHEN actor ~ uuid_re THEN actor::uuid END;
    -- (Each transition table exists only for its events, hence one statement per event.)
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit.audit_log (schema_name, table_name, record_id, action, new_row, account_id, actor_type,
                                     actor_id, request_id)
        SELECT TG_TABLE_SCHEMA, TG_TABLE_NAME, x.invoice_id::text, TG_OP,
               jsonb_build_object('lines', jsonb_agg(to_jsonb(x) ORDER BY x.sort_order, x.id)),
               (array_agg(x.account_id))[1], v_actor_type, v_actor_id, v_request
        FROM new_items x GROUP BY x.invoice_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit.audit_log (schema_name, table_name, record_id, action, old_row, account_id, actor_type,
                                     actor_id, request_id)
        SELECT TG_TABLE_SCHEMA, TG_TABLE_NAME, x.invoice_id::text, TG_OP,
               jsonb_build_object('lines', jsonb_agg(to_jsonb(x) ORDER BY x.sort_order, x.id)),
               (array_agg(x.account_id))[1], v_actor_type, v_actor_id, v_request
        FROM old_items x GROUP BY x.invoice_id;
    ELSE
        INSERT INTO audit.audit_log (schema_name, table_name, record_id, action, old_row, new_row, account_id,
                                     actor_type, actor_id, request_id)
        SELECT TG_TABLE_SCHEMA, TG_TABLE_NAME, coalesce(o.invoice_id, n.invoice_id)::text, TG_OP,
               jsonb_build_object('lines', o.lines), jsonb_build_object('lines', n.lines),
               coalesce(o.account_id, n.account_id), v_actor_type, v_actor_id, v_request
        FROM (SELECT x.invoice_id, (array_agg(x.account_id))[1] AS account_id,
                     jsonb_agg(to_jsonb(x) ORDER BY x.sort_order, x.id) AS lines
              FROM old_items x GROUP BY x.invoice_id) AS o
        FULL JOIN (SELECT x.invoice_id, (array_agg(x.account_id))[1] AS account_id,
                          jsonb_agg(to_jsonb(x) ORDER BY x.sort_order, x.id) AS lines
                   FROM new_items x GROUP BY x.invoice_id) AS n
               ON n.invoice_id = o.invoice_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION billing.invoice_items_audit_trg() IS
    'Statement-level audit of billing.invoice_items: per statement, one audit.audit_log row per invoice touched '
    '(record_id = invoice id) with the whole lines before (old_row.lines) and after (new_row.lines).';
ALTER FUNCTION billing.invoice_items_audit_trg() OWNER TO warp_owner;
DROP TRIGGER invoice_items_audit_trg ON billing.invoice_items;
CREATE TRIGGER invoice_items_audit_insert_trg AFTER INSERT ON billing.invoice_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION billing.invoice_items_audit_trg();
CREATE TRIGGER invoice_items_audit_update_trg AFTER UPDATE ON billing.invoice_items
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION billing.invoice_items_audit_trg();
CREATE TRIGGER invoice_items_audit_delete_trg AFTER DELETE ON billing.invoice_items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION billing.invoice_items_audit_trg();

CREATE FUNCTION billing.calculate_invoice_total(p_invoice_id uuid)
    RETURNS TABLE (subtotal numeric, tax_total numeric, total numeric)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    inv record;
    s numeric;
    t numeric;
BEGIN
    SELECT i.status, i.subtotal, i.tax_total, i.total INTO inv FROM billing.invoices i WHERE i.id = p_invoice_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(it.amount) FILTER (WHERE it.item_type <> 'TAX'), 0),
           coalesce(sum(it.amount) FILTER (WHERE it.item_type = 'TAX'), 0)
    INTO s, t
    FROM billing.invoice_items it WHERE it.invoice_id = p_invoice_id;
    IF inv.status = 'DRAFT' THEN
        UPDATE billing.invoices i SET subtotal = s, tax_total = t, total = s + t WHERE i.id = p_invoice_id;
        RETURN QUERY SELECT s, t, s + t;
    ELSE
        -- Issued: amounts and items are frozen together, so the stored totals are the items' sums.
        RETURN QUERY SELECT inv.subtotal::numeric, inv.tax_total::numeric, inv.total::numeric;
    END IF;
END
$$;
COMMENT ON FUNCTION billing.calculate_invoice_total(uuid) IS
    'Subtotal (every non-tax line, credits included), tax (TAX lines) and total = their sum, from the invoice''s '
    'lines (each already rounded half-up to cents); stored on a DRAFT, the frozen values of an issued invoice.';

-- ---------------------------------------------------------------------------------------------
-- Fresh statistics for the invoice run: it writes usage summaries, invoices and lines in bulk and then
-- joins them; plans made on the statistics of before the run (often: empty tables) are badly wrong.

CREATE FUNCTION billing.analyze_run_tables() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
BEGIN
    ANALYZE billing.usage_summary;
    ANALYZE billing.invoices;
    ANALYZE billing.invoice_items;
END
$$;
COMMENT ON FUNCTION billing.analyze_run_tables() IS
    'ANALYZE of the tables an invoice run has just filled (usage_summary, invoices, invoice_items), inside the '
    'run''s transaction (its own rows are sampled). SECURITY DEFINER: ANALYZE needs the owner, the run is staff.';
ALTER FUNCTION billing.analyze_run_tables() OWNER TO warp_owner;
REVOKE ALL ON FUNCTION billing.analyze_run_tables() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing.analyze_run_tables() TO warp_staff;

-- ---------------------------------------------------------------------------------------------
-- The invoice run, in three set-based steps (the tax engine runs between 1 and 3):
--   1. billing.build_invoices: usage, one DRAFT per account and period (issued ones untouched),
--      usage/DID/fee lines;  2. taxes (billing.apply_local_taxes or a vendor);
--   3. billing.finish_invoices: credit lines, then totals.

CREATE FUNCTION billing.period_label(p_start date, p_end date) RETURNS text
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN extract(day FROM p_start) = 1 AND p_end = (date_trunc('month', p_start) + interval '1 month - 1 day')::date
                THEN to_char(p_start, 'YYYY-MM')
                ELSE to_char(p_start, 'YYYY-MM-DD') || ' to ' || to_char(p_end, 'YYYY-MM-DD') END
$$;
COMMENT ON FUNCTION billing.period_label(date, date) IS
    'A billing period for people: 2026-10 for a calendar month, else 2026-10-05 to 2026-11-04.';

CREATE FUNCTION billing.build_invoices(p_start date, p_end date, p_account_id uuid DEFAULT NULL)
    RETURNS TABLE (invoice_id uuid, account_id uuid, created boolean)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    b record;
    v_snap pg_snapshot;
    v_floor xid8;
BEGIN
    IF p_end < p_start THEN
        RAISE EXCEPTION 'period: end % is before start %', p_end, p_start USING ERRCODE = 'check_violation',
            CONSTRAINT = 'invoices_period_end_check';
    END IF;
    SELECT * INTO b FROM billing.period_bounds(p_start, p_end);
    -- One run (or issue) at a time decides which usage is billed; then the snapshot this build bills
    -- (taken after the lock, so it sees what an earlier run or issue committed). Usage is filtered by it
    -- explicitly, so what later statements of this run see (fresher snapshots) does not matter.
    PERFORM billing.usage_lock();
    v_snap := pg_current_snapshot();
    PERFORM billing.compute_usage(p_start, p_end, p_account_id, v_snap);

    DROP TABLE IF EXISTS pg_temp.inv_scope, pg_temp.inv_new, pg_temp.inv_drafts, pg_temp.inv_lines,
        pg_temp.inv_late;
    CREATE TEMP TABLE inv_late ON COMMIT DROP AS
    SELECT * FROM billing.late_usage(v_snap, p_start, CASE WHEN p_account_id IS NOT NULL THEN ARRAY[p_account_id] END);

    CREATE TEMP TABLE inv_scope ON COMMIT DROP AS
    SELECT DISTINCT u.account_id FROM billing.usage_summary u
    WHERE u.period_start = p_start AND u.period_end = p_end
      AND (p_account_id IS NULL OR u.account_id = p_account_id)
    UNION
    SELECT l.account_id FROM inv_late l
    UNION
    SELECT c.account_id FROM billing.credits c
    WHERE c.status = 'OPEN' AND c.remaining_amount > 0 AND c.issued_at < b.ts_to
      AND (c.expires_at IS NULL OR c.expires_at > b.ts_from)
      AND (p_account_id IS NULL OR c.account_id = p_account_id)
      AND EXISTS (SELECT 1 FROM billing.usage_summary u WHERE u.account_id = c.account_id
                  AND u.period_start = p_start AND u.period_end = p_end);

    CREATE TEMP TABLE inv_new ON COMMIT DROP AS
    WITH ins AS (
        INSERT INTO billing.invoices (account_id, period_start, period_end, currency, usage_snapshot)
        SELECT s.account_id, p_start, p_end, coalesce(ab.currency, 'USD'), v_snap
        FROM inv_scope s LEFT JOIN billing.account_balance ab ON ab.account_id = s.account_id
        ON CONFLICT ON CONSTRAINT invoices_account_id_period_key DO NOTHING
        RETURNING id
    )
    SELECT id FROM ins;

    CREATE TEMP TABLE inv_drafts ON COMMIT DROP AS
    SELECT i.id, i.account_id FROM billing.invoices i
    WHERE i.period_start = p_start AND i.period_end = p_end AND i.status = 'DRAFT'
      AND (p_account_id IS NULL OR i.account_id = p_account_id)
      AND (i.account_id IN (SELECT s.account_id FROM inv_scope s) OR i.id IN (SELECT n.id FROM inv_new n));
    PERFORM 1 FROM billing.invoices i JOIN inv_drafts d ON d.id = i.id ORDER BY i.id FOR UPDATE OF i;
    ANALYZE inv_drafts;
    -- A regenerated draft bills what this build's snapshot sees. Its stored snapshot is replaced only when
    -- that changes something: when a usage row of its account was written since (billing_xid at or after
    -- the old snapshot's xmin; older rows are visible to both). A re-run over unchanged usage writes no
    -- invoice row (row triggers, audit), like it writes no line.
    SELECT min(pg_snapshot_xmin(i.usage_snapshot)) INTO v_floor
    FROM billing.invoices i JOIN inv_drafts d ON d.id = i.id;
    DROP TABLE IF EXISTS pg_temp.inv_recent;
    CREATE TEMP TABLE inv_recent ON COMMIT DROP AS
    SELECT x.account_id, max(x.billing_xid) AS last_xid
    FROM (SELECT e.account_id, e.billing_xid FROM cdr.enriched_cdr e WHERE e.billing_xid >= v_floor
          UNION ALL
          SELECT m.account_id, m.billing_xid FROM messaging.mdr m WHERE m.billing_xid >= v_floor) AS x
    GROUP BY x.account_id;
    UPDATE billing.invoices i SET usage_snapshot = v_snap
    FROM inv_drafts d LEFT JOIN inv_recent r ON r.account_id = d.account_id
    WHERE d.id = i.id AND d.id NOT IN (SELECT n.id FROM inv_new n)
      AND (i.usage_snapshot IS NULL OR r.last_xid >= pg_snapshot_xmin(i.usage_snapshot));

    -- The lines the drafts should have; below, only those that differ from what is there are written, so a
    -- re-run over unchanged usage writes no line at all (no row triggers, no audit rows).
    CREATE TEMP TABLE inv_lines (invoice_id, account_id, item_type, category, description, quantity, unit,
                                 unit_rate, amount, tax_rate_id, period_start, period_end, sort_order) ON COMMIT DROP AS
    -- Voice by jurisdiction, messaging by type and direction: charges are summed unrounded, the line
    -- is rounded half-up to cents once.
    SELECT d.id, d.account_id, u.usage_type,
           CASE u.usage_type WHEN 'VOICE' THEN 'VOICE_' || u.category ELSE u.category END,
           CASE u.usage_type
               WHEN 'VOICE' THEN initcap(replace(lower(u.category), '_', '-')) || ' voice (' || u.event_count
                                 || ' calls)'
               ELSE split_part(u.category, '_', 1) || ' ' || lower(split_part(u.category, '_', 2))
                    || ' (' || u.event_count || ' messages)' END,
           u.quantity, u.unit,
           CASE WHEN u.quantity > 0 THEN round(u.amount / u.quantity, 6) END,
           round(u.amount, 2), NULL::uuid, p_start, p_end,
           CASE u.usage_type WHEN 'VOICE' THEN 10 ELSE 20 END
    FROM inv_drafts d
    JOIN billing.usage_summary u ON u.account_id = d.account_id AND u.period_start = p_start
         AND u.period_end = p_end AND u.usage_type IN ('VOICE', 'MESSAGING')
    UNION ALL
    -- Numbers: monthly charge prorated by days held in the period.
    SELECT d.id, d.account_id, 'DID_MONTHLY', u.category,
           CASE u.category WHEN 'DID' THEN 'Local numbers' WHEN 'TOLL_FREE' THEN 'Toll-free numbers'
                           ELSE 'Short codes' END
               || ' (' || u.event_count || ' numbers, ' || u.quantity::integer || ' number-days of ' || b.days || ')',
           round(u.quantity / b.days, 6), 'DID',
           CASE WHEN u.quantity > 0 THEN round(u.amount * b.days / u.quantity, 6) END,
           round(u.amount, 2), NULL::uuid, p_start, p_end, 30
    FROM inv_drafts d
    JOIN billing.usage_summary u ON u.account_id = d.account_id AND u.period_start = p_start
         AND u.period_end = p_end AND u.usage_type = 'DID' AND u.amount > 0
    UNION ALL
    -- One-time charges of numbers activated in the period: setup, or port-in fee for a ported number.
    SELECT d.id, d.account_id, f.kind, f.number_type,
           CASE f.kind WHEN 'PORT' THEN 'Port-in fees' ELSE 'Number setup fees' END || ' (' || f.n || ' numbers)',
           f.n, 'EACH', round(f.total / f.n, 6), round(f.total, 2), NULL::uuid, p_start, p_end,
           CASE f.kind WHEN 'SETUP' THEN 40 ELSE 41 END
    FROM inv_drafts d
    JOIN LATERAL (
        SELECT CASE WHEN EXISTS (SELECT 1 FROM numbers.port_request_numbers p
                                 WHERE p.account_id = a.account_id AND p.inventory_id = a.inventory_id
                                   AND p.status = 'PORTED')
                    THEN 'PORT' ELSE 'SETUP' END AS kind,
               i.number_type, count(*) AS n, sum(a.setup_charge) AS total
        FROM numbers.did_assignments a JOIN numbers.inventory i ON i.id = a.inventory_id
        WHERE a.account_id = d.account_id AND a.activated_at >= b.ts_from AND a.activated_at < b.ts_to
          AND a.setup_charge > 0
        GROUP BY 1, 2
    ) AS f ON true
    UNION ALL
    -- Late usage of earlier, already invoiced periods: its own lines, with the period it belongs to (the
    -- line's period_start/period_end), taxed like the same usage of this period (same type and category).
    SELECT d.id, d.account_id, l.usage_type, l.category,
           'Late usage of ' || billing.period_label(l.period_start, l.period_end) || ': '
               || CASE l.usage_type
                      WHEN 'VOICE' THEN initcap(replace(lower(substr(l.category, 7)), '_', '-')) || ' voice ('
                                        || l.events || ' calls)'
                      ELSE split_part(l.category, '_', 1) || ' ' || lower(split_part(l.category, '_', 2))
                           || ' (' || l.events || ' messages)' END,
           l.quantity, l.unit, CASE WHEN l.quantity > 0 THEN round(l.amount / l.quantity, 6) END,
           round(l.amount, 2), NULL::uuid, l.period_start, l.period_end,
           CASE l.usage_type WHEN 'VOICE' THEN 15 ELSE 25 END
    FROM inv_drafts d JOIN inv_late l ON l.account_id = d.account_id;
    ANALYZE inv_lines;

    DELETE FROM billing.invoice_items it USING inv_drafts d
    WHERE it.invoice_id = d.id AND it.item_type NOT IN ('TAX', 'CREDIT')  -- those are the next steps
      AND NOT EXISTS (SELECT 1 FROM inv_lines n
                      WHERE n.invoice_id = it.invoice_id
                        AND (n.item_type, n.category, n.description, n.quantity, n.unit, n.unit_rate, n.amount,
                           n.tax_rate_id, n.period_start, n.period_end, n.sort_order)
                          IS NOT DISTINCT FROM
                          (it.item_type, it.category, it.description, it.quantity, it.unit, it.unit_rate, it.amount,
                           it.tax_rate_id, it.period_start, it.period_end, it.sort_order));
    INSERT INTO billing.invoice_items (invoice_id, account_id, item_type, category, description, quantity, unit,
                                       unit_rate, amount, tax_rate_id, period_start, period_end, sort_order)
    SELECT n.* FROM inv_lines n
    WHERE NOT EXISTS (SELECT 1 FROM billing.invoice_items it
                      WHERE it.invoice_id = n.invoice_id
                        AND (n.item_type, n.category, n.description, n.quantity, n.unit, n.unit_rate, n.amount,
                           n.tax_rate_id, n.period_start, n.period_end, n.sort_order)
                          IS NOT DISTINCT FROM
                          (it.item_type, it.category, it.description, it.quantity, it.unit, it.unit_rate, it.amount,
                           it.tax_rate_id, it.period_start, it.period_end, it.sort_order));

    RETURN QUERY
        SELECT d.id, d.account_id, d.id IN (SELECT n.id FROM inv_new n) FROM inv_drafts d ORDER BY d.account_id;
END
$$;
COMMENT ON FUNCTION billing.build_invoices(date, date, uuid) IS
    'Step 1 of an invoice run: recompute usage, create the missing DRAFT invoice per account with usage (or '
    'late usage of earlier invoiced periods) in the period (never a second one: invoices_account_id_period_key), '
    'and rebuild the lines of every DRAFT in scope, late-usage lines included (issued invoices are left alone; '
    'only lines that change are written). The drafts store the build snapshot (usage_snapshot). Returns the '
    'drafts; taxes and finish_invoices follow.';

CREATE FUNCTION billing.tax_category(p_item_type text, p_category text) RETURNS text
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE p_item_type
        WHEN 'VOICE' THEN p_category
        WHEN 'MESSAGING' THEN 'MESSAGING'
        WHEN 'DID_MONTHLY' THEN 'SERVICE'
        WHEN 'SETUP' THEN 'SERVICE'
        WHEN 'PORT' THEN 'SERVICE'
        WHEN 'OTHER' THEN 'SERVICE'
    END
$$;
COMMENT ON FUNCTION billing.tax_category(text, text) IS
    'The tax base category (billing.tax_rates.applies_to) of an invoice line; NULL for taxes and credits.';

CREATE FUNCTION billing.apply_local_taxes(p_invoice_ids uuid[]) RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    n integer;
BEGIN
    DROP TABLE IF EXISTS pg_temp.inv_tax_lines;
    CREATE TEMP TABLE inv_tax_lines (invoice_id, account_id, item_type, category, description, quantity, unit,
                                     unit_rate, amount, tax_rate_id, period_start, period_end, sort_order)
        ON COMMIT DROP AS
    WITH bases AS MATERIALIZED (
        -- Each draft's taxable amounts by tax category, computed once (not per tax rate).
        SELECT it.invoice_id, billing.tax_category(it.item_type, it.category) AS cat, sum(it.amount) AS amount
        FROM billing.invoice_items it WHERE it.invoice_id = ANY (p_invoice_ids)
        GROUP BY 1, 2
    ),
    did_counts AS MATERIALIZED (
        SELECT i.id AS invoice_id, count(DISTINCT a.inventory_id) AS dids
        FROM billing.invoices i
        JOIN numbers.did_assignments a ON a.account_id = i.account_id
             AND a.activated_at < (i.period_end + 1)::timestamp AT TIME ZONE 'UTC'
             AND (a.disconnected_at IS NULL OR a.disconnected_at > i.period_start::timestamp AT TIME ZONE 'UTC')
        WHERE i.id = ANY (p_invoice_ids)
        GROUP BY i.id
    )
    SELECT x.id, x.account_id, 'TAX', x.tax_category,
           CASE WHEN x.calculation_type = 'PERCENTAGE'
                THEN x.name || ' (' || trim(trailing '.' FROM trim(trailing '0' FROM (x.rate * 100)::text))
                     || '% of ' || x.base || ')'
                WHEN x.calculation_type = 'PER_DID' THEN x.name || ' (' || x.dids || ' numbers)'
                ELSE x.name END,
           CASE x.calculation_type WHEN 'PER_DID' THEN x.dids ELSE 1 END,
           CASE x.calculation_type WHEN 'PER_DID' THEN 'DID' ELSE 'EACH' END,
           CASE x.calculation_type WHEN 'PERCENTAGE' THEN x.rate ELSE x.fixed_amount END,
           round(CASE x.calculation_type WHEN 'PERCENTAGE' THEN x.base * x.rate
                                         WHEN 'PER_DID' THEN x.dids * x.fixed_amount
                                         ELSE x.fixed_amount END, 2),
           x.tax_rate_id, x.period_start, x.period_end, 90
    FROM (
        SELECT i.id, i.account_id, i.period_start, i.period_end, t.id AS tax_rate_id, t.name, t.tax_category,
               t.calculation_type, t.rate, t.fixed_amount,
               coalesce(sum(b.amount) FILTER (WHERE b.cat = ANY (t.applies_to)), 0) AS base,
               coalesce(max(n.dids), 0) AS dids
        FROM billing.invoices i
        JOIN accounts.accounts acc ON acc.id = i.account_id AND NOT acc.tax_exempt
        JOIN billing.tax_rates t
          ON (t.jurisdiction_type = 'FEDERAL' AND t.jurisdiction_code = coalesce(acc.billing_country, 'US'))
          OR (t.jurisdiction_type = 'STATE'
              AND t.jurisdiction_code = coalesce(acc.billing_country, 'US') || '-' || acc.billing_state)
        LEFT JOIN bases b ON b.invoice_id = i.id
        LEFT JOIN did_counts n ON n.invoice_id = i.id
        WHERE i.id = ANY (p_invoice_ids) AND i.status = 'DRAFT'
          AND t.effective_date <= i.period_end AND (t.expires_date IS NULL OR t.expires_date > i.period_end)
        GROUP BY i.id, i.account_id, i.period_start, i.period_end, t.id, t.name, t.tax_category,
                 t.calculation_type, t.rate, t.fixed_amount
    ) AS x
    WHERE CASE x.calculation_type WHEN 'PERCENTAGE' THEN x.base > 0
                                  WHEN 'PER_DID' THEN x.dids > 0
                                  ELSE true END;
    GET DIAGNOSTICS n = ROW_COUNT;
    ANALYZE inv_tax_lines;
    -- Only the TAX lines that change are written (see build_invoices).
    DELETE FROM billing.invoice_items it
    WHERE it.invoice_id = ANY (p_invoice_ids) AND it.item_type = 'TAX'
      AND NOT EXISTS (SELECT 1 FROM inv_tax_lines n
                      WHERE n.invoice_id = it.invoice_id
                        AND (n.item_type, n.category, n.description, n.quantity, n.unit, n.unit_rate, n.amount,
                           n.tax_rate_id, n.period_start, n.period_end, n.sort_order)
                          IS NOT DISTINCT FROM
                          (it.item_type, it.category, it.description, it.quantity, it.unit, it.unit_rate, it.amount,
                           it.tax_rate_id, it.period_start, it.period_end, it.sort_order));
    INSERT INTO billing.invoice_items (invoice_id, account_id, item_type, category, description, quantity, unit,
                                       unit_rate, amount, tax_rate_id, period_start, period_end, sort_order)
    SELECT n.* FROM inv_tax_lines n
    WHERE NOT EXISTS (SELECT 1 FROM billing.invoice_items it
                      WHERE it.invoice_id = n.invoice_id
                        AND (n.item_type, n.category, n.description, n.quantity, n.unit, n.unit_rate, n.amount,
                           n.tax_rate_id, n.period_start, n.period_end, n.sort_order)
                          IS NOT DISTINCT FROM
                          (it.item_type, it.category, it.description, it.quantity, it.unit, it.unit_rate, it.amount,
                           it.tax_rate_id, it.period_start, it.period_end, it.sort_order));
    RETURN n;
END
$$;
COMMENT ON FUNCTION billing.apply_local_taxes(uuid[]) IS
    'The local tax engine: TAX lines on DRAFT invoices from billing.tax_rates in force at the period end for '
    'the account''s country (FEDERAL) and billing state (STATE): PERCENTAGE of the lines whose tax category is '
    'in applies_to (e.g. USF on interstate + international voice), PER_DID fees per number held in the period, '
    'FLAT once; each line rounded half-up to cents. Tax-exempt accounts get none.';

CREATE FUNCTION billing.finish_invoices(p_invoice_ids uuid[]) RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM billing.invoice_items it WHERE it.invoice_id = ANY (p_invoice_ids) AND it.item_type = 'CREDIT';
    -- Open credits, oldest first, each covering what the earlier ones left of the invoice.
    INSERT INTO billing.invoice_items (invoice_id, account_id, item_type, category, description, quantity, unit,
                                       unit_rate, amount, credit_id, period_start, period_end, sort_order)
    SELECT c.invoice_id, c.account_id, 'CREDIT', c.credit_type,
           initcap(replace(lower(c.credit_type), '_', ' ')) || ': ' || c.reason, 1, 'EACH', NULL,
           -c.applied, c.credit_id, c.period_start, c.period_end, 80
    FROM (
        SELECT y.*, least(y.remaining_amount, greatest(y.due - coalesce(y.before, 0), 0)) AS applied
        FROM (
            SELECT i.id AS invoice_id, i.account_id, i.period_start, i.period_end, cr.id AS credit_id,
                   cr.credit_type, cr.reason, cr.remaining_amount, tot.due,
                   sum(cr.remaining_amount) OVER (PARTITION BY i.id ORDER BY cr.issued_at, cr.id
                                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
            FROM billing.invoices i
            JOIN LATERAL (SELECT coalesce(sum(it.amount), 0) AS due FROM billing.invoice_items it
                          WHERE it.invoice_id = i.id) AS tot ON tot.due > 0
            JOIN billing.credits cr ON cr.account_id = i.account_id AND cr.status = 'OPEN'
                 AND cr.remaining_amount > 0
                 AND cr.issued_at < (i.period_end + 1)::timestamp AT TIME ZONE 'UTC'
                 AND (cr.expires_at IS NULL OR cr.expires_at > i.period_start::timestamp AT TIME ZONE 'UTC')
            WHERE i.id = ANY (p_invoice_ids) AND i.status = 'DRAFT'
        ) AS y
    ) AS c
    WHERE c.applied > 0;

    UPDATE billing.invoices i
    SET subtotal = s.subtotal, tax_total = s.tax_total, total = s.subtotal + s.tax_total
    FROM (
        SELECT x.id, coalesce(sum(it.amount) FILTER (WHERE it.item_type <> 'TAX'), 0) AS subtotal,
               coalesce(sum(it.amount) FILTER (WHERE it.item_type = 'TAX'), 0) AS tax_total
        FROM unnest(p_invoice_ids) AS x (id)
        LEFT JOIN billing.invoice_items it ON it.invoice_id = x.id
        GROUP BY x.id
    ) AS s
    WHERE i.id = s.id AND i.status = 'DRAFT'
      -- No write (row triggers, audit) when the totals are already right, e.g. at issue after a run.
      AND (i.subtotal, i.tax_total, i.total) IS DISTINCT FROM (s.subtotal, s.tax_total, s.subtotal + s.tax_total);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION billing.finish_invoices(uuid[]) IS
    'Step 3 of an invoice run: CREDIT lines from open credits (oldest first, never more than the invoice), '
    'then subtotal, tax and total of every DRAFT given (the same sums as calculate_invoice_total). Returns the '
    'drafts whose totals changed.';

-- ---------------------------------------------------------------------------------------------
-- Issue: gapless numbers, credits consumed, the ledger charged.

CREATE FUNCTION billing.next_invoice_numbers(p_year integer, p_count integer) RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    v_last integer;
BEGIN
    INSERT INTO billing.invoice_number_counters (year) VALUES (p_year) ON CONFLICT (year) DO NOTHING;
    UPDATE billing.invoice_number_counters c SET last_issued = c.last_issued + p_count
    WHERE c.year = p_year
    RETURNING c.last_issued - p_count INTO v_last;
    RETURN v_last;
END
$$;
COMMENT ON FUNCTION billing.next_invoice_numbers(integer, integer) IS
    'Reserves p_count invoice numbers of a year (locking its counter row until commit); returns the last '
    'number before them, so the new ones are that + 1 .. + p_count.';

CREATE FUNCTION billing.issue_invoices(p_invoice_ids uuid[], p_issue_date date DEFAULT NULL)
    RETURNS TABLE (invoice_id uuid, invoice_number text, total numeric)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_date date := coalesce(p_issue_date, (now() AT TIME ZONE 'UTC')::date);
    v_year integer := extract(year FROM coalesce(p_issue_date, (now() AT TIME ZONE 'UTC')::date))::integer;
    v_first integer;
    v_count integer;
    short text;
BEGIN
    -- Before any invoice row lock (build_invoices takes them in the same order).
    PERFORM billing.usage_lock();
    DROP TABLE IF EXISTS pg_temp.inv_issue;
    CREATE TEMP TABLE inv_issue ON COMMIT DROP AS
    SELECT i.id, i.account_id, a.ban, i.period_start, coalesce(ab.billing_cycle, 'POSTPAID') AS cycle,
           coalesce(ab.payment_terms_days, 30) AS terms, 0::integer AS seq
    FROM billing.invoices i
    JOIN accounts.accounts a ON a.id = i.account_id
    LEFT JOIN billing.account_balance ab ON ab.account_id = i.account_id
    WHERE i.id = ANY (p_invoice_ids) AND i.status = 'DRAFT';
    PERFORM 1 FROM billing.invoices i JOIN inv_issue x ON x.id = i.id ORDER BY i.id FOR UPDATE OF i;
    SELECT count(*) INTO v_count FROM inv_issue;
    IF v_count = 0 THEN
        RETURN;
    END IF;
    PERFORM billing.finish_invoices(array_agg(x.id)) FROM inv_issue x;

    -- Late-usage lines must still be unbilled: an invoice issued since this draft was built may have billed
    -- some of the same rows. Recomputed with the draft's snapshot, they must be what the lines say.
    WITH late AS MATERIALIZED (
        SELECT i.id, i.account_id, i.period_start, i.usage_snapshot::text AS snap
        FROM inv_issue x JOIN billing.invoices i ON i.id = x.id
        WHERE EXISTS (SELECT 1 FROM billing.invoice_items it WHERE it.invoice_id = i.id
                        AND it.item_type IN ('VOICE', 'MESSAGING') AND it.period_start < i.period_start)
    ),
    lines AS MATERIALIZED (
        SELECT i.id, it.item_type::text AS t, it.category::text AS c, it.period_start AS p, it.quantity AS q,
               it.amount AS amt
        FROM late i JOIN billing.invoice_items it ON it.invoice_id = i.id
        WHERE it.item_type IN ('VOICE', 'MESSAGING') AND it.period_start < i.period_start
    ),
    -- One late_usage call per build snapshot and period (a run's drafts share one), not per invoice.
    expected AS MATERIALIZED (
        SELECT g.snap, g.period_start AS inv_start, e.*
        FROM (SELECT l.snap, l.period_start, array_agg(l.account_id) AS accts FROM late l GROUP BY 1, 2) AS g
        CROSS JOIN LATERAL billing.late_usage(g.snap::pg_snapshot, g.period_start, g.accts) AS e
    ),
    recomputed AS MATERIALIZED (
        SELECT i.id, e.usage_type AS t, e.category AS c, e.period_start AS p, e.quantity AS q,
               round(e.amount, 2) AS amt
        FROM late i
        JOIN expected e ON e.account_id = i.account_id AND e.inv_start = i.period_start AND e.snap = i.snap
    )
    SELECT string_agg(DISTINCT coalesce(a.id, b.id)::text, ', ') INTO short
    FROM lines a
    FULL JOIN (SELECT r.* FROM recomputed r
               WHERE EXISTS (SELECT 1 FROM lines l WHERE l.id = r.id AND l.p = r.p)) AS b
           ON b.id = a.id AND b.t = a.t AND b.c = a.c AND b.p = a.p
    WHERE (a.q, a.amt) IS DISTINCT FROM (b.q, b.amt);
    IF short IS NOT NULL THEN
        RAISE EXCEPTION 'invoices % bill late usage that another invoice has billed since; run the invoices again',
            short USING ERRCODE = 'check_violation', CONSTRAINT = 'invoices_issued_immutable';
    END IF;

    -- Credits used by the CREDIT lines: each must still cover its line.
    SELECT string_agg(c.id::text, ', ') INTO short
    FROM billing.credits c
    JOIN (SELECT it.credit_id, sum(-it.amount) AS used FROM billing.invoice_items it JOIN inv_issue x
          ON x.id = it.invoice_id WHERE it.item_type = 'CREDIT' GROUP BY it.credit_id) AS u ON u.credit_id = c.id
    WHERE c.remaining_amount < u.used OR c.status <> 'OPEN';
    IF short IS NOT NULL THEN
        RAISE EXCEPTION 'credits % no longer cover their invoice lines; run the invoices again', short
            USING ERRCODE = 'check_violation', CONSTRAINT = 'credits_amount_check';
    END IF;
    UPDATE billing.credits c
    SET remaining_amount = c.remaining_amount - u.used,
        status = CASE WHEN c.remaining_amount - u.used = 0 THEN 'APPLIED' ELSE c.status END
    FROM (SELECT it.credit_id, sum(-it.amount) AS used FROM billing.invoice_items it JOIN inv_issue x
          ON x.id = it.invoice_id WHERE it.item_type = 'CREDIT' GROUP BY it.credit_id) AS u
    WHERE u.credit_id = c.id;

    -- Gapless numbers: one locked counter row per year, numbers in BAN order.
    v_first := billing.next_invoice_numbers(v_year, v_count);
    UPDATE inv_issue x SET seq = s.n
    FROM (SELECT y.id, row_number() OVER (ORDER BY y.ban, y.period_start, y.id) AS n FROM inv_issue y) AS s
    WHERE s.id = x.id;

    -- Prepaid usage (voice, messaging) was debited when it happened: the invoice settles from the balance.
    UPDATE billing.invoices i
    SET status = CASE WHEN x.cycle = 'PREPAID' OR i.total = 0 THEN 'PAID' ELSE 'ISSUED' END,
        paid_amount = CASE WHEN x.cycle = 'PREPAID' OR i.total = 0 THEN i.total ELSE 0 END,
        paid_at = CASE WHEN x.cycle = 'PREPAID' OR i.total = 0 THEN now() END,
        invoice_number = v_year || '-' || lpad((v_first + x.seq)::text, 6, '0'),
        issue_date = v_date, due_date = v_date + x.terms, issued_at = now()
    FROM inv_issue x WHERE x.id = i.id;

    -- The ledger: a credit line was already added to the balance when the credit was granted, so the
    -- charge is the sum of the other lines (for prepaid accounts, without the already-debited usage).
    INSERT INTO billing.account_balance (account_id)
    SELECT DISTINCT x.account_id FROM inv_issue x ON CONFLICT (account_id) DO NOTHING;
    PERFORM 1 FROM billing.account_balance ab
    WHERE ab.account_id IN (SELECT x.account_id FROM inv_issue x) ORDER BY ab.account_id FOR UPDATE;
    WITH charges AS (
        SELECT x.id, x.account_id, i.invoice_number, i.issued_at,
               -sum(it.amount) FILTER (WHERE it.item_type <> 'CREDIT'
                                       AND NOT (x.cycle = 'PREPAID' AND it.item_type IN ('VOICE', 'MESSAGING')))
                   AS amount
        FROM inv_issue x JOIN billing.invoices i ON i.id = x.id
        JOIN billing.invoice_items it ON it.invoice_id = x.id
        GROUP BY x.id, x.account_id, i.invoice_number, i.issued_at
    ),
    rows AS (
        SELECT c.*, ab.balance + sum(c.amount) OVER (PARTITION BY c.account_id ORDER BY c.invoice_number) AS after
        FROM charges c JOIN billing.account_balance ab ON ab.account_id = c.account_id
        WHERE c.amount < 0
    ),
    ledger AS (
        INSERT INTO billing.balance_ledger (account_id, entry_type, amount, balance_after, source_type, source_id,
                                            description)
        SELECT r.account_id, 'CHARGE', r.amount, r.after, 'INVOICE', r.id, 'Invoice ' || r.invoice_number
        FROM rows r
        RETURNING account_id, amount
    )
    UPDATE billing.account_balance ab SET balance = ab.balance + s.total
    FROM (SELECT l.account_id, sum(l.amount) AS total FROM ledger l GROUP BY l.account_id) AS s
    WHERE ab.account_id = s.account_id;

    INSERT INTO billing.billing_events (account_id, event_type, payload)
    SELECT i.account_id, 'invoice.issued',
           jsonb_build_object('invoice_id', i.id, 'invoice_number', i.invoice_number, 'total', i.total::text,
                              'currency', i.currency, 'due_date', i.due_date)
    FROM billing.invoices i JOIN inv_issue x ON x.id = i.id;

    RETURN QUERY SELECT i.id, i.invoice_number::text, i.total::numeric
                 FROM billing.invoices i JOIN inv_issue x ON x.id = i.id ORDER BY i.invoice_number;
END
$$;
COMMENT ON FUNCTION billing.issue_invoices(uuid[], date) IS
    'Issues DRAFT invoices: totals recomputed, credits of the CREDIT lines consumed, gapless numbers YYYY-NNNNNN '
    '(year of the issue date, one locked counter row), due date from the payment terms, the ledger charged, '
    'an invoice.issued event. Prepaid accounts'' invoices are settled (PAID) from the balance (their usage, late '
    'usage included, was debited when rated). Refused when a late-usage line was billed by another invoice '
    'since the draft was built.';

-- ---------------------------------------------------------------------------------------------
-- Payments

CREATE FUNCTION billing.apply_payment(p_payment_id uuid)
    RETURNS TABLE (invoice_id uuid, amount numeric)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    p record;
    v_left numeric;
    v_take numeric;
    inv record;
    v_did boolean := false;
BEGIN
    SELECT x.id, x.account_id, x.amount, x.refunded_amount, x.status, x.external_reference, x.method
    INTO p FROM billing.payments x WHERE x.id = p_payment_id FOR UPDATE;
    IF NOT FOUND OR p.status NOT IN ('COMPLETED', 'PARTIALLY_REFUNDED', 'REFUNDED') THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM billing.balance_ledger l
                   WHERE l.source_type = 'PAYMENT' AND l.source_id = p.id AND l.entry_type = 'PAYMENT') THEN
        PERFORM billing.post_entry(p.account_id, 'PAYMENT', p.amount, 'PAYMENT', p.id,
                                   'Payment ' || coalesce(p.external_reference, p.method));
        v_did := true;
    END IF;
    -- What is not yet applied to an invoice nor turned into credit (so a second call applies nothing).
    v_left := p.amount - p.refunded_amount
              - coalesce((SELECT sum(a.amount - a.refunded_amount) FROM billing.payment_applications a
                          WHERE a.payment_id = p.id), 0)
              - coalesce((SELECT sum(c.amount) FROM billing.credits c
                          WHERE c.payment_id = p.id AND c.credit_type = 'OVERPAYMENT'), 0);
    IF v_left <= 0 THEN
        IF v_did THEN
            INSERT INTO billing.billing_events (account_id, event_type, payload)
            VALUES (p.account_id, 'payment.applied', jsonb_build_object('payment_id', p.id, 'amount', p.amount::text));
        END IF;
        RETURN;
    END IF;
    FOR inv IN
        SELECT i.id, i.total, i.paid_amount FROM billing.invoices i
        WHERE i.account_id = p.account_id AND i.status IN ('ISSUED', 'PARTIALLY_PAID') AND i.total > i.paid_amount
        ORDER BY i.issue_date, i.period_start, i.invoice_number
        FOR UPDATE
    LOOP
        EXIT WHEN v_left <= 0;
        v_take := least(v_left, inv.total - inv.paid_amount);
        INSERT INTO billing.payment_applications (payment_id, invoice_id, account_id, amount)
        VALUES (p.id, inv.id, p.account_id, v_take);
        UPDATE billing.invoices i
        SET paid_amount = i.paid_amount + v_take,
            status = CASE WHEN i.paid_amount + v_take >= i.total THEN 'PAID' ELSE 'PARTIALLY_PAID' END,
            paid_at = CASE WHEN i.paid_amount + v_take >= i.total THEN now() ELSE i.paid_at END
        WHERE i.id = inv.id;
        v_left := v_left - v_take;
        v_did := true;
        RETURN QUERY SELECT inv.id, v_take;
    END LOOP;
    IF v_left > 0 AND NOT EXISTS (SELECT 1 FROM billing.account_balance ab
                                  WHERE ab.account_id = p.account_id AND ab.billing_cycle = 'PREPAID') THEN
        -- Already on the balance through the PAYMENT entry; the credit row lets the next invoice show it.
        INSERT INTO billing.credits (account_id, credit_type, amount, remaining_amount, reason, payment_id)
        VALUES (p.account_id, 'OVERPAYMENT', v_left, v_left,
                'Unapplied payment ' || coalesce(p.external_reference, p.method), p.id);
        v_did := true;
        RETURN QUERY SELECT NULL::uuid, v_left;
    END IF;
    IF v_did THEN
        INSERT INTO billing.billing_events (account_id, event_type, payload)
        VALUES (p.account_id, 'payment.applied', jsonb_build_object('payment_id', p.id, 'amount', p.amount::text));
    END IF;
END
$$;
COMMENT ON FUNCTION billing.apply_payment(uuid) IS
    'Posts a payment to the ledger (once) and applies what is left of it to the account''s own open invoices, '
    'oldest first, partially if it runs out; a remainder becomes an OVERPAYMENT credit (postpaid). Calling it '
    'again applies nothing more. Rows returned: (invoice, amount), and (NULL, credit) for a remainder.';

CREATE FUNCTION billing.refund_payment(p_payment_id uuid, p_amount numeric, p_reason text)
    RETURNS numeric
    LANGUAGE plpgsql
AS $$
DECLARE
    p record;
    r record;
    v_left numeric;
    v_take numeric;
    v_after numeric;
    v_reopened jsonb := '[]';
BEGIN
    SELECT x.* INTO p FROM billing.payments x WHERE x.id = p_payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payment % not found', p_payment_id USING ERRCODE = 'no_data_found';
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 OR p_amount > p.amount - p.refunded_amount THEN
        RAISE EXCEPTION 'amount: % is not between 0 and the unrefunded %', p_amount, p.amount - p.refunded_amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_amount_check';
    END IF;
    v_left := p_amount;
    -- 1. The unused overpayment credit of this payment.
    FOR r IN SELECT c.id, c.remaining_amount FROM billing.credits c
             WHERE c.payment_id = p.id AND c.credit_type = 'OVERPAYMENT' AND c.status = 'OPEN'
             ORDER BY c.issued_at DESC, c.id FOR UPDATE
    LOOP
        EXIT WHEN v_left <= 0;
        v_take := least(v_left, r.remaining_amount);
        UPDATE billing.credits c
        SET remaining_amount = c.remaining_amount - v_take,
            status = CASE WHEN c.remaining_amount - v_take = 0 THEN 'VOID' ELSE c.status END
        WHERE c.id = r.id;
        v_left := v_left - v_take;
    END LOOP;
    -- 2. What it paid on invoices, newest invoice first: each one is open again for what is taken back.
    FOR r IN SELECT a.id, a.invoice_id, a.amount - a.refunded_amount AS net, i.invoice_number
             FROM billing.payment_applications a JOIN billing.invoices i ON i.id = a.invoice_id
             WHERE a.payment_id = p.id AND a.amount > a.refunded_amount
             ORDER BY i.issue_date DESC, i.period_start DESC, i.invoice_number DESC
             FOR UPDATE OF a, i
    LOOP
        EXIT WHEN v_left <= 0;
        v_take := least(v_left, r.net);
        UPDATE billing.payment_applications a SET refunded_amount = a.refunded_amount + v_take WHERE a.id = r.id;
        UPDATE billing.invoices i
        SET paid_amount = i.paid_amount - v_take,
            status = CASE WHEN i.paid_amount - v_take > 0 THEN 'PARTIALLY_PAID' ELSE 'ISSUED' END,
            paid_at = NULL
        WHERE i.id = r.invoice_id;
        v_reopened := v_reopened || jsonb_build_object('invoice_id', r.invoice_id,
                                                       'invoice_number', r.invoice_number, 'amount', v_take::text);
        v_left := v_left - v_take;
    END LOOP;
    -- 3. The rest was on the balance: fine for a prepaid account (funds not yet used), but on a postpaid one
    --    it was spent as credit on later (immutable) invoices and cannot come back here.
    IF v_left > 0 AND NOT EXISTS (SELECT 1 FROM billing.account_balance ab
                                  WHERE ab.account_id = p.account_id AND ab.billing_cycle = 'PREPAID') THEN
        RAISE EXCEPTION 'amount: at most % of payment % can be refunded; the rest was used as credit on later invoices',
            p_amount - v_left, coalesce(p.external_reference, p.id::text)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_amount_check';
    END IF;
    UPDATE billing.payments x
    SET refunded_amount = x.refunded_amount + p_amount,
        status = CASE WHEN x.refunded_amount + p_amount = x.amount THEN 'REFUNDED' ELSE 'PARTIALLY_REFUNDED' END
    WHERE x.id = p.id;
    v_after := billing.post_entry(p.account_id, 'REFUND', -p_amount, 'PAYMENT', p.id,
                                  'Refund of ' || coalesce(p.external_reference, p.method) || ': ' || p_reason);
    INSERT INTO billing.billing_events (account_id, event_type, payload)
    VALUES (p.account_id, 'payment.refunded',
            jsonb_build_object('payment_id', p.id, 'amount', p_amount::text, 'reason', p_reason,
                               'reopened_invoices', v_reopened));
    RETURN v_after;
END
$$;
COMMENT ON FUNCTION billing.refund_payment(uuid, numeric, text) IS
    'Refunds part or all of a payment: first its unused overpayment credit, then what it paid on invoices, newest '
    'first (those invoices go back to PARTIALLY_PAID or ISSUED, the application keeps refunded_amount); a '
    'postpaid refund larger than that is refused. refunded_amount/status of the payment, a REFUND ledger entry '
    '(the balance goes down) and a payment.refunded event. Returns the balance after.';

CREATE FUNCTION billing.grant_credit(p_account_id uuid, p_amount numeric, p_credit_type text, p_reason text,
                                     p_invoice_id uuid DEFAULT NULL, p_expires_at timestamptz DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql
AS $$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO billing.credits (account_id, credit_type, amount, remaining_amount, reason, invoice_id, expires_at)
    VALUES (p_account_id, p_credit_type, p_amount, p_amount, p_reason, p_invoice_id, p_expires_at)
    RETURNING id INTO v_id;
    PERFORM billing.post_entry(p_account_id, 'CREDIT', p_amount, 'CREDIT', v_id, p_reason);
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION billing.grant_credit(uuid, numeric, text, text, uuid, timestamptz) IS
    'A credit (service credit, credit note against an invoice, promotional): the credits row and a CREDIT '
    'ledger entry; the next invoice shows it as a CREDIT line. Returns the credit id.';
