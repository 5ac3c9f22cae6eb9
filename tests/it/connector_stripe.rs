//! Stripe connector against the Stripe simulator.
