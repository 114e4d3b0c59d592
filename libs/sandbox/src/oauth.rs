//! The authorization server behind every provider's OAuth: authorization codes (single-use, ten minutes, optional
//! PKCE), access tokens (optional lifetime; [`Grants::expire_all`] and [`Grants::set_token_lifetime`] for tests)
//! and refresh tokens with each provider's rotation rule ([`Grants::revoke_refresh_tokens`] for tests). The provider modules speak the wire formats; this module only keeps the books.
//!
//! Rotation rules ([`Rotation`]):
//! - Stripe Connect keeps one refresh token for the life of the grant;
//! - QuickBooks and HubSpot replace it on every refresh and the old one dies at once (reuse is `invalid_grant`;
//!   for HubSpot a deliberately stricter rule than its docs', see `hubspot::oauth`);
//! - Shopify replaces it on every refresh but keeps the old one alive until the replacement has been used once
//!   (its 2026-08 rule, so a lost refresh response is recoverable).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Provider;

/// How long an authorization code can be exchanged.
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// How a provider treats a refresh token once it has been used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rotation {
    /// The same refresh token is returned and stays valid.
    Keep,
    /// A new refresh token is returned; the used one dies at once.
    Immediate,
    /// A new refresh token is returned; the used one lives until the new one is used.
    OnReplacementUse,
}

/// What an authorization code stands for.
#[derive(Clone, Debug)]
pub(crate) struct Authorization {
    /// Whose data: a Stripe account, a shop domain, a realm id, a portal id.
    pub(crate) account: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) scope: String,
    /// PKCE S256 challenge, when the authorize request carried one.
    pub(crate) code_challenge: Option<String>,
}

#[derive(Debug)]
struct Code {
    provider: Provider,
    authorization: Authorization,
    issued: Instant,
    used: bool,
}

/// Why a code exchange was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeError {
    /// Unknown, already used, or for another provider.
    Invalid,
    /// Older than ten minutes.
    Expired,
    /// Issued to another client id.
    ClientMismatch,
    /// Exchanged with another `redirect_uri` than it was issued for.
    RedirectMismatch,
    /// The authorize request had a PKCE challenge and the exchange no verifier.
    VerifierMissing,
    /// The verifier does not hash to the challenge.
    VerifierMismatch,
}

/// What the holder of an access token may touch.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub(crate) account: String,
    pub(crate) scope: String,
}

#[derive(Debug)]
struct Access {
    provider: Provider,
    grant: Grant,
    expires_at: Option<Instant>,
    expired: bool,
}

/// Why an access token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessError {
    Unknown,
    Expired,
}

#[derive(Debug)]
struct Refresh {
    provider: Provider,
    grant: Grant,
    rotation: Rotation,
    access_lifetime: Option<Duration>,
    alive: bool,
    /// The refresh token this one replaced, kept alive until this one is used.
    replaced: Option<String>,
}

/// What a token endpoint hands out.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: Option<u64>,
    pub(crate) grant: Grant,
}

/// How to mint tokens for one grant.
#[derive(Clone, Debug)]
pub(crate) struct TokenPolicy {
    /// Access token prefix (`shpat_`, `sk_test_`).
    pub(crate) access_prefix: &'static str,
    /// Access token lifetime; `None` never expires (until [`Grants::expire_all`]).
    pub(crate) access_lifetime: Option<Duration>,
    /// Refresh token prefix and rotation rule; `None` issues no refresh token.
    pub(crate) refresh: Option<(&'static str, Rotation)>,
}

/// Every code and token issued, by every provider.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    /// Refresh token prefixes, remembered so rotated tokens keep their provider's look.
    refresh_prefixes: HashMap<String, &'static str>,
    access_prefixes: HashMap<String, &'static str>,
    /// Replaces the lifetime of every expiring access token issued from now on.
    lifetime_override: Option<Duration>,
}

impl Grants {
    /// Expiring access tokens issued from now on last `lifetime` (`None`: each provider's own lifetime).
    pub(crate) fn set_token_lifetime(&mut self, lifetime: Option<Duration>) {
        self.lifetime_override = lifetime;
    }

    /// An expiring token's lifetime: the provider's, unless overridden.
    fn lifetime(&self, provider_lifetime: Option<Duration>) -> Option<Duration> {
        provider_lifetime.map(|l| self.lifetime_override.unwrap_or(l))
    }

    /// Issues a single-use code (`prefix` + random) for `authorization`.
    pub(crate) fn issue_code(&mut self, provider: Provider, prefix: &str, authorization: Authorization) -> String {
        let code = format!("{prefix}{}", random_token());
        self.codes.insert(code.clone(), Code { provider, authorization, issued: Instant::now(), used: false });
        code
    }

    /// Redeems a code: it must be this provider's, fresh, unused, for `client_id` (and `redirect_uri` if given both
    /// times), and carry a matching PKCE verifier when it was issued with a challenge.
    pub(crate) fn redeem_code(
        &mut self,
        provider: Provider,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<Authorization, CodeError> {
        let entry = self.codes.get_mut(code).filter(|c| c.provider == provider && !c.used).ok_or(CodeError::Invalid)?;
        if entry.issued.elapsed() > CODE_LIFETIME {
            return Err(CodeError::Expired);
        }
        if entry.authorization.client_id != client_id {
            return Err(CodeError::ClientMismatch);
        }
        if let (Some(issued_for), Some(given)) = (entry.authorization.redirect_uri.as_deref(), redirect_uri)
            && issued_for != given
        {
            return Err(CodeError::RedirectMismatch);
        }
        if let Some(challenge) = entry.authorization.code_challenge.as_deref() {
            let verifier = code_verifier.ok_or(CodeError::VerifierMissing)?;
            if pkce_challenge(verifier) != challenge {
                return Err(CodeError::VerifierMismatch);
            }
        }
        // A code is spent by a well-formed exchange attempt, as at the real providers.
        entry.used = true;
        Ok(entry.authorization.clone())
    }

    /// Mints an access token (and a refresh token, if the policy has one) for `grant`.
    pub(crate) fn issue(&mut self, provider: Provider, grant: Grant, policy: &TokenPolicy) -> Issued {
        let refresh_token = policy.refresh.map(|(prefix, rotation)| {
            let token = format!("{prefix}{}", random_token());
            self.refresh.insert(
                token.clone(),
                Refresh {
                    provider,
                    grant: grant.clone(),
                    rotation,
                    access_lifetime: policy.access_lifetime,
                    alive: true,
                    replaced: None,
                },
            );
            self.refresh_prefixes.insert(token.clone(), prefix);
            token
        });
        let lifetime = self.lifetime(policy.access_lifetime);
        self.mint_access(provider, grant, policy.access_prefix, lifetime, refresh_token)
    }

    fn mint_access(
        &mut self,
        provider: Provider,
        grant: Grant,
        prefix: &'static str,
        lifetime: Option<Duration>,
        refresh_token: Option<String>,
    ) -> Issued {
        let access_token = format!("{prefix}{}", random_token());
        self.access.insert(
            access_token.clone(),
            Access { provider, grant: grant.clone(), expires_at: lifetime.map(|l| Instant::now() + l), expired: false },
        );
        if let Some(token) = &refresh_token {
            self.access_prefixes.insert(token.clone(), prefix);
        }
        Issued { access_token, refresh_token, expires_in: lifetime.map(|l| l.as_secs()), grant }
    }

    /// Uses a refresh token: a new access token, and a new or the same refresh token per its rotation rule.
    /// `None` when the token is unknown, dead, or another provider's.
    pub(crate) fn refresh(&mut self, provider: Provider, token: &str) -> Option<Issued> {
        let entry = self.refresh.get(token).filter(|r| r.provider == provider && r.alive)?;
        let (grant, rotation, lifetime, replaced) =
            (entry.grant.clone(), entry.rotation, entry.access_lifetime, entry.replaced.clone());
        let refresh_prefix = self.refresh_prefixes.get(token).copied().unwrap_or("");
        let access_prefix = self.access_prefixes.get(token).copied().unwrap_or("");
        // This token is now "used": the one it replaced (Shopify) dies.
        if let Some(old) = replaced
            && let Some(old) = self.refresh.get_mut(&old)
        {
            old.alive = false;
        }
        let next = match rotation {
            Rotation::Keep => token.to_owned(),
            Rotation::Immediate | Rotation::OnReplacementUse => {
                let next = format!("{refresh_prefix}{}", random_token());
                let keep_old = rotation == Rotation::OnReplacementUse;
                if let Some(used) = self.refresh.get_mut(token) {
                    used.alive = keep_old;
                }
                self.refresh.insert(
                    next.clone(),
                    Refresh {
                        provider,
                        grant: grant.clone(),
                        rotation,
                        access_lifetime: lifetime,
                        alive: true,
                        replaced: keep_old.then(|| token.to_owned()),
                    },
                );
                self.refresh_prefixes.insert(next.clone(), refresh_prefix);
                next
            }
        };
        let lifetime = self.lifetime(lifetime);
        Some(self.mint_access(provider, grant, access_prefix, lifetime, Some(next)))
    }

    /// Checks an access token of `provider`.
    pub(crate) fn check(&self, provider: Provider, token: &str) -> Result<Grant, AccessError> {
        let access = self.access.get(token).filter(|a| a.provider == provider).ok_or(AccessError::Unknown)?;
        if access.expired || access.expires_at.is_some_and(|at| Instant::now() >= at) {
            return Err(AccessError::Expired);
        }
        Ok(access.grant.clone())
    }

    /// Marks every access token of `provider` issued so far as expired.
    pub(crate) fn expire_all(&mut self, provider: Provider) {
        for access in self.access.values_mut().filter(|a| a.provider == provider) {
            access.expired = true;
        }
    }

    /// Kills every refresh token of `provider` issued so far (as when the merchant uninstalls the app): using one
    /// is `invalid_grant`.
    pub(crate) fn revoke_refresh_tokens(&mut self, provider: Provider) {
        for refresh in self.refresh.values_mut().filter(|r| r.provider == provider) {
            refresh.alive = false;
        }
    }
}

/// PKCE S256: `BASE64URL(SHA256(verifier))`, unpadded.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

/// 32 random hex characters: the secret part of codes and tokens.
pub(crate) fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(challenge: Option<&str>) -> Authorization {
        Authorization {
            account: "shop.myshopify.com".into(),
            client_id: "client".into(),
            redirect_uri: Some("https://app/cb".into()),
            scope: "read_orders".into(),
            code_challenge: challenge.map(str::to_owned),
        }
    }

    fn policy(rotation: Rotation) -> TokenPolicy {
        TokenPolicy {
            access_prefix: "at_",
            access_lifetime: Some(Duration::from_secs(3600)),
            refresh: Some(("rt_", rotation)),
        }
    }

    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn codes_are_single_use_and_checked() {
        let mut grants = Grants::default();
        let code = grants.issue_code(Provider::Shopify, "", authorization(None));
        assert_eq!(
            grants.redeem_code(Provider::Shopify, &code, "other", None, None).unwrap_err(),
            CodeError::ClientMismatch
        );
        assert!(grants.redeem_code(Provider::Shopify, &code, "client", Some("https://app/cb"), None).is_ok());
        assert_eq!(grants.redeem_code(Provider::Shopify, &code, "client", None, None).unwrap_err(), CodeError::Invalid);
        let code = grants.issue_code(Provider::Shopify, "", authorization(None));
        assert_eq!(grants.redeem_code(Provider::Stripe, &code, "client", None, None).unwrap_err(), CodeError::Invalid);
        assert_eq!(
            grants.redeem_code(Provider::Shopify, &code, "client", Some("https://evil/cb"), None).unwrap_err(),
            CodeError::RedirectMismatch
        );
    }

    #[test]
    fn pkce_verifier_is_required_and_checked() {
        let mut grants = Grants::default();
        let challenge = pkce_challenge("verifier-1");
        let code = grants.issue_code(Provider::Shopify, "", authorization(Some(&challenge)));
        assert_eq!(
            grants.redeem_code(Provider::Shopify, &code, "client", None, None).unwrap_err(),
            CodeError::VerifierMissing
        );
        assert_eq!(
            grants.redeem_code(Provider::Shopify, &code, "client", None, Some("verifier-2")).unwrap_err(),
            CodeError::VerifierMismatch
        );
        assert!(grants.redeem_code(Provider::Shopify, &code, "client", None, Some("verifier-1")).is_ok());
    }

    #[test]
    fn immediate_rotation_kills_the_used_token() {
        let mut grants = Grants::default();
        let grant = Grant { account: "9341453050".into(), scope: String::new() };
        let first = grants.issue(Provider::QuickBooks, grant, &policy(Rotation::Immediate));
        let r1 = first.refresh_token.unwrap();
        let second = grants.refresh(Provider::QuickBooks, &r1).unwrap();
        assert!(second.refresh_token.as_deref().unwrap().starts_with("rt_"));
        assert_ne!(second.refresh_token.as_deref(), Some(r1.as_str()));
        assert!(grants.refresh(Provider::QuickBooks, &r1).is_none());
    }

    #[test]
    fn shopify_rotation_keeps_the_old_token_until_the_new_one_is_used() {
        let mut grants = Grants::default();
        let grant = Grant { account: "s.myshopify.com".into(), scope: String::new() };
        let r1 = grants.issue(Provider::Shopify, grant, &policy(Rotation::OnReplacementUse)).refresh_token.unwrap();
        let r2 = grants.refresh(Provider::Shopify, &r1).unwrap().refresh_token.unwrap();
        // The response was "lost": r1 still works, and yields another replacement.
        let r3 = grants.refresh(Provider::Shopify, &r1).unwrap().refresh_token.unwrap();
        grants.refresh(Provider::Shopify, &r3).unwrap();
        assert!(grants.refresh(Provider::Shopify, &r1).is_none(), "r1 dies once a replacement was used");
        assert!(grants.refresh(Provider::Shopify, &r2).is_some(), "r2 was never used, nor replaced");
    }

    #[test]
    fn the_lifetime_override_applies_to_new_and_refreshed_tokens_and_revoked_refresh_tokens_die() {
        let mut grants = Grants::default();
        let grant = Grant { account: "s.myshopify.com".into(), scope: String::new() };
        grants.set_token_lifetime(Some(Duration::from_secs(60)));
        let first = grants.issue(Provider::Shopify, grant, &policy(Rotation::OnReplacementUse));
        assert_eq!(first.expires_in, Some(60));
        grants.set_token_lifetime(None);
        let refreshed = grants.refresh(Provider::Shopify, first.refresh_token.as_deref().unwrap()).unwrap();
        assert_eq!(refreshed.expires_in, Some(3600), "back to the provider's own lifetime");
        grants.revoke_refresh_tokens(Provider::Shopify);
        assert!(grants.refresh(Provider::Shopify, refreshed.refresh_token.as_deref().unwrap()).is_none());
        assert!(grants.check(Provider::Shopify, &refreshed.access_token).is_ok(), "access tokens live on");
    }

    #[test]
    fn keep_rotation_returns_the_same_token_and_expire_all_expires_access() {
        let mut grants = Grants::default();
        let grant = Grant { account: "62515".into(), scope: String::new() };
        let first = grants.issue(Provider::HubSpot, grant, &policy(Rotation::Keep));
        let again = grants.refresh(Provider::HubSpot, first.refresh_token.as_deref().unwrap()).unwrap();
        assert_eq!(again.refresh_token, first.refresh_token);
        assert!(again.access_token.starts_with("at_"));
        assert!(grants.check(Provider::HubSpot, &again.access_token).is_ok());
        assert_eq!(grants.check(Provider::Shopify, &again.access_token).unwrap_err(), AccessError::Unknown);
        grants.expire_all(Provider::HubSpot);
        assert_eq!(grants.check(Provider::HubSpot, &again.access_token).unwrap_err(), AccessError::Expired);
    }
}
