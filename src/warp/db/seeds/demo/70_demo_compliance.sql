-- Demo world, part 8: compliance records (E911 validation and exemption, 10DLC, KYC, STIR/SHAKEN)
-- and security incidents. Idempotent (see 10_demo_accounts.sql).

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

INSERT INTO audit.compliance_records (id, account_id, record_type, subject_table, subject_id, status, reason,
                                      details, recorded_by_user_id, expires_at)
SELECT pg_temp.demo_id('compliance_records:' || v.slug), a.id, v.record_type, v.subject_table,
       pg_temp.demo_id(v.subject_key), v.status, v.reason, v.details::jsonb, u.id, v.expires_at::timestamptz
FROM (VALUES
    ('acme-e911-hq', 'DEMO-ACME', 'E911_VALIDATION', 'numbers.e911_addresses', 'e911_addresses:DEMO-ACME:hq',
     'COMPLIANT', 'Address validated by the E911 provider', '{"provider": "delta-e911"}', 'support@warp.example',
     NULL),
    ('umbrella-e911-exempt', 'DEMO-UMBRELLA', 'E911_EXEMPTION', 'numbers.dids', 'dids:+13125550101', 'EXEMPT',
     'Fax-only line in a clinic with E911 service on its main numbers', '{"number": "+13125550101"}',
     'admin@warp.example', '2027-12-31 00:00:00+00'),
    ('initech-e911-annex', 'DEMO-INITECH', 'E911_VALIDATION', 'numbers.e911_addresses',
     'e911_addresses:DEMO-INITECH:annex', 'NON_COMPLIANT', 'street: address not found by the validation provider',
     '{"provider": "delta-e911"}', 'support@warp.example', NULL),
    ('globex-10dlc', 'DEMO-GLOBEX', 'TEN_DLC', 'messaging.campaigns_10dlc', 'campaigns_10dlc:globex-notify',
     'COMPLIANT', 'Campaign approved by TCR', '{"campaign": "CDEMOGX1"}', 'support@warp.example', NULL),
    ('umbrella-kyc', 'DEMO-UMBRELLA', 'KYC', 'accounts.documents', 'documents:DEMO-UMBRELLA:kyc', 'OPEN',
     'KYC questionnaire received, awaiting review', '{}', NULL, NULL),
    ('platform-stir-shaken', NULL, 'STIR_SHAKEN', 'audit.stir_shaken_certs', 'stir_shaken_certs:warp-demo',
     'COMPLIANT', 'Certificate registered with the STI-PA', '{"spc": "999D"}', 'admin@warp.example', NULL)
) AS v (slug, ban, record_type, subject_table, subject_key, status, reason, details, recorded_by, expires_at)
LEFT JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN auth.users u ON lower(u.email) = lower(v.recorded_by)
-- A DID inserted with an exemption may already have had it recorded by a trigger: keep one record.
WHERE NOT EXISTS (
    SELECT 1 FROM audit.compliance_records c
    WHERE c.record_type = v.record_type AND c.subject_table = v.subject_table
      AND c.subject_id = pg_temp.demo_id(v.subject_key) AND c.id <> pg_temp.demo_id('compliance_records:' || v.slug))
ON CONFLICT DO NOTHING;

INSERT INTO audit.security_incidents (id, account_id, incident_type, severity, status, title, description, source_ip,
                                      details, assigned_user_id, detected_at, resolved_at, closed_at)
SELECT pg_temp.demo_id('security_incidents:' || v.slug), a.id, v.incident_type, v.severity, v.status, v.title,
       v.description, v.source_ip::inet, v.details::jsonb, u.id, pg_temp.demo_month() + v.detected::interval,
       CASE WHEN v.status IN ('RESOLVED', 'CLOSED') THEN pg_temp.demo_month() + v.detected::interval + interval '3 hours' END,
       CASE WHEN v.status = 'CLOSED' THEN pg_temp.demo_month() + v.detected::interval + interval '1 day' END
FROM (VALUES
    ('acme-brute-force', 'DEMO-ACME', 'BRUTE_FORCE', 'LOW', 'RESOLVED', 'Repeated failed portal logins',
     '25 failed logins for admin@acme.example in 10 minutes; user locked automatically.', '192.0.2.99',
     '{"failed_logins": 25, "user": "admin@acme.example"}', 'support@warp.example', '6 hours'),
    ('globex-toll-fraud', 'DEMO-GLOBEX', 'TOLL_FRAUD', 'HIGH', 'INVESTIGATING', 'Call burst to premium destinations',
     '140 short calls to +1809 from the Globex core trunk within 5 minutes.', '198.51.100.23',
     '{"destination_prefix": "1809", "calls": 140}', 'support@warp.example', '9 hours'),
    ('initech-sms-fraud', 'DEMO-INITECH', 'SMS_FRAUD', 'MEDIUM', 'OPEN', 'SMS pumping suspected',
     'Outbound SMS to sequential numbers from an SMPP bind.', '203.0.113.10', '{"messages": 300}', NULL, '12 hours'),
    ('platform-ddos', NULL, 'DDOS', 'CRITICAL', 'CLOSED', 'SIP INVITE flood on the edge proxies',
     'Mitigated by rate limiting at the edge.', '192.0.2.250', '{"peak_pps": 48000}', 'admin@warp.example', '1 hour')
) AS v (slug, ban, incident_type, severity, status, title, description, source_ip, details, assigned, detected)
LEFT JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN auth.users u ON lower(u.email) = lower(v.assigned)
ON CONFLICT DO NOTHING;
