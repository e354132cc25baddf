-- audit schema: audit trail, API request log (monthly RANGE partitioned on requested_at),
-- compliance records, STIR/SHAKEN certificates, security incidents and retention policies.

CREATE TABLE audit.audit_log (
    id              uuid         NOT NULL DEFAULT uuid_generate_v4(),
    schema_name     name         NOT NULL,
    table_name      name         NOT NULL,
    record_id       text,
    action          varchar(8)   NOT NULL,
    old_row         jsonb,
    new_row         jsonb,
    changed_columns text[],
    account_id      uuid,
    actor_type      varchar(16)  NOT NULL DEFAULT 'SYSTEM',
    actor_id        uuid,
    request_id      varchar(128),
    transaction_id  bigint       NOT NULL DEFAULT txid_current(),
    created_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_action_check CHECK (action IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
    CONSTRAINT audit_log_actor_type_check CHECK (actor_type IN ('USER', 'API_KEY', 'STAFF', 'SYSTEM'))
);
CREATE INDEX audit_log_record_idx ON audit.audit_log (schema_name, table_name, record_id);
CREATE INDEX audit_log_account_id_idx ON audit.audit_log (account_id, created_at);
CREATE INDEX audit_log_created_at_idx ON audit.audit_log USING brin (created_at);
COMMENT ON TABLE audit.audit_log IS 'Every INSERT/UPDATE/DELETE on business tables with old/new rows (secrets masked), changed columns, actor and request id. Append-only. account_id/actor_id are deliberately not foreign keys: the trail must outlive and never block what it records.';

CREATE TABLE audit.api_request_log (
    id            uuid          NOT NULL DEFAULT uuid_generate_v4(),
    requested_at  timestamptz   NOT NULL DEFAULT now(),
    method        varchar(8)    NOT NULL,
    path          text          NOT NULL,
    status_code   integer       NOT NULL,
    latency_ms    numeric(10,3),
    account_id    uuid,
    api_key_id    uuid,
    user_id       uuid,
    client_ip     inet,
    request_id    varchar(128),
    user_agent    text,
    request_body  jsonb,
    response_body jsonb,
    created_at    timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT api_request_log_pkey PRIMARY KEY (id, requested_at),
    CONSTRAINT api_request_log_method_check
        CHECK (method IN ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
    CONSTRAINT api_request_log_status_code_check CHECK (status_code BETWEEN 100 AND 599),
    CONSTRAINT api_request_log_latency_ms_check CHECK (latency_ms >= 0)
) PARTITION BY RANGE (requested_at);
CREATE INDEX api_request_log_account_id_idx ON audit.api_request_log (account_id, requested_at);
CREATE INDEX api_request_log_request_id_idx ON audit.api_request_log (request_id);
CREATE INDEX api_request_log_requested_at_idx ON audit.api_request_log USING brin (requested_at);
COMMENT ON TABLE audit.api_request_log IS 'API activity with sanitized bodies, partitioned by month on requested_at. account_id/api_key_id/user_id are not foreign keys (high-volume log that must outlive keys and users).';

CREATE TABLE audit.api_request_log_default PARTITION OF audit.api_request_log DEFAULT;
COMMENT ON TABLE audit.api_request_log_default IS 'Default partition of audit.api_request_log.';

CREATE TABLE audit.compliance_records (
    id                  uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id          uuid,
    record_type         varchar(24)  NOT NULL,
    subject_table       varchar(128),
    subject_id          uuid,
    status              varchar(16)  NOT NULL DEFAULT 'OPEN',
    reason              text,
    details             jsonb        NOT NULL DEFAULT '{}',
    recorded_by_user_id uuid,
    expires_at          timestamptz,
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT compliance_records_pkey PRIMARY KEY (id),
    CONSTRAINT compliance_records_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT compliance_records_recorded_by_user_id_fkey FOREIGN KEY (recorded_by_user_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT compliance_records_record_type_check CHECK (record_type IN
        ('E911_EXEMPTION', 'E911_VALIDATION', 'STIR_SHAKEN', 'TEN_DLC', 'CPNI', 'KYC', 'RETENTION', 'OTHER')),
    CONSTRAINT compliance_records_status_check
        CHECK (status IN ('OPEN', 'COMPLIANT', 'NON_COMPLIANT', 'EXEMPT', 'RESOLVED'))
);
CREATE INDEX compliance_records_account_id_idx ON audit.compliance_records (account_id, record_type);
CREATE INDEX compliance_records_subject_idx ON audit.compliance_records (subject_table, subject_id);
CREATE INDEX compliance_records_recorded_by_user_id_idx ON audit.compliance_records (recorded_by_user_id);
COMMENT ON TABLE audit.compliance_records IS 'Regulatory compliance records (E911 exemptions and validations, STIR/SHAKEN, 10DLC, CPNI...), optionally about one row (subject_table, subject_id).';
CREATE TRIGGER compliance_records_updated_at_trg BEFORE UPDATE ON audit.compliance_records
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE audit.stir_shaken_certs (
    id                 uuid         NOT NULL DEFAULT uuid_generate_v4(),
    name               varchar(100) NOT NULL,
    spc                varchar(16)  NOT NULL,
    ocn                varchar(4),
    certificate_pem    text,
    certificate_ref    text,
    private_key_ref    text         NOT NULL,
    x5u_url            text,
    attestation_levels text[]       NOT NULL DEFAULT '{A,B,C}',
    subject            text,
    issuer             text,
    serial             varchar(128),
    status             varchar(16)  NOT NULL DEFAULT 'ACTIVE',
    not_before         timestamptz  NOT NULL,
    not_after          timestamptz  NOT NULL,
    revoked_at         timestamptz,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT stir_shaken_certs_pkey PRIMARY KEY (id),
    CONSTRAINT stir_shaken_certs_name_key UNIQUE (name),
    CONSTRAINT stir_shaken_certs_certificate_check CHECK (certificate_pem IS NOT NULL OR certificate_ref IS NOT NULL),
    CONSTRAINT stir_shaken_certs_private_key_ref_check CHECK (private_key_ref ~ '^(env|file|secret):.+'),
    CONSTRAINT stir_shaken_certs_attestation_levels_check
        CHECK (cardinality(attestation_levels) > 0 AND attestation_levels <@ ARRAY['A', 'B', 'C']::text[]),
    CONSTRAINT stir_shaken_certs_status_check CHECK (status IN ('PENDING', 'ACTIVE', 'EXPIRED', 'REVOKED')),
    CONSTRAINT stir_shaken_certs_not_after_check CHECK (not_after > not_before)
);
CREATE INDEX stir_shaken_certs_not_after_idx ON audit.stir_shaken_certs (not_after);
COMMENT ON TABLE audit.stir_shaken_certs IS 'STIR/SHAKEN signing certificates: PEM or reference, SPC/OCN, allowed attestation levels, validity window; the private key only as a secret reference.';
COMMENT ON COLUMN audit.stir_shaken_certs.not_before IS 'X.509 notBefore.';
COMMENT ON COLUMN audit.stir_shaken_certs.not_after IS 'X.509 notAfter; expiry warnings start 30 days before.';
CREATE TRIGGER stir_shaken_certs_updated_at_trg BEFORE UPDATE ON audit.stir_shaken_certs
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE audit.security_incidents (
    id               uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id       uuid,
    incident_type    varchar(24)  NOT NULL,
    severity         varchar(8)   NOT NULL DEFAULT 'MEDIUM',
    status           varchar(16)  NOT NULL DEFAULT 'OPEN',
    title            varchar(200) NOT NULL,
    description      text,
    source_ip        inet,
    details          jsonb        NOT NULL DEFAULT '{}',
    assigned_user_id uuid,
    detected_at      timestamptz  NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    closed_at        timestamptz,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT security_incidents_pkey PRIMARY KEY (id),
    CONSTRAINT security_incidents_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT security_incidents_assigned_user_id_fkey FOREIGN KEY (assigned_user_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT security_incidents_incident_type_check CHECK (incident_type IN
        ('BRUTE_FORCE', 'CREDENTIAL_LEAK', 'UNAUTHORIZED_ACCESS', 'TOLL_FRAUD', 'SMS_FRAUD', 'ROBOCALL',
         'DDOS', 'DATA_EXPOSURE', 'OTHER')),
    CONSTRAINT security_incidents_severity_check CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    CONSTRAINT security_incidents_status_check
        CHECK (status IN ('OPEN', 'INVESTIGATING', 'CONTAINED', 'RESOLVED', 'CLOSED'))
);
CREATE INDEX security_incidents_account_id_idx ON audit.security_incidents (account_id);
CREATE INDEX security_incidents_assigned_user_id_idx ON audit.security_incidents (assigned_user_id);
CREATE INDEX security_incidents_status_idx ON audit.security_incidents (status, severity)
    WHERE status NOT IN ('RESOLVED', 'CLOSED');
COMMENT ON TABLE audit.security_incidents IS 'Security events (brute force, fraud, unauthorized access...) with severity and a status workflow.';
CREATE TRIGGER security_incidents_updated_at_trg BEFORE UPDATE ON audit.security_incidents
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE audit.retention_policies (
    id               uuid         NOT NULL DEFAULT uuid_generate_v4(),
    schema_name      name         NOT NULL,
    table_name       name         NOT NULL,
    retention_period interval     NOT NULL,
    action           varchar(8)   NOT NULL DEFAULT 'DROP',
    enabled          boolean      NOT NULL DEFAULT true,
    description      text,
    last_applied_at  timestamptz,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT retention_policies_pkey PRIMARY KEY (id),
    CONSTRAINT retention_policies_schema_name_table_name_key UNIQUE (schema_name, table_name),
    CONSTRAINT retention_policies_retention_period_check CHECK (retention_period > interval '0'),
    CONSTRAINT retention_policies_action_check CHECK (action IN ('DROP', 'DETACH', 'DELETE'))
);
COMMENT ON TABLE audit.retention_policies IS 'How long each table keeps data; maintenance drops or detaches whole monthly partitions past the period (DELETE only for unpartitioned tables).';
CREATE TRIGGER retention_policies_updated_at_trg BEFORE UPDATE ON audit.retention_policies
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
