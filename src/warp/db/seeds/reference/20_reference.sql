-- Reference data every WARP database needs: retention policies, tax-rate examples and the default
-- routing partition. Idempotent: every row is keyed on its business key (ON CONFLICT DO NOTHING),
-- so a second run inserts nothing and the audit trail gains nothing. Permissions and roles are in
-- 10_auth.sql.

-- ---------------------------------------------------------------------------------------------
-- Retention: how long each table keeps data. Partitioned event tables drop whole months;
-- unpartitioned tables delete rows past the period.

INSERT INTO audit.retention_policies (schema_name, table_name, retention_period, action, description)
VALUES
    ('cdr', 'raw_cdr', interval '24 months', 'DROP', 'Raw Kamailio CDRs: 24 months (billing disputes, regulatory requests).'),
    ('cdr', 'enriched_cdr', interval '24 months', 'DROP', 'Rated CDRs: kept as long as the raw CDRs they enrich.'),
    ('cdr', 'hourly_summary', interval '36 months', 'DELETE', 'Hourly traffic aggregates: 3 years of trend reporting.'),
    ('cdr', 'vendor_cdr', interval '24 months', 'DELETE', 'Carrier CDRs for reconciliation: as long as our raw CDRs.'),
    ('cdr', 'lrn_cache', interval '90 days', 'DELETE', 'LRN lookups not refreshed for 90 days.'),
    ('messaging', 'mdr', interval '12 months', 'DROP', 'Message detail records: 12 months.'),
    ('messaging', 'webhook_events', interval '90 days', 'DELETE', 'Delivered or expired webhook events: 90 days.'),
    ('messaging', 'webhook_attempts', interval '90 days', 'DELETE', 'Webhook delivery attempts: 90 days.'),
    ('audit', 'api_request_log', interval '6 months', 'DROP', 'API request log: 6 months.'),
    ('audit', 'audit_log', interval '84 months', 'DELETE', 'Audit trail: 7 years (financial record keeping).'),
    ('audit', 'security_incidents', interval '84 months', 'DELETE', 'Closed security incidents: 7 years.'),
    ('auth', 'sessions', interval '30 days', 'DELETE', 'Expired or revoked portal sessions: 30 days after expiry.'),
    ('vendor_mgmt', 'performance_metrics', interval '24 months', 'DELETE', 'Hourly carrier quality metrics: 24 months.')
ON CONFLICT (schema_name, table_name) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Tax-rate examples (rate is a fraction: 0.345 = 34.5%). Illustrative values, effective
-- 2025-01-01; production rates come from the tax provider.

INSERT INTO billing.tax_rates (name, jurisdiction_type, jurisdiction_code, tax_category, calculation_type,
                               rate, fixed_amount, applies_to, effective_date)
VALUES
    ('Federal Universal Service Fund', 'FEDERAL', 'US', 'USF', 'PERCENTAGE',
     0.345000, NULL, ARRAY['VOICE_INTERSTATE', 'VOICE_INTERNATIONAL'], DATE '2025-01-01'),
    ('FCC Regulatory Recovery Fee', 'FEDERAL', 'US', 'REGULATORY', 'PERCENTAGE',
     0.004000, NULL, ARRAY['VOICE_INTERSTATE', 'VOICE_INTERNATIONAL'], DATE '2025-01-01'),
    ('Colorado State Sales Tax', 'STATE', 'US-CO', 'SALES', 'PERCENTAGE',
     0.029000, NULL, ARRAY['VOICE_INTRASTATE', 'SERVICE'], DATE '2025-01-01'),
    ('New York State Sales Tax', 'STATE', 'US-NY', 'SALES', 'PERCENTAGE',
     0.040000, NULL, ARRAY['VOICE_INTRASTATE', 'SERVICE'], DATE '2025-01-01'),
    ('Texas State Sales Tax', 'STATE', 'US-TX', 'SALES', 'PERCENTAGE',
     0.062500, NULL, ARRAY['VOICE_INTRASTATE', 'SERVICE'], DATE '2025-01-01'),
    ('Colorado 911 Surcharge', 'STATE', 'US-CO', 'E911', 'PER_DID',
     NULL, 0.09, ARRAY['DID'], DATE '2025-01-01'),
    ('New York 911 Surcharge', 'STATE', 'US-NY', 'E911', 'PER_DID',
     NULL, 0.35, ARRAY['DID'], DATE '2025-01-01'),
    ('Texas 911 Emergency Service Fee', 'STATE', 'US-TX', 'E911', 'PER_DID',
     NULL, 0.50, ARRAY['DID'], DATE '2025-01-01')
ON CONFLICT (jurisdiction_code, tax_category, name, effective_date) DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- The default routing partition: accounts without an account_partitions row route through it.
-- Carrier trunks are added to it by operators (or the demo seed).

INSERT INTO routing.partitions (name, description, strategy, allow_loss_routing, is_default)
VALUES ('default', 'Default partition: used by every account without an explicit assignment.', 'LCR', false, true)
ON CONFLICT DO NOTHING;
