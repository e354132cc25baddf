-- Demo world, part 7: last month's invoices with their items, payments and payment applications,
-- credits, the balance ledger and account balances (balance = sum of the ledger), and this month's
-- usage summaries computed from the demo CDRs, MDRs and DIDs. Idempotent (see 10_demo_accounts.sql).

SET LOCAL TimeZone = 'UTC';

CREATE OR REPLACE FUNCTION pg_temp.demo_id(p_key text) RETURNS uuid
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT public.uuid_generate_v5(public.uuid_ns_url(), 'warp-demo:' || p_key)
$$;

CREATE OR REPLACE FUNCTION pg_temp.demo_month() RETURNS timestamptz
    LANGUAGE sql STABLE
AS $$
    SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- Invoice lines: (account, period 'PREV' = last month or 'CURR' = this month, line...).
CREATE OR REPLACE TEMP VIEW demo_invoice_items AS
SELECT v.ban, v.period, v.sort_order, v.item_type, v.category, v.description, v.quantity, v.unit, v.unit_rate,
       v.amount, v.tax_name,
       CASE v.period WHEN 'PREV' THEN (pg_temp.demo_month() - interval '1 month')::date
                     ELSE pg_temp.demo_month()::date END AS period_start,
       CASE v.period WHEN 'PREV' THEN (pg_temp.demo_month() - interval '1 day')::date
                     ELSE (pg_temp.demo_month() + interval '1 month' - interval '1 day')::date END AS period_end
FROM (VALUES
    ('DEMO-ACME', 'PREV', 1, 'VOICE', 'VOICE_INTERSTATE', 'Interstate voice', 12000, 'MINUTE', 0.009000, 108.00, NULL),
    ('DEMO-ACME', 'PREV', 2, 'VOICE', 'VOICE_INTRASTATE', 'Intrastate voice', 3000, 'MINUTE', 0.011000, 33.00, NULL),
    ('DEMO-ACME', 'PREV', 3, 'MESSAGING', 'SMS_OUTBOUND', 'Outbound SMS', 5000, 'SEGMENT', 0.004000, 20.00, NULL),
    ('DEMO-ACME', 'PREV', 4, 'DID_MONTHLY', 'DID', 'Local numbers', 15, 'DID', 1.000000, 15.00, NULL),
    ('DEMO-ACME', 'PREV', 5, 'DID_MONTHLY', 'TOLL_FREE', 'Toll-free numbers', 1, 'DID', 2.000000, 2.00, NULL),
    ('DEMO-ACME', 'PREV', 6, 'TAX', 'USF', 'Federal USF (34.5% of 108.00 interstate)', 1, 'EACH', NULL, 37.26,
     'Federal Universal Service Fund'),
    ('DEMO-ACME', 'PREV', 7, 'TAX', 'E911', 'Colorado 911 surcharge', 15, 'DID', 0.090000, 1.35,
     'Colorado 911 Surcharge'),
    ('DEMO-GLOBEX', 'PREV', 1, 'VOICE', 'VOICE_INTERSTATE', 'Interstate voice', 40000, 'MINUTE', 0.008000, 320.00, NULL),
    ('DEMO-GLOBEX', 'PREV', 2, 'VOICE', 'VOICE_INTERNATIONAL', 'International voice', 2000, 'MINUTE', 0.020000, 40.00,
     NULL),
    ('DEMO-GLOBEX', 'PREV', 3, 'MESSAGING', 'SMS_OUTBOUND', 'Outbound SMS', 10000, 'SEGMENT', 0.003500, 35.00, NULL),
    ('DEMO-GLOBEX', 'PREV', 4, 'DID_MONTHLY', 'DID', 'Local numbers', 8, 'DID', 0.800000, 6.40, NULL),
    ('DEMO-GLOBEX', 'PREV', 5, 'TAX', 'USF', 'Federal USF (34.5% of 360.00 interstate + international)', 1, 'EACH',
     NULL, 124.20, 'Federal Universal Service Fund'),
    ('DEMO-GLOBEX', 'PREV', 6, 'TAX', 'E911', 'New York 911 surcharge', 8, 'DID', 0.350000, 2.80,
     'New York 911 Surcharge'),
    ('DEMO-INITECH', 'PREV', 1, 'VOICE', 'VOICE_INTERSTATE', 'Interstate voice', 5000, 'MINUTE', 0.008000, 40.00, NULL),
    ('DEMO-INITECH', 'PREV', 2, 'DID_MONTHLY', 'DID', 'Local numbers', 5, 'DID', 0.800000, 4.00, NULL),
    ('DEMO-INITECH', 'PREV', 3, 'TAX', 'USF', 'Federal USF (34.5% of 40.00 interstate)', 1, 'EACH', NULL, 13.80,
     'Federal Universal Service Fund'),
    ('DEMO-INITECH', 'PREV', 4, 'TAX', 'E911', 'Texas 911 emergency service fee', 5, 'DID', 0.500000, 2.50,
     'Texas 911 Emergency Service Fee'),
    ('DEMO-UMBRELLA', 'CURR', 1, 'DID_MONTHLY', 'DID', 'Local numbers', 2, 'DID', 1.000000, 2.00, NULL)
) AS v (ban, period, sort_order, item_type, category, description, quantity, unit, unit_rate, amount, tax_name);

INSERT INTO billing.invoices (id, account_id, invoice_number, status, period_start, period_end, currency, subtotal,
                              tax_total, total, paid_amount, issue_date, due_date, document_ref, issued_at, paid_at,
                              metadata)
SELECT pg_temp.demo_id('invoices:' || i.ban || ':' || i.period_start), a.id,
       CASE WHEN s.status <> 'DRAFT' THEN 'DEMO-' || to_char(i.period_start, 'YYYYMM') || '-' || substr(i.ban, 6) END,
       'DRAFT', i.period_start, i.period_end, 'USD', i.subtotal, i.tax_total, i.subtotal + i.tax_total,
       CASE s.status WHEN 'PAID' THEN i.subtotal + i.tax_total WHEN 'PARTIALLY_PAID' THEN 300.00 ELSE 0 END,
       CASE WHEN s.status <> 'DRAFT' THEN pg_temp.demo_month()::date END,
       CASE WHEN s.status <> 'DRAFT' THEN (pg_temp.demo_month() + interval '30 days')::date END,
       CASE WHEN s.status <> 'DRAFT'
            THEN 's3://warp-demo-documents/' || i.ban || '/invoice-' || to_char(i.period_start, 'YYYYMM') || '.pdf' END,
       CASE WHEN s.status <> 'DRAFT' THEN pg_temp.demo_month() + interval '1 hour' END,
       CASE WHEN s.status = 'PAID' THEN pg_temp.demo_month() + interval '20 hours' END,
       '{"source": "warp-demo"}'::jsonb
FROM (
    SELECT ban, period_start, period_end,
           sum(amount) FILTER (WHERE item_type <> 'TAX') AS subtotal,
           coalesce(sum(amount) FILTER (WHERE item_type = 'TAX'), 0) AS tax_total
    FROM demo_invoice_items
    GROUP BY ban, period_start, period_end
) AS i
JOIN (VALUES ('DEMO-ACME', 'PAID'), ('DEMO-GLOBEX', 'PARTIALLY_PAID'), ('DEMO-INITECH', 'ISSUED'),
             ('DEMO-UMBRELLA', 'DRAFT')) AS s (ban, status) ON s.ban = i.ban
JOIN accounts.accounts a ON a.ban = i.ban
ON CONFLICT DO NOTHING;

INSERT INTO billing.invoice_items (id, invoice_id, account_id, item_type, category, description, quantity, unit,
                                   unit_rate, amount, tax_rate_id, period_start, period_end, sort_order)
SELECT pg_temp.demo_id('invoice_items:' || v.ban || ':' || v.period_start || ':' || v.sort_order), inv.id,
       inv.account_id, v.item_type, v.category, v.description, v.quantity, v.unit, v.unit_rate, v.amount, tr.id,
       v.period_start, v.period_end, v.sort_order
FROM demo_invoice_items v
JOIN billing.invoices inv ON inv.id = pg_temp.demo_id('invoices:' || v.ban || ':' || v.period_start)
LEFT JOIN billing.tax_rates tr ON tr.name = v.tax_name AND tr.effective_date = DATE '2025-01-01'
ON CONFLICT DO NOTHING;

-- Inserted as drafts so their lines could be added (an issued invoice's lines are immutable), now issued.
UPDATE billing.invoices inv
SET status = CASE WHEN inv.paid_amount >= inv.total THEN 'PAID' WHEN inv.paid_amount > 0 THEN 'PARTIALLY_PAID'
                  ELSE 'ISSUED' END
FROM accounts.accounts a
WHERE a.id = inv.account_id AND inv.id = pg_temp.demo_id('invoices:' || a.ban || ':' || inv.period_start)
  AND inv.status = 'DRAFT' AND inv.invoice_number IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Payments, their application to invoices, credits.

INSERT INTO billing.payments (id, account_id, amount, currency, method, processor, external_reference, status,
                              received_at, notes, metadata)
SELECT pg_temp.demo_id('payments:' || ref.reference), a.id, v.amount, 'USD', v.method, v.processor, ref.reference,
       'COMPLETED', pg_temp.demo_month() + v.after::interval, v.notes, '{"source": "warp-demo"}'::jsonb
FROM (VALUES
    ('DEMO-ACME', 216.61, 'ACH', 'manual', 'ach', '20 hours', 'Invoice payment'),
    ('DEMO-GLOBEX', 300.00, 'WIRE', 'manual', 'wire', '18 hours', 'Partial payment, balance disputed'),
    ('DEMO-UMBRELLA', 50.00, 'CARD', 'stripe', 'card', '-20 days', 'Prepaid top-up')
) AS v (ban, amount, method, processor, ref_kind, after, notes)
JOIN accounts.accounts a ON a.ban = v.ban
CROSS JOIN LATERAL (
    SELECT 'demo-' || v.ref_kind || '-' || lower(substr(v.ban, 6)) || '-'
           || to_char(pg_temp.demo_month() - interval '1 month', 'YYYYMM') AS reference
) AS ref
ON CONFLICT DO NOTHING;

INSERT INTO billing.payment_applications (id, payment_id, invoice_id, account_id, amount, applied_at)
SELECT pg_temp.demo_id('payment_applications:' || p.id || ':' || inv.id), p.id, inv.id, p.account_id, v.amount,
       p.received_at
FROM (VALUES ('DEMO-ACME', 'ach', 216.61), ('DEMO-GLOBEX', 'wire', 300.00)) AS v (ban, ref_kind, amount)
JOIN accounts.accounts a ON a.ban = v.ban
JOIN billing.payments p ON p.account_id = a.id AND p.external_reference = 'demo-' || v.ref_kind || '-'
    || lower(substr(v.ban, 6)) || '-' || to_char(pg_temp.demo_month() - interval '1 month', 'YYYYMM')
JOIN billing.invoices inv ON inv.id = pg_temp.demo_id('invoices:' || v.ban || ':'
    || (pg_temp.demo_month() - interval '1 month')::date)
ON CONFLICT DO NOTHING;

INSERT INTO billing.credits (id, account_id, credit_type, amount, remaining_amount, reason, status, invoice_id,
                             issued_at, expires_at)
SELECT pg_temp.demo_id('credits:' || v.ban || ':' || v.credit_type), a.id, v.credit_type, v.amount, v.amount,
       v.reason, 'OPEN',
       CASE WHEN v.credit_type = 'CREDIT_NOTE'
            THEN pg_temp.demo_id('invoices:' || v.ban || ':' || (pg_temp.demo_month() - interval '1 month')::date) END,
       pg_temp.demo_month() + v.after::interval, v.expires_at::timestamptz
FROM (VALUES
    ('DEMO-ACME', 'PROMOTIONAL', 25.00, 'Welcome credit', '-25 days', '2030-01-01 00:00:00+00'),
    ('DEMO-GLOBEX', 'CREDIT_NOTE', 5.00, 'Disputed international minutes on last invoice', '22 hours', NULL),
    ('DEMO-INITECH', 'SERVICE_CREDIT', 10.00, 'SLA credit: outage on the Initech trunk', '-10 days', NULL)
) AS v (ban, credit_type, amount, reason, after, expires_at)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Balance ledger (signed: charges negative) and account balances. Umbrella is prepaid: its rated
-- calls of this month are debited one by one.

INSERT INTO billing.balance_ledger (id, account_id, entry_type, amount, balance_after, currency, source_type,
                                    source_id, description, created_at)
SELECT l.id, l.account_id, l.entry_type, l.amount,
       sum(l.amount) OVER (PARTITION BY l.account_id ORDER BY l.created_at, l.id), 'USD', l.source_type,
       l.source_id, l.description, l.created_at
FROM (
    SELECT pg_temp.demo_id('balance_ledger:invoice:' || inv.id) AS id, inv.account_id, 'CHARGE' AS entry_type,
           -inv.total AS amount, 'INVOICE' AS source_type, inv.id AS source_id,
           'Invoice ' || inv.invoice_number AS description, inv.issued_at AS created_at
    FROM billing.invoices inv
    WHERE inv.id = pg_temp.demo_id('invoices:' || (SELECT ban FROM accounts.accounts WHERE id = inv.account_id)
                                   || ':' || inv.period_start)
      AND inv.status <> 'DRAFT'
    UNION ALL
    SELECT pg_temp.demo_id('balance_ledger:payment:' || p.id), p.account_id, 'PAYMENT', p.amount, 'PAYMENT', p.id,
           'Payment ' || p.external_reference, p.received_at
    FROM billing.payments p
    WHERE p.id = pg_temp.demo_id('payments:' || p.external_reference)
    UNION ALL
    SELECT pg_temp.demo_id('balance_ledger:credit:' || c.id), c.account_id, 'CREDIT', c.amount, 'CREDIT', c.id,
           c.reason, c.issued_at
    FROM billing.credits c
    JOIN accounts.accounts a ON a.id = c.account_id
    WHERE c.id = pg_temp.demo_id('credits:' || a.ban || ':' || c.credit_type)
    UNION ALL
    SELECT pg_temp.demo_id('balance_ledger:cdr:' || e.id), e.account_id, 'CHARGE', -e.customer_charge, 'CDR', e.id,
           'Call to ' || e.dnis, e.rated_at
    FROM cdr.enriched_cdr e
    JOIN accounts.accounts a ON a.id = e.account_id AND a.ban = 'DEMO-UMBRELLA'
    WHERE e.rating_status = 'RATED' AND e.customer_charge > 0
      AND e.start_time >= pg_temp.demo_month() AND e.start_time < pg_temp.demo_month() + interval '1 month'
) AS l
ON CONFLICT DO NOTHING;

INSERT INTO billing.account_balance (id, account_id, balance, credit_limit, currency, low_balance_threshold,
                                     billing_cycle, payment_terms_days)
SELECT pg_temp.demo_id('account_balance:' || v.ban), a.id,
       coalesce((SELECT sum(l.amount) FROM billing.balance_ledger l WHERE l.account_id = a.id), 0),
       v.credit_limit, 'USD', v.low_balance_threshold, v.billing_cycle, v.terms
FROM (VALUES
    ('DEMO-ACME', 1000.00, NULL, 'POSTPAID', 30),
    ('DEMO-GLOBEX', 5000.00, NULL, 'POSTPAID', 15),
    ('DEMO-INITECH', 500.00, NULL, 'POSTPAID', 30),
    ('DEMO-UMBRELLA', 0.00, 10.00, 'PREPAID', 0)
) AS v (ban, credit_limit, low_balance_threshold, billing_cycle, terms)
JOIN accounts.accounts a ON a.ban = v.ban
-- Re-seeding in a later month adds that month's ledger rows: keep balance = sum(ledger), touching
-- the row only when it differs (so a second run in the same month changes nothing).
ON CONFLICT (account_id) DO UPDATE SET balance = EXCLUDED.balance
WHERE billing.account_balance.balance IS DISTINCT FROM EXCLUDED.balance;

-- ---------------------------------------------------------------------------------------------
-- Usage of the current month: voice by jurisdiction, messaging by type and direction, DIDs by type.

INSERT INTO billing.usage_summary (id, account_id, period_start, period_end, usage_type, category, event_count,
                                   quantity, unit, amount, cost, computed_at)
SELECT pg_temp.demo_id('usage_summary:' || u.account_id || ':' || u.period_start || ':' || u.usage_type || ':'
                       || u.category),
       u.account_id, u.period_start, u.period_end, u.usage_type, u.category, u.event_count, u.quantity, u.unit,
       u.amount, u.cost, pg_temp.demo_month() + interval '1 day'
FROM (
    SELECT e.account_id, pg_temp.demo_month()::date AS period_start,
           (pg_temp.demo_month() + interval '1 month' - interval '1 day')::date AS period_end,
           'VOICE' AS usage_type, e.jurisdiction AS category, count(*) AS event_count,
           round(sum(e.billable_seconds) / 60.0, 6) AS quantity, 'MINUTE' AS unit,
           coalesce(sum(e.customer_charge), 0) AS amount, sum(e.vendor_cost) AS cost
    FROM cdr.enriched_cdr e
    WHERE e.account_id IS NOT NULL AND e.rating_status = 'RATED'
      AND e.start_time >= pg_temp.demo_month() AND e.start_time < pg_temp.demo_month() + interval '1 month'
    GROUP BY e.account_id, e.jurisdiction
    UNION ALL
    SELECT m.account_id, pg_temp.demo_month()::date, (pg_temp.demo_month() + interval '1 month' - interval '1 day')::date,
           'MESSAGING', m.message_type || '_' || m.direction, count(*), sum(m.segments), 'SEGMENT',
           coalesce(sum(m.charge), 0), sum(m.vendor_cost)
    FROM messaging.mdr m
    WHERE m.created_at >= pg_temp.demo_month() AND m.created_at < pg_temp.demo_month() + interval '1 month'
    GROUP BY m.account_id, m.message_type, m.direction
    UNION ALL
    SELECT d.account_id, pg_temp.demo_month()::date, (pg_temp.demo_month() + interval '1 month' - interval '1 day')::date,
           'DID', i.number_type, count(*),
           count(*) * extract(day FROM pg_temp.demo_month() + interval '1 month' - interval '1 day'), 'DID_DAY',
           coalesce(sum(nr.monthly_charge), 0), NULL
    FROM numbers.dids d
    JOIN numbers.inventory i ON i.id = d.inventory_id
    LEFT JOIN billing.account_rate_plans arp ON arp.account_id = d.account_id
        AND arp.effective_at <= pg_temp.demo_month()
        AND (arp.expires_at IS NULL OR arp.expires_at > pg_temp.demo_month())
    LEFT JOIN billing.number_rates nr ON nr.rate_plan_id = arp.rate_plan_id AND nr.number_type = i.number_type
        AND nr.effective_date <= pg_temp.demo_month()::date
        AND (nr.expires_date IS NULL OR nr.expires_date > pg_temp.demo_month()::date)
    WHERE d.id = pg_temp.demo_id('dids:' || d.number)
    GROUP BY d.account_id, i.number_type
) AS u
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Billing outbox: the demo's issued invoices (delivered) and Umbrella's low-balance warning.

INSERT INTO billing.billing_events (id, account_id, event_type, payload, status, delivered_at, created_at)
SELECT pg_temp.demo_id('billing_events:invoice:' || inv.id), inv.account_id, 'invoice.issued',
       jsonb_build_object('invoice_id', inv.id, 'invoice_number', inv.invoice_number, 'total', inv.total::text,
                          'currency', inv.currency, 'due_date', inv.due_date),
       'DELIVERED', inv.issued_at + interval '1 minute', inv.issued_at
FROM billing.invoices inv
JOIN accounts.accounts a ON a.id = inv.account_id
WHERE inv.id = pg_temp.demo_id('invoices:' || a.ban || ':' || inv.period_start) AND inv.status <> 'DRAFT'
ON CONFLICT DO NOTHING;

INSERT INTO billing.billing_events (id, account_id, event_type, payload, created_at)
SELECT pg_temp.demo_id('billing_events:low:' || a.ban), a.id, 'balance.low',
       jsonb_build_object('account_id', a.id, 'balance', round(ab.balance, 2)::text,
                          'threshold', ab.low_balance_threshold::text, 'currency', ab.currency),
       pg_temp.demo_month() + interval '2 days'
FROM accounts.accounts a
JOIN billing.account_balance ab ON ab.account_id = a.id
WHERE a.ban = 'DEMO-UMBRELLA'
ON CONFLICT DO NOTHING;
