-- Demo world, part 4: messaging credentials, inbound routes, opt-outs, MDRs of the current month,
-- webhook events and their delivery attempts. Idempotent (see 10_demo_accounts.sql).
-- SMPP demo credentials: system_id acmesmpp / initechsmpp, password demo-smpp-password.

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

-- Passwords are hashed only for rows that do not exist yet (bcrypt salts differ on every run).
INSERT INTO messaging.customer_sms_auth (id, account_id, auth_type, system_id, password_hash, api_key_id,
                                         allowed_ips, max_tps, enabled)
SELECT pg_temp.demo_id('customer_sms_auth:' || v.ban), a.id, v.auth_type, v.system_id,
       CASE WHEN v.auth_type = 'SMPP' THEN crypt('demo-smpp-password', gen_salt('bf', 12)) END,
       k.id, v.allowed_ips::inet[], v.max_tps, true
FROM (VALUES
    ('DEMO-ACME', 'SMPP', 'acmesmpp', NULL, '{127.0.0.1/32,192.0.2.0/28}', 20),
    ('DEMO-GLOBEX', 'HTTP', NULL, 'demoglobex', '{}', 50),
    ('DEMO-INITECH', 'SMPP', 'initechsmpp', NULL, '{203.0.113.0/25}', 5)
) AS v (ban, auth_type, system_id, key_prefix, allowed_ips, max_tps)
JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN auth.api_keys k ON k.key_prefix = v.key_prefix
WHERE NOT EXISTS (SELECT 1 FROM messaging.customer_sms_auth c WHERE c.id = pg_temp.demo_id('customer_sms_auth:' || v.ban))
ON CONFLICT DO NOTHING;

INSERT INTO messaging.inbound_routes (id, account_id, did_id, route_type, webhook_url, status_webhook_url,
                                      webhook_secret_ref, customer_sms_auth_id, enabled)
SELECT pg_temp.demo_id('inbound_routes:' || v.ban || ':' || coalesce(v.number, '*')), a.id, d.id, v.route_type,
       v.webhook_url, v.status_url,
       CASE WHEN v.route_type = 'WEBHOOK' THEN 'secret:webhooks/' || v.ban END,
       CASE WHEN v.route_type = 'SMPP' THEN pg_temp.demo_id('customer_sms_auth:' || v.ban) END, true
FROM (VALUES
    ('DEMO-ACME', NULL, 'WEBHOOK', 'https://hooks.acme.example/warp/messages', 'https://hooks.acme.example/warp/status'),
    ('DEMO-ACME', '+13035550109', 'STORE', NULL, NULL),
    ('DEMO-GLOBEX', NULL, 'WEBHOOK', 'https://api.globex.example/sms/inbound', 'https://api.globex.example/sms/status'),
    ('DEMO-INITECH', NULL, 'SMPP', NULL, NULL)
) AS v (ban, number, route_type, webhook_url, status_url)
JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN numbers.dids d ON d.number = v.number AND d.account_id = a.id
ON CONFLICT DO NOTHING;

INSERT INTO messaging.opt_outs (id, account_id, campaign_id, recipient_number, keyword, source, opted_out_at)
SELECT pg_temp.demo_id('opt_outs:' || v.ban || ':' || v.recipient || ':' || coalesce(v.campaign, '*')), a.id,
       c.id, v.recipient, v.keyword, v.source, pg_temp.demo_month() + v.after::interval
FROM (VALUES
    ('DEMO-ACME', 'acme-reminders', '+17205550207', 'STOP', 'KEYWORD', '5 hours'),
    ('DEMO-ACME', NULL, '+17205550299', NULL, 'API', '1 day'),
    ('DEMO-GLOBEX', 'globex-notify', '+16465550211', 'UNSUBSCRIBE', 'KEYWORD', '7 hours'),
    ('DEMO-INITECH', NULL, '+15125550299', NULL, 'MANUAL', '2 days')
) AS v (ban, campaign, recipient, keyword, source, after)
JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN messaging.campaigns_10dlc c ON c.id = pg_temp.demo_id('campaigns_10dlc:' || v.campaign)
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- MDRs: 20 messages per messaging account in the first day of the current month, priced from the
-- account's rate plan (35_demo_rate_plans.sql).

CREATE OR REPLACE TEMP VIEW demo_mdr AS
SELECT pg_temp.demo_id('mdr:' || s.ban || ':' || g.i) AS id,
       pg_temp.demo_month() + s.start_offset::interval + g.i * interval '53 minutes' AS created_at,
       s.ban, g.i,
       CASE WHEN g.i % 5 = 0 THEN 'INBOUND' ELSE 'OUTBOUND' END AS direction,
       s.did_prefix || lpad((100 + g.i % 5)::text, 4, '0') AS our_number,
       s.peer_prefix || lpad((200 + g.i)::text, 4, '0') AS peer_number,
       s.campaign,
       CASE WHEN g.i % 5 = 0 THEN 'RECEIVED'
            WHEN g.i % 7 = 0 THEN 'FAILED'
            WHEN g.i % 11 = 0 THEN 'UNDELIVERED'
            ELSE 'DELIVERED' END AS status,
       CASE WHEN g.i % 6 = 0 THEN 2 ELSE 1 END AS segments,
       CASE WHEN g.i % 5 = 0 THEN 'C' ELSE s.body END AS body
FROM (VALUES
    ('DEMO-ACME', '+1303555', '+1720555', 'acme-reminders', '0 hours',
     'Acme: your technician arrives tomorrow 9-11am. Reply C to confirm.'),
    ('DEMO-GLOBEX', '+1212555', '+1646555', 'globex-notify', '30 minutes', 'Your Globex code is 482913.')
) AS s (ban, did_prefix, peer_prefix, campaign, start_offset, body)
CROSS JOIN generate_series(1, 20) AS g (i);

INSERT INTO messaging.mdr (id, created_at, account_id, direction, message_type, from_number, to_number, did_id,
                           campaign_id, body, encoding, segments, status, error_code, error_message,
                           service_provider_id, vendor_message_ref, rate, charge, vendor_cost, sent_at,
                           delivered_at, status_changed_at, metadata)
SELECT m.id, m.created_at, a.id, m.direction, 'SMS',
       CASE WHEN m.direction = 'OUTBOUND' THEN m.our_number ELSE m.peer_number END,
       CASE WHEN m.direction = 'OUTBOUND' THEN m.peer_number ELSE m.our_number END,
       d.id, CASE WHEN m.direction = 'OUTBOUND' THEN c.id END, m.body, 'GSM-7', m.segments, m.status,
       CASE m.status WHEN 'FAILED' THEN '30007' WHEN 'UNDELIVERED' THEN '30003' END,
       CASE m.status WHEN 'FAILED' THEN 'Message filtered by carrier' WHEN 'UNDELIVERED' THEN 'Handset unreachable' END,
       sp.id, 'echo-' || substr(m.id::text, 1, 8),
       r.rate, m.segments * r.rate, m.segments * 0.002500,
       CASE WHEN m.direction = 'OUTBOUND' THEN m.created_at + interval '1 second' END,
       CASE WHEN m.status = 'DELIVERED' THEN m.created_at + interval '4 seconds' END,
       m.created_at + interval '4 seconds', '{"source": "warp-demo"}'::jsonb
FROM demo_mdr m
JOIN accounts.accounts a ON a.ban = m.ban
LEFT JOIN numbers.dids d ON d.number = m.our_number AND d.account_id = a.id
LEFT JOIN messaging.campaigns_10dlc c ON c.id = pg_temp.demo_id('campaigns_10dlc:' || m.campaign)
LEFT JOIN vendor_mgmt.service_providers sp ON sp.name = 'echo-sms'
LEFT JOIN LATERAL (
    SELECT mr.rate
    FROM billing.account_rate_plans arp
    JOIN billing.messaging_rates mr ON mr.rate_plan_id = arp.rate_plan_id
    WHERE arp.account_id = a.id
      AND arp.effective_at <= m.created_at AND (arp.expires_at IS NULL OR arp.expires_at > m.created_at)
      AND mr.message_type = 'SMS' AND mr.direction = m.direction AND mr.destination_type = 'DOMESTIC'
      AND mr.effective_date <= m.created_at::date
      AND (mr.expires_date IS NULL OR mr.expires_date > m.created_at::date)
) AS r ON true
ON CONFLICT DO NOTHING;

-- Webhook events for the first eight messages of each account; Acme's message 7 (failed) could not
-- be delivered to Acme's endpoint after three attempts.
INSERT INTO messaging.webhook_events (id, account_id, event_type, mdr_id, mdr_created_at, target_url, payload,
                                      status, attempt_count, next_attempt_at, last_attempt_at, delivered_at,
                                      expires_at)
SELECT pg_temp.demo_id('webhook_events:' || m.ban || ':' || m.i), a.id, e.event_type, m.id, m.created_at,
       CASE WHEN m.direction = 'INBOUND' THEN r.webhook_url ELSE r.status_webhook_url END,
       jsonb_build_object('event', e.event_type, 'message_id', m.id, 'status', m.status,
                          'from', mdr.from_number, 'to', mdr.to_number, 'segments', m.segments,
                          'occurred_at', mdr.status_changed_at),
       CASE WHEN e.failing THEN 'FAILED' ELSE 'DELIVERED' END,
       CASE WHEN e.failing THEN 3 ELSE 1 END,
       mdr.status_changed_at,
       mdr.status_changed_at + CASE WHEN e.failing THEN interval '5 minutes' ELSE interval '1 second' END,
       CASE WHEN NOT e.failing THEN mdr.status_changed_at + interval '1 second' END,
       mdr.status_changed_at + interval '24 hours'
FROM demo_mdr m
JOIN accounts.accounts a ON a.ban = m.ban
JOIN messaging.mdr mdr ON mdr.id = m.id AND mdr.created_at = m.created_at
JOIN messaging.inbound_routes r ON r.account_id = a.id AND r.did_id IS NULL
CROSS JOIN LATERAL (
    SELECT CASE WHEN m.direction = 'INBOUND' THEN 'message.received'
                WHEN m.status = 'DELIVERED' THEN 'message.delivered'
                ELSE 'message.failed' END AS event_type,
           (m.ban = 'DEMO-ACME' AND m.i = 7) AS failing
) AS e
WHERE m.i <= 8
ON CONFLICT DO NOTHING;

INSERT INTO messaging.webhook_attempts (id, webhook_event_id, account_id, mdr_id, mdr_created_at, attempt,
                                        request_url, status_code, latency_ms, error, attempted_at)
SELECT pg_temp.demo_id('webhook_attempts:' || w.id || ':' || n.attempt), w.id, w.account_id, w.mdr_id,
       w.mdr_created_at, n.attempt, w.target_url,
       CASE WHEN w.status = 'DELIVERED' THEN 200 WHEN n.attempt = 3 THEN NULL ELSE 500 + n.attempt END,
       CASE WHEN w.status = 'DELIVERED' THEN 85 + n.attempt WHEN n.attempt = 3 THEN 10000 ELSE 240 END,
       CASE WHEN w.status = 'DELIVERED' THEN NULL
            WHEN n.attempt = 3 THEN 'timeout after 10000 ms'
            ELSE 'HTTP ' || (500 + n.attempt) END,
       w.next_attempt_at + (n.attempt - 1) * interval '2 minutes'
FROM messaging.webhook_events w
CROSS JOIN LATERAL generate_series(1, w.attempt_count) AS n (attempt)
WHERE w.id IN (SELECT pg_temp.demo_id('webhook_events:' || m.ban || ':' || m.i) FROM demo_mdr m)
ON CONFLICT DO NOTHING;
