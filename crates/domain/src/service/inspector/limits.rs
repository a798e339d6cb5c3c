//! How fast inboxes may record: per inbox and per tenant, for the whole process. Whoever
//! hands a request to an inbox (the public receiver, or a worker delivering to Herald's
//! own inbox URL) goes through the same budget.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::id::{InboxId, TenantId};

/// Requests per second one inbox records (and its burst), unless configured otherwise.
pub const DEFAULT_PER_INBOX: u32 = 10;
/// Requests per second the inboxes of one tenant record together (and their burst).
pub const DEFAULT_PER_TENANT: u32 = 50;

/// Keys beyond this many are forgotten once they are full again, so the maps stay small
/// however many inboxes are hit.
const TIDY_ABOVE: usize = 10_000;

/// The two budgets; a rate of 0 turns its budget off.
pub struct InboxLimits {
    inbox: Option<DefaultKeyedRateLimiter<InboxId>>,
    tenant: Option<DefaultKeyedRateLimiter<TenantId>>,
}

impl Default for InboxLimits {
    fn default() -> Self {
        Self::new(DEFAULT_PER_INBOX, DEFAULT_PER_TENANT)
    }
}

impl std::fmt::Debug for InboxLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxLimits").finish_non_exhaustive()
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let n = NonZeroU32::new(per_second)?;
    Some(RateLimiter::keyed(Quota::per_second(n).allow_burst(n)))
}

impl InboxLimits {
    pub fn new(per_inbox: u32, per_tenant: u32) -> Self {
        Self {
            inbox: limiter(per_inbox),
            tenant: limiter(per_tenant),
        }
    }

    /// Whether one more request to `inbox` of `tenant` may be recorded now; a request let
    /// in is counted against both budgets.
    pub fn admit(&self, tenant: &TenantId, inbox: &InboxId) -> bool {
        if let Some(limiter) = &self.inbox {
            if limiter.len() > TIDY_ABOVE {
                limiter.retain_recent();
            }
            if limiter.check_key(inbox).is_err() {
                return false;
            }
        }
        if let Some(limiter) = &self.tenant {
            if limiter.len() > TIDY_ABOVE {
                limiter.retain_recent();
            }
            if limiter.check_key(tenant).is_err() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbox_over_its_rate_is_refused_and_another_is_not() {
        let limits = InboxLimits::new(2, 3);
        let tenant = TenantId::new();
        let (a, b) = (InboxId::new(), InboxId::new());
        assert!(limits.admit(&tenant, &a));
        assert!(limits.admit(&tenant, &a));
        assert!(!limits.admit(&tenant, &a), "a third request within the second");
        assert!(
            limits.admit(&tenant, &b),
            "the tenant's budget has room for one more"
        );
        assert!(!limits.admit(&tenant, &b), "the tenant's budget is spent");
        assert!(
            limits.admit(&TenantId::new(), &InboxId::new()),
            "other tenants are apart"
        );
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limits = InboxLimits::new(0, 0);
        let tenant = TenantId::new();
        let inbox = InboxId::new();
        assert!((0..1000).all(|_| limits.admit(&tenant, &inbox)));
    }
}
