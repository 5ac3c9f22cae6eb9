// Verifies a Stripe-Signature header with Stripe's own library (stripe.webhooks.constructEvent).
// Usage: node verify.mjs <secret> <header> <payloadfile> [tolerance_seconds]
// Exits 0 when the signature is accepted, 1 when rejected, 2 on bad usage.
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';

const [secret, header, file, tolerance] = process.argv.slice(2);
if (!secret || !header || !file) {
  console.error('usage: node verify.mjs <secret> <header> <payloadfile> [tolerance_seconds]');
  process.exit(2);
}
// The exact bytes that were signed; constructEvent verifies them before parsing.
const payload = readFileSync(file);
const stripe = new Stripe('sk_test_unused');
try {
  const event = stripe.webhooks.constructEvent(payload, header, secret, tolerance === undefined ? undefined : Number(tolerance));
  console.log(`accepted ${event.id} (${event.type})`);
} catch (err) {
  console.error(`rejected: ${err.message}`);
  process.exit(1);
}
