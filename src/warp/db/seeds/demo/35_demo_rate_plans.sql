-- Demo world, part 5: customer rate plans (voice, messaging and number rates) and their
-- effective-dated assignment to accounts. Voice prices are derived from the demo carrier decks
-- (cost plus markup), so every demo destination has both a sell and a buy rate.
-- Idempotent (see 10_demo_accounts.sql).

SET LOCAL TimeZone = 'UTC';

CREATE OR REPLACE FUNCTION pg_temp.demo_id(p_key text) RETURNS uuid
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT public.uuid_generate_v5(public.uuid_ns_url(), 'warp-demo:' || p_key)
$$;

INSERT INTO billing.rate_plans (id, name, description, currency, status, metadata)
VALUES
    (pg_temp.demo_id('rate_plans:Demo Standard'), 'Demo Standard', 'Retail plan: 6/6 billing, US jurisdictional.',
     'USD', 'ACTIVE', '{"demo": true, "markup": 1.6}'),
    (pg_temp.demo_id('rate_plans:Demo Wholesale'), 'Demo Wholesale', 'Reseller plan: 1/1 billing, lower margins.',
     'USD', 'ACTIVE', '{"demo": true, "markup": 1.3}'),
    (pg_temp.demo_id('rate_plans:Demo Legacy'), 'Demo Legacy', 'Retired 2024 plan (kept for rating history).',
     'USD', 'RETIRED', '{"demo": true}')
ON CONFLICT DO NOTHING;

-- US: one row per NPA (jurisdictional), the '1' fallback and toll-free NPAs; international prefixes.
INSERT INTO billing.voice_rates (id, rate_plan_id, prefix, destination_name, rate, interstate_rate, intrastate_rate,
                                 indeterminate_rate, connection_fee, initial_increment, subsequent_increment,
                                 minimum_seconds, effective_date, expires_date)
SELECT pg_temp.demo_id('voice_rates:' || p.name || ':' || d.prefix), rp.id, d.prefix, d.destination_name,
       round(d.rate * p.markup, 6), round(d.interstate * p.markup, 6), round(d.intrastate * p.markup, 6),
       round(d.indeterminate * p.markup, 6), 0, p.inc, p.inc, 0, p.effective::date, p.expires::date
FROM (VALUES
    ('Demo Standard', 1.6, 6, '2025-01-01', NULL),
    ('Demo Wholesale', 1.3, 1, '2025-01-01', NULL),
    ('Demo Legacy', 2.0, 60, '2024-01-01', '2025-01-01')
) AS p (name, markup, inc, effective, expires)
JOIN billing.rate_plans rp ON rp.name = p.name
CROSS JOIN (
    -- per NPA: the most expensive NPA-NXX of the primary US deck
    SELECT substr(r.prefix, 1, 4) AS prefix,
           'United States - NPA ' || min(substr(r.prefix, 2, 3)) AS destination_name,
           NULL::numeric AS rate, max(r.interstate_rate) AS interstate, max(r.intrastate_rate) AS intrastate,
           max(r.indeterminate_rate) AS indeterminate
    FROM routing.rate_deck r
    JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id AND ct.name = 'alpha-east'
    WHERE length(r.prefix) = 7
    GROUP BY substr(r.prefix, 1, 4)
    UNION ALL
    SELECT r.prefix, r.destination_name, r.rate, r.interstate_rate, r.intrastate_rate, r.indeterminate_rate
    FROM routing.rate_deck r
    JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id AND ct.name = 'alpha-east'
    WHERE length(r.prefix) < 7
    UNION ALL
    SELECT r.prefix, r.destination_name, r.rate, NULL, NULL, NULL
    FROM routing.rate_deck r
    JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id AND ct.name = 'charlie-intl-1'
) AS d
WHERE p.name <> 'Demo Legacy' OR d.prefix = '1'
ON CONFLICT DO NOTHING;

INSERT INTO billing.messaging_rates (id, rate_plan_id, message_type, direction, destination_type, rate,
                                     effective_date)
SELECT pg_temp.demo_id('messaging_rates:' || p.name || ':' || m.message_type || ':' || m.direction || ':'
                       || m.destination_type),
       rp.id, m.message_type, m.direction, m.destination_type,
       CASE p.name WHEN 'Demo Standard' THEN m.standard ELSE m.wholesale END, DATE '2025-01-01'
FROM (VALUES ('Demo Standard'), ('Demo Wholesale')) AS p (name)
JOIN billing.rate_plans rp ON rp.name = p.name
CROSS JOIN (VALUES
    ('SMS', 'OUTBOUND', 'DOMESTIC', 0.004000, 0.003500),
    ('SMS', 'INBOUND', 'DOMESTIC', 0.002000, 0.001500),
    ('SMS', 'OUTBOUND', 'TOLL_FREE', 0.005000, 0.004500),
    ('SMS', 'OUTBOUND', 'INTERNATIONAL', 0.050000, 0.045000),
    ('MMS', 'OUTBOUND', 'DOMESTIC', 0.015000, 0.012000),
    ('MMS', 'INBOUND', 'DOMESTIC', 0.010000, 0.008000)
) AS m (message_type, direction, destination_type, standard, wholesale)
ON CONFLICT DO NOTHING;

INSERT INTO billing.number_rates (id, rate_plan_id, number_type, monthly_charge, setup_charge, port_in_fee,
                                  effective_date)
SELECT pg_temp.demo_id('number_rates:' || p.name || ':' || n.number_type), rp.id, n.number_type,
       CASE p.name WHEN 'Demo Standard' THEN n.standard_monthly ELSE n.wholesale_monthly END,
       n.setup, CASE p.name WHEN 'Demo Standard' THEN n.port_in ELSE n.port_in / 2 END, DATE '2025-01-01'
FROM (VALUES ('Demo Standard'), ('Demo Wholesale')) AS p (name)
JOIN billing.rate_plans rp ON rp.name = p.name
CROSS JOIN (VALUES
    ('DID', 1.00, 0.80, 0.00, 5.00),
    ('TOLL_FREE', 2.00, 1.50, 1.00, 10.00)
) AS n (number_type, standard_monthly, wholesale_monthly, setup, port_in)
ON CONFLICT DO NOTHING;

INSERT INTO billing.account_rate_plans (id, account_id, rate_plan_id, effective_at, expires_at)
SELECT pg_temp.demo_id('account_rate_plans:' || v.ban || ':' || v.effective_at), a.id, rp.id,
       v.effective_at::timestamptz, v.expires_at::timestamptz
FROM (VALUES
    ('DEMO-ACME', 'Demo Legacy', '2024-06-01 00:00:00+00', '2025-01-01 00:00:00+00'),
    ('DEMO-ACME', 'Demo Standard', '2025-01-01 00:00:00+00', NULL),
    ('DEMO-GLOBEX', 'Demo Wholesale', '2025-01-01 00:00:00+00', NULL),
    ('DEMO-INITECH', 'Demo Wholesale', '2025-03-01 00:00:00+00', NULL),
    ('DEMO-UMBRELLA', 'Demo Standard', '2025-04-01 00:00:00+00', NULL)
) AS v (ban, plan, effective_at, expires_at)
JOIN accounts.accounts a ON a.ban = v.ban
JOIN billing.rate_plans rp ON rp.name = v.plan
ON CONFLICT DO NOTHING;
