-- Demo world, part 3: E911 addresses, 10DLC brands and campaigns (DIDs refer to them), number
-- inventory (available, reserved, aging, porting, active), toll-free data, DIDs with their
-- assignment history, port requests with their numbers, LRN cache. Idempotent (see 10_demo_accounts.sql).

SET LOCAL TimeZone = 'UTC';
-- Seeding is a platform action: act as staff for guards that check accounts.is_staff()
-- (e.g. port requests created directly in a later state). Lasts until the seed transaction ends.
SET LOCAL warp.role = 'staff';

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

INSERT INTO numbers.e911_addresses (id, account_id, caller_name, street, unit, city, state_code, postal_code,
                                    country, validation_status, validation_error, validated_at, provider_ref)
SELECT pg_temp.demo_id('e911_addresses:' || v.ban || ':' || v.slug), a.id, v.caller_name, v.street, v.unit, v.city,
       v.state_code, v.postal_code, 'US', v.status, v.error,
       CASE WHEN v.status <> 'PENDING' THEN timestamptz '2025-06-01 12:00:00+00' END,
       CASE WHEN v.status = 'VALID' THEN 'delta-e911:' || v.slug END
FROM (VALUES
    ('DEMO-ACME', 'hq', 'ACME TELECOM', '1700 Lincoln St', 'Suite 1200', 'Denver', 'CO', '80203', 'VALID', NULL),
    ('DEMO-ACME', 'boulder', 'ACME BOULDER', '1942 Broadway', NULL, 'Boulder', 'CO', '80302', 'VALID', NULL),
    ('DEMO-GLOBEX', 'nyc', 'GLOBEX VOICE', '350 5th Ave', 'Floor 40', 'New York', 'NY', '10118', 'VALID', NULL),
    ('DEMO-INITECH', 'austin', 'INITECH', '4301 W William Cannon Dr', 'Bldg B', 'Austin', 'TX', '78749-1234',
     'VALID', NULL),
    ('DEMO-INITECH', 'annex', 'INITECH ANNEX', '1 Nowhere Rd', NULL, 'Austin', 'TX', '78799', 'INVALID',
     'street: address not found by the validation provider'),
    ('DEMO-UMBRELLA', 'chicago', 'UMBRELLA CLINICS', '233 S Wacker Dr', NULL, 'Chicago', 'IL', '60606', 'VALID', NULL)
) AS v (ban, slug, caller_name, street, unit, city, state_code, postal_code, status, error)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- 10DLC brands and campaigns.

INSERT INTO messaging.brands_10dlc (id, account_id, legal_name, dba_name, entity_type, tax_id, vertical, website,
                                    country, status, external_ref, service_provider_id, submitted_at, verified_at)
SELECT pg_temp.demo_id('brands_10dlc:' || v.ban), a.id, a.legal_name, a.name, v.entity_type, a.tax_id, v.vertical,
       v.website, 'US', v.status, v.external_ref, sp.id, timestamptz '2025-05-01 12:00:00+00',
       CASE WHEN v.status <> 'PENDING' THEN timestamptz '2025-05-03 12:00:00+00' END
FROM (VALUES
    ('DEMO-ACME', 'PRIVATE_PROFIT', 'TECHNOLOGY', 'https://acme.example', 'VERIFIED', 'BDEMOAC'),
    ('DEMO-GLOBEX', 'PUBLIC_PROFIT', 'COMMUNICATION', 'https://globex.example', 'VETTED_VERIFIED', 'BDEMOGX'),
    ('DEMO-INITECH', 'PRIVATE_PROFIT', 'PROFESSIONAL', 'https://initech.example', 'PENDING', NULL)
) AS v (ban, entity_type, vertical, website, status, external_ref)
JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN vendor_mgmt.service_providers sp ON sp.name = 'echo-sms'
ON CONFLICT DO NOTHING;

INSERT INTO messaging.campaigns_10dlc (id, account_id, brand_id, name, use_case, description, sample_messages,
                                       message_flow, opt_in_message, opt_out_message, help_message, status,
                                       throughput_mps, external_ref, submitted_at, approved_at)
SELECT pg_temp.demo_id('campaigns_10dlc:' || v.slug), a.id, b.id, v.name, v.use_case, v.description,
       v.samples::text[], 'Customers opt in on the web form or by texting START.',
       'You are subscribed to ' || a.name || ' messages. Reply STOP to opt out.',
       'You are unsubscribed from ' || a.name || ' messages. No more messages will be sent.',
       a.name || ': reply STOP to opt out. Msg&data rates may apply.',
       v.status, v.mps, v.external_ref, timestamptz '2025-05-05 12:00:00+00',
       CASE WHEN v.status = 'APPROVED' THEN timestamptz '2025-05-08 12:00:00+00' END
FROM (VALUES
    ('DEMO-ACME', 'acme-reminders', 'Acme appointment reminders', 'CUSTOMER_CARE',
     'Appointment reminders and rescheduling for Acme customers.',
     '{"Acme: your technician arrives tomorrow 9-11am. Reply C to confirm.","Acme: appointment confirmed. Reply STOP to opt out."}',
     'APPROVED', 10, 'CDEMOAC1'),
    ('DEMO-GLOBEX', 'globex-notify', 'Globex verification codes', '2FA',
     'One-time passcodes for Globex portal logins.',
     '{"Your Globex code is 482913.","Globex: use 120334 to sign in. Never share this code."}',
     'APPROVED', 30, 'CDEMOGX1'),
    ('DEMO-INITECH', 'initech-marketing', 'Initech newsletter', 'MARKETING',
     'Monthly product newsletter to opted-in customers.',
     '{"Initech: TPS reports just got easier. Reply STOP to opt out."}',
     'PENDING', NULL, NULL)
) AS v (ban, slug, name, use_case, description, samples, status, mps, external_ref)
JOIN accounts.accounts a ON a.ban = v.ban
JOIN messaging.brands_10dlc b ON b.id = pg_temp.demo_id('brands_10dlc:' || v.ban)
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Number plan: blocks of numbers with their status, owner and DID configuration.

CREATE OR REPLACE TEMP VIEW demo_numbers AS
SELECT '+1' || b.npa || b.nxx || lpad(g::text, 4, '0') AS number, b.npa, b.nxx, b.number_type, b.status,
       b.owner_ban, b.trunk, b.e911, b.messaging, b.campaign, b.cnam, b.exempt_reason, b.features::text[] AS features
FROM (VALUES
    -- active DIDs
    ('303', '555', 100, 10, 'DID', 'ACTIVE', 'DEMO-ACME', 'acme-main', 'hq', true, 'acme-reminders', 'ACME TELECOM',
     NULL, '{VOICE,SMS,MMS,E911}'),
    ('720', '555', 100, 5, 'DID', 'ACTIVE', 'DEMO-ACME', 'acme-remote', 'boulder', false, NULL, 'ACME BOULDER', NULL,
     '{VOICE,SMS,E911}'),
    ('212', '555', 100, 5, 'DID', 'ACTIVE', 'DEMO-GLOBEX', 'globex-core', 'nyc', true, 'globex-notify', 'GLOBEX',
     NULL, '{VOICE,SMS,MMS,E911}'),
    ('646', '555', 100, 3, 'DID', 'ACTIVE', 'DEMO-GLOBEX', 'globex-core', 'nyc', false, NULL, NULL, NULL,
     '{VOICE,SMS,E911}'),
    ('512', '555', 100, 5, 'DID', 'ACTIVE', 'DEMO-INITECH', 'initech-pbx', 'austin', false, NULL, 'INITECH', NULL,
     '{VOICE,SMS,E911}'),
    ('312', '555', 100, 1, 'DID', 'ACTIVE', 'DEMO-UMBRELLA', 'umbrella-edge', 'chicago', false, NULL, 'UMBRELLA',
     NULL, '{VOICE,SMS,E911}'),
    ('312', '555', 101, 1, 'DID', 'ACTIVE', 'DEMO-UMBRELLA', 'umbrella-edge', NULL, false, NULL, NULL,
     'Fax-only line in a clinic with E911 service on its main numbers', '{VOICE,FAX}'),
    ('833', '555', 100, 1, 'TOLL_FREE', 'ACTIVE', 'DEMO-ACME', 'acme-main', 'hq', false, NULL, NULL, NULL,
     '{VOICE,SMS}'),
    ('833', '555', 101, 1, 'TOLL_FREE', 'ACTIVE', 'DEMO-GLOBEX', 'globex-core', 'nyc', false, NULL, NULL, NULL,
     '{VOICE,SMS}'),
    -- inventory not assigned to anyone
    ('303', '555', 150, 30, 'DID', 'AVAILABLE', NULL, NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,MMS,E911}'),
    ('415', '555', 100, 40, 'DID', 'AVAILABLE', NULL, NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,MMS,E911}'),
    ('305', '555', 100, 20, 'DID', 'AVAILABLE', NULL, NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,E911}'),
    ('833', '555', 102, 8, 'TOLL_FREE', 'AVAILABLE', NULL, NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS}'),
    ('888', '555', 100, 5, 'TOLL_FREE', 'AVAILABLE', NULL, NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS}'),
    ('415', '555', 150, 3, 'DID', 'RESERVED', 'DEMO-ACME', NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,MMS,E911}'),
    ('305', '555', 120, 2, 'DID', 'AGING', NULL, NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,E911}'),
    ('303', '555', 180, 3, 'DID', 'PORTING_IN', 'DEMO-ACME', NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,E911}'),
    ('212', '555', 180, 1, 'DID', 'PORTING_IN', 'DEMO-GLOBEX', NULL, NULL, false, NULL, NULL, NULL, '{VOICE,SMS,E911}')
) AS b (npa, nxx, first, count, number_type, status, owner_ban, trunk, e911, messaging, campaign, cnam,
        exempt_reason, features)
CROSS JOIN LATERAL generate_series(b.first, b.first + b.count - 1) AS g;

INSERT INTO numbers.inventory (id, number, number_type, status, npa, nxx, rate_center, state, lata, ocn, country,
                               features, reserved_by_account_id, reserved_at, reservation_expires_at,
                               aging_expires_at, status_changed_at, metadata)
SELECT pg_temp.demo_id('inventory:' || n.number), n.number, n.number_type, n.status, n.npa, n.nxx, l.rate_center,
       l.state, l.lata, l.ocn, 'US', n.features,
       CASE WHEN n.status = 'RESERVED' THEN a.id END,
       CASE WHEN n.status = 'RESERVED' THEN pg_temp.demo_month() END,
       CASE WHEN n.status = 'RESERVED' THEN pg_temp.demo_month() + interval '1 month' END,
       CASE WHEN n.status = 'AGING' THEN pg_temp.demo_month() + interval '90 days' END,
       CASE WHEN n.status = 'ACTIVE' THEN timestamptz '2025-06-01 12:00:00+00' ELSE pg_temp.demo_month() END,
       '{"source": "warp-demo"}'::jsonb
FROM demo_numbers n
LEFT JOIN cdr.lerg l ON l.npa = n.npa AND l.nxx = n.nxx
LEFT JOIN accounts.accounts a ON a.ban = n.owner_ban
ON CONFLICT DO NOTHING;

INSERT INTO numbers.toll_free (id, inventory_id, resp_org_id, resp_org_name, sms800_status, messaging_enabled,
                               verification_status)
SELECT pg_temp.demo_id('toll_free:' || n.number), i.id, 'WRP01', 'WARP Demo RespOrg',
       CASE WHEN n.status = 'ACTIVE' THEN 'WORKING' ELSE 'SPARE' END,
       n.status = 'ACTIVE', CASE WHEN n.status = 'ACTIVE' THEN 'VERIFIED' ELSE 'NOT_SUBMITTED' END
FROM demo_numbers n
JOIN numbers.inventory i ON i.number = n.number
WHERE n.number_type = 'TOLL_FREE'
ON CONFLICT DO NOTHING;

INSERT INTO numbers.dids (id, account_id, inventory_id, number, status, trunk_id, voice_enabled, messaging_enabled,
                          campaign_id, cnam_name, e911_address_id, e911_exempt, e911_exempt_reason, activated_at,
                          metadata)
SELECT pg_temp.demo_id('dids:' || n.number), a.id, i.id, i.number, 'ACTIVE', t.id, true, n.messaging,
       CASE WHEN n.campaign IS NOT NULL THEN pg_temp.demo_id('campaigns_10dlc:' || n.campaign) END,
       n.cnam, e.id, n.exempt_reason IS NOT NULL, n.exempt_reason, timestamptz '2025-06-01 12:00:00+00',
       '{"source": "warp-demo"}'::jsonb
FROM demo_numbers n
JOIN numbers.inventory i ON i.number = n.number
JOIN accounts.accounts a ON a.ban = n.owner_ban
LEFT JOIN routing.trunks t ON t.account_id = a.id AND t.name = n.trunk
LEFT JOIN numbers.e911_addresses e ON e.id = pg_temp.demo_id('e911_addresses:' || n.owner_ban || ':' || n.e911)
WHERE n.status = 'ACTIVE'
ON CONFLICT DO NOTHING;

INSERT INTO numbers.did_assignments (id, account_id, inventory_id, number, activated_at, disconnected_at)
SELECT pg_temp.demo_id('did_assignments:' || d.number || ':2025-06-01'), d.account_id, d.inventory_id, d.number,
       d.activated_at, NULL
FROM numbers.dids d
WHERE d.id = pg_temp.demo_id('dids:' || d.number)
ON CONFLICT DO NOTHING;

-- A closed assignment: an aging number that Umbrella held before releasing it.
INSERT INTO numbers.did_assignments (id, account_id, inventory_id, number, activated_at, disconnected_at)
SELECT pg_temp.demo_id('did_assignments:' || i.number || ':2025-02-01'), a.id, i.id, i.number,
       timestamptz '2025-02-01 12:00:00+00', pg_temp.demo_month() - interval '1 day'
FROM numbers.inventory i
JOIN accounts.accounts a ON a.ban = 'DEMO-UMBRELLA'
WHERE i.number = '+13055550120'
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Port-in requests: FOC received (Acme), submitted (Globex), rejected (Initech).

INSERT INTO numbers.port_requests (id, account_id, direction, status, losing_carrier_name,
                                   losing_carrier_account_number, pin_secret_ref, authorized_name, service_address,
                                   loa_document_id, requested_date, foc_date, rejection_code, rejection_reason,
                                   submitted_at, foc_received_at, metadata)
SELECT pg_temp.demo_id('port_requests:' || v.ban || ':' || v.slug), a.id, 'PORT_IN', v.status, v.losing_carrier,
       v.losing_account, 'secret:port-pin/' || v.ban || '/' || v.slug, v.authorized_name, v.address::jsonb,
       pg_temp.demo_id('documents:' || v.ban || ':loa-' || v.slug),
       (pg_temp.demo_month() + interval '14 days')::date,
       CASE WHEN v.status = 'FOC_RECEIVED' THEN (pg_temp.demo_month() + interval '14 days')::date END,
       v.rejection_code, v.rejection_reason,
       pg_temp.demo_month() + interval '1 day',
       CASE WHEN v.status = 'FOC_RECEIVED' THEN pg_temp.demo_month() + interval '3 days' END,
       '{"source": "warp-demo"}'::jsonb
FROM (VALUES
    ('DEMO-ACME', 'port-1', 'FOC_RECEIVED', 'Old Telco Inc.', 'OT-778812', 'Wile E. Coyote',
     '{"street": "1700 Lincoln St", "city": "Denver", "state": "CO", "postal_code": "80203"}', NULL, NULL),
    ('DEMO-GLOBEX', 'port-2', 'SUBMITTED', 'Metro Fiber LLC', 'MF-100233', 'Hank Scorpio',
     '{"street": "350 5th Ave", "city": "New York", "state": "NY", "postal_code": "10118"}', NULL, NULL),
    ('DEMO-INITECH', 'port-3', 'REJECTED', 'Lone Star Phone Co.', 'LS-55-0192', 'Bill Lumbergh',
     '{"street": "4301 W William Cannon Dr", "city": "Austin", "state": "TX", "postal_code": "78749"}', '6F',
     'Authorized name does not match the losing carrier''s records')
) AS v (ban, slug, status, losing_carrier, losing_account, authorized_name, address, rejection_code,
        rejection_reason)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

INSERT INTO numbers.port_request_numbers (id, port_request_id, account_id, number, status, inventory_id,
                                          rejection_reason)
SELECT pg_temp.demo_id('port_request_numbers:' || v.number), pr.id, pr.account_id, v.number, v.status, i.id,
       v.rejection_reason
FROM (VALUES
    ('DEMO-ACME', 'port-1', '+13035550180', 'PENDING', NULL),
    ('DEMO-ACME', 'port-1', '+13035550181', 'PENDING', NULL),
    ('DEMO-ACME', 'port-1', '+13035550182', 'PENDING', NULL),
    ('DEMO-GLOBEX', 'port-2', '+12125550180', 'PENDING', NULL),
    ('DEMO-INITECH', 'port-3', '+15125550180', 'REJECTED', 'Authorized name mismatch')
) AS v (ban, slug, number, status, rejection_reason)
JOIN numbers.port_requests pr ON pr.id = pg_temp.demo_id('port_requests:' || v.ban || ':' || v.slug)
LEFT JOIN numbers.inventory i ON i.number = v.number
ON CONFLICT DO NOTHING;

-- LRN cache: two demo numbers ported to another switch, one known not ported.
INSERT INTO cdr.lrn_cache (id, number, lrn, source, service_provider_id, looked_up_at, expires_at)
SELECT pg_temp.demo_id('lrn_cache:' || v.number), v.number, v.lrn, v.source, sp.id,
       pg_temp.demo_month(), CASE WHEN v.source = 'PROVIDER' THEN pg_temp.demo_month() + interval '30 days' END
FROM (VALUES
    ('+12125550150', '+16465550999', 'IMPORT'),
    ('+14155550199', '+15125550999', 'PROVIDER'),
    ('+13125550150', NULL, 'PROVIDER')
) AS v (number, lrn, source)
LEFT JOIN vendor_mgmt.service_providers sp ON sp.name = 'foxtrot-lrn' AND v.source = 'PROVIDER'
ON CONFLICT DO NOTHING;
