-- Demo world, part 2: vendors and service providers, carriers (routing identity + vendor_mgmt
-- commercials), carrier trunks, LERG rows for the demo NPA-NXXs, rate decks (US NPA-NXX
-- jurisdictional rows + international prefixes), routing partitions, customer trunks with ACLs,
-- blacklist, SLAs, vendor incidents and the STIR/SHAKEN certificate. Idempotent (see 10_demo_accounts.sql).

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
-- Vendors, service providers, contracts, SMPP bind.

INSERT INTO vendor_mgmt.vendors (id, name, vendor_type, status, website, support_email, support_phone, metadata)
SELECT pg_temp.demo_id('vendors:' || v.name), v.name, v.vendor_type, 'ACTIVE', v.website, v.email, v.phone,
       '{"demo": true}'::jsonb
FROM (VALUES
    ('Alpha Voice Networks', 'CARRIER', 'https://alpha.example', 'noc@alpha.example', '+18005550101'),
    ('Bravo Telecom', 'CARRIER', 'https://bravo.example', 'support@bravo.example', '+18005550102'),
    ('Charlie International', 'CARRIER', 'https://charlie.example', 'noc@charlie.example', '+442079460103'),
    ('Delta Emergency Services', 'E911', 'https://delta911.example', 'ops@delta911.example', '+18005550104'),
    ('Echo Messaging', 'MESSAGING', 'https://echo.example', 'support@echo.example', '+18005550105'),
    ('Foxtrot LNP', 'LRN', 'https://foxtrot.example', 'support@foxtrot.example', '+18005550106')
) AS v (name, vendor_type, website, email, phone)
ON CONFLICT DO NOTHING;

INSERT INTO vendor_mgmt.service_providers (id, vendor_id, name, provider_type, capabilities, config, priority,
                                           enabled, health_status)
SELECT pg_temp.demo_id('service_providers:' || v.name), vd.id, v.name, v.provider_type, v.capabilities::text[],
       v.config::jsonb, v.priority, true, 'UNKNOWN'
FROM (VALUES
    ('echo-sms', 'Echo Messaging', 'smpp', '{sms,mms,10dlc}',
     '{"smpp_connector": "echo-smpp-1", "api_key": "env:WARP_DEMO_ECHO_API_KEY"}', 10),
    ('foxtrot-lrn', 'Foxtrot LNP', 'http_lrn', '{lrn_lookup}',
     '{"base_url": "https://lrn.foxtrot.example/v1", "token": "env:WARP_DEMO_FOXTROT_TOKEN", "ttl_days": 30}', 10),
    ('delta-e911', 'Delta Emergency Services', 'local_e911', '{e911}', '{"mode": "local-validator"}', 10)
) AS v (name, vendor, provider_type, capabilities, config, priority)
JOIN vendor_mgmt.vendors vd ON vd.name = v.vendor
ON CONFLICT DO NOTHING;

INSERT INTO vendor_mgmt.contracts (id, vendor_id, name, status, start_date, end_date, auto_renew,
                                   renewal_notice_days, commitment_amount, commitment_period, payment_terms_days,
                                   terms, document_ref)
SELECT pg_temp.demo_id('contracts:' || v.name), vd.id, v.name, 'ACTIVE', v.start_date::date, v.end_date::date,
       true, 60, v.commitment, v.period, 30, v.terms, 's3://warp-demo-documents/vendors/' || v.slug || '.pdf'
FROM (VALUES
    ('Alpha Voice Networks', 'Alpha termination agreement 2025', 'alpha-2025', '2025-01-01', '2027-12-31',
     5000.00, 'MONTHLY', 'US termination, 6/6 billing'),
    ('Bravo Telecom', 'Bravo wholesale agreement 2025', 'bravo-2025', '2025-01-01', '2026-12-31',
     NULL, NULL, 'US + international termination, 1/1 billing'),
    ('Charlie International', 'Charlie international agreement', 'charlie-2025', '2025-03-01', NULL,
     12000.00, 'QUARTERLY', 'International termination'),
    ('Echo Messaging', 'Echo A2P messaging agreement', 'echo-2025', '2025-01-01', '2027-01-01',
     NULL, NULL, 'SMS/MMS, 10DLC pass-through fees')
) AS v (vendor, name, slug, start_date, end_date, commitment, period, terms)
JOIN vendor_mgmt.vendors vd ON vd.name = v.vendor
ON CONFLICT DO NOTHING;

INSERT INTO vendor_mgmt.smpp_connectors (id, vendor_id, service_provider_id, name, host, port, system_id,
                                         password_ref, bind_type, use_tls, throughput_mps, window_size)
SELECT pg_temp.demo_id('smpp_connectors:echo-smpp-1'), vd.id, sp.id, 'echo-smpp-1', 'smpp.echo.example', 2776,
       'warpdemo', 'env:WARP_DEMO_ECHO_SMPP_PASSWORD', 'TRANSCEIVER', true, 50, 20
FROM vendor_mgmt.vendors vd
JOIN vendor_mgmt.service_providers sp ON sp.name = 'echo-sms'
WHERE vd.name = 'Echo Messaging'
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Carriers: identity in routing.carriers, commercials in vendor_mgmt.carriers (1:1).

INSERT INTO routing.carriers (id, name, display_name, carrier_type, enabled, metadata)
SELECT pg_temp.demo_id('carriers:' || v.name), v.name, v.display_name, v.carrier_type, true, '{"demo": true}'::jsonb
FROM (VALUES
    ('alpha-voice', 'Alpha Voice Networks', 'BOTH'),
    ('bravo-telecom', 'Bravo Telecom', 'TERMINATION'),
    ('charlie-intl', 'Charlie International', 'TERMINATION'),
    ('delta-e911', 'Delta Emergency Services', 'TERMINATION')
) AS v (name, display_name, carrier_type)
ON CONFLICT DO NOTHING;

INSERT INTO vendor_mgmt.carriers (id, carrier_id, vendor_id, contract_id, ocn, interconnect_type,
                                  billing_increment, payment_terms_days, noc_email, billing_email)
SELECT pg_temp.demo_id('vendor_mgmt.carriers:' || v.carrier), c.id, vd.id, ct.id, v.ocn, 'SIP', v.increment, 30,
       v.noc_email, v.billing_email
FROM (VALUES
    ('alpha-voice', 'Alpha Voice Networks', 'Alpha termination agreement 2025', '9A01', '6/6',
     'noc@alpha.example', 'billing@alpha.example'),
    ('bravo-telecom', 'Bravo Telecom', 'Bravo wholesale agreement 2025', '9B02', '1/1',
     'noc@bravo.example', 'billing@bravo.example'),
    ('charlie-intl', 'Charlie International', 'Charlie international agreement', NULL, '1/1',
     'noc@charlie.example', 'billing@charlie.example'),
    ('delta-e911', 'Delta Emergency Services', NULL, '9D04', NULL, 'ops@delta911.example', NULL)
) AS v (carrier, vendor, contract, ocn, increment, noc_email, billing_email)
JOIN routing.carriers c ON c.name = v.carrier
JOIN vendor_mgmt.vendors vd ON vd.name = v.vendor
LEFT JOIN vendor_mgmt.contracts ct ON ct.name = v.contract AND ct.vendor_id = vd.id
ON CONFLICT DO NOTHING;

INSERT INTO routing.carrier_trunks (id, carrier_id, name, host, port, transport, priority, weight, max_channels,
                                    tech_prefix, is_emergency, enabled)
SELECT pg_temp.demo_id('carrier_trunks:' || v.name), c.id, v.name, v.host, v.port, v.transport, v.priority,
       v.weight, v.max_channels, v.tech_prefix, v.is_emergency, true
FROM (VALUES
    ('alpha-voice', 'alpha-east', 'sip-east.alpha.example', 5060, 'udp', 10, 60, 500, NULL, false),
    ('alpha-voice', 'alpha-west', 'sip-west.alpha.example', 5060, 'udp', 10, 40, 500, NULL, false),
    ('bravo-telecom', 'bravo-main', 'sbc.bravo.example', 5061, 'tls', 20, 100, 300, '7788#', false),
    ('charlie-intl', 'charlie-intl-1', 'intl.charlie.example', 5060, 'tcp', 30, 100, 200, NULL, false),
    ('delta-e911', 'delta-e911-1', 'e911.delta911.example', 5060, 'udp', 0, 100, 50, NULL, true)
) AS v (carrier, name, host, port, transport, priority, weight, max_channels, tech_prefix, is_emergency)
JOIN routing.carriers c ON c.name = v.carrier
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- LERG: the demo NPA-NXXs (NXX 555 and 200-223 in eight NPAs), with state, LATA, OCN, rate center.

CREATE OR REPLACE TEMP VIEW demo_npas (npa, state, lata, ocn, rate_center, company, base_rate) AS
VALUES
    ('303', 'CO', '656', '9740', 'DENVER', 'Qwest Corporation (demo)', 0.0040),
    ('720', 'CO', '656', '9740', 'DENVER', 'Qwest Corporation (demo)', 0.0042),
    ('212', 'NY', '132', '9104', 'NWYRCYZN01', 'Verizon New York (demo)', 0.0045),
    ('646', 'NY', '132', '9104', 'NWYRCYZN01', 'Verizon New York (demo)', 0.0047),
    ('415', 'CA', '722', '9740', 'SNFC CNTRL', 'Pacific Bell (demo)', 0.0050),
    ('312', 'IL', '358', '9533', 'CHICAGO', 'Illinois Bell (demo)', 0.0043),
    ('512', 'TX', '558', '9327', 'AUSTIN', 'Southwestern Bell (demo)', 0.0041),
    ('305', 'FL', '460', '9417', 'MIAMI', 'BellSouth (demo)', 0.0046);

CREATE OR REPLACE TEMP VIEW demo_npa_nxx AS
SELECT n.npa, lpad(x.nxx::text, 3, '0') AS nxx, n.state, n.lata, n.ocn, n.rate_center, n.company, n.base_rate,
       x.nxx AS nxx_int
FROM demo_npas n
CROSS JOIN (SELECT 555 AS nxx UNION ALL SELECT generate_series(200, 223)) AS x;

INSERT INTO cdr.lerg (id, npa, nxx, state, lata, ocn, rate_center, country, company)
SELECT pg_temp.demo_id('lerg:' || npa || nxx), npa, nxx, state, lata, ocn, rate_center, 'US', company
FROM demo_npa_nxx
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Rate decks (cost per minute), effective 2025-01-01 with no expiry.
-- US trunks: one jurisdictional row per demo NPA-NXX, toll-free NPAs and a '1' fallback.

INSERT INTO routing.rate_deck (id, carrier_trunk_id, prefix, destination_name, country_code, rate, interstate_rate,
                               intrastate_rate, indeterminate_rate, connection_fee, initial_increment,
                               subsequent_increment, effective_date)
SELECT pg_temp.demo_id('rate_deck:' || ct.name || ':1' || d.npa || d.nxx), ct.id, '1' || d.npa || d.nxx,
       'United States - ' || d.state || ' ' || d.rate_center, '1', NULL,
       d.base_rate + t.markup + (d.nxx_int % 7) * 0.0001,
       d.base_rate + t.markup + 0.0030 + (d.nxx_int % 5) * 0.0001,
       d.base_rate + t.markup + 0.0035 + (d.nxx_int % 5) * 0.0001,
       0, t.inc, t.inc, DATE '2025-01-01'
FROM (VALUES ('alpha-east', 0.0000, 6), ('alpha-west', 0.0002, 6), ('bravo-main', 0.0004, 1)) AS t (trunk, markup, inc)
JOIN routing.carrier_trunks ct ON ct.name = t.trunk
CROSS JOIN demo_npa_nxx d
ON CONFLICT DO NOTHING;

INSERT INTO routing.rate_deck (id, carrier_trunk_id, prefix, destination_name, country_code, rate, interstate_rate,
                               intrastate_rate, indeterminate_rate, connection_fee, initial_increment,
                               subsequent_increment, effective_date)
SELECT pg_temp.demo_id('rate_deck:' || ct.name || ':' || p.prefix), ct.id, p.prefix, p.destination_name, '1',
       p.rate + t.markup, p.interstate + t.markup, p.intrastate + t.markup, p.indeterminate + t.markup,
       0, t.inc, t.inc, DATE '2025-01-01'
FROM (VALUES ('alpha-east', 0.0000, 6), ('alpha-west', 0.0002, 6), ('bravo-main', 0.0004, 1)) AS t (trunk, markup, inc)
JOIN routing.carrier_trunks ct ON ct.name = t.trunk
CROSS JOIN (VALUES
    ('1', 'United States - other', NULL, 0.0120, 0.0150, 0.0150),
    ('1800', 'United States - toll free 800', 0.0020, NULL, NULL, NULL),
    ('1833', 'United States - toll free 833', 0.0020, NULL, NULL, NULL),
    ('1844', 'United States - toll free 844', 0.0020, NULL, NULL, NULL),
    ('1855', 'United States - toll free 855', 0.0020, NULL, NULL, NULL),
    ('1866', 'United States - toll free 866', 0.0020, NULL, NULL, NULL),
    ('1877', 'United States - toll free 877', 0.0020, NULL, NULL, NULL),
    ('1888', 'United States - toll free 888', 0.0020, NULL, NULL, NULL)
) AS p (prefix, destination_name, rate, interstate, intrastate, indeterminate)
ON CONFLICT DO NOTHING;

-- International prefixes on bravo-main (secondary) and charlie-intl-1 (primary).
CREATE OR REPLACE TEMP VIEW demo_international (prefix, country_code, destination_name, rate) AS
VALUES
    ('1876', '1', 'Jamaica', 0.1350), ('20', '20', 'Egypt', 0.0950), ('27', '27', 'South Africa', 0.0210),
    ('30', '30', 'Greece', 0.0120), ('31', '31', 'Netherlands', 0.0090), ('32', '32', 'Belgium', 0.0110),
    ('33', '33', 'France', 0.0080), ('34', '34', 'Spain', 0.0085), ('39', '39', 'Italy', 0.0095),
    ('41', '41', 'Switzerland', 0.0150), ('420', '420', 'Czech Republic', 0.0130), ('43', '43', 'Austria', 0.0140),
    ('44', '44', 'United Kingdom', 0.0070), ('447', '44', 'United Kingdom - mobile', 0.0180),
    ('45', '45', 'Denmark', 0.0100), ('46', '46', 'Sweden', 0.0090), ('47', '47', 'Norway', 0.0095),
    ('48', '48', 'Poland', 0.0120), ('49', '49', 'Germany', 0.0075), ('4915', '49', 'Germany - mobile', 0.0260),
    ('51', '51', 'Peru', 0.0300), ('52', '52', 'Mexico', 0.0110), ('521', '52', 'Mexico - mobile', 0.0190),
    ('54', '54', 'Argentina', 0.0250), ('55', '55', 'Brazil', 0.0160), ('56', '56', 'Chile', 0.0170),
    ('57', '57', 'Colombia', 0.0210), ('60', '60', 'Malaysia', 0.0150), ('61', '61', 'Australia', 0.0120),
    ('62', '62', 'Indonesia', 0.0350), ('63', '63', 'Philippines', 0.1200), ('64', '64', 'New Zealand', 0.0180),
    ('65', '65', 'Singapore', 0.0080), ('66', '66', 'Thailand', 0.0210), ('81', '81', 'Japan', 0.0240),
    ('82', '82', 'South Korea', 0.0150), ('84', '84', 'Vietnam', 0.0550), ('86', '86', 'China', 0.0090),
    ('90', '90', 'Turkey', 0.0800), ('91', '91', 'India', 0.0170), ('234', '234', 'Nigeria', 0.1500),
    ('254', '254', 'Kenya', 0.1100), ('351', '351', 'Portugal', 0.0110), ('353', '353', 'Ireland', 0.0100),
    ('966', '966', 'Saudi Arabia', 0.1300), ('971', '971', 'United Arab Emirates', 0.1450),
    ('972', '972', 'Israel', 0.0200);

INSERT INTO routing.rate_deck (id, carrier_trunk_id, prefix, destination_name, country_code, rate, connection_fee,
                               initial_increment, subsequent_increment, effective_date)
SELECT pg_temp.demo_id('rate_deck:' || ct.name || ':' || i.prefix), ct.id, i.prefix, i.destination_name,
       i.country_code, round(i.rate * t.factor, 6), 0, t.inc, t.inc, DATE '2025-01-01'
FROM (VALUES ('charlie-intl-1', 1.00, 1), ('bravo-main', 1.12, 60)) AS t (trunk, factor, inc)
JOIN routing.carrier_trunks ct ON ct.name = t.trunk
CROSS JOIN demo_international i
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Routing partitions: 'default' comes from the reference seed; the demo adds 'premium' and 'budget'.

INSERT INTO routing.partitions (id, name, description, strategy, allow_loss_routing, is_default)
VALUES
    (pg_temp.demo_id('partitions:premium'), 'premium', 'Quality-first routing for contact centers.', 'QUALITY',
     false, false),
    (pg_temp.demo_id('partitions:budget'), 'budget', 'Cheapest route, loss routing allowed for resellers.', 'LCR',
     true, false)
ON CONFLICT DO NOTHING;

INSERT INTO routing.partition_carrier_trunks (id, partition_id, carrier_trunk_id, priority, weight)
SELECT pg_temp.demo_id('partition_carrier_trunks:' || v.partition || ':' || v.trunk), p.id, ct.id, v.priority, v.weight
FROM (VALUES
    ('default', 'alpha-east', NULL, NULL), ('default', 'alpha-west', NULL, NULL),
    ('default', 'bravo-main', NULL, NULL), ('default', 'charlie-intl-1', NULL, NULL),
    ('default', 'delta-e911-1', NULL, NULL),
    ('premium', 'alpha-east', 1, 50), ('premium', 'alpha-west', 1, 50), ('premium', 'charlie-intl-1', 2, 100),
    ('premium', 'delta-e911-1', 0, 100),
    ('budget', 'bravo-main', NULL, NULL), ('budget', 'charlie-intl-1', NULL, NULL),
    ('budget', 'delta-e911-1', NULL, NULL)
) AS v (partition, trunk, priority, weight)
JOIN routing.partitions p ON p.name = v.partition
JOIN routing.carrier_trunks ct ON ct.name = v.trunk
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Customer trunks. SIP digest credentials as HA1 = md5(username:realm:password); the demo SIP
-- password is 'demo-sip-password'.

INSERT INTO routing.trunks (id, account_id, name, description, auth_type, sip_username, sip_realm, sip_ha1,
                            max_concurrent_calls, max_calls_per_second, codecs, tech_prefix, enabled, metadata)
SELECT pg_temp.demo_id('trunks:' || v.ban || ':' || v.name), a.id, v.name, v.description, v.auth_type,
       v.sip_username, CASE WHEN v.sip_username IS NOT NULL THEN 'sip.warp.example' END,
       CASE WHEN v.sip_username IS NOT NULL
            THEN md5(v.sip_username || ':sip.warp.example:demo-sip-password') END,
       v.max_calls, v.cps, v.codecs::text[], v.tech_prefix, true, '{"demo": true}'::jsonb
FROM (VALUES
    ('DEMO-ACME', 'acme-main', 'Primary contact-center SBC', 'IP_ACL', NULL, 200, 20, '{PCMU,PCMA,G729}', NULL),
    ('DEMO-ACME', 'acme-remote', 'Remote agents (SIP registration)', 'SIP_REGISTER', 'acme-remote', 20, 5,
     '{PCMU,OPUS}', NULL),
    ('DEMO-GLOBEX', 'globex-core', 'Reseller core switch', 'BOTH', 'globex-core', 500, 50, '{PCMU,PCMA}', '4401'),
    ('DEMO-INITECH', 'initech-pbx', 'Office PBX', 'IP_ACL', NULL, 30, 5, '{PCMU}', NULL),
    ('DEMO-UMBRELLA', 'umbrella-edge', 'Clinic SBC', 'IP_ACL', NULL, 20, 5, '{PCMU,PCMA}', NULL)
) AS v (ban, name, description, auth_type, sip_username, max_calls, cps, codecs, tech_prefix)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

INSERT INTO routing.trunk_acl (id, trunk_id, account_id, network, description)
SELECT pg_temp.demo_id('trunk_acl:' || v.trunk || ':' || v.network), t.id, t.account_id, v.network::inet,
       v.description
FROM (VALUES
    ('acme-main', '127.0.0.1/32', 'Local test SBC (loopback)'),
    ('acme-main', '192.0.2.0/28', 'Acme data center'),
    ('globex-core', '127.0.0.2/32', 'Local test switch (loopback)'),
    ('globex-core', '198.51.100.0/24', 'Globex core network'),
    ('globex-core', '2001:db8:100::/48', 'Globex IPv6 core'),
    ('initech-pbx', '203.0.113.0/25', 'Initech office'),
    ('umbrella-edge', '203.0.113.128/26', 'Umbrella clinics')
) AS v (trunk, network, description)
JOIN routing.trunks t ON t.name = v.trunk
ON CONFLICT DO NOTHING;

INSERT INTO routing.account_partitions (id, account_id, trunk_id, partition_id)
SELECT pg_temp.demo_id('account_partitions:' || v.ban || ':' || coalesce(v.trunk, '*')), a.id, t.id, p.id
FROM (VALUES
    ('DEMO-ACME', NULL, 'premium'),
    ('DEMO-GLOBEX', NULL, 'budget'),
    ('DEMO-INITECH', NULL, 'budget'),
    ('DEMO-INITECH', 'initech-pbx', 'premium')
) AS v (ban, trunk, partition)
JOIN accounts.accounts a ON a.ban = v.ban
JOIN routing.partitions p ON p.name = v.partition
LEFT JOIN routing.trunks t ON t.name = v.trunk AND t.account_id = a.id
ON CONFLICT DO NOTHING;

-- Blacklist: global fraud-prone prefixes (account_id NULL) and per-account blocks.
INSERT INTO routing.blacklist (id, account_id, prefix, reason, expires_at)
SELECT pg_temp.demo_id('blacklist:' || coalesce(v.ban, '*') || ':' || v.prefix), a.id, v.prefix, v.reason,
       v.expires_at::timestamptz
FROM (VALUES
    (NULL, '1900', 'US premium-rate 900 numbers', NULL),
    (NULL, '88213', 'International networks: premium-rate fraud', NULL),
    (NULL, '2392', 'Sao Tome: one-ring scam destination', NULL),
    ('DEMO-ACME', '44870', 'UK premium-rate, customer request', NULL),
    ('DEMO-GLOBEX', '1809', 'Dominican Republic: toll fraud on reseller network', '2030-01-01 00:00:00+00'),
    ('DEMO-INITECH', '252', 'Somalia: not needed by customer', NULL)
) AS v (ban, prefix, reason, expires_at)
LEFT JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- SLAs, a vendor incident and the STIR/SHAKEN certificate.

INSERT INTO vendor_mgmt.slas (id, vendor_id, contract_id, carrier_id, metric, comparator, target_value,
                              measurement_window, description, effective_date)
SELECT pg_temp.demo_id('slas:' || v.carrier || ':' || v.metric), c_v.vendor_id, c_v.contract_id, c.id, v.metric,
       v.comparator, v.target, v.window_, v.description, DATE '2025-01-01'
FROM (VALUES
    ('alpha-voice', 'ASR', 'GTE', 45.0, 'DAY', 'Daily ASR at least 45%'),
    ('alpha-voice', 'PDD', 'LTE', 2500.0, 'DAY', 'Post-dial delay at most 2.5 s'),
    ('bravo-telecom', 'ASR', 'GTE', 40.0, 'DAY', 'Daily ASR at least 40%'),
    ('charlie-intl', 'ACD', 'GTE', 120.0, 'DAY', 'Average call duration at least 2 minutes')
) AS v (carrier, metric, comparator, target, window_, description)
JOIN routing.carriers c ON c.name = v.carrier
JOIN vendor_mgmt.carriers c_v ON c_v.carrier_id = c.id
ON CONFLICT DO NOTHING;

INSERT INTO vendor_mgmt.incidents (id, vendor_id, carrier_id, sla_id, title, description, severity, status,
                                   observed_value, target_value, external_ticket_ref, opened_at, resolved_at)
SELECT pg_temp.demo_id('incidents:bravo-asr-1'), c_v.vendor_id, c.id, s.id, 'Bravo ASR below SLA',
       'ASR dropped to 31% on calls to 212 during a fiber cut.', 'HIGH', 'RESOLVED', 31.0, 40.0, 'BRAVO-TT-48213',
       pg_temp.demo_month() + interval '2 hours', pg_temp.demo_month() + interval '9 hours'
FROM routing.carriers c
JOIN vendor_mgmt.carriers c_v ON c_v.carrier_id = c.id
LEFT JOIN vendor_mgmt.slas s ON s.id = pg_temp.demo_id('slas:bravo-telecom:ASR')
WHERE c.name = 'bravo-telecom'
ON CONFLICT DO NOTHING;

INSERT INTO audit.stir_shaken_certs (id, name, spc, ocn, certificate_ref, private_key_ref, x5u_url,
                                     attestation_levels, subject, issuer, serial, status, not_before, not_after)
VALUES (pg_temp.demo_id('stir_shaken_certs:warp-demo'), 'warp-demo', '999D', '999D',
        'file:/etc/warp/stir-shaken/warp-demo.pem', 'secret:warp-demo-stir-shaken-key',
        'https://certs.warp.example/warp-demo.pem', '{A,B,C}', 'CN=SHAKEN 999D', 'CN=Demo STI-CA',
        '0A1B2C3D', 'ACTIVE', timestamptz '2025-01-01 00:00:00+00', timestamptz '2028-01-01 00:00:00+00')
ON CONFLICT DO NOTHING;
