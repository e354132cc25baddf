-- billing schema: rate plans and rates, plan assignments, balances and the ledger, taxes,
-- invoices, payments, credits and usage summaries.

CREATE TABLE billing.rate_plans (
    id          uuid         NOT NULL DEFAULT uuid_generate_v4(),
    name        varchar(100) NOT NULL,
    description text,
    currency    char(3)      NOT NULL DEFAULT 'USD',
    status      varchar(16)  NOT NULL DEFAULT 'ACTIVE',
    metadata    jsonb        NOT NULL DEFAULT '{}',
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT rate_plans_pkey PRIMARY KEY (id),
    CONSTRAINT rate_plans_name_key UNIQUE (name),
    CONSTRAINT rate_plans_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT rate_plans_status_check CHECK (status IN ('DRAFT', 'ACTIVE', 'RETIRED'))
);
COMMENT ON TABLE billing.rate_plans IS 'Customer pricing plans; their voice, messaging and number rates hang off them.';
CREATE TRIGGER rate_plans_updated_at_trg BEFORE UPDATE ON billing.rate_plans
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.account_rate_plans (
    id           uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id   uuid        NOT NULL,
    rate_plan_id uuid        NOT NULL,
    effective_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_rate_plans_pkey PRIMARY KEY (id),
    CONSTRAINT account_rate_plans_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT account_rate_plans_rate_plan_id_fkey FOREIGN KEY (rate_plan_id)
        REFERENCES billing.rate_plans (id) ON DELETE RESTRICT,
    CONSTRAINT account_rate_plans_expires_at_check CHECK (expires_at IS NULL OR expires_at > effective_at),
    CONSTRAINT account_rate_plans_account_id_period_excl EXCLUDE USING gist (
        account_id WITH =, tstzrange(effective_at, expires_at, '[)') WITH &&)
);
CREATE INDEX account_rate_plans_account_id_idx ON billing.account_rate_plans (account_id, effective_at);
CREATE INDEX account_rate_plans_rate_plan_id_idx ON billing.account_rate_plans (rate_plan_id);
COMMENT ON TABLE billing.account_rate_plans IS 'Effective-dated assignment of rate plans to accounts ([effective_at, expires_at)); at most one plan in force per account at any instant (exclusion constraint).';
CREATE TRIGGER account_rate_plans_updated_at_trg BEFORE UPDATE ON billing.account_rate_plans
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.voice_rates (
    id                   uuid          NOT NULL DEFAULT uuid_generate_v4(),
    rate_plan_id         uuid          NOT NULL,
    prefix               varchar(16)   NOT NULL,
    destination_name     varchar(200),
    rate                 decimal(10,6),
    interstate_rate      decimal(10,6),
    intrastate_rate      decimal(10,6),
    indeterminate_rate   decimal(10,6),
    connection_fee       decimal(10,6) NOT NULL DEFAULT 0,
    initial_increment    integer       NOT NULL DEFAULT 1,
    subsequent_increment integer       NOT NULL DEFAULT 1,
    minimum_seconds      integer       NOT NULL DEFAULT 0,
    effective_date       date          NOT NULL DEFAULT CURRENT_DATE,
    expires_date         date,
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT voice_rates_pkey PRIMARY KEY (id),
    CONSTRAINT voice_rates_rate_plan_id_fkey FOREIGN KEY (rate_plan_id)
        REFERENCES billing.rate_plans (id) ON DELETE CASCADE,
    CONSTRAINT voice_rates_prefix_check CHECK (prefix ~ '^[0-9]{1,16}$'),
    CONSTRAINT voice_rates_rate_check CHECK (
        coalesce(rate, interstate_rate, intrastate_rate, indeterminate_rate) IS NOT NULL
        AND coalesce(rate, 0) >= 0 AND coalesce(interstate_rate, 0) >= 0
        AND coalesce(intrastate_rate, 0) >= 0 AND coalesce(indeterminate_rate, 0) >= 0),
    CONSTRAINT voice_rates_connection_fee_check CHECK (connection_fee >= 0),
    CONSTRAINT voice_rates_increment_check CHECK (
        initial_increment > 0 AND subsequent_increment > 0 AND minimum_seconds >= 0),
    CONSTRAINT voice_rates_expires_date_check CHECK (expires_date IS NULL OR expires_date > effective_date),
    CONSTRAINT voice_rates_rate_plan_id_prefix_excl EXCLUDE USING gist (
        rate_plan_id WITH =, prefix WITH =, daterange(effective_date, expires_date, '[)') WITH &&)
);
CREATE INDEX voice_rates_rate_plan_id_prefix_idx ON billing.voice_rates (rate_plan_id, prefix, effective_date);
COMMENT ON TABLE billing.voice_rates IS 'Customer per-minute prices by destination prefix within a rate plan: flat or jurisdictional (interstate/intrastate/indeterminate), increments, connection fee, minimum duration, effective dates.';
COMMENT ON COLUMN billing.voice_rates.connection_fee IS 'Per-call connection fee with sub-cent precision, hence DECIMAL(10,6).';
CREATE TRIGGER voice_rates_updated_at_trg BEFORE UPDATE ON billing.voice_rates
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.messaging_rates (
    id               uuid          NOT NULL DEFAULT uuid_generate_v4(),
    rate_plan_id     uuid          NOT NULL,
    message_type     varchar(8)    NOT NULL DEFAULT 'SMS',
    direction        varchar(8)    NOT NULL DEFAULT 'OUTBOUND',
    destination_type varchar(16)   NOT NULL DEFAULT 'DOMESTIC',
    rate             decimal(10,6) NOT NULL,
    effective_date   date          NOT NULL DEFAULT CURRENT_DATE,
    expires_date     date,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT messaging_rates_pkey PRIMARY KEY (id),
    CONSTRAINT messaging_rates_rate_plan_id_fkey FOREIGN KEY (rate_plan_id)
        REFERENCES billing.rate_plans (id) ON DELETE CASCADE,
    CONSTRAINT messaging_rates_message_type_check CHECK (message_type IN ('SMS', 'MMS')),
    CONSTRAINT messaging_rates_direction_check CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    CONSTRAINT messaging_rates_destination_type_check
        CHECK (destination_type IN ('DOMESTIC', 'INTERNATIONAL', 'TOLL_FREE')),
    CONSTRAINT messaging_rates_rate_check CHECK (rate >= 0),
    CONSTRAINT messaging_rates_expires_date_check CHECK (expires_date IS NULL OR expires_date > effective_date),
    CONSTRAINT messaging_rates_rate_plan_id_type_excl EXCLUDE USING gist (
        rate_plan_id WITH =, message_type WITH =, direction WITH =, destination_type WITH =,
        daterange(effective_date, expires_date, '[)') WITH &&)
);
COMMENT ON TABLE billing.messaging_rates IS 'Customer per-segment (SMS) or per-message (MMS) prices by direction and destination type within a rate plan.';
CREATE TRIGGER messaging_rates_updated_at_trg BEFORE UPDATE ON billing.messaging_rates
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.number_rates (
    id             uuid          NOT NULL DEFAULT uuid_generate_v4(),
    rate_plan_id   uuid          NOT NULL,
    number_type    varchar(16)   NOT NULL,
    monthly_charge decimal(12,2) NOT NULL DEFAULT 0,
    setup_charge   decimal(12,2) NOT NULL DEFAULT 0,
    port_in_fee    decimal(12,2) NOT NULL DEFAULT 0,
    effective_date date          NOT NULL DEFAULT CURRENT_DATE,
    expires_date   date,
    created_at     timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT number_rates_pkey PRIMARY KEY (id),
    CONSTRAINT number_rates_rate_plan_id_fkey FOREIGN KEY (rate_plan_id)
        REFERENCES billing.rate_plans (id) ON DELETE CASCADE,
    CONSTRAINT number_rates_number_type_check CHECK (number_type IN ('DID', 'TOLL_FREE', 'SHORT_CODE')),
    CONSTRAINT number_rates_charge_check CHECK (monthly_charge >= 0 AND setup_charge >= 0 AND port_in_fee >= 0),
    CONSTRAINT number_rates_expires_date_check CHECK (expires_date IS NULL OR expires_date > effective_date),
    CONSTRAINT number_rates_rate_plan_id_number_type_excl EXCLUDE USING gist (
        rate_plan_id WITH =, number_type WITH =, daterange(effective_date, expires_date, '[)') WITH &&)
);
COMMENT ON TABLE billing.number_rates IS 'Monthly, setup and port-in charges per number type within a rate plan.';
CREATE TRIGGER number_rates_updated_at_trg BEFORE UPDATE ON billing.number_rates
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.tax_rates (
    id                uuid          NOT NULL DEFAULT uuid_generate_v4(),
    name              varchar(100)  NOT NULL,
    jurisdiction_type varchar(16)   NOT NULL,
    jurisdiction_code varchar(16)   NOT NULL,
    tax_category      varchar(16)   NOT NULL,
    calculation_type  varchar(16)   NOT NULL DEFAULT 'PERCENTAGE',
    rate              decimal(10,6),
    fixed_amount      decimal(12,2),
    applies_to        text[]        NOT NULL DEFAULT '{}',
    effective_date    date          NOT NULL DEFAULT CURRENT_DATE,
    expires_date      date,
    created_at        timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT tax_rates_pkey PRIMARY KEY (id),
    CONSTRAINT tax_rates_jurisdiction_code_key UNIQUE (jurisdiction_code, tax_category, name, effective_date),
    CONSTRAINT tax_rates_jurisdiction_type_check
        CHECK (jurisdiction_type IN ('FEDERAL', 'STATE', 'COUNTY', 'CITY', 'OTHER')),
    CONSTRAINT tax_rates_tax_category_check
        CHECK (tax_category IN ('USF', 'SALES', 'E911', 'REGULATORY', 'EXCISE', 'OTHER')),
    CONSTRAINT tax_rates_calculation_type_check CHECK (
        (calculation_type = 'PERCENTAGE' AND rate IS NOT NULL AND rate >= 0)
        OR (calculation_type IN ('PER_DID', 'FLAT') AND fixed_amount IS NOT NULL AND fixed_amount >= 0)),
    CONSTRAINT tax_rates_applies_to_check CHECK (applies_to <@ ARRAY['VOICE_INTERSTATE', 'VOICE_INTRASTATE',
        'VOICE_INTERNATIONAL', 'VOICE_INDETERMINATE', 'VOICE_TOLL_FREE', 'MESSAGING', 'DID', 'SERVICE']::text[]),
    CONSTRAINT tax_rates_expires_date_check CHECK (expires_date IS NULL OR expires_date > effective_date)
);
COMMENT ON TABLE billing.tax_rates IS 'Taxes and regulatory fees by jurisdiction and category: a percentage (rate, a fraction: 0.334 = 33.4%) of the listed usage categories, or a fixed amount per DID / per invoice.';
CREATE TRIGGER tax_rates_updated_at_trg BEFORE UPDATE ON billing.tax_rates
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.account_balance (
    id                        uuid          NOT NULL DEFAULT uuid_generate_v4(),
    account_id                uuid          NOT NULL,
    balance                   numeric(14,6) NOT NULL DEFAULT 0,
    credit_limit              decimal(12,2) NOT NULL DEFAULT 0,
    currency                  char(3)       NOT NULL DEFAULT 'USD',
    low_balance_threshold     decimal(12,2),
    billing_cycle             varchar(16)   NOT NULL DEFAULT 'POSTPAID',
    payment_terms_days        integer       NOT NULL DEFAULT 30,
    last_low_balance_alert_at timestamptz,
    created_at                timestamptz   NOT NULL DEFAULT now(),
    updated_at                timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT account_balance_pkey PRIMARY KEY (id),
    CONSTRAINT account_balance_account_id_key UNIQUE (account_id),
    CONSTRAINT account_balance_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT account_balance_credit_limit_check CHECK (credit_limit >= 0),
    CONSTRAINT account_balance_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT account_balance_billing_cycle_check CHECK (billing_cycle IN ('PREPAID', 'POSTPAID')),
    CONSTRAINT account_balance_payment_terms_days_check CHECK (payment_terms_days >= 0)
);
COMMENT ON TABLE billing.account_balance IS 'Current balance and credit of an account (1:1). balance always equals the sum of billing.balance_ledger for the account; positive = funds available.';
COMMENT ON COLUMN billing.account_balance.balance IS 'Running balance at 6 decimals because per-event charges are debited unrounded; invoices round to cents.';
CREATE TRIGGER account_balance_updated_at_trg BEFORE UPDATE ON billing.account_balance
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.invoices (
    id             uuid          NOT NULL DEFAULT uuid_generate_v4(),
    account_id     uuid          NOT NULL,
    invoice_number varchar(32),
    status         varchar(16)   NOT NULL DEFAULT 'DRAFT',
    period_start   date          NOT NULL,
    period_end     date          NOT NULL,
    currency       char(3)       NOT NULL DEFAULT 'USD',
    subtotal       decimal(12,2) NOT NULL DEFAULT 0,
    tax_total      decimal(12,2) NOT NULL DEFAULT 0,
    total          decimal(12,2) NOT NULL DEFAULT 0,
    paid_amount    decimal(12,2) NOT NULL DEFAULT 0,
    issue_date     date,
    due_date       date,
    document_ref   text,
    issued_at      timestamptz,
    paid_at        timestamptz,
    voided_at      timestamptz,
    usage_snapshot pg_snapshot,
    metadata       jsonb         NOT NULL DEFAULT '{}',
    created_at     timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT invoices_pkey PRIMARY KEY (id),
    CONSTRAINT invoices_invoice_number_key UNIQUE (invoice_number),
    CONSTRAINT invoices_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT invoices_account_id_period_key UNIQUE (account_id, period_start, period_end),
    CONSTRAINT invoices_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT invoices_status_check CHECK (status IN ('DRAFT', 'ISSUED', 'PARTIALLY_PAID', 'PAID', 'VOID')),
    CONSTRAINT invoices_period_end_check CHECK (period_end >= period_start),
    CONSTRAINT invoices_invoice_number_check CHECK (status IN ('DRAFT', 'VOID') OR invoice_number IS NOT NULL),
    CONSTRAINT invoices_paid_amount_check CHECK (paid_amount >= 0)
);
CREATE INDEX invoices_status_idx ON billing.invoices (account_id, status, period_start);
COMMENT ON TABLE billing.invoices IS 'One invoice per account and billing period; invoice_number (gapless per year) is assigned at issue. Issued invoices are immutable.';
COMMENT ON COLUMN billing.invoices.usage_snapshot IS 'Snapshot of the invoice''s last build: it bills exactly the usage rows (CDR/MDR billing_xid) visible in it, for its own period and for the earlier periods of its late-usage lines (items whose period is before the invoice''s).';
COMMENT ON COLUMN billing.invoices.invoice_number IS 'Human invoice number, e.g. 2026-000123 (not a phone number).';
CREATE TRIGGER invoices_updated_at_trg BEFORE UPDATE ON billing.invoices
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.invoice_items (
    id           uuid          NOT NULL DEFAULT uuid_generate_v4(),
    invoice_id   uuid          NOT NULL,
    account_id   uuid          NOT NULL,
    item_type    varchar(16)   NOT NULL,
    category     varchar(64),
    description  text          NOT NULL,
    quantity     numeric(18,6) NOT NULL DEFAULT 1,
    unit         varchar(16),
    unit_rate    decimal(10,6),
    amount       decimal(12,2) NOT NULL,
    tax_rate_id  uuid,
    period_start date,
    period_end   date,
    sort_order   integer       NOT NULL DEFAULT 0,
    created_at   timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT invoice_items_pkey PRIMARY KEY (id),
    CONSTRAINT invoice_items_invoice_id_fkey FOREIGN KEY (invoice_id, account_id)
        REFERENCES billing.invoices (id, account_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT invoice_items_tax_rate_id_fkey FOREIGN KEY (tax_rate_id)
        REFERENCES billing.tax_rates (id) ON DELETE RESTRICT,
    CONSTRAINT invoice_items_item_type_check CHECK (item_type IN
        ('VOICE', 'MESSAGING', 'DID_MONTHLY', 'SETUP', 'PORT', 'CREDIT', 'TAX', 'ADJUSTMENT', 'OTHER')),
    CONSTRAINT invoice_items_unit_check CHECK (unit IS NULL OR unit IN
        ('MINUTE', 'SEGMENT', 'MESSAGE', 'DID', 'DAY', 'EACH')),
    CONSTRAINT invoice_items_tax_rate_id_check CHECK (item_type <> 'TAX' OR tax_rate_id IS NOT NULL)
);
CREATE INDEX invoice_items_invoice_id_account_id_idx ON billing.invoice_items (invoice_id, account_id, sort_order);
CREATE INDEX invoice_items_account_id_idx ON billing.invoice_items (account_id);
CREATE INDEX invoice_items_tax_rate_id_idx ON billing.invoice_items (tax_rate_id);
COMMENT ON TABLE billing.invoice_items IS 'Invoice lines: usage by jurisdiction/type, DID charges, fees, credits (negative) and taxes; amount rounded half-up to cents. account_id equals the invoice''s.';
COMMENT ON COLUMN billing.invoice_items.unit_rate IS 'Unit price (e.g. per minute), kept at rate precision; amount is the rounded line total.';

CREATE TABLE billing.payments (
    id                 uuid          NOT NULL DEFAULT uuid_generate_v4(),
    account_id         uuid          NOT NULL,
    amount             decimal(12,2) NOT NULL,
    refunded_amount    decimal(12,2) NOT NULL DEFAULT 0,
    currency           char(3)       NOT NULL DEFAULT 'USD',
    method             varchar(16)   NOT NULL,
    processor          varchar(32)   NOT NULL DEFAULT 'manual',
    external_reference varchar(128),
    status             varchar(24)   NOT NULL DEFAULT 'COMPLETED',
    received_at        timestamptz   NOT NULL DEFAULT now(),
    notes              text,
    metadata           jsonb         NOT NULL DEFAULT '{}',
    created_at         timestamptz   NOT NULL DEFAULT now(),
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    CONSTRAINT payments_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT payments_processor_external_reference_key UNIQUE (processor, external_reference),
    CONSTRAINT payments_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT payments_amount_check CHECK (amount > 0 AND refunded_amount >= 0 AND refunded_amount <= amount),
    CONSTRAINT payments_method_check CHECK (method IN ('ACH', 'WIRE', 'CARD', 'CHECK', 'CREDIT', 'OTHER')),
    CONSTRAINT payments_status_check
        CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED'))
);
CREATE INDEX payments_account_id_idx ON billing.payments (account_id, received_at);
COMMENT ON TABLE billing.payments IS 'Payments received; external_reference is unique per processor.';
CREATE TRIGGER payments_updated_at_trg BEFORE UPDATE ON billing.payments
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.payment_applications (
    id         uuid          NOT NULL DEFAULT uuid_generate_v4(),
    payment_id uuid          NOT NULL,
    invoice_id uuid          NOT NULL,
    account_id uuid          NOT NULL,
    amount          decimal(12,2) NOT NULL,
    refunded_amount decimal(12,2) NOT NULL DEFAULT 0,
    applied_at timestamptz   NOT NULL DEFAULT now(),
    created_at timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT payment_applications_pkey PRIMARY KEY (id),
    CONSTRAINT payment_applications_payment_id_invoice_id_key UNIQUE (payment_id, invoice_id),
    CONSTRAINT payment_applications_payment_id_fkey FOREIGN KEY (payment_id, account_id)
        REFERENCES billing.payments (id, account_id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT payment_applications_invoice_id_fkey FOREIGN KEY (invoice_id, account_id)
        REFERENCES billing.invoices (id, account_id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT payment_applications_amount_check CHECK (amount > 0),
    CONSTRAINT payment_applications_refunded_amount_check CHECK (refunded_amount BETWEEN 0 AND amount)
);
CREATE INDEX payment_applications_payment_id_account_id_idx ON billing.payment_applications (payment_id, account_id);
CREATE INDEX payment_applications_invoice_id_account_id_idx ON billing.payment_applications (invoice_id, account_id);
CREATE INDEX payment_applications_account_id_idx ON billing.payment_applications (account_id);
COMMENT ON TABLE billing.payment_applications IS 'How much of a payment went to which invoice. Payment and invoice must belong to the same account (both composite foreign keys share account_id).';
COMMENT ON COLUMN billing.payment_applications.refunded_amount IS 'Part of this application taken back by a refund of the payment (the invoice is open again for it); amount - refunded_amount is what still pays the invoice.';

CREATE TABLE billing.credits (
    id               uuid          NOT NULL DEFAULT uuid_generate_v4(),
    account_id       uuid          NOT NULL,
    credit_type      varchar(16)   NOT NULL,
    amount           decimal(12,2) NOT NULL,
    remaining_amount decimal(12,2) NOT NULL,
    reason           text          NOT NULL,
    status           varchar(8)    NOT NULL DEFAULT 'OPEN',
    invoice_id       uuid,
    payment_id       uuid,
    issued_at        timestamptz   NOT NULL DEFAULT now(),
    expires_at       timestamptz,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT credits_pkey PRIMARY KEY (id),
    CONSTRAINT credits_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT credits_invoice_id_fkey FOREIGN KEY (invoice_id, account_id)
        REFERENCES billing.invoices (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT credits_payment_id_fkey FOREIGN KEY (payment_id, account_id)
        REFERENCES billing.payments (id, account_id) ON DELETE RESTRICT,
    CONSTRAINT credits_credit_type_check
        CHECK (credit_type IN ('SERVICE_CREDIT', 'CREDIT_NOTE', 'OVERPAYMENT', 'PROMOTIONAL', 'REFUND')),
    CONSTRAINT credits_amount_check CHECK (amount > 0 AND remaining_amount BETWEEN 0 AND amount),
    CONSTRAINT credits_status_check CHECK (status IN ('OPEN', 'APPLIED', 'VOID'))
);
CREATE INDEX credits_account_id_idx ON billing.credits (account_id, status);
CREATE INDEX credits_invoice_id_account_id_idx ON billing.credits (invoice_id, account_id);
CREATE INDEX credits_payment_id_account_id_idx ON billing.credits (payment_id, account_id);
COMMENT ON TABLE billing.credits IS 'Account credits: service credits, credit notes against an invoice, overpayment remainders.';
CREATE TRIGGER credits_updated_at_trg BEFORE UPDATE ON billing.credits
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE billing.balance_ledger (
    id            uuid          NOT NULL DEFAULT uuid_generate_v4(),
    account_id    uuid          NOT NULL,
    entry_type    varchar(16)   NOT NULL,
    amount        numeric(14,6) NOT NULL,
    balance_after numeric(14,6),
    currency      char(3)       NOT NULL DEFAULT 'USD',
    source_type   varchar(16)   NOT NULL,
    source_id     uuid,
    description   text,
    created_at    timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT balance_ledger_pkey PRIMARY KEY (id),
    CONSTRAINT balance_ledger_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT balance_ledger_entry_type_check
        CHECK (entry_type IN ('CHARGE', 'PAYMENT', 'CREDIT', 'ADJUSTMENT', 'REFUND')),
    CONSTRAINT balance_ledger_source_type_check
        CHECK (source_type IN ('CDR', 'MDR', 'DID', 'INVOICE', 'PAYMENT', 'CREDIT', 'MANUAL')),
    CONSTRAINT balance_ledger_amount_check CHECK (
        (entry_type = 'CHARGE' AND amount <= 0) OR (entry_type IN ('PAYMENT', 'CREDIT') AND amount >= 0)
        OR entry_type IN ('ADJUSTMENT', 'REFUND'))
);
CREATE INDEX balance_ledger_account_id_idx ON billing.balance_ledger (account_id, created_at);
CREATE INDEX balance_ledger_source_idx ON billing.balance_ledger (source_type, source_id);
COMMENT ON TABLE billing.balance_ledger IS 'Append-only journal: every change to an account balance is one row (signed amount: charges negative). sum(amount) per account = account_balance.balance.';
COMMENT ON COLUMN billing.balance_ledger.source_id IS 'Id of the originating row of source_type (CDR, MDR, payment...); polymorphic, so not a foreign key.';

CREATE TABLE billing.usage_summary (
    id               uuid          NOT NULL DEFAULT uuid_generate_v4(),
    account_id       uuid          NOT NULL,
    period_start     date          NOT NULL,
    period_end       date          NOT NULL,
    usage_type       varchar(16)   NOT NULL,
    category         varchar(64)   NOT NULL DEFAULT '',
    event_count      bigint        NOT NULL DEFAULT 0,
    quantity         numeric(18,6) NOT NULL DEFAULT 0,
    unit             varchar(16)   NOT NULL,
    amount           numeric(14,6) NOT NULL DEFAULT 0,
    cost             numeric(14,6),
    computed_at      timestamptz   NOT NULL DEFAULT now(),
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT usage_summary_pkey PRIMARY KEY (id),
    CONSTRAINT usage_summary_account_id_period_key
        UNIQUE (account_id, period_start, period_end, usage_type, category),
    CONSTRAINT usage_summary_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT usage_summary_usage_type_check CHECK (usage_type IN ('VOICE', 'MESSAGING', 'DID')),
    CONSTRAINT usage_summary_unit_check CHECK (unit IN ('MINUTE', 'SEGMENT', 'MESSAGE', 'DID_DAY')),
    CONSTRAINT usage_summary_period_end_check CHECK (period_end >= period_start)
);
COMMENT ON TABLE billing.usage_summary IS 'Usage per account and billing period, by type and category (jurisdiction, SMS/MMS direction, number type), from rated CDRs, MDRs and active DIDs.';
CREATE TRIGGER usage_summary_updated_at_trg BEFORE UPDATE ON billing.usage_summary
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
