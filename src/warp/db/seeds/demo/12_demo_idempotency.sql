-- Demo world: an Idempotency-Key record for two accounts (a replayed contact creation each).

INSERT INTO auth.idempotency_keys (id, account_id, idempotency_key, request_method, request_path, request_hash,
                                   response_status, response_body, expires_at)
SELECT public.uuid_generate_v5(public.uuid_ns_url(), 'warp-demo:idempotency_keys:' || v.ban), a.id,
       'demo-' || lower(v.ban), 'POST', '/v1/accounts/' || a.id || '/contacts',
       encode(sha256(convert_to('demo:' || v.ban, 'UTF8')), 'hex'), 201,
       jsonb_build_object('demo', true), timestamptz '2100-01-01 00:00:00+00'
FROM (VALUES ('DEMO-ACME'), ('DEMO-GLOBEX')) AS v (ban)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;
