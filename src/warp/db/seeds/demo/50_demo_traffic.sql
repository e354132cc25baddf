-- Demo world, part 6: voice traffic of the current month. Raw CDRs as Kamailio would report them
-- (including calls from an unknown source that no trunk claims), enriched + rated CDRs computed from
-- the LERG, LRN cache, rate plans and carrier decks, hourly summaries, carrier performance metrics,
-- vendor CDRs for reconciliation and a few API request log rows. Idempotent (see 10_demo_accounts.sql):
-- start times are fixed offsets from the start of the current UTC month.

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

-- ---------------------------------------------------------------------------------------------
-- Raw CDRs.

CREATE OR REPLACE TEMP VIEW demo_cdr AS
SELECT s.ban, g.i, s.trunk, s.source_ip,
       pg_temp.demo_month() + s.start_offset::interval + g.i * interval '17 minutes' AS start_time,
       coalesce(lower(s.ban), 'demo-unknown') || '-' || g.i || '@demo.warp.example' AS call_id,
       CASE WHEN g.i % 13 = 0 THEN NULL ELSE s.ani_prefix || lpad((100 + g.i % 5)::text, 4, '0') END AS ani,
       dest.dnis,
       CASE WHEN g.i % 9 = 0 THEN 486 WHEN g.i % 14 = 0 THEN 503 ELSE 200 END AS sip_code,
       CASE WHEN g.i % 9 = 0 OR g.i % 14 = 0 THEN 0
            ELSE 20 + (g.i * 37) % 600 + 0.250 END::numeric(12, 3) AS duration,
       1800 + (g.i * 97) % 1500 AS pdd_ms,
       CASE WHEN dest.dnis NOT LIKE '+1%' THEN 'charlie-intl-1' ELSE s.us_carrier_trunk END AS carrier_trunk
FROM (VALUES
    ('DEMO-ACME', 40, 'acme-main', '127.0.0.1', '+1303555', 'alpha-east', '0 minutes'),
    ('DEMO-GLOBEX', 40, 'globex-core', '127.0.0.2', '+1212555', 'bravo-main', '7 minutes'),
    ('DEMO-INITECH', 25, 'initech-pbx', '203.0.113.10', '+1512555', 'bravo-main', '11 minutes'),
    ('DEMO-UMBRELLA', 10, 'umbrella-edge', '203.0.113.140', '+1312555', 'alpha-west', '13 minutes'),
    (NULL, 3, NULL, '192.0.2.200', '+1415555', 'alpha-west', '3 minutes')
) AS s (ban, calls, trunk, source_ip, ani_prefix, us_carrier_trunk, start_offset)
CROSS JOIN LATERAL generate_series(1, s.calls) AS g (i)
CROSS JOIN LATERAL (
    SELECT (ARRAY['+12125550150', '+13035550160', '+14155550120', '+15125550130', '+13125550140',
                  '+13055550110', '+16465550150', '+17205550170', '+442079460123', '+4930123456',
                  '+18885550123', '+525512345678'])[1 + g.i % 12] AS dnis
) AS dest;

INSERT INTO cdr.raw_cdr (id, start_time, call_id, answer_time, end_time, duration, source_ip, raw_ani, raw_dnis, ani,
                         dnis, sip_code, sip_reason, pdd_ms, direction, account_id, trunk_id, carrier_trunk_id,
                         carrier_trunk_name, trunk_identified, ingest_source, source_file, source_line, extra)
SELECT pg_temp.demo_id('raw_cdr:' || c.call_id), c.start_time, c.call_id,
       CASE WHEN c.sip_code = 200 THEN c.start_time + interval '3 seconds' END,
       c.start_time + interval '3 seconds' + c.duration * interval '1 second',
       c.duration, c.source_ip::inet, coalesce(substr(c.ani, 2), 'anonymous'), substr(c.dnis, 2), c.ani, c.dnis,
       c.sip_code, CASE c.sip_code WHEN 200 THEN 'OK' WHEN 486 THEN 'Busy Here' ELSE 'Service Unavailable' END,
       c.pdd_ms, 'OUTBOUND', a.id, t.id, ct.id, ct.name, t.id IS NOT NULL, 'KAMAILIO_CSV',
       'demo/acc_cdrs_' || to_char(pg_temp.demo_month(), 'YYYY_MM') || '.csv',
       row_number() OVER (ORDER BY c.start_time, c.call_id)::integer,
       jsonb_build_object('codec', 'PCMU', 'user_agent', 'warp-demo')
FROM demo_cdr c
LEFT JOIN accounts.accounts a ON a.ban = c.ban
LEFT JOIN routing.trunks t ON t.account_id = a.id AND t.name = c.trunk
JOIN routing.carrier_trunks ct ON ct.name = c.carrier_trunk
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Enrichment and rating (the rules of the CDR issue, written out in SQL for the demo rows).

INSERT INTO cdr.enriched_cdr (id, start_time, raw_cdr_id, account_id, trunk_id, carrier_trunk_id, direction, ani,
                              dnis, lrn, jurisdiction, origin_state, terminating_state, terminating_lata,
                              terminating_ocn, answered, duration_seconds, billable_seconds, customer_rate_prefix,
                              customer_rate, customer_charge, vendor_rate_prefix, vendor_rate, vendor_cost, margin,
                              rating_status, unrated_reason, rated_at)
SELECT pg_temp.demo_id('enriched_cdr:' || r.call_id), r.start_time, r.id, r.account_id, r.trunk_id,
       r.carrier_trunk_id, r.direction, r.ani, r.dnis, lrn.lrn, j.jurisdiction, lo.state, lt.state, lt.lata, lt.ocn,
       r.sip_code = 200, ceil(r.duration)::integer, bill.customer_seconds,
       cust.prefix, cust.applied, charge.customer_charge, vend.prefix, vend.applied, charge.vendor_cost,
       charge.customer_charge - charge.vendor_cost,
       CASE WHEN r.account_id IS NULL OR cust.prefix IS NULL THEN 'UNRATED' ELSE 'RATED' END,
       CASE WHEN r.account_id IS NULL THEN 'NO_ACCOUNT' WHEN cust.prefix IS NULL THEN 'NO_MATCHING_RATE' END,
       r.start_time + interval '5 minutes'
FROM cdr.raw_cdr r
LEFT JOIN cdr.lrn_cache lrn ON lrn.number = r.dnis
LEFT JOIN cdr.lerg lt ON r.dnis LIKE '+1%'
    AND lt.npa = substr(coalesce(lrn.lrn, r.dnis), 3, 3) AND lt.nxx = substr(coalesce(lrn.lrn, r.dnis), 6, 3)
LEFT JOIN cdr.lerg lo ON r.ani LIKE '+1%' AND lo.npa = substr(r.ani, 3, 3) AND lo.nxx = substr(r.ani, 6, 3)
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN r.dnis ~ '^\+1(800|833|844|855|866|877|888)' THEN 'TOLL_FREE'
        WHEN r.dnis NOT LIKE '+1%' OR lt.state IS NULL OR lt.country <> 'US' THEN 'INTERNATIONAL'
        WHEN lo.state IS NULL OR lo.country <> 'US' THEN 'INDETERMINATE'
        WHEN lo.state = lt.state THEN 'INTRASTATE'
        ELSE 'INTERSTATE' END AS jurisdiction
) AS j
LEFT JOIN LATERAL (
    SELECT vr.prefix, vr.connection_fee, vr.initial_increment, vr.subsequent_increment, vr.minimum_seconds,
           CASE j.jurisdiction
               WHEN 'INTERSTATE' THEN coalesce(vr.interstate_rate, vr.rate)
               WHEN 'INTRASTATE' THEN coalesce(vr.intrastate_rate, vr.rate)
               WHEN 'INDETERMINATE' THEN coalesce(vr.indeterminate_rate, vr.intrastate_rate, vr.rate)
               ELSE coalesce(vr.rate, greatest(vr.interstate_rate, vr.intrastate_rate, vr.indeterminate_rate))
           END AS applied
    FROM billing.account_rate_plans arp
    JOIN billing.voice_rates vr ON vr.rate_plan_id = arp.rate_plan_id
    WHERE arp.account_id = r.account_id
      AND arp.effective_at <= r.start_time AND (arp.expires_at IS NULL OR arp.expires_at > r.start_time)
      AND vr.effective_date <= r.start_time::date AND (vr.expires_date IS NULL OR vr.expires_date > r.start_time::date)
      AND substr(r.dnis, 2) LIKE vr.prefix || '%'
    ORDER BY length(vr.prefix) DESC
    LIMIT 1
) AS cust ON true
LEFT JOIN LATERAL (
    SELECT rd.prefix, rd.connection_fee, rd.initial_increment, rd.subsequent_increment,
           CASE j.jurisdiction
               WHEN 'INTERSTATE' THEN coalesce(rd.interstate_rate, rd.rate)
               WHEN 'INTRASTATE' THEN coalesce(rd.intrastate_rate, rd.rate)
               WHEN 'INDETERMINATE' THEN coalesce(rd.indeterminate_rate, rd.intrastate_rate, rd.rate)
               ELSE coalesce(rd.rate, greatest(rd.interstate_rate, rd.intrastate_rate, rd.indeterminate_rate))
           END AS applied
    FROM routing.rate_deck rd
    WHERE rd.carrier_trunk_id = r.carrier_trunk_id
      AND rd.effective_date <= r.start_time::date AND (rd.expires_date IS NULL OR rd.expires_date > r.start_time::date)
      AND substr(r.dnis, 2) LIKE rd.prefix || '%'
    ORDER BY length(rd.prefix) DESC
    LIMIT 1
) AS vend ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.sip_code <> 200 OR r.duration <= 0 OR cust.prefix IS NULL THEN 0
                WHEN greatest(ceil(r.duration), cust.minimum_seconds) <= cust.initial_increment
                    THEN cust.initial_increment
                ELSE cust.initial_increment
                     + ceil((greatest(ceil(r.duration), cust.minimum_seconds) - cust.initial_increment)
                            / cust.subsequent_increment::numeric)::integer * cust.subsequent_increment
           END::integer AS customer_seconds,
           CASE WHEN r.sip_code <> 200 OR r.duration <= 0 OR vend.prefix IS NULL THEN 0
                WHEN ceil(r.duration) <= vend.initial_increment THEN vend.initial_increment
                ELSE vend.initial_increment
                     + ceil((ceil(r.duration) - vend.initial_increment)
                            / vend.subsequent_increment::numeric)::integer * vend.subsequent_increment
           END::integer AS vendor_seconds
) AS bill
CROSS JOIN LATERAL (
    SELECT CASE WHEN cust.prefix IS NULL THEN NULL
                WHEN bill.customer_seconds = 0 THEN 0
                ELSE round(bill.customer_seconds * cust.applied / 60 + cust.connection_fee, 6) END AS customer_charge,
           CASE WHEN vend.prefix IS NULL THEN NULL
                WHEN bill.vendor_seconds = 0 THEN 0
                ELSE round(bill.vendor_seconds * vend.applied / 60 + vend.connection_fee, 6) END AS vendor_cost
) AS charge
WHERE r.call_id LIKE 'demo-%@demo.warp.example'
  AND r.start_time >= pg_temp.demo_month() AND r.start_time < pg_temp.demo_month() + interval '1 month'
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Hourly summaries (per account, hour, direction, jurisdiction) and carrier performance.

INSERT INTO cdr.hourly_summary (id, hour_start, account_id, direction, jurisdiction, attempts, answered, asr,
                                acd_seconds, billable_minutes, revenue, cost, margin, computed_at)
SELECT pg_temp.demo_id('hourly_summary:' || h.hour_start::text || ':' || coalesce(h.account_id::text, '*') || ':'
                       || h.direction || ':' || h.jurisdiction),
       h.hour_start, h.account_id, h.direction, h.jurisdiction, h.attempts, h.answered,
       round(100.0 * h.answered / h.attempts, 4), h.acd_seconds, h.billable_minutes, h.revenue, h.cost,
       h.revenue - h.cost, h.hour_start + interval '1 hour 5 minutes'
FROM (
    SELECT date_trunc('hour', e.start_time, 'UTC') AS hour_start, e.account_id, e.direction,
           coalesce(e.jurisdiction, 'UNKNOWN') AS jurisdiction, count(*)::integer AS attempts,
           count(*) FILTER (WHERE e.answered)::integer AS answered,
           round(avg(e.duration_seconds) FILTER (WHERE e.answered), 2) AS acd_seconds,
           round(sum(e.billable_seconds) / 60.0, 4) AS billable_minutes,
           coalesce(sum(e.customer_charge), 0) AS revenue, coalesce(sum(e.vendor_cost), 0) AS cost
    FROM cdr.enriched_cdr e
    WHERE e.id = pg_temp.demo_id('enriched_cdr:' || (SELECT r.call_id FROM cdr.raw_cdr r
                                                     WHERE r.id = e.raw_cdr_id AND r.start_time = e.start_time))
    GROUP BY 1, 2, 3, 4
) AS h
ON CONFLICT DO NOTHING;

INSERT INTO vendor_mgmt.performance_metrics (id, carrier_id, carrier_trunk_id, hour_start, attempts, answered,
                                             completed, asr, acd_seconds, pdd_ms, ner, computed_at)
SELECT pg_temp.demo_id('performance_metrics:' || p.carrier_trunk_id || ':' || p.hour_start::text), ct.carrier_id,
       p.carrier_trunk_id, p.hour_start, p.attempts, p.answered, p.answered,
       round(100.0 * p.answered / p.attempts, 4), p.acd_seconds, p.pdd_ms,
       round(100.0 * (p.answered + p.busy) / p.attempts, 4), p.hour_start + interval '1 hour 5 minutes'
FROM (
    SELECT r.carrier_trunk_id, date_trunc('hour', r.start_time, 'UTC') AS hour_start, count(*)::integer AS attempts,
           count(*) FILTER (WHERE r.sip_code = 200)::integer AS answered,
           count(*) FILTER (WHERE r.sip_code = 486)::integer AS busy,
           round(avg(r.duration) FILTER (WHERE r.sip_code = 200), 2) AS acd_seconds,
           round(avg(r.pdd_ms), 2) AS pdd_ms
    FROM cdr.raw_cdr r
    WHERE r.call_id LIKE 'demo-%@demo.warp.example'
      AND r.start_time >= pg_temp.demo_month() AND r.start_time < pg_temp.demo_month() + interval '1 month'
    GROUP BY 1, 2
) AS p
JOIN routing.carrier_trunks ct ON ct.id = p.carrier_trunk_id
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Vendor CDRs from Alpha: our answered calls through Alpha (one disputed: Alpha bills 30 s more),
-- plus one call Alpha reports that we never saw.

INSERT INTO cdr.vendor_cdr (id, carrier_id, call_id, ani, dnis, start_time, duration, cost, currency, match_status,
                            raw_cdr_id, raw_cdr_start_time, source_file, source_line)
SELECT pg_temp.demo_id('vendor_cdr:' || r.call_id), ct.carrier_id, r.call_id, r.ani, r.dnis,
       r.start_time + interval '1 second',
       r.duration + CASE WHEN d.disputed THEN 30 ELSE 0 END,
       coalesce(e.vendor_cost, 0) + CASE WHEN d.disputed THEN 0.005000 ELSE 0 END, 'USD',
       CASE WHEN d.disputed THEN 'DISPUTED' ELSE 'MATCHED' END, r.id, r.start_time,
       'demo/alpha_cdrs_' || to_char(pg_temp.demo_month(), 'YYYY_MM') || '.csv',
       row_number() OVER (ORDER BY r.start_time, r.call_id)::integer
FROM cdr.raw_cdr r
JOIN routing.carrier_trunks ct ON ct.id = r.carrier_trunk_id
JOIN routing.carriers c ON c.id = ct.carrier_id AND c.name = 'alpha-voice'
LEFT JOIN cdr.enriched_cdr e ON e.raw_cdr_id = r.id AND e.start_time = r.start_time
CROSS JOIN LATERAL (SELECT r.call_id = 'demo-acme-4@demo.warp.example' AS disputed) AS d
WHERE r.call_id LIKE 'demo-%@demo.warp.example' AND r.sip_code = 200
  AND r.start_time >= pg_temp.demo_month() AND r.start_time < pg_temp.demo_month() + interval '1 month'
ON CONFLICT DO NOTHING;

INSERT INTO cdr.vendor_cdr (id, carrier_id, call_id, ani, dnis, start_time, duration, cost, currency, match_status,
                            source_file, source_line)
SELECT pg_temp.demo_id('vendor_cdr:alpha-only-1'), c.id, 'alpha-7781203@alpha.example', '+13035550101',
       '+13125550140', pg_temp.demo_month() + interval '20 hours', 95.000, 0.008000, 'USD', 'UNMATCHED',
       'demo/alpha_cdrs_' || to_char(pg_temp.demo_month(), 'YYYY_MM') || '.csv', 999
FROM routing.carriers c
WHERE c.name = 'alpha-voice'
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- API request log (bodies already sanitized, as audit.log_api_requests would store them).

INSERT INTO audit.api_request_log (id, requested_at, method, path, status_code, latency_ms, account_id, api_key_id,
                                   user_id, client_ip, request_id, user_agent, request_body, response_body)
SELECT pg_temp.demo_id('api_request_log:' || v.request_id), pg_temp.demo_month() + v.after::interval, v.method,
       v.path, v.status_code, v.latency_ms, a.id, k.id, u.id, v.client_ip::inet, v.request_id, 'warp-demo-client/1.0',
       v.request_body::jsonb, v.response_body::jsonb
FROM (VALUES
    ('demo-req-0001', '2 hours', 'GET', '/v1/dids', 200, 12.400, 'DEMO-ACME', 'demoacme', NULL, '127.0.0.1',
     NULL, '{"count": 16}'),
    ('demo-req-0002', '2 hours 5 minutes', 'POST', '/v1/number-reservations', 201, 38.100, 'DEMO-ACME', 'demoacme',
     NULL, '127.0.0.1', '{"numbers": ["+14155550150", "+14155550151", "+14155550152"]}', '{"reserved": 3}'),
    ('demo-req-0003', '3 hours', 'GET', '/v1/routing/lcr', 200, 4.700, 'DEMO-GLOBEX', 'demoglobex', NULL,
     '127.0.0.2', NULL, '{"candidates": 2}'),
    ('demo-req-0004', '3 hours 10 minutes', 'POST', '/v1/auth/login', 200, 260.000, 'DEMO-GLOBEX', NULL,
     'admin@globex.example', '127.0.0.2', '{"email": "admin@globex.example", "password": "[REDACTED]"}',
     '{"token": "[REDACTED]"}'),
    ('demo-req-0005', '4 hours', 'GET', '/v1/invoices', 200, 9.800, 'DEMO-INITECH', 'demoinitech', NULL,
     '203.0.113.10', NULL, '{"count": 1}'),
    ('demo-req-0006', '5 hours', 'GET', '/v1/dids', 401, 1.200, NULL, NULL, NULL, '192.0.2.200', NULL,
     '{"error": {"code": "invalid-api-key"}}')
) AS v (request_id, after, method, path, status_code, latency_ms, ban, key_prefix, email, client_ip, request_body,
        response_body)
LEFT JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN auth.api_keys k ON k.key_prefix = v.key_prefix
LEFT JOIN auth.users u ON lower(u.email) = lower(v.email)
ON CONFLICT DO NOTHING;
