-- Messaging hot paths: opt-out check, message rating, vendor choice, the send path (one round trip
-- per message: checks + MDR + outbox row), status transitions that never move backwards, and the
-- webhook outbox writer. Functions run as the caller (RLS applies) except the vendor choice, which
-- reads staff-only vendor configuration.

-- ---------------------------------------------------------------------------------------------
-- Opt-outs

CREATE FUNCTION messaging.check_opt_out(p_account_id uuid, p_campaign_id uuid, p_recipient text)
    RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM messaging.opt_outs o
        WHERE o.account_id = p_account_id
          AND o.recipient_number = p_recipient
          AND (o.campaign_id IS NULL OR o.campaign_id = p_campaign_id)
    )
$$;
COMMENT ON FUNCTION messaging.check_opt_out(uuid, uuid, text) IS
    'True when the recipient opted out of the account (campaign_id NULL) or of the given campaign.';

-- ---------------------------------------------------------------------------------------------
-- Rating and vendor choice

CREATE FUNCTION messaging.destination_type(p_sender_type text, p_to text) RETURNS text
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN p_sender_type = 'TOLL_FREE' THEN 'TOLL_FREE'
                WHEN p_to LIKE '+1%' THEN 'DOMESTIC'
                ELSE 'INTERNATIONAL' END
$$;
COMMENT ON FUNCTION messaging.destination_type(text, text) IS
    'billing.messaging_rates destination type of a message: TOLL_FREE from a toll-free sender, DOMESTIC within +1, else INTERNATIONAL.';

CREATE FUNCTION messaging.messaging_rate(p_account_id uuid, p_message_type text, p_direction text,
                                         p_destination_type text, p_at timestamptz DEFAULT now())
    RETURNS numeric
    LANGUAGE sql STABLE
AS $$
    SELECT mr.rate
    FROM billing.account_rate_plans arp
    JOIN billing.messaging_rates mr ON mr.rate_plan_id = arp.rate_plan_id
    WHERE arp.account_id = p_account_id
      AND arp.effective_at <= p_at AND (arp.expires_at IS NULL OR arp.expires_at > p_at)
      AND mr.message_type = p_message_type AND mr.direction = p_direction
      AND mr.destination_type = p_destination_type
      AND mr.effective_date <= (p_at AT TIME ZONE 'UTC')::date
      AND (mr.expires_date IS NULL OR mr.expires_date > (p_at AT TIME ZONE 'UTC')::date)
    LIMIT 1
$$;
COMMENT ON FUNCTION messaging.messaging_rate(uuid, text, text, text, timestamptz) IS
    'Per-segment (SMS) or per-message (MMS) price of the account''s rate plan in force at p_at; NULL when none.';

CREATE FUNCTION messaging.pick_provider(p_message_type text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    SELECT sp.id
    FROM vendor_mgmt.service_providers sp
    WHERE sp.enabled
      AND sp.capabilities @> ARRAY[lower(p_message_type)]::text[]
      AND sp.health_status <> 'DOWN'
    ORDER BY sp.priority, sp.name
    LIMIT 1
$$;
COMMENT ON FUNCTION messaging.pick_provider(text) IS
    'The enabled, not DOWN service provider with capability sms/mms and the best priority. SECURITY DEFINER: '
    'vendor configuration is staff-only, and this returns just one id.';
ALTER FUNCTION messaging.pick_provider(text) OWNER TO warp_owner;

-- ---------------------------------------------------------------------------------------------
-- Webhook outbox

CREATE FUNCTION messaging.enqueue_event(p_account_id uuid, p_event_type text, p_did_id uuid, p_mdr_id uuid,
                                        p_mdr_created_at timestamptz, p_data jsonb)
    RETURNS uuid
    LANGUAGE plpgsql
AS $$
DECLARE
    route record;
    url text;
    event_id uuid := uuid_generate_v4();
    at timestamptz := clock_timestamp();
BEGIN
    -- The DID's own route wins over the account default (did_id NULL).
    SELECT r.route_type, r.webhook_url, r.status_webhook_url,
           coalesce(r.webhook_secret_ref,
                    (SELECT d.webhook_secret_ref FROM messaging.inbound_routes d
                     WHERE d.account_id = p_account_id AND d.did_id IS NULL AND d.enabled)) AS secret_ref
    INTO route
    FROM messaging.inbound_routes r
    WHERE r.account_id = p_account_id AND r.enabled
      AND (r.did_id = p_did_id OR r.did_id IS NULL)
    ORDER BY r.did_id NULLS LAST
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_event_type = 'message.received' THEN
        url := CASE WHEN route.route_type = 'WEBHOOK' THEN route.webhook_url END;
    ELSE
        url := coalesce(route.status_webhook_url, route.webhook_url);
    END IF;
    IF url IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO messaging.webhook_events (id, account_id, event_type, mdr_id, mdr_created_at, target_url,
                                          secret_ref, payload, next_attempt_at, created_at)
    VALUES (event_id, p_account_id, p_event_type, p_mdr_id, p_mdr_created_at, url, route.secret_ref,
            jsonb_build_object('id', event_id, 'type', p_event_type,
                               'created_at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                               'data', p_data),
            at, at);
    RETURN event_id;
END
$$;
COMMENT ON FUNCTION messaging.enqueue_event(uuid, text, uuid, uuid, timestamptz, jsonb) IS
    'Writes one webhook event (stable id = the row id, also in the payload) for the route of the DID or the '
    'account default, in the caller''s transaction; NULL when nothing is configured to receive it.';

CREATE FUNCTION messaging.message_data(m messaging.mdr) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'message_id', m.id, 'direction', lower(m.direction), 'type', m.message_type,
        'from', m.from_number, 'to', m.to_number, 'status', lower(m.status),
        'error_code', m.error_code, 'error_message', m.error_message,
        'segments', m.segments, 'encoding', m.encoding,
        'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
      || CASE WHEN m.direction = 'INBOUND' THEN jsonb_build_object('body', m.body, 'media_urls', to_jsonb(m.media_urls))
              ELSE '{}'::jsonb END
$$;
COMMENT ON FUNCTION messaging.message_data(messaging.mdr) IS 'The data object of a message webhook event.';

-- ---------------------------------------------------------------------------------------------
-- Sending

CREATE FUNCTION messaging.submit_message(p_account_id uuid, p_from text, p_to text, p_message_type text,
                                         p_body text, p_media_urls text[], p_encoding text, p_segments integer,
                                         p_metadata jsonb DEFAULT '{}')
    RETURNS TABLE (result text, id uuid, created_at timestamptz, status text, campaign_id uuid,
                   campaign_mps integer, rate numeric, charge numeric, service_provider_id uuid,
                   account_mps integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- Every statement here looks rows up by key: one generic plan each, planned once per session.
    -- Without this the foreign-key check of the outbox row against the partitioned messaging.mdr
    -- (and the INSERT routed to a partition) was re-planned for every message.
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    s record;
    v_charge numeric;
    v_error text;
    v_rejected boolean;
BEGIN
    -- Everything the checks need, in one statement (one cached plan): the sender number of this
    -- account (RLS is replaced by the explicit visibility test: this function is SECURITY DEFINER so
    -- the per-table policies are not re-evaluated for every table it touches; the account of the
    -- context itself is recognised without walking the hierarchy), its campaign, the opt-out, the
    -- rate, the vendor, the account's throughput setting, prepaid funds and the webhook route (the
    -- DID's own, else the account default).
    SELECT d.id AS did_id, d.status AS did_status, d.messaging_enabled, d.campaign_id, i.number_type,
           c.status AS campaign_status, c.throughput_mps,
           EXISTS (SELECT 1 FROM messaging.opt_outs o
                   WHERE o.account_id = p_account_id AND o.recipient_number = p_to
                     AND (o.campaign_id IS NULL OR o.campaign_id = d.campaign_id)) AS opted_out,
           (SELECT mr.rate
            FROM billing.account_rate_plans arp
            JOIN billing.messaging_rates mr ON mr.rate_plan_id = arp.rate_plan_id
            WHERE arp.account_id = p_account_id
              AND arp.effective_at <= now() AND (arp.expires_at IS NULL OR arp.expires_at > now())
              AND mr.message_type = p_message_type AND mr.direction = 'OUTBOUND'
              AND mr.destination_type = CASE WHEN i.number_type = 'TOLL_FREE' THEN 'TOLL_FREE'
                                             WHEN p_to LIKE '+1%' THEN 'DOMESTIC'
                                             ELSE 'INTERNATIONAL' END
              AND mr.effective_date <= (now() AT TIME ZONE 'UTC')::date
              AND (mr.expires_date IS NULL OR mr.expires_date > (now() AT TIME ZONE 'UTC')::date)
            LIMIT 1) AS rate,
           (SELECT sp.id FROM vendor_mgmt.service_providers sp
            WHERE sp.enabled AND sp.capabilities @> ARRAY[lower(p_message_type)]::text[]
              AND sp.health_status <> 'DOWN'
            ORDER BY sp.priority, sp.name LIMIT 1) AS provider_id,
           CASE WHEN a.metadata #>> '{messaging,max_mps}' ~ '^[1-9][0-9]{0,6}$'
                THEN (a.metadata #>> '{messaging,max_mps}')::integer END AS account_mps,
           b.balance + b.credit_limit AS prepaid_funds,
           coalesce(r.status_webhook_url, r.webhook_url) AS status_url,
           coalesce(r.webhook_secret_ref,
                    (SELECT x.webhook_secret_ref FROM messaging.inbound_routes x
                     WHERE x.account_id = p_account_id AND x.did_id IS NULL AND x.enabled)) AS secret_ref
    INTO s
    FROM numbers.dids d
    JOIN numbers.inventory i ON i.id = d.inventory_id
    JOIN accounts.accounts a ON a.id = d.account_id
    LEFT JOIN messaging.campaigns_10dlc c ON c.id = d.campaign_id AND c.account_id = d.account_id
    LEFT JOIN billing.account_balance b ON b.account_id = d.account_id AND b.billing_cycle = 'PREPAID'
    LEFT JOIN LATERAL (
        SELECT y.webhook_url, y.status_webhook_url, y.webhook_secret_ref
        FROM messaging.inbound_routes y
        WHERE y.account_id = p_account_id AND y.enabled AND (y.did_id = d.id OR y.did_id IS NULL)
        ORDER BY y.did_id NULLS LAST
        LIMIT 1) r ON true
    WHERE d.number = p_from AND d.account_id = p_account_id
      AND (p_account_id::text = current_setting('warp.account_id', true)
           OR accounts.is_staff() OR p_account_id = ANY (accounts.visible_account_ids()));

    IF NOT FOUND OR s.did_status <> 'ACTIVE' THEN
        v_error := 'sender-not-found';
    ELSIF NOT s.messaging_enabled THEN
        v_error := 'sender-not-messaging-enabled';
    ELSIF s.number_type = 'DID' AND s.campaign_status IS DISTINCT FROM 'APPROVED' THEN
        v_error := 'campaign-not-approved';
    ELSIF s.opted_out THEN
        v_rejected := true;
    ELSIF s.rate IS NULL THEN
        v_error := 'no-messaging-rate';
    ELSIF s.provider_id IS NULL THEN
        v_error := 'no-messaging-vendor';
    ELSE
        v_rejected := false;
        v_charge := CASE WHEN p_message_type = 'SMS' THEN s.rate * p_segments ELSE s.rate END;
        -- Prepaid: a first check on the committed balance here; the debit below re-checks under the
        -- row lock (account_balance_funds_check), taken last so it is held only until commit.
        IF s.prepaid_funds IS NOT NULL AND s.prepaid_funds < v_charge THEN
            v_error := 'insufficient-balance';
        END IF;
    END IF;
    IF v_error IS NOT NULL THEN
        result := v_error;
        campaign_id := CASE WHEN v_error = 'campaign-not-approved' THEN s.campaign_id END;
        rate := s.rate;
        charge := v_charge;
        RETURN NEXT;
        RETURN;
    END IF;

    -- The MDR (QUEUED, or REJECTED for an opted-out recipient) and its outbox row (as
    -- messaging.enqueue_event writes it, with the route found above) in one statement.
    WITH m AS (
        INSERT INTO messaging.mdr (account_id, direction, message_type, from_number, to_number, did_id,
                                   campaign_id, body, media_urls, encoding, segments, status, error_code,
                                   error_message, service_provider_id, rate, charge, metadata)
        VALUES (p_account_id, 'OUTBOUND', p_message_type, p_from, p_to, s.did_id, s.campaign_id, p_body,
                coalesce(p_media_urls, '{}'), p_encoding, p_segments,
                CASE WHEN v_rejected THEN 'REJECTED' ELSE 'QUEUED' END,
                CASE WHEN v_rejected THEN 'recipient-opted-out' END,
                CASE WHEN v_rejected
                     THEN 'the recipient opted out (STOP) of this sender''s campaign or account' END,
                CASE WHEN NOT v_rejected THEN s.provider_id END,
                CASE WHEN NOT v_rejected THEN s.rate END,
                CASE WHEN NOT v_rejected THEN v_charge END,
                coalesce(p_metadata, '{}'))
        RETURNING *
    ), e AS (
        INSERT INTO messaging.webhook_events (id, account_id, event_type, mdr_id, mdr_created_at, target_url,
                                              secret_ref, payload, next_attempt_at, created_at)
        SELECT ev.id, p_account_id, ev.type, m.id, m.created_at, s.status_url, s.secret_ref,
               jsonb_build_object('id', ev.id, 'type', ev.type,
                                  'created_at', to_char(ev.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                  'data', messaging.message_data(m::messaging.mdr)),
               ev.at, ev.at
        FROM m, LATERAL (SELECT public.uuid_generate_v4() AS id, clock_timestamp() AS at,
                                CASE WHEN v_rejected THEN 'message.rejected' ELSE 'message.queued' END AS type) ev
        WHERE s.status_url IS NOT NULL
    )
    SELECT m.id, m.created_at, m.status, m.campaign_id INTO id, created_at, status, campaign_id FROM m;
    campaign_mps := s.throughput_mps;

    IF v_rejected THEN
        result := 'recipient-opted-out';
        RETURN NEXT;
        RETURN;
    END IF;

    IF s.prepaid_funds IS NOT NULL AND v_charge > 0 THEN
        -- The one debit path (0017_billing_functions.sql; resolved when called): ledger row + balance.
        PERFORM billing.debit(p_account_id, v_charge, 'MDR', id,
                              format('%s %s segment(s) to %s', p_message_type, p_segments, p_to));
    END IF;
    result := 'queued';
    rate := s.rate;
    charge := v_charge;
    service_provider_id := s.provider_id;
    account_mps := s.account_mps;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION messaging.submit_message(uuid, text, text, text, text, text[], text, integer, jsonb) IS
    'The send path in one round trip: sender ownership (ACTIVE DID/toll-free of the account, messaging '
    'enabled), 10DLC gate for local senders, opt-out (a REJECTED MDR), rate, vendor, prepaid funds; then the '
    'QUEUED MDR, the message.queued outbox event and the prepaid debit (last: the balance row is locked only '
    'until commit). p_media_urls / p_metadata NULL store none. result is queued or an error code. SECURITY '
    'DEFINER with one explicit visibility test (staff, or the account is the tenant or a descendant) instead '
    'of row-level security on each table.';
ALTER FUNCTION messaging.submit_message(uuid, text, text, text, text, text[], text, integer, jsonb)
    OWNER TO warp_owner;
-- Definer rights write as the owner: only the application roles may call it (not warp_readonly).
REVOKE ALL ON FUNCTION messaging.submit_message(uuid, text, text, text, text, text[], text, integer, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION messaging.submit_message(uuid, text, text, text, text, text[], text, integer, jsonb)
    TO warp_app, warp_staff;

CREATE FUNCTION messaging.submit_messages(p_account_id uuid, p_messages jsonb)
    RETURNS TABLE (result text, id uuid, created_at timestamptz, status text, campaign_id uuid,
                   campaign_mps integer, rate numeric, charge numeric, service_provider_id uuid,
                   account_mps integer)
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    m record;
BEGIN
    -- In order, each through the one send path: a later message sees what the earlier ones wrote
    -- (the prepaid debit above all), so a batch decides exactly as the same sends one after another.
    FOR m IN
        SELECT x.* FROM jsonb_to_recordset(p_messages)
            AS x("from" text, "to" text, type text, body text, media jsonb, encoding text, segments integer,
                 metadata jsonb)
    LOOP
        RETURN QUERY
            SELECT * FROM messaging.submit_message(
                p_account_id, m."from", m."to", m.type, m.body,
                CASE WHEN m.media IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text(m.media)) END,
                m.encoding, m.segments, m.metadata);
    END LOOP;
END
$$;
COMMENT ON FUNCTION messaging.submit_messages(uuid, jsonb) IS
    'Group submit: messaging.submit_message for each element of p_messages (objects with from, to, type, body, '
    'media, encoding, segments, metadata), in order, in the caller''s transaction and one round trip; one result '
    'row per message, in the same order. A business refusal is that message''s row; an exception fails the call '
    '(the caller retries the messages one by one).';
REVOKE ALL ON FUNCTION messaging.submit_messages(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION messaging.submit_messages(uuid, jsonb) TO warp_app, warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Status transitions: queued -> sending -> sent -> delivered | undelivered | failed; never backwards.

CREATE FUNCTION messaging.status_rank(p_status text) RETURNS integer
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE p_status WHEN 'QUEUED' THEN 0 WHEN 'SENDING' THEN 1 WHEN 'SENT' THEN 2
                         WHEN 'DELIVERED' THEN 3 WHEN 'UNDELIVERED' THEN 3 WHEN 'FAILED' THEN 3
                         WHEN 'REJECTED' THEN 3 WHEN 'RECEIVED' THEN 3 END
$$;
COMMENT ON FUNCTION messaging.status_rank(text) IS
    'Order of message statuses; a status only moves to a higher rank (terminal statuses share the top rank).';

CREATE FUNCTION messaging.apply_status(p_mdr_id uuid, p_status text, p_error_code text DEFAULT NULL,
                                       p_error_message text DEFAULT NULL, p_vendor_ref text DEFAULT NULL,
                                       p_provider_id uuid DEFAULT NULL)
    RETURNS TABLE (changed boolean, id uuid, created_at timestamptz, status text)
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    m messaging.mdr;
    old_status text;
BEGIN
    IF messaging.status_rank(p_status) IS NULL OR p_status IN ('RECEIVED', 'REJECTED', 'QUEUED') THEN
        RAISE EXCEPTION 'unknown or unreachable message status %', p_status USING ERRCODE = 'check_violation',
            CONSTRAINT = 'mdr_status_check';
    END IF;
    SELECT * INTO m FROM messaging.mdr x
    WHERE x.id = p_mdr_id AND (p_provider_id IS NULL OR x.service_provider_id = p_provider_id)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    old_status := m.status;
    IF m.direction <> 'OUTBOUND' OR messaging.status_rank(p_status) <= messaging.status_rank(m.status) THEN
        RETURN QUERY SELECT false, m.id, m.created_at, m.status::text;
        RETURN;
    END IF;
    UPDATE messaging.mdr x
    SET status = p_status,
        error_code = coalesce(p_error_code, x.error_code),
        error_message = coalesce(p_error_message, x.error_message),
        vendor_message_ref = coalesce(x.vendor_message_ref, p_vendor_ref),
        sent_at = CASE WHEN p_status IN ('SENT', 'DELIVERED', 'UNDELIVERED') THEN coalesce(x.sent_at, now())
                       ELSE x.sent_at END,
        delivered_at = CASE WHEN p_status = 'DELIVERED' THEN now() ELSE x.delivered_at END,
        status_changed_at = now()
    WHERE x.id = m.id AND x.created_at = m.created_at
    RETURNING * INTO m;
    IF p_status <> 'SENDING' THEN
        PERFORM messaging.enqueue_event(m.account_id, 'message.' || lower(p_status), m.did_id, m.id,
                                        m.created_at, messaging.message_data(m));
    END IF;
    RETURN QUERY SELECT true, m.id, m.created_at, m.status::text;
END
$$;
COMMENT ON FUNCTION messaging.apply_status(uuid, text, text, text, text, uuid) IS
    'Moves an outbound message forward (never backwards: duplicates and late callbacks are no-ops) and writes '
    'the message.<status> outbox event; optionally only for the given provider.';

CREATE FUNCTION messaging.lease_queued(p_limit integer)
    RETURNS SETOF messaging.mdr
    LANGUAGE sql
AS $$
    WITH picked AS (
        SELECT q.id, q.created_at FROM messaging.mdr q
        WHERE q.status = 'QUEUED' AND q.direction = 'OUTBOUND'
        ORDER BY q.created_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE messaging.mdr m
    SET status = 'SENDING', status_changed_at = now()
    FROM picked
    WHERE m.id = picked.id AND m.created_at = picked.created_at
    RETURNING m.*
$$;
COMMENT ON FUNCTION messaging.lease_queued(integer) IS
    'Claims up to p_limit QUEUED outbound messages for vendor dispatch (SKIP LOCKED: dispatchers never collide).';

CREATE FUNCTION messaging.recover_sending(p_stale_after interval)
    RETURNS integer
    LANGUAGE sql
AS $$
    WITH stuck AS (
        SELECT q.id, q.created_at FROM messaging.mdr q
        WHERE q.status = 'SENDING' AND q.direction = 'OUTBOUND'
          AND q.status_changed_at < now() - p_stale_after
        FOR UPDATE SKIP LOCKED
    ), requeued AS (
        UPDATE messaging.mdr m
        SET status = 'QUEUED', status_changed_at = now(),
            metadata = jsonb_set(m.metadata, '{dispatch_recoveries}',
                                 to_jsonb(coalesce((m.metadata ->> 'dispatch_recoveries')::integer, 0) + 1))
        FROM stuck
        WHERE m.id = stuck.id AND m.created_at = stuck.created_at
        RETURNING 1
    )
    SELECT count(*)::integer FROM requeued
$$;
COMMENT ON FUNCTION messaging.recover_sending(interval) IS
    'Puts outbound messages left SENDING longer than p_stale_after (a dispatcher died between the claim and '
    'recording the vendor''s answer) back to QUEUED, counting metadata.dispatch_recoveries; returns how many. '
    'Delivery to the vendor is therefore at least once: vendors deduplicate on the message id WARP sends.';
