-- numbers schema: inventory, customer DIDs (1:1 with inventory), toll-free data, porting, E911.

CREATE TABLE numbers.inventory (
    id                     uuid         NOT NULL DEFAULT uuid_generate_v4(),
    number                 varchar(32)  NOT NULL,
    number_type            varchar(16)  NOT NULL DEFAULT 'DID',
    status                 varchar(16)  NOT NULL DEFAULT 'AVAILABLE',
    npa                    varchar(3),
    nxx                    varchar(3),
    rate_center            varchar(64),
    state                  varchar(2),
    lata                   varchar(5),
    ocn                    varchar(4),
    country                char(2)      NOT NULL DEFAULT 'US',
    features               text[]       NOT NULL DEFAULT '{VOICE,SMS}',
    reserved_by_account_id uuid,
    reserved_at            timestamptz,
    reservation_expires_at timestamptz,
    aging_expires_at       timestamptz,
    status_changed_at      timestamptz  NOT NULL DEFAULT now(),
    metadata               jsonb        NOT NULL DEFAULT '{}',
    created_at             timestamptz  NOT NULL DEFAULT now(),
    updated_at             timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT inventory_pkey PRIMARY KEY (id),
    CONSTRAINT inventory_number_key UNIQUE (number),
    CONSTRAINT inventory_id_number_key UNIQUE (id, number),
    CONSTRAINT inventory_reserved_by_account_id_fkey FOREIGN KEY (reserved_by_account_id)
        REFERENCES accounts.accounts (id) ON DELETE SET NULL,
    CONSTRAINT inventory_number_check CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT inventory_number_type_check CHECK (number_type IN ('DID', 'TOLL_FREE', 'SHORT_CODE')),
    CONSTRAINT inventory_status_check CHECK (status IN
        ('AVAILABLE', 'RESERVED', 'ACTIVE', 'AGING', 'PORTING_IN', 'PORTING_OUT', 'DISCONNECTED')),
    CONSTRAINT inventory_npa_check CHECK (npa ~ '^[2-9][0-9]{2}$' AND nxx ~ '^[0-9]{3}$'),
    CONSTRAINT inventory_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT inventory_features_check CHECK (features <@ ARRAY['VOICE', 'SMS', 'MMS', 'FAX', 'E911']::text[]),
    CONSTRAINT inventory_reservation_check CHECK (
        status <> 'RESERVED' OR (reserved_by_account_id IS NOT NULL AND reservation_expires_at IS NOT NULL))
);
CREATE INDEX inventory_reserved_by_account_id_idx ON numbers.inventory (reserved_by_account_id);
-- The available-number search indexes are in 0014_numbers_functions.sql (with the search they serve).
CREATE INDEX inventory_reservation_expires_at_idx ON numbers.inventory (reservation_expires_at) WHERE status = 'RESERVED';
CREATE INDEX inventory_aging_expires_at_idx ON numbers.inventory (aging_expires_at) WHERE status = 'AGING';
COMMENT ON TABLE numbers.inventory IS 'Every number WARP holds (available, reserved, active, aging, porting...), in E.164. Status transitions are enforced by the numbers issue.';
COMMENT ON COLUMN numbers.inventory.reserved_by_account_id IS 'Account holding a RESERVED number until reservation_expires_at.';
COMMENT ON COLUMN numbers.inventory.metadata IS 'Flexible metadata (extra import columns, vendor data).';
CREATE TRIGGER inventory_updated_at_trg BEFORE UPDATE ON numbers.inventory
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE numbers.toll_free (
    id                uuid         NOT NULL DEFAULT uuid_generate_v4(),
    inventory_id      uuid         NOT NULL,
    resp_org_id       varchar(5)   NOT NULL,
    resp_org_name     varchar(100),
    sms800_status     varchar(16)  NOT NULL DEFAULT 'SPARE',
    messaging_enabled boolean      NOT NULL DEFAULT false,
    verification_status varchar(16) NOT NULL DEFAULT 'NOT_SUBMITTED',
    metadata          jsonb        NOT NULL DEFAULT '{}',
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT toll_free_pkey PRIMARY KEY (id),
    CONSTRAINT toll_free_inventory_id_key UNIQUE (inventory_id),
    CONSTRAINT toll_free_inventory_id_fkey FOREIGN KEY (inventory_id)
        REFERENCES numbers.inventory (id) ON DELETE CASCADE,
    CONSTRAINT toll_free_resp_org_id_check CHECK (resp_org_id ~ '^[A-Z0-9]{5}$'),
    CONSTRAINT toll_free_sms800_status_check CHECK (sms800_status IN
        ('SPARE', 'RESERVED', 'ASSIGNED', 'WORKING', 'DISCONNECT', 'TRANSITIONAL', 'UNAVAILABLE')),
    CONSTRAINT toll_free_verification_status_check CHECK (verification_status IN
        ('NOT_SUBMITTED', 'PENDING', 'VERIFIED', 'REJECTED'))
);
COMMENT ON TABLE numbers.toll_free IS 'Toll-free specific data of an inventory number (RespOrg, SMS/800 status, messaging verification); 1:1 with inventory.';
COMMENT ON COLUMN numbers.toll_free.resp_org_id IS 'Five-character RespOrg code from SMS/800 (an external code, not a foreign key).';
CREATE TRIGGER toll_free_updated_at_trg BEFORE UPDATE ON numbers.toll_free
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE numbers.e911_addresses (
    id                uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id        uuid         NOT NULL,
    caller_name       varchar(64)  NOT NULL,
    street            varchar(200) NOT NULL,
    unit              varchar(50),
    city              varchar(100) NOT NULL,
    state_code        varchar(2)   NOT NULL,
    postal_code       varchar(10)  NOT NULL,
    country           char(2)      NOT NULL DEFAULT 'US',
    validation_status varchar(16)  NOT NULL DEFAULT 'PENDING',
    validation_error  text,
    validated_at      timestamptz,
    provider_ref      varchar(128),
    metadata          jsonb        NOT NULL DEFAULT '{}',
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT e911_addresses_pkey PRIMARY KEY (id),
    CONSTRAINT e911_addresses_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT e911_addresses_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT e911_addresses_state_code_check CHECK (state_code ~ '^[A-Z]{2}$'),
    CONSTRAINT e911_addresses_postal_code_check CHECK (country <> 'US' OR postal_code ~ '^[0-9]{5}(-[0-9]{4})?$'),
    CONSTRAINT e911_addresses_validation_status_check CHECK (validation_status IN ('PENDING', 'VALID', 'INVALID'))
);
CREATE INDEX e911_addresses_account_id_idx ON numbers.e911_addresses (account_id);
COMMENT ON TABLE numbers.e911_addresses IS 'Validated structured emergency service addresses (US), with the caller name sent to the PSAP.';
CREATE TRIGGER e911_addresses_updated_at_trg BEFORE UPDATE ON numbers.e911_addresses
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE numbers.dids (
    id                 uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id         uuid         NOT NULL,
    inventory_id       uuid         NOT NULL,
    number             varchar(32)  NOT NULL,
    status             varchar(16)  NOT NULL DEFAULT 'ACTIVE',
    trunk_id           uuid,
    voice_enabled      boolean      NOT NULL DEFAULT true,
    messaging_enabled  boolean      NOT NULL DEFAULT false,
    campaign_id        uuid,
    cnam_name          varchar(15),
    e911_address_id    uuid,
    e911_exempt        boolean      NOT NULL DEFAULT false,
    e911_exempt_reason text,
    activated_at       timestamptz  NOT NULL DEFAULT now(),
    metadata           jsonb        NOT NULL DEFAULT '{}',
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT dids_pkey PRIMARY KEY (id),
    CONSTRAINT dids_number_key UNIQUE (number),
    CONSTRAINT dids_inventory_id_key UNIQUE (inventory_id),
    CONSTRAINT dids_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT dids_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT dids_inventory_id_fkey FOREIGN KEY (inventory_id, number)
        REFERENCES numbers.inventory (id, number) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT dids_trunk_id_fkey FOREIGN KEY (trunk_id, account_id)
        REFERENCES routing.trunks (id, account_id) ON DELETE SET NULL (trunk_id),
    CONSTRAINT dids_e911_address_id_fkey FOREIGN KEY (e911_address_id, account_id)
        REFERENCES numbers.e911_addresses (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT dids_number_check CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT dids_status_check CHECK (status IN ('ACTIVE', 'SUSPENDED', 'PORTING_OUT')),
    CONSTRAINT dids_e911_exempt_check CHECK (NOT e911_exempt OR e911_exempt_reason IS NOT NULL)
);
CREATE INDEX dids_account_id_idx ON numbers.dids (account_id);
CREATE INDEX dids_trunk_id_account_id_idx ON numbers.dids (trunk_id, account_id);
CREATE INDEX dids_e911_address_id_account_id_idx ON numbers.dids (e911_address_id, account_id);
CREATE INDEX dids_campaign_id_account_id_idx ON numbers.dids (campaign_id, account_id);
COMMENT ON TABLE numbers.dids IS 'Numbers assigned to customer accounts: 1:1 with their inventory row (number kept equal to it by the composite foreign key), voice/messaging/CNAM/E911 configuration. Releasing a DID deletes this row (history in numbers.did_assignments).';
COMMENT ON COLUMN numbers.dids.campaign_id IS '10DLC campaign (messaging.campaigns_10dlc) the number is assigned to; the foreign key is added by the messaging migration.';
COMMENT ON COLUMN numbers.dids.e911_exempt IS 'Voice-enabled without an E911 address only when exempted with a reason (also recorded in audit.compliance_records).';
CREATE TRIGGER dids_updated_at_trg BEFORE UPDATE ON numbers.dids
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE numbers.did_assignments (
    id              uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id      uuid        NOT NULL,
    inventory_id    uuid        NOT NULL,
    number          varchar(32) NOT NULL,
    activated_at    timestamptz NOT NULL,
    disconnected_at timestamptz,
    number_rate_id  uuid,
    monthly_charge  decimal(12,2),
    setup_charge    decimal(12,2),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT did_assignments_pkey PRIMARY KEY (id),
    CONSTRAINT did_assignments_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT did_assignments_inventory_id_fkey FOREIGN KEY (inventory_id)
        REFERENCES numbers.inventory (id) ON DELETE RESTRICT,
    CONSTRAINT did_assignments_charge_check CHECK (monthly_charge >= 0 AND setup_charge >= 0),
    CONSTRAINT did_assignments_number_check CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT did_assignments_disconnected_at_check CHECK (disconnected_at IS NULL OR disconnected_at >= activated_at),
    CONSTRAINT did_assignments_inventory_id_period_excl EXCLUDE USING gist (
        inventory_id WITH =, tstzrange(activated_at, disconnected_at, '[)') WITH &&)
);
CREATE INDEX did_assignments_account_id_idx ON numbers.did_assignments (account_id, activated_at);
CREATE INDEX did_assignments_inventory_id_idx ON numbers.did_assignments (inventory_id);
CREATE INDEX did_assignments_number_rate_id_idx ON numbers.did_assignments (number_rate_id);
COMMENT ON TABLE numbers.did_assignments IS 'History of which account held which number and when (for prorated DID charges and audits); one open assignment per number.';
COMMENT ON COLUMN numbers.did_assignments.number_rate_id IS 'The billing.number_rates row the charges came from (foreign key added in 0014, after billing).';
COMMENT ON COLUMN numbers.did_assignments.monthly_charge IS 'Recurring charge for the number, from billing.number_rates of the account''s rate plan in force at activation (prorated by billing over [activated_at, disconnected_at)); NULL when no rate was in force (unrated, not free).';
COMMENT ON COLUMN numbers.did_assignments.setup_charge IS 'One-time charge at activation (the rate''s setup_charge; port_in_fee for a ported-in number); NULL when unrated.';
CREATE TRIGGER did_assignments_updated_at_trg BEFORE UPDATE ON numbers.did_assignments
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE numbers.port_requests (
    id                            uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id                    uuid         NOT NULL,
    direction                     varchar(8)   NOT NULL DEFAULT 'PORT_IN',
    status                        varchar(16)  NOT NULL DEFAULT 'PENDING',
    losing_carrier_name           varchar(200) NOT NULL,
    losing_carrier_account_number varchar(64),
    pin_secret_ref                text,
    authorized_name               varchar(200) NOT NULL,
    service_address               jsonb        NOT NULL DEFAULT '{}',
    loa_document_id               uuid,
    requested_date                date,
    foc_date                      date,
    rejection_code                varchar(32),
    rejection_reason              text,
    submitted_at                  timestamptz,
    foc_received_at               timestamptz,
    completed_at                  timestamptz,
    cancelled_at                  timestamptz,
    metadata                      jsonb        NOT NULL DEFAULT '{}',
    created_at                    timestamptz  NOT NULL DEFAULT now(),
    updated_at                    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT port_requests_pkey PRIMARY KEY (id),
    CONSTRAINT port_requests_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT port_requests_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT port_requests_loa_document_id_fkey FOREIGN KEY (loa_document_id, account_id)
        REFERENCES accounts.documents (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT port_requests_direction_check CHECK (direction IN ('PORT_IN', 'PORT_OUT')),
    CONSTRAINT port_requests_status_check CHECK (status IN
        ('PENDING', 'SUBMITTED', 'FOC_RECEIVED', 'COMPLETED', 'REJECTED', 'CANCELLED')),
    CONSTRAINT port_requests_rejection_check CHECK (status <> 'REJECTED' OR rejection_code IS NOT NULL),
    CONSTRAINT port_requests_foc_date_check CHECK (status NOT IN ('FOC_RECEIVED', 'COMPLETED') OR foc_date IS NOT NULL)
);
CREATE INDEX port_requests_account_id_idx ON numbers.port_requests (account_id, status);
CREATE INDEX port_requests_loa_document_id_account_id_idx ON numbers.port_requests (loa_document_id, account_id);
COMMENT ON TABLE numbers.port_requests IS 'Number porting workflow: PENDING -> SUBMITTED -> FOC_RECEIVED -> COMPLETED, or REJECTED / CANCELLED.';
COMMENT ON COLUMN numbers.port_requests.pin_secret_ref IS 'Reference to the port-out PIN held in the secret store; the PIN is never stored in clear.';
COMMENT ON COLUMN numbers.port_requests.losing_carrier_account_number IS 'Customer account number at the losing carrier (not a phone number).';
CREATE TRIGGER port_requests_updated_at_trg BEFORE UPDATE ON numbers.port_requests
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE numbers.port_request_numbers (
    id               uuid        NOT NULL DEFAULT uuid_generate_v4(),
    port_request_id  uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    number           varchar(32) NOT NULL,
    status           varchar(16) NOT NULL DEFAULT 'PENDING',
    inventory_id     uuid,
    rejection_reason text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT port_request_numbers_pkey PRIMARY KEY (id),
    CONSTRAINT port_request_numbers_port_request_id_number_key UNIQUE (port_request_id, number),
    CONSTRAINT port_request_numbers_port_request_id_fkey FOREIGN KEY (port_request_id, account_id)
        REFERENCES numbers.port_requests (id, account_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT port_request_numbers_inventory_id_fkey FOREIGN KEY (inventory_id)
        REFERENCES numbers.inventory (id) ON DELETE SET NULL,
    CONSTRAINT port_request_numbers_number_check CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT port_request_numbers_status_check CHECK (status IN ('PENDING', 'PORTED', 'REJECTED', 'CANCELLED'))
);
CREATE INDEX port_request_numbers_port_request_id_account_id_idx
    ON numbers.port_request_numbers (port_request_id, account_id);
CREATE INDEX port_request_numbers_account_id_idx ON numbers.port_request_numbers (account_id);
CREATE INDEX port_request_numbers_number_idx ON numbers.port_request_numbers (number);
CREATE INDEX port_request_numbers_inventory_id_idx ON numbers.port_request_numbers (inventory_id);
COMMENT ON TABLE numbers.port_request_numbers IS 'Numbers of a port request; account_id equals the request''s (composite foreign key).';
CREATE TRIGGER port_request_numbers_updated_at_trg BEFORE UPDATE ON numbers.port_request_numbers
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
