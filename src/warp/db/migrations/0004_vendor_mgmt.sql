-- vendor_mgmt schema (part 1): vendors, service provider plugins, contracts and SMPP binds.
-- Carrier commercials, SLAs, incidents and performance metrics follow routing.carriers in 0005.

CREATE TABLE vendor_mgmt.vendors (
    id            uuid         NOT NULL DEFAULT uuid_generate_v4(),
    name          varchar(200) NOT NULL,
    vendor_type   varchar(16)  NOT NULL,
    status        varchar(16)  NOT NULL DEFAULT 'ACTIVE',
    website       text,
    support_email varchar(320),
    support_phone varchar(32),
    notes         text,
    metadata      jsonb        NOT NULL DEFAULT '{}',
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT vendors_pkey PRIMARY KEY (id),
    CONSTRAINT vendors_name_key UNIQUE (name),
    CONSTRAINT vendors_vendor_type_check CHECK (vendor_type IN
        ('CARRIER', 'MESSAGING', 'NUMBERING', 'LRN', 'E911', 'CNAM', 'TAX', 'PAYMENTS', 'OTHER')),
    CONSTRAINT vendors_status_check CHECK (status IN ('ACTIVE', 'INACTIVE', 'TERMINATED')),
    CONSTRAINT vendors_support_phone_check CHECK (support_phone ~ '^\+[1-9][0-9]{1,14}$')
);
COMMENT ON TABLE vendor_mgmt.vendors IS 'Third-party vendors WARP buys from: carriers, messaging aggregators, LRN/CNAM/E911/tax providers.';
CREATE TRIGGER vendors_updated_at_trg BEFORE UPDATE ON vendor_mgmt.vendors
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.service_providers (
    id                   uuid         NOT NULL DEFAULT uuid_generate_v4(),
    vendor_id            uuid,
    name                 varchar(100) NOT NULL,
    provider_type        varchar(100) NOT NULL,
    capabilities         text[]       NOT NULL DEFAULT '{}',
    config               jsonb        NOT NULL DEFAULT '{}',
    priority             integer      NOT NULL DEFAULT 100,
    enabled              boolean      NOT NULL DEFAULT true,
    health_status        varchar(16)  NOT NULL DEFAULT 'UNKNOWN',
    last_health_check_at timestamptz,
    last_health_error    text,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT service_providers_pkey PRIMARY KEY (id),
    CONSTRAINT service_providers_name_key UNIQUE (name),
    CONSTRAINT service_providers_vendor_id_fkey FOREIGN KEY (vendor_id)
        REFERENCES vendor_mgmt.vendors (id) ON DELETE RESTRICT,
    CONSTRAINT service_providers_capabilities_check CHECK (
        cardinality(capabilities) > 0
        AND capabilities <@ ARRAY['lrn_lookup', 'sms', 'mms', 'number_ordering', 'e911', 'cnam',
                                  'tax', 'tollfree', 'porting', '10dlc']::text[]),
    CONSTRAINT service_providers_config_check CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT service_providers_health_status_check
        CHECK (health_status IN ('UNKNOWN', 'HEALTHY', 'DEGRADED', 'DOWN'))
);
CREATE INDEX service_providers_vendor_id_idx ON vendor_mgmt.service_providers (vendor_id);
CREATE INDEX service_providers_capabilities_idx ON vendor_mgmt.service_providers USING gin (capabilities);
COMMENT ON TABLE vendor_mgmt.service_providers IS 'Plugin configurations: a provider_type (entry point in group warp.providers) with capabilities, priority for failover, and config.';
COMMENT ON COLUMN vendor_mgmt.service_providers.config IS 'Provider configuration validated by the plugin; credentials only as references (env:NAME, file:/path, secret:NAME), never in clear.';
CREATE TRIGGER service_providers_updated_at_trg BEFORE UPDATE ON vendor_mgmt.service_providers
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.contracts (
    id                  uuid          NOT NULL DEFAULT uuid_generate_v4(),
    vendor_id           uuid          NOT NULL,
    name                varchar(200)  NOT NULL,
    status              varchar(16)   NOT NULL DEFAULT 'ACTIVE',
    start_date          date          NOT NULL,
    end_date            date,
    auto_renew          boolean       NOT NULL DEFAULT false,
    renewal_notice_days integer,
    commitment_amount   decimal(12,2),
    commitment_period   varchar(16),
    commitment_minutes  bigint,
    currency            char(3)       NOT NULL DEFAULT 'USD',
    payment_terms_days  integer,
    terms               text,
    document_ref        text,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT contracts_pkey PRIMARY KEY (id),
    CONSTRAINT contracts_vendor_id_fkey FOREIGN KEY (vendor_id)
        REFERENCES vendor_mgmt.vendors (id) ON DELETE RESTRICT,
    CONSTRAINT contracts_status_check CHECK (status IN ('DRAFT', 'ACTIVE', 'EXPIRED', 'TERMINATED')),
    CONSTRAINT contracts_end_date_check CHECK (end_date IS NULL OR end_date >= start_date),
    CONSTRAINT contracts_commitment_amount_check CHECK (commitment_amount IS NULL OR commitment_amount >= 0),
    CONSTRAINT contracts_commitment_period_check
        CHECK (commitment_period IS NULL OR commitment_period IN ('MONTHLY', 'QUARTERLY', 'ANNUAL')),
    CONSTRAINT contracts_commitment_minutes_check CHECK (commitment_minutes IS NULL OR commitment_minutes >= 0),
    CONSTRAINT contracts_commitment_check CHECK (
        (commitment_amount IS NULL AND commitment_minutes IS NULL) OR commitment_period IS NOT NULL),
    CONSTRAINT contracts_payment_terms_days_check CHECK (payment_terms_days IS NULL OR payment_terms_days >= 0),
    CONSTRAINT contracts_renewal_notice_days_check
        CHECK (renewal_notice_days IS NULL OR renewal_notice_days >= 0)
);
CREATE INDEX contracts_vendor_id_idx ON vendor_mgmt.contracts (vendor_id);
COMMENT ON TABLE vendor_mgmt.contracts IS 'Vendor contracts: terms, dates, renewal and spend commitments.';
COMMENT ON COLUMN vendor_mgmt.contracts.commitment_amount IS 'Minimum spend per commitment_period (vendor cost of CDRs and messages through the vendor), in currency.';
COMMENT ON COLUMN vendor_mgmt.contracts.commitment_minutes IS 'Minimum billable minutes per commitment_period through the vendor''s carriers.';
COMMENT ON COLUMN vendor_mgmt.contracts.commitment_period IS 'Commitment periods run from start_date: MONTHLY, QUARTERLY or ANNUAL.';
CREATE TRIGGER contracts_updated_at_trg BEFORE UPDATE ON vendor_mgmt.contracts
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.smpp_connectors (
    id                  uuid         NOT NULL DEFAULT uuid_generate_v4(),
    vendor_id           uuid         NOT NULL,
    service_provider_id uuid,
    name                varchar(100) NOT NULL,
    host                varchar(255) NOT NULL,
    port                integer      NOT NULL DEFAULT 2775,
    system_id           varchar(16)  NOT NULL,
    password_ref        text         NOT NULL,
    system_type         varchar(13),
    bind_type           varchar(16)  NOT NULL DEFAULT 'TRANSCEIVER',
    use_tls             boolean      NOT NULL DEFAULT false,
    throughput_mps      integer      NOT NULL DEFAULT 10,
    window_size         integer      NOT NULL DEFAULT 10,
    enabled             boolean      NOT NULL DEFAULT true,
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT smpp_connectors_pkey PRIMARY KEY (id),
    CONSTRAINT smpp_connectors_name_key UNIQUE (name),
    CONSTRAINT smpp_connectors_vendor_id_fkey FOREIGN KEY (vendor_id)
        REFERENCES vendor_mgmt.vendors (id) ON DELETE RESTRICT,
    CONSTRAINT smpp_connectors_service_provider_id_fkey FOREIGN KEY (service_provider_id)
        REFERENCES vendor_mgmt.service_providers (id) ON DELETE SET NULL,
    CONSTRAINT smpp_connectors_port_check CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT smpp_connectors_bind_type_check CHECK (bind_type IN ('TRANSMITTER', 'RECEIVER', 'TRANSCEIVER')),
    CONSTRAINT smpp_connectors_password_ref_check CHECK (password_ref ~ '^(env|file|secret):.+'),
    CONSTRAINT smpp_connectors_throughput_mps_check CHECK (throughput_mps > 0 AND window_size > 0)
);
CREATE INDEX smpp_connectors_vendor_id_idx ON vendor_mgmt.smpp_connectors (vendor_id);
CREATE INDEX smpp_connectors_service_provider_id_idx ON vendor_mgmt.smpp_connectors (service_provider_id);
COMMENT ON TABLE vendor_mgmt.smpp_connectors IS 'SMPP binds to SMS vendors; the bind password is a secret reference (env:/file:/secret:).';
CREATE TRIGGER smpp_connectors_updated_at_trg BEFORE UPDATE ON vendor_mgmt.smpp_connectors
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
