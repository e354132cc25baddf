-- messaging schema: customer SMPP/API credentials, 10DLC brands and campaigns, inbound routes,
-- opt-outs, MDRs (monthly RANGE partitioned on created_at), webhook outbox and delivery attempts.

CREATE TABLE messaging.customer_sms_auth (
    id             uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id     uuid         NOT NULL,
    auth_type      varchar(8)   NOT NULL DEFAULT 'SMPP',
    system_id      varchar(16),
    password_hash  text,
    api_key_id     uuid,
    allowed_ips    inet[]       NOT NULL DEFAULT '{}',
    max_tps        integer      NOT NULL DEFAULT 10,
    enabled        boolean      NOT NULL DEFAULT true,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT customer_sms_auth_pkey PRIMARY KEY (id),
    CONSTRAINT customer_sms_auth_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT customer_sms_auth_system_id_key UNIQUE (system_id),
    CONSTRAINT customer_sms_auth_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT customer_sms_auth_api_key_id_fkey FOREIGN KEY (api_key_id)
        REFERENCES auth.api_keys (id) ON DELETE CASCADE,
    CONSTRAINT customer_sms_auth_auth_type_check CHECK (
        (auth_type = 'SMPP' AND system_id IS NOT NULL AND password_hash IS NOT NULL)
        OR (auth_type = 'HTTP' AND api_key_id IS NOT NULL)),
    CONSTRAINT customer_sms_auth_max_tps_check CHECK (max_tps > 0)
);
CREATE INDEX customer_sms_auth_account_id_idx ON messaging.customer_sms_auth (account_id);
CREATE INDEX customer_sms_auth_api_key_id_idx ON messaging.customer_sms_auth (api_key_id);
COMMENT ON TABLE messaging.customer_sms_auth IS 'Customer messaging credentials: SMPP system_id + password hash with allowed source IPs, or an API key for HTTP.';
COMMENT ON COLUMN messaging.customer_sms_auth.password_hash IS 'bcrypt hash of the SMPP bind password; never stored in clear.';
CREATE TRIGGER customer_sms_auth_updated_at_trg BEFORE UPDATE ON messaging.customer_sms_auth
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE messaging.brands_10dlc (
    id                  uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id          uuid         NOT NULL,
    legal_name          varchar(255) NOT NULL,
    dba_name            varchar(255),
    entity_type         varchar(24)  NOT NULL,
    tax_id              varchar(32),
    vertical            varchar(64),
    website             text,
    country             char(2)      NOT NULL DEFAULT 'US',
    status              varchar(16)  NOT NULL DEFAULT 'PENDING',
    external_ref        varchar(64),
    service_provider_id uuid,
    submitted_at        timestamptz,
    verified_at         timestamptz,
    metadata            jsonb        NOT NULL DEFAULT '{}',
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT brands_10dlc_pkey PRIMARY KEY (id),
    CONSTRAINT brands_10dlc_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT brands_10dlc_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT brands_10dlc_service_provider_id_fkey FOREIGN KEY (service_provider_id)
        REFERENCES vendor_mgmt.service_providers (id) ON DELETE SET NULL,
    CONSTRAINT brands_10dlc_entity_type_check CHECK (entity_type IN
        ('PRIVATE_PROFIT', 'PUBLIC_PROFIT', 'NON_PROFIT', 'GOVERNMENT', 'SOLE_PROPRIETOR')),
    CONSTRAINT brands_10dlc_status_check CHECK (status IN ('PENDING', 'VERIFIED', 'UNVERIFIED', 'VETTED_VERIFIED'))
);
CREATE INDEX brands_10dlc_account_id_idx ON messaging.brands_10dlc (account_id);
CREATE INDEX brands_10dlc_service_provider_id_idx ON messaging.brands_10dlc (service_provider_id);
COMMENT ON TABLE messaging.brands_10dlc IS '10DLC brand registrations (TCR): PENDING -> VERIFIED | UNVERIFIED | VETTED_VERIFIED.';
COMMENT ON COLUMN messaging.brands_10dlc.external_ref IS 'Brand id assigned by the registry/provider.';
CREATE TRIGGER brands_10dlc_updated_at_trg BEFORE UPDATE ON messaging.brands_10dlc
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE messaging.campaigns_10dlc (
    id                  uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id          uuid         NOT NULL,
    brand_id            uuid         NOT NULL,
    name                varchar(200) NOT NULL,
    use_case            varchar(32)  NOT NULL,
    description         text         NOT NULL,
    sample_messages     text[]       NOT NULL DEFAULT '{}',
    message_flow        text,
    opt_in_message      text,
    opt_out_message     text,
    help_message        text,
    status              varchar(16)  NOT NULL DEFAULT 'PENDING',
    throughput_mps      integer,
    external_ref        varchar(64),
    rejection_reason    text,
    submitted_at        timestamptz,
    approved_at         timestamptz,
    metadata            jsonb        NOT NULL DEFAULT '{}',
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_10dlc_pkey PRIMARY KEY (id),
    CONSTRAINT campaigns_10dlc_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT campaigns_10dlc_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT campaigns_10dlc_brand_id_fkey FOREIGN KEY (brand_id, account_id)
        REFERENCES messaging.brands_10dlc (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT campaigns_10dlc_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'SUSPENDED')),
    CONSTRAINT campaigns_10dlc_throughput_mps_check CHECK (throughput_mps IS NULL OR throughput_mps > 0)
);
CREATE INDEX campaigns_10dlc_account_id_idx ON messaging.campaigns_10dlc (account_id);
CREATE INDEX campaigns_10dlc_brand_id_account_id_idx ON messaging.campaigns_10dlc (brand_id, account_id);
COMMENT ON TABLE messaging.campaigns_10dlc IS '10DLC campaigns of a brand: use case, sample messages, opt-in/out/help texts; PENDING -> APPROVED | REJECTED | SUSPENDED. Numbers are assigned through numbers.dids.campaign_id.';
CREATE TRIGGER campaigns_10dlc_updated_at_trg BEFORE UPDATE ON messaging.campaigns_10dlc
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

ALTER TABLE numbers.dids
    ADD CONSTRAINT dids_campaign_id_fkey FOREIGN KEY (campaign_id, account_id)
        REFERENCES messaging.campaigns_10dlc (id, account_id) ON DELETE SET NULL (campaign_id);

CREATE TABLE messaging.inbound_routes (
    id                   uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id           uuid        NOT NULL,
    did_id               uuid,
    route_type           varchar(8)  NOT NULL DEFAULT 'WEBHOOK',
    webhook_url          text,
    status_webhook_url   text,
    webhook_secret_ref   text,
    customer_sms_auth_id uuid,
    enabled              boolean     NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inbound_routes_pkey PRIMARY KEY (id),
    CONSTRAINT inbound_routes_account_id_did_id_key UNIQUE NULLS NOT DISTINCT (account_id, did_id),
    CONSTRAINT inbound_routes_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT inbound_routes_did_id_fkey FOREIGN KEY (did_id, account_id)
        REFERENCES numbers.dids (id, account_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT inbound_routes_customer_sms_auth_id_fkey FOREIGN KEY (customer_sms_auth_id, account_id)
        REFERENCES messaging.customer_sms_auth (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT inbound_routes_route_type_check CHECK (
        (route_type = 'WEBHOOK' AND webhook_url IS NOT NULL)
        OR (route_type = 'SMPP' AND customer_sms_auth_id IS NOT NULL)
        OR route_type = 'STORE'),
    CONSTRAINT inbound_routes_webhook_url_check CHECK (webhook_url ~ '^https?://'),
    CONSTRAINT inbound_routes_status_webhook_url_check CHECK (status_webhook_url ~ '^https?://')
);
CREATE INDEX inbound_routes_did_id_account_id_idx ON messaging.inbound_routes (did_id, account_id);
CREATE INDEX inbound_routes_customer_sms_auth_id_account_id_idx
    ON messaging.inbound_routes (customer_sms_auth_id, account_id);
COMMENT ON TABLE messaging.inbound_routes IS 'Where inbound messages and status events go: per DID, or the account default (did_id NULL). Webhook (signed with the secret behind webhook_secret_ref), SMPP bind, or store only.';
COMMENT ON COLUMN messaging.inbound_routes.webhook_secret_ref IS 'Reference to the HMAC signing secret in the secret store (never the secret itself).';
CREATE TRIGGER inbound_routes_updated_at_trg BEFORE UPDATE ON messaging.inbound_routes
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE messaging.opt_outs (
    id               uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id       uuid        NOT NULL,
    campaign_id      uuid,
    recipient_number varchar(32) NOT NULL,
    keyword          varchar(32),
    source           varchar(16) NOT NULL DEFAULT 'KEYWORD',
    opted_out_at     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT opt_outs_pkey PRIMARY KEY (id),
    CONSTRAINT opt_outs_account_id_recipient_number_key
        UNIQUE NULLS NOT DISTINCT (account_id, recipient_number, campaign_id),
    CONSTRAINT opt_outs_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT opt_outs_campaign_id_fkey FOREIGN KEY (campaign_id, account_id)
        REFERENCES messaging.campaigns_10dlc (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT opt_outs_recipient_number_check CHECK (recipient_number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT opt_outs_source_check CHECK (source IN ('KEYWORD', 'API', 'MANUAL'))
);
CREATE INDEX opt_outs_campaign_id_account_id_idx ON messaging.opt_outs (campaign_id, account_id);
COMMENT ON TABLE messaging.opt_outs IS 'STOP/START state: a recipient opted out of a campaign, or of the whole account when campaign_id is NULL. START deletes the row.';
CREATE TRIGGER opt_outs_updated_at_trg BEFORE UPDATE ON messaging.opt_outs
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE messaging.mdr (
    id                  uuid          NOT NULL DEFAULT uuid_generate_v4(),
    created_at          timestamptz   NOT NULL DEFAULT now(),
    account_id          uuid          NOT NULL,
    direction           varchar(8)    NOT NULL,
    message_type        varchar(8)    NOT NULL DEFAULT 'SMS',
    from_number         varchar(32)   NOT NULL,
    to_number           varchar(32)   NOT NULL,
    did_id              uuid,
    campaign_id         uuid,
    body                text,
    media_urls          text[]        NOT NULL DEFAULT '{}',
    encoding            varchar(8),
    segments            integer       NOT NULL DEFAULT 1,
    status              varchar(16)   NOT NULL DEFAULT 'QUEUED',
    error_code          varchar(32),
    error_message       text,
    service_provider_id uuid,
    vendor_message_ref  varchar(128),
    rate                decimal(10,6),
    charge              numeric(14,6),
    vendor_cost         numeric(14,6),
    currency            char(3)       NOT NULL DEFAULT 'USD',
    sent_at             timestamptz,
    delivered_at        timestamptz,
    status_changed_at   timestamptz   NOT NULL DEFAULT now(),
    metadata            jsonb         NOT NULL DEFAULT '{}',
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    billing_xid         xid8          NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT mdr_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT mdr_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT mdr_did_id_fkey FOREIGN KEY (did_id, account_id)
        REFERENCES numbers.dids (id, account_id) ON DELETE SET NULL (did_id),
    CONSTRAINT mdr_campaign_id_fkey FOREIGN KEY (campaign_id, account_id)
        REFERENCES messaging.campaigns_10dlc (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT mdr_service_provider_id_fkey FOREIGN KEY (service_provider_id)
        REFERENCES vendor_mgmt.service_providers (id) ON DELETE RESTRICT,
    CONSTRAINT mdr_from_number_check CHECK (from_number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT mdr_to_number_check CHECK (to_number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT mdr_direction_check CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    CONSTRAINT mdr_message_type_check CHECK (message_type IN ('SMS', 'MMS')),
    CONSTRAINT mdr_encoding_check CHECK (encoding IN ('GSM-7', 'UCS-2')),
    CONSTRAINT mdr_segments_check CHECK (segments >= 0),
    CONSTRAINT mdr_status_check CHECK (status IN ('QUEUED', 'SENDING', 'SENT', 'DELIVERED', 'UNDELIVERED',
                                                  'FAILED', 'REJECTED', 'RECEIVED'))
) PARTITION BY RANGE (created_at);
CREATE INDEX mdr_account_id_idx ON messaging.mdr (account_id, created_at);
CREATE INDEX mdr_did_id_account_id_idx ON messaging.mdr (did_id, account_id);
CREATE INDEX mdr_campaign_id_account_id_idx ON messaging.mdr (campaign_id, account_id);
CREATE INDEX mdr_service_provider_id_idx ON messaging.mdr (service_provider_id, vendor_message_ref);
CREATE INDEX mdr_to_number_idx ON messaging.mdr (to_number, created_at);
CREATE INDEX mdr_status_idx ON messaging.mdr (created_at) WHERE status = 'QUEUED' AND direction = 'OUTBOUND';
CREATE INDEX mdr_status_changed_at_idx ON messaging.mdr (status_changed_at)
    WHERE status = 'SENDING' AND direction = 'OUTBOUND';
CREATE INDEX mdr_billing_xid_idx ON messaging.mdr (billing_xid);
COMMENT ON TABLE messaging.mdr IS 'Message detail records (SMS/MMS, both directions), partitioned by month on created_at; primary key (id, created_at).';
COMMENT ON COLUMN messaging.mdr.charge IS 'Per-message charge (segments x rate), 6 decimals; invoices round to cents.';
COMMENT ON COLUMN messaging.mdr.billing_xid IS 'Transaction that wrote the current charge (insert, or a charge change: trigger in 0017_billing_functions.sql); invoices bill the rows visible in their build snapshot (billing.invoices.usage_snapshot).';
COMMENT ON COLUMN messaging.mdr.vendor_message_ref IS 'Message id at the vendor, used to match delivery receipts.';
CREATE TRIGGER mdr_updated_at_trg BEFORE UPDATE ON messaging.mdr
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE messaging.mdr_default PARTITION OF messaging.mdr DEFAULT;
COMMENT ON TABLE messaging.mdr_default IS 'Default partition of messaging.mdr.';

CREATE TABLE messaging.webhook_events (
    id              uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id      uuid        NOT NULL,
    event_type      varchar(64) NOT NULL,
    mdr_id          uuid,
    mdr_created_at  timestamptz,
    target_url      text        NOT NULL,
    secret_ref      text,
    payload         jsonb       NOT NULL,
    status          varchar(16) NOT NULL DEFAULT 'PENDING',
    attempt_count   integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_events_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_events_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT webhook_events_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT webhook_events_mdr_id_fkey FOREIGN KEY (mdr_id, mdr_created_at)
        REFERENCES messaging.mdr (id, created_at) ON DELETE SET NULL,
    CONSTRAINT webhook_events_status_check
        CHECK (status IN ('PENDING', 'DELIVERING', 'DELIVERED', 'FAILED', 'EXPIRED')),
    CONSTRAINT webhook_events_attempt_count_check CHECK (attempt_count >= 0),
    CONSTRAINT webhook_events_target_url_check CHECK (target_url ~ '^https?://'),
    CONSTRAINT webhook_events_mdr_id_check CHECK ((mdr_id IS NULL) = (mdr_created_at IS NULL))
);
CREATE INDEX webhook_events_account_id_idx ON messaging.webhook_events (account_id, created_at);
CREATE INDEX webhook_events_mdr_id_idx ON messaging.webhook_events (mdr_id, mdr_created_at);
CREATE INDEX webhook_events_next_attempt_at_idx ON messaging.webhook_events (next_attempt_at, id)
    WHERE status IN ('PENDING', 'DELIVERING');
COMMENT ON TABLE messaging.webhook_events IS 'Durable webhook outbox: one row per event (message status, inbound message, low balance...), written in the same transaction as the state change; id is the stable event id receivers dedup on.';
COMMENT ON COLUMN messaging.webhook_events.secret_ref IS 'Reference to the signing secret of the route the event goes to (enc:/env:/file:), copied at enqueue; never the secret itself.';
CREATE TRIGGER webhook_events_updated_at_trg BEFORE UPDATE ON messaging.webhook_events
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE messaging.webhook_attempts (
    id               uuid        NOT NULL DEFAULT uuid_generate_v4(),
    webhook_event_id uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    mdr_id           uuid,
    mdr_created_at   timestamptz,
    attempt          integer     NOT NULL,
    request_url      text        NOT NULL,
    status_code      integer,
    latency_ms       integer,
    error            text,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_attempts_webhook_event_id_attempt_key UNIQUE (webhook_event_id, attempt),
    CONSTRAINT webhook_attempts_webhook_event_id_fkey FOREIGN KEY (webhook_event_id, account_id)
        REFERENCES messaging.webhook_events (id, account_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT webhook_attempts_mdr_id_fkey FOREIGN KEY (mdr_id, mdr_created_at)
        REFERENCES messaging.mdr (id, created_at) ON DELETE SET NULL,
    CONSTRAINT webhook_attempts_attempt_check CHECK (attempt >= 1),
    CONSTRAINT webhook_attempts_status_code_check CHECK (status_code BETWEEN 100 AND 599),
    CONSTRAINT webhook_attempts_latency_ms_check CHECK (latency_ms >= 0),
    CONSTRAINT webhook_attempts_mdr_id_check CHECK ((mdr_id IS NULL) = (mdr_created_at IS NULL))
);
CREATE INDEX webhook_attempts_webhook_event_id_account_id_idx
    ON messaging.webhook_attempts (webhook_event_id, account_id);
CREATE INDEX webhook_attempts_account_id_idx ON messaging.webhook_attempts (account_id, attempted_at);
CREATE INDEX webhook_attempts_mdr_id_idx ON messaging.webhook_attempts (mdr_id, mdr_created_at);
COMMENT ON TABLE messaging.webhook_attempts IS 'Each delivery try of a webhook event: HTTP status, latency, error. mdr_id/mdr_created_at copy the event''s message reference (the ERD''s MDR -> WEBHOOK_ATTEMPTS).';
