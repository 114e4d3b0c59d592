# shellcheck shell=bash
# Sourced, not run: points the platform at the provider sandbox (its URL, its webhooks at the gateway, and the
# sandbox's public test app credentials from libs/sandbox, so OAuth and webhooks verify end to end). Needs
# SWITCHBOARD_GATEWAY_ADDR and SWITCHBOARD_SANDBOX_LISTEN; any variable already set wins. Used by scripts/run.sh,
# web/scripts/e2e.sh and scripts/test-examples.sh.
export SWITCHBOARD_SANDBOX_WEBHOOK_TARGET="${SWITCHBOARD_SANDBOX_WEBHOOK_TARGET:-http://$SWITCHBOARD_GATEWAY_ADDR}"
export SWITCHBOARD_SANDBOX_URL="${SWITCHBOARD_SANDBOX_URL:-http://$SWITCHBOARD_SANDBOX_LISTEN}"
export SWITCHBOARD_STRIPE_CLIENT_ID="${SWITCHBOARD_STRIPE_CLIENT_ID:-ca_sandbox}"
export SWITCHBOARD_STRIPE_SECRET_KEY="${SWITCHBOARD_STRIPE_SECRET_KEY:-sk_test_sandbox_platform}"
export SWITCHBOARD_STRIPE_WEBHOOK_SECRET="${SWITCHBOARD_STRIPE_WEBHOOK_SECRET:-whsec_sandbox}"
export SWITCHBOARD_SHOPIFY_API_KEY="${SWITCHBOARD_SHOPIFY_API_KEY:-shopify_sandbox_client}"
export SWITCHBOARD_SHOPIFY_API_SECRET="${SWITCHBOARD_SHOPIFY_API_SECRET:-shopify_sandbox_secret}"
export SWITCHBOARD_QUICKBOOKS_CLIENT_ID="${SWITCHBOARD_QUICKBOOKS_CLIENT_ID:-quickbooks_sandbox_client}"
export SWITCHBOARD_QUICKBOOKS_CLIENT_SECRET="${SWITCHBOARD_QUICKBOOKS_CLIENT_SECRET:-quickbooks_sandbox_secret}"
export SWITCHBOARD_QUICKBOOKS_WEBHOOK_VERIFIER="${SWITCHBOARD_QUICKBOOKS_WEBHOOK_VERIFIER:-quickbooks_sandbox_verifier}"
export SWITCHBOARD_HUBSPOT_CLIENT_ID="${SWITCHBOARD_HUBSPOT_CLIENT_ID:-hubspot_sandbox_client}"
export SWITCHBOARD_HUBSPOT_CLIENT_SECRET="${SWITCHBOARD_HUBSPOT_CLIENT_SECRET:-hubspot_sandbox_secret}"
export SWITCHBOARD_PUBLIC_URL="${SWITCHBOARD_PUBLIC_URL:-http://$SWITCHBOARD_GATEWAY_ADDR}"
