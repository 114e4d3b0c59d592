//! Shopify's leaky buckets, one pair per shop: GraphQL query cost (1000 points, restoring 100 per second — the
//! Standard plan) and REST calls (40 calls, leaking 2 per second).

use std::time::{Duration, Instant};

/// A bucket of `capacity` points that refills at `rate` points per second.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    capacity: f64,
    rate: f64,
    available: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn graphql() -> Self {
        Self::new(1000.0, 100.0)
    }

    pub(crate) fn rest() -> Self {
        Self::new(40.0, 2.0)
    }

    fn new(capacity: f64, rate: f64) -> Self {
        Self { capacity, rate, available: capacity, last: Instant::now() }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.available = (self.available + elapsed * self.rate).min(self.capacity);
        self.last = now;
    }

    /// Changes the refill rate (the shop's plan: 100 Standard, 200 Advanced, 1000 Plus, 2000 Enterprise).
    pub(crate) fn set_rate(&mut self, rate: f64) {
        self.refill();
        self.rate = rate.max(0.0);
    }

    pub(crate) fn capacity(&self) -> f64 {
        self.capacity
    }

    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Points available now.
    pub(crate) fn available(&mut self) -> f64 {
        self.refill();
        self.available
    }

    /// Spends every point available now.
    pub(crate) fn drain(&mut self) {
        self.refill();
        self.available = 0.0;
    }

    /// Takes `cost` points if available; otherwise how long until they are.
    pub(crate) fn take(&mut self, cost: f64) -> Result<(), Duration> {
        self.refill();
        if self.available >= cost {
            self.available -= cost;
            Ok(())
        } else {
            let missing = (cost - self.available).min(self.capacity);
            Err(Duration::from_secs_f64(missing / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_bucket_refuses_and_says_how_long_to_wait() {
        let mut bucket = Bucket::graphql();
        assert!(bucket.take(600.0).is_ok());
        let wait = bucket.take(600.0).unwrap_err();
        // About 200 points short at 100/s: two seconds (less the refill since the first take).
        assert!(wait <= Duration::from_secs(2) && wait > Duration::from_millis(1500), "{wait:?}");
        assert!(bucket.available() < 401.0);
        assert_eq!(bucket.capacity(), 1000.0);
        assert_eq!(bucket.rate(), 100.0);
    }
}
